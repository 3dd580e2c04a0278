#!/usr/bin/env python3
"""peers/model_coverage.py and peers/coverage_measures.py: the error and agreement measures against
hand-computed values, the Markdown table of a hand-made result document, kiln's error line picked out of its
output; then, where torch and torchvision are installed, real models end to end on the CPU reference against
PyTorch: mobilenet_v3_small within 1e-4 and top-1 agreeing, maxvit_t through Einsum,
ssdlite320_mobilenet_v3_large through If and NMS, and an SSD with no detection above its threshold (the If's
empty branch). Exit 77 (skip) without numpy.
Usage: model_coverage_test.py KILN PEERS_DIR WORK_DIR"""
import json
import os
import subprocess
import sys

try:
    import numpy as np
except ImportError:
    print("SKIP: numpy not installed for", sys.executable)
    sys.exit(77)
kiln, peers, work = sys.argv[1:4]
sys.path.insert(0, peers)
import model_coverage as mc  # noqa: E402

os.makedirs(work, exist_ok=True)
fails = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)


ref = np.array([[1.0, 4.0, -2.0], [0.5, 0.0, 3.0]], dtype=np.float32)
got = ref + np.array([[0, -0.4, 0], [0.6, 0, 0]], dtype=np.float32)  # row 0 keeps class 1, row 1 still class 2
rel, agree, err = mc.compare(np, "classify", got, ref)
check(err is None and abs(rel - 0.6 / 4.0) < 1e-6, f"max rel error = 0.6 / max|ref| 4 = 0.15 (got {rel})")
check(agree == 1.0, "both rows keep their top-1 class")
flipped = ref.copy()
flipped[1, 0] = 9.0
_, agree, _ = mc.compare(np, "classify", flipped, ref)
check(agree == 0.5, "one of two rows changes class: 50% agreement")
check(mc.disagreement_margins(np, flipped, ref) == [(3.0 - 0.5) / 3.0] and mc.disagreement_margins(np, got, ref) == [],
      "the changed row's PyTorch gap between its class and kiln's, relative to the row's max |logit|: 2.5 / 3")
nan = got.copy()
nan[0, 0] = np.nan
rel, _, _ = mc.compare(np, "classify", nan, ref)
check(rel == float("inf"), "a NaN in kiln's output is an infinite error, not a small one")
_, _, err = mc.compare(np, "classify", got[:1], ref)
check(err is not None and "shape" in err, "a shape mismatch is reported, not compared")
# Centred agreement: both rows favour class 0 (plain agreement 100%), but their input-dependent parts differ.
fav = np.array([[10, 0, 1], [10, 1, 0]], dtype=np.float32)
swapped_parts = np.array([[10, 1, 0], [10, 0, 1]], dtype=np.float32)
check(mc.compare(np, "classify", swapped_parts, fav)[1] == 1.0 and mc.centered_agreement(np, swapped_parts, fav) == 0.0,
      "one favourite class for every input: plain agreement 100%, centred 0%")
check(mc.centered_agreement(np, fav, fav) == 1.0 and mc.centered_agreement(np, fav[:1], fav[:1]) is None,
      "centred agreement of identical outputs is 100%; undefined for one input")
# Segmentation: argmax over the class axis per pixel.
seg_ref = np.zeros((1, 2, 2, 2), dtype=np.float32)
seg_ref[0, 1, 0, 0] = 1.0
seg_got = seg_ref.copy()
seg_got[0, 1, 1, 1] = 1.0
_, agree, _ = mc.compare(np, "segment", seg_got, seg_ref)
check(agree == 0.75, "one of four pixels changes class: 75% agreement")

# Detections: sets matched by label and box, in any order; count, label or box differences fail.
rb = np.array([[0, 0, 10, 10], [5, 5, 20, 20], [1, 2, 3, 4]], dtype=np.float32)
rs = np.array([0.9, 0.9, 0.5], dtype=np.float32)
rl = np.array([1, 2, 1])
swapped = [rb[[1, 0, 2]], rs[[1, 0, 2]], rl[[1, 0, 2]]]
rel, agree, _ = mc.compare_detections(np, swapped, [rb, rs, rl])
check(agree == 1.0 and rel == 0.0, "two tied detections in the other order: the same kept set")
nudged = rb.copy()
nudged[2, 3] += 0.01  # 0.01 / 20 = 5e-4 relative: within 1e-3
rel, agree, _ = mc.compare_detections(np, [nudged, rs, rl], [rb, rs, rl])
check(agree == 1.0 and abs(rel - 0.01 / 20) < 1e-6, "a box 5e-4 off (relative to the largest coordinate) matches")
moved = rb.copy()
moved[2, 3] += 0.1  # 5e-3 relative
_, agree, _ = mc.compare_detections(np, [moved, rs, rl], [rb, rs, rl])
check(agree == 0.0, "a box 5e-3 off does not match")
_, agree, _ = mc.compare_detections(np, [rb, rs, np.array([1, 2, 2])], [rb, rs, rl])
check(agree == 0.0, "a different label does not match")
rel, agree, _ = mc.compare_detections(np, [rb[:2], rs[:2], rl[:2]], [rb, rs, rl])
check(agree == 0.0 and rel == float("inf"), "a missing detection is a different set")
_, agree, _ = mc.compare_detections(np, [rb[:0], rs[:0], rl[:0]], [rb[:0], rs[:0], rl[:0]])
check(agree == 1.0, "no detections on either side: the same (empty) set")

