#!/usr/bin/env python3
"""Model coverage: every torchvision classifier (and the segmenters) through kiln, measured against PyTorch.

For each model, with seeded random weights whose BatchNorm statistics are first recalibrated on random data
(train-mode passes, then eval: torchvision's random init shrinks activations through depthwise layers until
FP16 underflows in any engine, PyTorch's own included, which would test nothing):
  1. export to ONNX (legacy exporter, opset 17, symbolic batch) at the model's usual input size (the crop
     size of its published weights' transform; segmenters 520x520);
  2. `kiln info --json`: import, op histogram, unsupported ops;
  3. each backend in --backends runs the same --inputs seeded images (`kiln run --inputs ... --output-dir`):
       cpu   the CPU reference          fp32  the CUDA engine, FP32 (no TF32)           fp16  the CUDA engine, FP16
     and is compared with PyTorch FP32: max relative error (max |kiln - torch| / max |torch| over each output)
     and top-1 agreement (classifiers) or per-pixel argmax agreement (segmenters);
  4. with --torch-fp16 (GPU): PyTorch FP16's own agreement with PyTorch FP32, to tell a property of the
     weights from a kiln defect where kiln FP16 disagrees;
  5. with --speed (GPU): kiln FP16 engine vs PyTorch FP16 CUDA graph at each --speed-batches, same run.
A model that fails names the op or shape that stops it (kiln's own error message). Writes a JSON document
and a Markdown table (docs/COVERAGE.md by default).

Runs where PyTorch and torchvision are: the GPU machine (torch 2.x) or a CPU machine for --backends cpu (Debian
12's python3-torch 1.13 + python3-torchvision 0.14 are enough). Exit codes: 0 done (failures are results, in
the table), 1 usage, 2 bad input (an unknown model name), 5 runtime error.

Examples:
  model_coverage.py --kiln build/bin/kiln --backends cpu --inputs 4 --markdown docs/COVERAGE.md --json cov.json
  model_coverage.py --kiln build/bin/kiln --infer build/bin/kiln_example_infer --backends cpu,fp32,fp16 \\
      --torch-fp16 --speed --speed-batches 1,32 --models resnet18,vit_b_16 --json cov_gpu.json
"""
import argparse
import datetime
import inspect
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

from coverage_measures import (centered_agreement, compare, compare_detections, disagreement_margins,  # noqa: F401
                               fmt_rel, markdown)

EXIT_USAGE, EXIT_INPUT, EXIT_RUNTIME = 1, 2, 5
SEGMENTERS = ["fcn_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"]
# Detectors run end to end (torchvision's own pre/post-processing: normalize, anchors, box decoding, score
# threshold, batched NMS through an If) on one image per run, at the size their transform resizes to.
DETECTORS = {"ssd300_vgg16": 300, "ssdlite320_mobilenet_v3_large": 320, "fasterrcnn_mobilenet_v3_large_320_fpn": 320}
BACKENDS = ("cpu", "fp32", "fp16")
DETECT_OUTPUTS = ("boxes", "scores", "labels")


