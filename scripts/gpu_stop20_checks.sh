#!/usr/bin/env bash
# The GPU checks that stop 20's work still needs (no GPU machine could be started then), in one run on the
# GPU machine from the repo root with the build in ./build (kiln, kiln_gpu_tests, kiln_capi_gpu_tests,
# kiln_example_infer, libkiln.so and its two shared deps). Writes logs and JSON into OUT_DIR.
#   scripts/gpu_stop20_checks.sh FASHION_DIR OUT_DIR [train|tests|python|accuracy|coverage|conformance|gputests ...]
#   (default: tests python accuracy; `coverage` runs peers/model_coverage.py in 8-minute slices, see below)
# FASHION_DIR holds the four Fashion-MNIST idx .gz files (/usr/share/datasets/fashion-mnist here; carry a copy).
# About 10 minutes in all on an H100: run the parts in separate calls where a call is time-limited. `train`
# (optional, not in the default list) retrains on the GPU; `accuracy` scores the committed models/fashion.
set -u
DATA=${1:?fashion-mnist dir}; OUT_DIR=${2:?output dir}; shift 2
PARTS=${*:-tests python accuracy}
export PYTHONUNBUFFERED=1
K=build/bin/kiln; W=$(mktemp -d); mkdir -p "$OUT_DIR"
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader; $K --version | head -1
for part in $PARTS; do case $part in
train)
  el "train the Fashion-MNIST models on the GPU (PyTorch FP16 autocast accuracy; models/fashion holds CPU-trained ones)"
  python3 peers/train_fashion.py --data-dir "$DATA" --out "$OUT_DIR/fashion" --epochs 10 > "$OUT_DIR/train.log" 2>&1
  echo "train rc $?"; grep -E "top-1|rror" "$OUT_DIR/train.log" | tail -4 ;;
tests)
  el "GPU tests of the QDQ lowering and the C ABI"
  build/bin/kiln_gpu_tests --gtest_filter='GpuQuantize*' 2>&1 | tee "$OUT_DIR/gpu_quantize.log" | grep -E "^\[  (PASSED|FAILED)|FAILED"
  build/bin/kiln_capi_gpu_tests 2>&1 | tee "$OUT_DIR/capi_gpu.log" | grep -E "PASSED|FAILED"
  el "kiln build --int8 twice with a calibration cache (the second must say the cache was hit)"
  for _ in 1 2; do
    $K build tests/data/accuracy/model.onnx --int8 --calib tests/data/accuracy/data.npz --calib-batch 8 \
      --shapes input:8x3x16x16 --calibCache "$W/c.json" --saveEngine "$W/int8.plan" 2>&1 | grep -iE "calib|built|rror"
  done
  el "FP16 range check on torchvision mobilenet_v2 with its random init (must warn, naming a layer)"
  python3 peers/export_pytorch.py mobilenet_v2 -o "$W/tv_mnv2.onnx" > "$W/export.log" 2>&1 || tail -3 "$W/export.log"
  $K build "$W/tv_mnv2.onnx" --fp16 --noTune 2>&1 | tee "$OUT_DIR/range_mnv2.log" | grep -iE "range|warning" ;;
python)
  el "Python package acceptance (issue 17)"
  python3 python/tests/gpu_acceptance.py --out "$OUT_DIR/gpu_acceptance.json" --workdir "$W/acc" 2>&1 | tee "$OUT_DIR/gpu_acceptance.log" | grep -vE "^ok "
  python3 examples/python/dynamic_batch_test.py --runs 10000 2>&1 | tee "$OUT_DIR/dynamic_batch.log" | tail -6
  python3 examples/python/torch_zero_copy.py --model resnet18 --batch 8 --steps 50 2>&1 | tail -3 ;;
accuracy)
  el "accuracy per precision on the 10k Fashion-MNIST test images (models/fashion, trained on CPU in stop 21)"
  python3 peers/fashion_eval.py --kiln $K --data-dir "$DATA" --count 10000 --calib-count 512 --qdq \
    --backends cpu,cuda:fp32,cuda:fp16,cuda:bf16 --int8-backends cpu,cuda:fp32 --work "$W/eval" \
    --json "$OUT_DIR/fashion_eval.json" --markdown "$OUT_DIR/fashion_eval.md" > "$OUT_DIR/fashion_eval.log" 2>&1
  echo "fashion_eval rc $?"; cat "$OUT_DIR/fashion_eval.md" ;;
coverage)
  el "model coverage (issue 18): FP32/FP16 engines vs PyTorch, PyTorch FP16, speed b1/b32; continues COVERAGE_JSON"
  # Every call continues the JSON (--resume) and stops starting models after 8 minutes: carry the last
  # call's coverage_gpu.json back in as COVERAGE_JSON and call again until no model is left.
  cp "${COVERAGE_JSON:-/nonexistent}" "$OUT_DIR/coverage_gpu.json" 2>/dev/null || true
  python3 peers/model_coverage.py --kiln $K --infer build/bin/kiln_example_infer --backends cpu,fp32,fp16 \
    --torch-fp16 --speed --speed-batches 1,32 --inputs 16 --time-budget "${COVERAGE_BUDGET_S:-480}" --resume \
    --json "$OUT_DIR/coverage_gpu.json" --markdown "$OUT_DIR/COVERAGE_gpu.md" 2>&1 | tee "$OUT_DIR/coverage.log" | tail -40 ;;
conformance)
  el "ONNX backend cases on the CUDA engine (issue 18: at least 80% of the CPU passes); ONNX_DATA = the test data"
  # In one process (CUDA starts once): about a minute on an H100. Cases that passed only with parameter inputs
  # fixed at build (--inputValues) say so in their reason; the summary line counts them.
  $K conformance "${ONNX_DATA:-/tmp/onnxdata}" --backend cuda --in-process --json "$OUT_DIR/conformance_cuda.json" \
    --expect-pass tests/conformance/passing_cuda.txt 2>&1 | tail -12
  echo "conformance rc $? (4: a case of passing_cuda.txt no longer passes)"
  scripts/update_conformance_list.sh "$OUT_DIR/conformance_cuda.json" "$OUT_DIR/passing_cuda.txt" ;;
gputests)
  el "the whole GPU test suite (more than 140 s: give the call its own time limit)"
  build/bin/kiln_gpu_tests --gtest_brief=1 2>&1 | tee "$OUT_DIR/gpu_tests.log" | tail -30 ;;
*) echo "unknown part $part (train, tests, python, accuracy, coverage, conformance, gputests)"; exit 1 ;;
esac; done
el "done"
