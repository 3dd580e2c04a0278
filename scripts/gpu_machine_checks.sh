#!/usr/bin/env bash
# Acceptance checks of the foundation and model-zoo issues that need PyTorch / ONNX Runtime (the GPU
# machine): torchvision resnet50 export (static and dynamic batch) -> kiln info / kiln run vs ONNX Runtime,
# zoo models vs torchvision (peers/zoo_to_torch.py), onnx.checker + ONNX Runtime on every zoo model.
# Usage: scripts/gpu_machine_checks.sh KILN_BINARY WORK_DIR
set -uo pipefail
KILN=${1:?kiln binary}
W=${2:?work dir}
mkdir -p "$W"
export PYTHONUNBUFFERED=1
fail=0
step() { echo; echo "=== $*"; }
check() { "$@" || { echo "CHECK FAILED ($?): $*"; fail=1; }; }

step "versions"
python3 -c "import torch, torchvision, onnx, onnxruntime; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'onnx', onnx.__version__, 'onnxruntime', onnxruntime.__version__)"
"$KILN" --version

step "torchvision resnet50 -> ONNX, static and dynamic batch"
check python3 peers/export_pytorch.py resnet50 -o "$W/r50_static.onnx"
check python3 peers/export_pytorch.py resnet50 -o "$W/r50_dyn.onnx" --dynamic-batch
check python3 peers/export_pytorch.py resnet50 -o "$W/r50_dyn_bn.onnx" --dynamic-batch --keep-batchnorm

step "kiln info (dynamic batch, at 1x3x224x224)"
check "$KILN" info "$W/r50_dyn.onnx" --shapes input:1x3x224x224
check "$KILN" info "$W/r50_dyn.onnx" --shapes input:1x3x224x224 --json > "$W/r50_dyn_info.json"
check "$KILN" info "$W/r50_static.onnx" --json > "$W/r50_static_info.json"
check "$KILN" info "$W/r50_dyn_bn.onnx" --shapes input:1x3x224x224
check "$KILN" info "$W/r50_dyn_bn.onnx" --shapes input:1x3x224x224 --json > "$W/r50_dyn_bn_info.json"
check python3 - "$W" <<'PY'
import json, sys
w = sys.argv[1]
for name in ("r50_static", "r50_dyn", "r50_dyn_bn"):
    j = json.load(open(f"{w}/{name}_info.json"))
    print(name, "input shape", j["inputs"][0]["shape"], "trainable", j["parameters"]["trainable"],
          "initializer elements", j["parameters"]["count"], "MACs", j["compute"]["macs"])
dyn = json.load(open(f"{w}/r50_dyn_info.json"))
assert dyn["inputs"][0]["shape"][0] == "batch", "dynamic batch must show as the symbol 'batch'"
static = json.load(open(f"{w}/r50_static_info.json"))
assert static["inputs"][0]["shape"][0] == 1
bn = json.load(open(f"{w}/r50_dyn_bn_info.json"))
assert bn["parameters"]["trainable"] == 25557032, "torchvision resnet50 has 25,557,032 parameters"
assert abs(bn["compute"]["macs"] / 4.1e9 - 1) < 0.01, "about 4.1 GMACs"
print("resnet50 exports: parameters, MACs and symbolic batch as expected")
PY

step "kiln run --backend cpu vs ONNX Runtime on the same input"
python3 - "$W" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(1234)
np.save(sys.argv[1] + "/x2.npy", rng.standard_normal((2, 3, 224, 224)).astype(np.float32))
PY
for model in r50_dyn r50_dyn_bn; do
check "$KILN" run "$W/$model.onnx" --backend cpu --input input="$W/x2.npy" --output-dir "$W/kiln_$model"
check python3 - "$W" "$model" <<'PY'
import sys, glob, numpy as np, onnxruntime as ort
w, model = sys.argv[1], sys.argv[2]
x = np.load(w + "/x2.npy")
s = ort.InferenceSession(f"{w}/{model}.onnx", providers=["CPUExecutionProvider"])
ref = s.run(None, {s.get_inputs()[0].name: x})[0]
out = np.load(f"{w}/kiln_{model}/logits.npy")
assert out.shape == ref.shape, (out.shape, ref.shape)
err = np.abs(out.astype(np.float64) - ref)
rel_max = err.max() / np.abs(ref).max()
rel_elem = (err / np.maximum(np.abs(ref), 1e-3)).max()
print(f"{model} batch 2: max abs err {err.max():.3e}, max err / max|ref| {rel_max:.3e}, "
      f"max elementwise rel (floor 1e-3) {rel_elem:.3e}, top1 equal {np.array_equal(out.argmax(1), ref.argmax(1))}")
sys.exit(0 if rel_max <= 1e-4 else 4)
PY
done

step "zoo models vs torchvision (zoo_to_torch.py) with kiln's CPU reference"
for m in resnet18 resnet50 mobilenet_v2; do
  check "$KILN" zoo $m -o "$W/zoo_$m.onnx"
  check python3 peers/zoo_to_torch.py "$W/zoo_$m.onnx" --save-input "$W/zoo_${m}_x.npy" --seed 5
  check "$KILN" run "$W/zoo_$m.onnx" --backend cpu --input input="$W/zoo_${m}_x.npy" --output-dir "$W/kiln_zoo_$m"
  check python3 peers/zoo_to_torch.py "$W/zoo_$m.onnx" --input "$W/zoo_${m}_x.npy" --kiln-output "$W/kiln_zoo_$m/logits.npy"
done

step "every zoo model, static and dynamic batch: onnx.checker + ONNX Runtime"
for m in $("$KILN" zoo --names); do
  for b in 1 dynamic; do
    check "$KILN" zoo $m -o "$W/all_${m}_$b.onnx" --batch $b
    check python3 - "$W/all_${m}_$b.onnx" <<'PY'
import sys, numpy as np, onnx, onnxruntime as ort
p = sys.argv[1]
onnx.checker.check_model(onnx.load(p), full_check=True)
s = ort.InferenceSession(p, providers=["CPUExecutionProvider"])
feeds = {}
for i in s.get_inputs():
    shape = [d if isinstance(d, int) else 2 for d in i.shape]
    feeds[i.name] = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
outs = s.run(None, feeds)
print(p.split("/")[-1], "checker ok, ORT ok:", [o.shape for o in outs], "finite", all(np.isfinite(o).all() for o in outs))
PY
  done
done
echo
[ $fail = 0 ] && echo "ALL CHECKS PASSED" || echo "SOME CHECKS FAILED"
exit $fail