def die(code, message):
    print(f"model_coverage: error: {message}", file=sys.stderr)
    sys.exit(code)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--kiln", default="build/bin/kiln", help="the kiln binary (default build/bin/kiln)")
    p.add_argument("--infer", default="build/bin/kiln_example_infer",
                   help="kiln_example_infer, for --speed (default build/bin/kiln_example_infer)")
    p.add_argument("--models", default="all",
                   help="comma-separated torchvision names, or 'all' (every classifier + the segmenters), "
                        "'classifiers' or 'segmenters' (default all)")
    p.add_argument("--skip", default="", help="comma-separated names to leave out (recorded as skipped)")
    p.add_argument("--max-params", type=float, default=0,
                   help="leave out models with more parameters than this, in millions (0: no limit); they are "
                        "recorded as skipped with the reason")
    p.add_argument("--backends", default="cpu", help="comma-separated from cpu,fp32,fp16 (default cpu)")
    p.add_argument("--inputs", type=int, default=16, help="seeded random images per model (default 16)")
    p.add_argument("--batch", type=int, default=4, help="images per kiln/PyTorch run (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed for weights and inputs (default 0)")
    p.add_argument("--torch-fp16", action="store_true", help="also run PyTorch FP16 on the GPU (needs CUDA)")
    p.add_argument("--fp64-check", action="store_true",
                   help="also run PyTorch in float64: records float32's own error (PyTorch FP32 against FP64) and "
                        "each backend's error against FP64, the yardstick where a deep random-init network "
                        "amplifies float32 rounding past 1e-4")
    p.add_argument("--no-ort-check", action="store_true",
                   help="where kiln's CPU reference disagrees with PyTorch, do not ask ONNX Runtime (kiln compare "
                        "--backends ort,cpu on that input) whether the export itself differs from PyTorch")
    p.add_argument("--speed", action="store_true", help="time kiln FP16 vs PyTorch FP16 CUDA graph (needs CUDA)")
    p.add_argument("--speed-batches", default="1,32", help="batches for --speed (default 1,32)")
    p.add_argument("--iterations", type=int, default=200, help="timed iterations for --speed (default 200)")
    p.add_argument("--timeout", type=int, default=1800, help="seconds allowed per kiln command (default 1800)")
    p.add_argument("--timing-cache", metavar="FILE",
                   help="kiln's timing cache for every engine build of the run (default: one in the work folder): "
                        "layers of the same shape in other models or batches reuse their timed tactic; keep it "
                        "across --resume runs on the same GPU")
    p.add_argument("--workdir", help="keep exports and outputs here (default: a temporary folder, removed)")
    p.add_argument("--json", help="write the results as JSON (schema kiln.coverage/1)")
    p.add_argument("--markdown", help="write the Markdown table here (e.g. docs/COVERAGE.md)")
    p.add_argument("--resume", action="store_true",
                   help="keep the results already in --json (a run that died, or another machine's models) and "
                        "run only the models it lacks or skipped, plus --rerun")
    p.add_argument("--time-budget", type=float, default=0, metavar="SECONDS",
                   help="start no new model after this many seconds (0: no limit); the models left are not in the "
                        "output, so a later --resume run continues where this one stopped")
    p.add_argument("--note", help="a paragraph about this run for the Markdown (kept in the JSON)")
    p.add_argument("--render", action="store_true",
                   help="only rewrite --markdown from the results in --json (after editing this script's table)")
    p.add_argument("--rerun", default="", help="with --resume: comma-separated models to run again anyway")
    a = p.parse_args(argv)
    a.backends = [b for b in a.backends.split(",") if b]
    for b in a.backends:
        if b not in BACKENDS:
            p.error(f"--backends: unknown backend '{b}' (choose from {','.join(BACKENDS)})")
    if a.render and not (a.json and a.markdown):
        p.error("--render needs --json and --markdown")
    if a.resume and not a.json:
        p.error("--resume needs --json (the results to continue)")
    if a.inputs < 1 or a.batch < 1:
        p.error("--inputs and --batch must be at least 1")
    try:
        a.speed_batches = [int(b) for b in a.speed_batches.split(",") if b]
    except ValueError:
        p.error("--speed-batches: comma-separated integers")
    if not a.render and not os.access(a.kiln, os.X_OK):
        die(EXIT_USAGE, f"--kiln: '{a.kiln}' is not an executable (build kiln first: make build)")
    if a.speed and not os.access(a.infer, os.X_OK):
        die(EXIT_USAGE, f"--infer: '{a.infer}' is not an executable (needed by --speed)")
    return a


