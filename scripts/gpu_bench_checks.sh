#!/usr/bin/env bash
# Acceptance checks of the benchmark issue on the GPU machine (torch, torchvision, onnx, onnxruntime present):
# the peers through kiln bench --peer, three repeats of kiln bench --backend cuda agreeing within 3% on the
# median (spread printed) with the median equal to the --exportTimes median and NVML filled, then the resnet50
# sweep (kiln fp16/fp32, PyTorch CUDA-graph fp16, ONNX Runtime at batch 1, 8, 32, 128) and its report, whose
# acceleration table must show all of them.
# Usage: scripts/gpu_bench_checks.sh KILN_BINARY WORK_DIR [--quick]   (--quick: resnet18, batches 1 and 8)
set -uo pipefail
KILN=${1:?kiln binary}
W=${2:?work dir}
QUICK=${3:-}
mkdir -p "$W"
export PYTHONUNBUFFERED=1
fail=0
step() { echo; echo "=== $*"; }
check() { "$@" || { echo "CHECK FAILED ($?): $*"; fail=1; }; }

step "versions"
python3 -c "import torch, torchvision, onnxruntime as o; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'onnxruntime', o.__version__, o.get_available_providers())"
"$KILN" --version

step "peers through kiln bench --peer (zoo resnet18, dynamic batch)"
check "$KILN" zoo resnet18 --batch dynamic -o "$W/r18.onnx"
for peer in torch-eager:fp32 torch-eager:fp16:channels_last torch-graph:fp16 torch-compile:fp16 ort; do
  check "$KILN" bench "$W/r18.onnx" --peer "$peer" --batches 1,8 --shapes input:1x3x224x224 --iterations 50 \
    --duration 1 --noDataTransfers --json "$W/peer_${peer//:/_}.json"
done

step "kiln bench --backend cuda: three repeats, --exportTimes median, NVML"
for i in 1 2 3; do
  check "$KILN" bench "$W/r18.onnx" --backend cuda --precision fp16 --shapes input:8x3x224x224 --warmUp 500 \
    --iterations 500 --duration 3 --noDataTransfers --dumpProfile --json "$W/cuda_$i.json" --exportTimes "$W/cuda_times_$i.json"
done
check python3 - "$W" <<'PY'
import json, statistics, sys
w = sys.argv[1]
medians = []
for i in (1, 2, 3):
    doc = json.load(open(f"{w}/cuda_{i}.json"))
    c = doc["cases"][0]
    times = [t["latency_ms"] for t in json.load(open(f"{w}/cuda_times_{i}.json"))]
    assert abs(statistics.median(times) - c["latency_ms"]["median"]) < 1e-9, "median != median of --exportTimes"
    assert c["timing"] == "cuda_events" and c["gpu"]["available"], c["gpu"].get("reason")
    for k in ("memory_used_bytes", "utilisation_gpu_percent", "sm_clock_mhz", "power_w", "temperature_c"):
        assert c["gpu"]["summary"][k]["max"] is not None, f"NVML field {k} is null"
    assert c["layers"], "--dumpProfile gave no layers"
    medians.append(c["latency_ms"]["median"])
spread = (max(medians) - min(medians)) / min(medians)
print(f"cuda fp16 batch 8 medians {['%.4f' % m for m in medians]} ms: spread {spread * 100:.2f}% (must be < 3%)")
assert spread < 0.03
PY

step "sweep and report"
CONFIG=bench/configs/resnet50.yaml
if [ "$QUICK" = "--quick" ]; then
  sed -e 's/zoo:resnet50/zoo:resnet18/' -e 's/batches: \[1, 8, 32, 128\]/batches: [1, 8]/' -e 's/iterations: 20 /iterations: 10 /' \
    -e 's/duration_s: 3/duration_s: 1/' "$CONFIG" > "$W/sweep.yaml"
  CONFIG="$W/sweep.yaml"
fi
check "$KILN" sweep "$CONFIG" -o "$W/sweep"
check "$KILN" report "$W/sweep" -o "$W/report.html" --baseline torch-graph:fp16 --png "$W/png"
check python3 - "$W" <<'PY'
import csv, sys
w = sys.argv[1]
rows = list(csv.DictReader(open(f"{w}/sweep/summary.csv")))
have = {(r["backend"], r["precision"]) for r in rows}
need = {("cuda", "fp16"), ("cuda", "fp32"), ("torch-graph", "fp16"), ("ort", "fp32")}
print("sweep cases:", sorted(have))
assert need <= have, f"missing {need - have}"
md = open(f"{w}/report.md").read()
for label in ("| cuda | fp16 |", "| cuda | fp32 |", "| torch-graph | fp16 |", "| ort | fp32 |"):
    assert label in md, label + " not in the report table"
print("report table has every backend; report:", f"{w}/report.html")
PY

echo
[ "$fail" = 0 ] && echo "gpu_bench_checks: all passed" || echo "gpu_bench_checks: SOME CHECKS FAILED"
exit $fail