line = mc.kiln_error("loading...\nkiln run: error: m.onnx: unsupported op Foo (opset 17) at node 'n' (Foo)\n", "")
check(line.startswith("kiln run: error: ") and "Foo" in line, "kiln's error line is the one kept")

doc = {"date": "2026-12-07", "machine": "m", "versions": {"torch": "t", "torchvision": "v", "kiln": "k"},
       "options": {"backends": ["cpu"], "inputs": 4, "batch": 4, "torch_fp16": False, "speed": False,
                   "speed_batches": [1]},
       "summary": {"ok": 1, "run": 2, "skipped": 1},
       "models": [{"model": "a", "task": "classify", "input": [4, 3, 224, 224], "params_m": 1.0, "ops": {"Conv": 1},
                   "status": "ok", "backends": {"cpu": {"status": "ok", "max_rel_err": 2e-6, "agreement": 1.0}}},
                  {"model": "b", "task": "classify", "input": [4, 3, 224, 224], "params_m": 2.0, "ops": {"Einsum": 1},
                   "status": "fail", "unsupported_ops": ["Einsum"], "error": "x | y",
                   "backends": {"cpu": {"status": "fail", "error": "x | y"}}},
                  {"model": "c", "task": "classify", "input": [4, 3, 0, 0], "status": "skipped", "reason": "--skip"}]}
md = mc.markdown(doc)
rows = [l for l in md.splitlines() if l.startswith("| ")]
check(len(rows) == 4, "a header and one row per model")
check("| a | classify | 3x224x224 | 1.0 | 1 | ok | 2.0e-06 | 100% |" in md, "a passing row shows error and agreement")
check("unsupported: Einsum; x \\| y" in md, "a failing row names the op, '|' escaped")
check("**1 of 2 models run end to end" in md, "the summary counts")

try:
    import torch  # noqa: F401
    import torchvision  # noqa: F401
except ImportError:
    print("SKIP: torch/torchvision not installed: the end-to-end part did not run (the checks above did)")
    sys.exit(1 if fails else 0)
out = os.path.join(work, "cov.json")
r = subprocess.run([sys.executable, os.path.join(peers, "model_coverage.py"), "--kiln", kiln, "--models",
                    "mobilenet_v3_small,maxvit_t,ssdlite320_mobilenet_v3_large", "--inputs", "2", "--batch", "2", "--json", out],
                   capture_output=True, text=True)
print(r.stdout[-2000:], r.stderr[-2000:])
check(r.returncode == 0, "model_coverage.py exit 0")
res = {m["model"]: m for m in json.load(open(out))["models"]}
for name in ("mobilenet_v3_small", "maxvit_t"):
    cpu = res.get(name, {}).get("backends", {}).get("cpu", {})
    check(cpu.get("status") == "ok" and cpu.get("max_rel_err", 1) < 1e-4 and cpu.get("agreement") == 1.0,
          f"{name}: CPU reference within 1e-4 of PyTorch, top-1 agreeing ({cpu})")
det = res.get("ssdlite320_mobilenet_v3_large", {})
cpu = det.get("backends", {}).get("cpu", {})
check(cpu.get("status") == "ok" and cpu.get("agreement") == 1.0 and cpu.get("max_rel_err", 1) < 1e-4,
      f"ssdlite320 end to end (If + NMS): the CPU reference keeps PyTorch's detections ({cpu})")
check(det.get("torch_distinct_scores", 0) == det.get("torch_detections", -1) > 0,
      "ssdlite320: PyTorch's detections have distinct scores (no ties for NMS to order by chance)")
r = subprocess.run([sys.executable, os.path.join(peers, "model_coverage.py"), "--kiln", kiln, "--models",
                    "mobilenet_v3_small", "--inputs", "4", "--batch", "2", "--json", out, "--resume"],
                   capture_output=True, text=True)
check(r.returncode == 2 and "inputs 2 -> 4" in r.stderr,
      f"--resume under other options (--inputs 4 after 2) is refused, naming the option (exit {r.returncode}: "
      f"{r.stderr.strip()[-200:]})")
# No candidate above the score threshold: batched_nms's empty-input If takes its then-branch in both.
import torch  # noqa: E402
import torchvision  # noqa: E402

torch.manual_seed(0)
ssd = torchvision.models.get_model("ssdlite320_mobilenet_v3_large", weights=None, weights_backbone=None,
                                   score_thresh=0.5).eval()
image = torch.rand(3, 320, 320)
empty_onnx = os.path.join(work, "ssdlite_empty.onnx")
mc.export(torch, mc.wrap_outputs(torch, ssd, "detect").eval(), 320, empty_onnx, "detect")
np.savez(os.path.join(work, "empty_in.npz"), image=image.numpy())
with torch.no_grad():
    want = ssd([image])[0]["boxes"].shape[0]
r = subprocess.run([kiln, "run", empty_onnx, "--inputs", os.path.join(work, "empty_in.npz"), "--output-dir",
                    os.path.join(work, "empty_out"), "--show", "0"], capture_output=True, text=True)
got = np.load(os.path.join(work, "empty_out", "boxes.npy")).shape if r.returncode == 0 else r.stderr[-300:]
check(want == 0 and got == (0, 4), f"no detection above 0.5: PyTorch keeps {want} boxes, kiln {got}")
check(res.get("mobilenet_v3_small", {}).get("torch_classes", 0) > 1,
      "mobilenet_v3_small: PyTorch predicts two classes for the two inputs (the agreement can fail)")
sys.exit(1 if fails else 0)