def model_list(torchvision, spec):
    models = torchvision.models
    if hasattr(models, "list_models"):
        classifiers = sorted(models.list_models(module=models))
    else:  # torchvision < 0.14: the lower-case callables of torchvision.models
        classifiers = sorted(n for n, f in vars(models).items()
                             if callable(f) and n[0].islower() and not n.startswith("_") and n != "get_weight")
    if spec == "all":
        return ([(n, "classify") for n in classifiers] + [(n, "segment") for n in SEGMENTERS] +
                [(n, "detect") for n in DETECTORS])
    if spec == "classifiers":
        return [(n, "classify") for n in classifiers]
    if spec == "segmenters":
        return [(n, "segment") for n in SEGMENTERS]
    if spec == "detectors":
        return [(n, "detect") for n in DETECTORS]
    seg_all = set(models.list_models(module=models.segmentation)) if hasattr(models, "list_models") else set()
    out = []
    for name in [n for n in spec.split(",") if n]:
        if name in classifiers:
            out.append((name, "classify"))
        elif name in SEGMENTERS or name in seg_all:
            out.append((name, "segment"))
        elif name in DETECTORS:
            out.append((name, "detect"))
        else:
            die(EXIT_INPUT, f"--models: '{name}' is not a torchvision classifier or segmenter")
    return out


def input_size(torchvision, name, kind):
    """The model's usual square input size: its published weights' crop size (read from the weights enum,
    nothing is downloaded); segmenters 520."""
    if kind == "segment":
        return 520
    if kind == "detect":
        return DETECTORS[name]
    try:
        weights = torchvision.models.get_model_weights(name).DEFAULT
        return int(weights.transforms().crop_size[0])
    except Exception:  # noqa: BLE001 - older torchvision or no weights enum: the common ImageNet size
        return 299 if name == "inception_v3" else 224


def wrap_outputs(torch, model, kind):
    """An exportable module around a detector (one [3,H,W] image in, (boxes, scores, labels) out) or a
    segmenter (its 'out' tensor: the dict is not exportable); a classifier as it is."""
    if kind not in ("detect", "segment"):
        return model

    class Wrapped(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            if kind == "segment":
                return self.inner(x)["out"]
            out = self.inner([x])[0]
            return out["boxes"], out["scores"], out["labels"]

    return Wrapped(model)


def make_model(torch, torchvision, name, kind, size, seed, max_params_m=0):
    """The model ready to export, or (None, params in millions) when it has more than max_params_m."""
    torch.manual_seed(seed)
    kwargs = {"weights": None}
    if kind == "segment":
        kwargs["weights_backbone"] = None
        kwargs["aux_loss"] = False
    elif kind == "detect":
        kwargs["weights_backbone"] = None
        if "rcnn" in name:
            # A random box head scores every class about 1/91, under the default 0.05 threshold: nothing would
            # be detected and the comparison would be empty. 0.001 keeps its 100 best boxes.
            kwargs["box_score_thresh"] = 0.001
    elif name in ("googlenet", "inception_v3"):
        kwargs["aux_logits"] = False
        kwargs["init_weights"] = True
    model = torchvision.models.get_model(name, **kwargs)
    # Some classifiers start from an all-zero head (ViT): every logit 0, every argmax class 0, and an agreement
    # that cannot fail. Such weights get a small normal init instead.
    for p in model.parameters():
        if p.dim() >= 2 and not p.detach().any():
            torch.nn.init.normal_(p, std=0.02)
    params_m = round(sum(p.numel() for p in model.parameters()) / 1e6, 2)
    if max_params_m and params_m > max_params_m:
        return None, params_m  # before the recalibration passes, the slow part for a big model
    recalibrate_batchnorm(torch, model, size, seed, detector=kind == "detect")
    model.eval()
    return wrap_outputs(torch, model, kind).eval(), params_m


def recalibrate_batchnorm(torch, model, size, seed, passes=2, batch=4, detector=False):
    """Running mean/var := the cumulative statistics of `passes` train-mode forward passes on random images
    (a detector's backbone and head only: in train mode its forward wants targets). Without it a detector's
    random head scores every class alike, and NMS then ranks ties, which tests nothing."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    gen = torch.Generator().manual_seed(seed + 1)
    model.train()
    with torch.no_grad():
        for _ in range(passes):  # 2 x 4 images: plenty of samples per channel, a fraction of the run's time
            if detector:
                images = model.transform(list(torch.rand(batch, 3, size, size, generator=gen)))[0].tensors
                features = model.backbone(images)
                features = list(features.values()) if isinstance(features, dict) else features
                if hasattr(model, "head"):  # SSD, RetinaNet, FCOS; Faster R-CNN's heads have no BatchNorm
                    model.head(features)
            else:
                model(torch.randn(batch, 3, size, size, generator=gen))


def export(torch, model, size, path, kind, opset=17):
    if kind == "detect":
        x = torch.rand(3, size, size)
        kwargs = dict(input_names=["image"], output_names=list(DETECT_OUTPUTS), opset_version=opset,
                      do_constant_folding=True)
    else:
        x = torch.randn(1, 3, size, size)
        kwargs = dict(input_names=["input"], output_names=["output"], opset_version=opset, do_constant_folding=True,
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    # With gradients enabled: under no_grad nn.MultiheadAttention (ViT) takes its fused fast path, an op
    # the exporter cannot translate.
    with torch.enable_grad():
        torch.onnx.export(model, (x,), path, **kwargs)


def kiln_error(stderr, stdout=""):
    """The first line of kiln's error message (what names the op or shape), else the last output line."""
    for line in (stderr or "").splitlines():
        if "error" in line.lower():
            return line.strip()[:300]
    lines = [l for l in ((stderr or "") + "\n" + (stdout or "")).splitlines() if l.strip()]
    return lines[-1].strip()[:300] if lines else "no output"


def run_cmd(cmd, timeout):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)
        return r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired:
        return 124, "", f"error: timed out after {timeout} s: {' '.join(cmd[:3])} ..."


def run_backend(a, np, backend, onnx, batches, refs, kind, wd):
    times, rels, agrees, centered, margins = [], [], [], [], []
    for i, batch in enumerate(batches):
        feed = os.path.join(wd, f"in{i}.npz")
        out = os.path.join(wd, f"out_{backend}_{i}")
        cmd = [a.kiln, "run", onnx, "--inputs", feed, "--output-dir", out, "--show", "0"]
        if backend != "cpu":
            # One timing cache for the run: a layer shape timed once (another batch, another model) is reused.
            cmd += ["--backend", "cuda", "--timingCacheFile", a.timing_cache]
            if kind != "detect":
                cmd += ["--shapes", "input:" + "x".join(map(str, batch.shape))]
            if backend == "fp16":
                cmd.append("--fp16")
        t0 = time.time()
        rc, so, se = run_cmd(cmd, a.timeout)
        times.append(time.time() - t0)
        if rc != 0:
            return {"status": "fail", "exit": rc, "error": kiln_error(se, so)}
        if kind == "detect":
            got = [np.load(os.path.join(out, f"{name}.npy")) for name in DETECT_OUTPUTS]
            rel, agree, err = compare_detections(np, got, refs[i])
        else:
            got = np.load(os.path.join(out, "output.npy"))
            rel, agree, err = compare(np, kind, got, refs[i])
            c = centered_agreement(np, got, refs[i]) if kind == "classify" else None
            if c is not None:
                centered.append(c * batch.shape[0])
            if kind == "classify":
                margins += disagreement_margins(np, got, refs[i])
        if err:
            return {"status": "fail", "error": err}
        rels.append(rel)
        agrees.append(agree * images_in(kind, batch))
        shutil.rmtree(out, ignore_errors=True)
    n = sum(images_in(kind, b) for b in batches)
    result = {"status": "ok", "max_rel_err": max(rels), "agreement": sum(agrees) / n, "seconds": round(sum(times), 2)}
    if centered and len(centered) == len(batches):
        result["centered_agreement"] = sum(centered) / n
    if margins:  # PyTorch FP32's own gap between the classes of each changed input (near-tie or not)
        result["disagreement_margins"] = [round(m, 6) for m in margins]
    return result


def ort_check(a, onnx, wd, n):
    """kiln compare --backends ort,cpu on every input: 'agrees' when ONNX Runtime gives kiln's outputs (so the
    export, not kiln, differs from PyTorch), 'differs' when not, else why it could not run."""
    for i in range(n):
        out = os.path.join(wd, f"ort_{i}.json")
        rc, so, se = run_cmd([a.kiln, "compare", onnx, "--backends", "ort,cpu", "--inputs",
                              os.path.join(wd, f"in{i}.npz"), "--json", out], a.timeout)
        try:
            with open(out) as f:
                passed = json.load(f)["passed"]
        except (OSError, ValueError, KeyError):
            return "not run: " + kiln_error(se, so)
        if not passed:
            return "differs"
    return "agrees"


def images_in(kind, batch):
    return 1 if kind == "detect" else batch.shape[0]


def torch_outputs(torch, model, batches, device="cpu", dtype=None, keep_dtype=False):
    outs = []
    m = model.to(device)
    if dtype is not None:
        m = m.to(dtype)
    with torch.no_grad():
        for b in batches:
            x = torch.from_numpy(b).to(device)
            if dtype is not None:
                x = x.to(dtype)
            y = m(x)
            if isinstance(y, tuple):  # a detector: boxes, scores, labels as they are
                outs.append([t.cpu().numpy() for t in y])
            else:
                outs.append(y.cpu().numpy() if keep_dtype else y.float().cpu().numpy())
    model.to("cpu").float()
    return outs


def speed(a, torch, np, model, name, onnx, size, wd):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from speed_vs_torch import kiln_time_onnx, torch_time_module

    rows = []
    for b in a.speed_batches:
        row = {"batch": b}
        try:
            plan = os.path.join(wd, f"{name}_b{b}_fp16.plan")
            row["kiln_ms"], row["kiln_build_s"] = kiln_time_onnx(a.kiln, a.infer, onnx, plan, f"input:{b}x3x{size}x{size}",
                                                                 "fp16", a.iterations, a.timing_cache)
            x = torch.randn(b, 3, size, size)
            row["torch_ms"], _ = torch_time_module(torch, model, x, "fp16", a.iterations, 20)
            row["ratio"] = row["torch_ms"] / row["kiln_ms"]
        except Exception as e:  # noqa: BLE001 - one failed timing is a result, not the end of the run
            row["error"] = str(e).strip().splitlines()[-1][:300] if str(e).strip() else type(e).__name__
        rows.append(row)
    return rows


def kiln_info(a, onnx):
    rc, so, se = run_cmd([a.kiln, "info", onnx, "--json"], a.timeout)
    if rc != 0:
        return None, kiln_error(se, so)
    try:
        return json.loads(so), None
    except json.JSONDecodeError as e:
        return None, f"kiln info printed no JSON ({e})"


def cover_one(a, torch, torchvision, np, name, kind, wd):
    size = input_size(torchvision, name, kind)
    r = {"model": name, "task": kind, "input": [a.batch, 3, size, size]}
    t0 = time.time()
    try:
        model, r["params_m"] = make_model(torch, torchvision, name, kind, size, a.seed, a.max_params)
    except Exception as e:  # noqa: BLE001
        r.update(status="fail", stage="construct", error=f"{type(e).__name__}: {e}"[:300])
        return r
    if model is None:
        r.update(status="skipped", reason=f"{r['params_m']} M parameters > --max-params {a.max_params:g}")
        return r
    onnx = os.path.join(wd, f"{name}.onnx")
    try:
        export(torch, model, size, onnx, kind)
    except Exception as e:  # noqa: BLE001
        message = str(e).split(" Please feel free")[0].strip()
        r.update(status="fail", stage="export", error=f"PyTorch export: {type(e).__name__}: {message}"[:300])
        return r
    r["export_s"] = round(time.time() - t0, 1)
    info, err = kiln_info(a, onnx)
    if info is None:
        r.update(status="fail", stage="import", error=err)
        return r
    r["ops"] = info.get("op_histogram", {})
    r["unsupported_ops"] = [u.get("op") for u in info.get("unsupported_ops", [])]
    gen = np.random.default_rng(a.seed + 2)
    if kind == "detect":  # one image per run, in [0, 1) (the detector normalizes it itself)
        batches = [gen.random((3, size, size), dtype=np.float32) for _ in range(a.inputs)]
        for i, b in enumerate(batches):
            np.savez(os.path.join(wd, f"in{i}.npz"), image=b)
    else:
        images = gen.standard_normal((a.inputs, 3, size, size)).astype(np.float32)
        batches = [images[i:i + a.batch] for i in range(0, a.inputs, a.batch)]
        for i, b in enumerate(batches):
            np.savez(os.path.join(wd, f"in{i}.npz"), input=b)
    refs = torch_outputs(torch, model, batches)
    if kind == "detect":
        # Distinct scores: ties would leave NMS's order (and so the comparison) to chance.
        r["torch_detections"] = int(sum(len(o[1]) for o in refs))
        r["torch_distinct_scores"] = int(sum(len(np.unique(o[1])) for o in refs))
    else:
        # How many different top-1 classes PyTorch predicts over the inputs: 1 would make agreement meaningless.
        r["torch_classes"] = int(len(np.unique(np.concatenate([o.argmax(axis=1).ravel() for o in refs]))))
    r["backends"] = {}
    for backend in a.backends:
        r["backends"][backend] = run_backend(a, np, backend, onnx, batches, refs, kind, wd)
    if a.fp64_check and kind != "detect":
        ref64 = torch_outputs(torch, model, batches, dtype=torch.float64, keep_dtype=True)
        scale = max(float(np.abs(o).max()) for o in ref64) or 1.0
        r["torch_fp32_vs_fp64"] = max(float(np.abs(o32 - o64).max()) for o32, o64 in zip(refs, ref64)) / scale
        for backend in a.backends:
            if r["backends"][backend]["status"] == "ok":
                r["backends"][backend]["vs_fp64"] = run_backend(a, np, backend, onnx, batches, ref64, kind, wd)["max_rel_err"]
    cpu = r["backends"].get("cpu", {})
    if not a.no_ort_check and cpu.get("status") == "ok" and cpu.get("agreement", 1) < 1:
        r["ort_check"] = ort_check(a, onnx, wd, len(batches))
    if a.torch_fp16 and kind != "detect":
        try:
            half = torch_outputs(torch, model, batches, "cuda", torch.float16)
            agree = sum(float((h.argmax(1) == f.argmax(1)).sum()) for h, f in zip(half, refs)) / a.inputs
            r["torch_fp16_agreement"] = agree
        except Exception as e:  # noqa: BLE001
            r["torch_fp16_error"] = f"{type(e).__name__}: {e}"[:300]
    if a.speed and kind != "detect":  # detectors' speed: peers for issue 16
        r["speed"] = speed(a, torch, np, model, name, onnx, size, wd)
    failed = [b for b, v in r["backends"].items() if v["status"] != "ok"]
    r["status"] = "fail" if failed else "ok"
    if failed:
        r["stage"] = failed[0]
        r["error"] = r["backends"][failed[0]]["error"]
    return r


def write_atomic(path, text):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".cov.", dir=d)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if a.render:
        try:
            with open(a.json) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            die(EXIT_INPUT, f"--render: cannot read {a.json}: {e}")
        if a.note:
            doc["note"] = a.note
            write_atomic(a.json, json.dumps(doc, indent=1) + "\n")
        write_atomic(a.markdown, markdown(doc))
        print(f"model_coverage: wrote {a.markdown} from {a.json}")
        return 0
    try:
        import numpy as np
        import torch
        import torchvision
    except ImportError as e:
        die(EXIT_RUNTIME, f"{e} (this script needs numpy, torch and torchvision)")
    torch.set_grad_enabled(False)
    warnings.filterwarnings("ignore")  # the tracer's warnings on every model bury the progress lines
    models = model_list(torchvision, a.models)
    skip = {s for s in a.skip.split(",") if s}
    kiln_version = subprocess.run([a.kiln, "--version"], capture_output=True, text=True).stdout.strip()
    kiln_version = kiln_version[len("kiln "):] if kiln_version.startswith("kiln ") else kiln_version
    doc = {"schema": "kiln.coverage/1", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": f"{platform.node()}, {platform.machine()}, {os.cpu_count()} cores"
           + (f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"),
           "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__, "kiln": kiln_version,
                        "python": platform.python_version()},
           "options": {"backends": a.backends, "inputs": a.inputs, "batch": a.batch, "seed": a.seed,
                       "torch_fp16": a.torch_fp16, "speed": a.speed, "speed_batches": a.speed_batches},
           "models": [], **({"note": a.note} if a.note else {})}
    done = {}
    if a.resume and os.path.exists(a.json):
        try:
            with open(a.json) as f:
                previous = json.load(f)
            # Rows measured under other options would sit in one table as if comparable: refused.
            differ = [f"{k} {previous['options'].get(k)!r} -> {v!r}" for k, v in doc["options"].items()
                      if k in previous.get("options", {}) and previous["options"][k] != v]
            if differ:
                die(EXIT_INPUT, f"--resume: {a.json} was measured with other options ({'; '.join(differ)}); "
                                "rerun with those options or write a new --json")
            done = {m["model"]: m for m in previous["models"] if m.get("status") != "skipped"}
            if "note" in previous and "note" not in doc:
                doc["note"] = previous["note"]
        except (OSError, ValueError, KeyError) as e:
            die(EXIT_INPUT, f"--resume: cannot read {a.json}: {e}")
        for name in [n for n in a.rerun.split(",") if n]:
            done.pop(name, None)
    root = a.workdir or tempfile.mkdtemp(prefix="kiln_cov_")
    if not a.timing_cache:
        a.timing_cache = os.path.join(root, "timing.cache")
    os.makedirs(root, exist_ok=True)
    start, left = time.time(), 0
    try:
        for k, (name, kind) in enumerate(models, 1):
            if a.time_budget and time.time() - start > a.time_budget and name not in done and name not in skip:
                left += 1  # not run and not written: a --resume run picks it up (kept results stay below)
                continue
            if name in skip:
                doc["models"].append({"model": name, "task": kind, "input": [a.batch, 3, 0, 0], "status": "skipped",
                                      "reason": "--skip"})
            elif name in done:
                doc["models"].append(done[name])
                print(f"[{k}/{len(models)}] {name}: {done[name]['status']} (kept from {a.json})", flush=True)
            else:
                wd = os.path.join(root, name)
                os.makedirs(wd, exist_ok=True)
                t0 = time.time()
                r = cover_one(a, torch, torchvision, np, name, kind, wd)
                r["seconds"] = round(time.time() - t0, 1)
                r["machine"] = doc["machine"]
                doc["models"].append(r)
                detail = r.get("error") or r.get("reason") or ", ".join(
                    f"{b} {fmt_rel(v['max_rel_err'])} {100 * v['agreement']:.0f}%" for b, v in r.get("backends", {}).items())
                print(f"[{k}/{len(models)}] {name}: {r['status']} ({r['seconds']} s) {detail}", flush=True)
                if not a.workdir:
                    shutil.rmtree(wd, ignore_errors=True)
            listed = {m["model"] for m in doc["models"]}
            doc["pending"] = [n for n, _ in models if n not in listed]
            ran = [m for m in doc["models"] if m["status"] != "skipped"]
            doc["summary"] = {"models": len(doc["models"]), "run": len(ran),
                              "ok": sum(m["status"] == "ok" for m in ran),
                              "skipped": len(doc["models"]) - len(ran)}
            # Rewritten after every model: a long run that dies keeps what it measured.
            if a.json:
                write_atomic(a.json, json.dumps(doc, indent=1) + "\n")
            if a.markdown:
                write_atomic(a.markdown, markdown(doc))
    finally:
        if not a.workdir:
            shutil.rmtree(root, ignore_errors=True)
    if left:
        print(f"model_coverage: --time-budget {a.time_budget:g} s spent: {left} model(s) left for a --resume run")
    s = doc.get("summary", {"ok": 0, "run": 0})
    print(f"model_coverage: {s['ok']} of {s['run']} models pass ({', '.join(a.backends)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
