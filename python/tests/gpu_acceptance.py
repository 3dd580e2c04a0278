#!/usr/bin/env python3
"""GPU acceptance of the kiln Python package (run on the GPU machine from the repo root, build in ./build):

  1. builds ResNet-50 FP16 engines at batch 1 and 128 (plans saved in --workdir; reused with --reuse-plans);
  2. times, on the same plan, (a) the C++ example build/bin/kiln_example_infer --device-io (median GPU time per
     inference, CUDA events) and (b) the Python session on CUDA torch tensors, session(x, out=y) in a loop
     (CUDA events on torch's current stream, median of --runs after warm-up), and reports the ratio;
  3. checks the Python output equals the C++ example's (--save-output) bit for bit, for the same input;
  4. checks the timed Python loop makes no host copy (torch.profiler, CUDA activities: Memcpy HtoD / DtoH = 0,
     and kiln's own device-to-device copies are seen, so the profiler did watch);
  5. checks bad inputs from Python raise the right exception and the session still works afterwards.

Writes every number and verdict to --out (JSON) and exits 0 only when everything passed.

    python3 python/tests/gpu_acceptance.py --out gpu_acceptance.json [--model resnet50.onnx] [--runs 200]
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))

import numpy as np  # noqa: E402

import kiln  # noqa: E402

# libkiln.so is loaded before torch, so kiln binds the system's cuDNN/cuBLAS like the C++ example does (plans
# record those versions; with torch first, kiln would use torch's copies and the example would refuse the plan).
KILN_VERSION = kiln.version()
import torch  # noqa: E402

RESULTS = {"schema": "kiln.python-gpu-acceptance/1", "checks": [], "timings": [], "passed": False}


def check(name, ok, detail=""):
    RESULTS["checks"].append({"name": name, "passed": bool(ok), "detail": detail})
    print("%-4s %s%s" % ("ok" if ok else "FAIL", name, (": " + detail) if detail else ""), flush=True)
    return ok


def example_input(shape):
    """The C++ example's input: float32 (i * 7919 % 255) / 255 - 0.5 for element i."""
    i = np.arange(int(np.prod(shape)), dtype=np.int64)
    return ((i * 7919 % 255).astype(np.float32) / np.float32(255) - np.float32(0.5)).reshape(shape)


def run_example(binary, plan, runs, npy=None):
    cmd = [str(binary), str(plan), "--iterations", str(runs), "--device-io"]
    if npy:
        cmd += ["--save-output", str(npy)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), out.returncode, out.stderr.strip()))
    m = re.search(r"median ([0-9.]+) ms", out.stdout)
    if not m:
        raise RuntimeError("no 'median ... ms' in the example's output:\n" + out.stdout)
    return float(m.group(1)), out.stdout


def python_times(session, x, y, runs, warmup=20):
    for _ in range(warmup):
        session(x, out=y)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ms, host_us = [], []
    for _ in range(runs):
        start.record()
        t = time.perf_counter()
        session(x, out=y)
        host_us.append((time.perf_counter() - t) * 1e6)
        end.record()
        end.synchronize()
        ms.append(start.elapsed_time(end))
    return statistics.median(ms), statistics.median(host_us)


def count_copies(session, x, y, runs):
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(runs):
            session(x, out=y)
        torch.cuda.synchronize()
    counts = {"HtoD": 0, "DtoH": 0, "DtoD": 0}
    for e in prof.events():
        for kind in counts:
            if "Memcpy %s" % kind in e.name:
                counts[kind] += 1
    return counts


def expect_raises(name, exc_type, fn, needle, session, x, y, reference):
    try:
        fn()
        check(name, False, "no exception raised")
    except exc_type as e:
        ok = needle in str(e)
        check(name, ok, "%s: %s" % (type(e).__name__, e) if ok else "message lacks %r: %s" % (needle, e))
    except Exception as e:  # noqa: BLE001 - the wrong exception type is the failure being reported
        check(name, False, "raised %s instead of %s: %s" % (type(e).__name__, exc_type.__name__, e))
    y.zero_()
    session(x, out=y)
    torch.cuda.synchronize()
    check(name + ": session still works", torch.equal(y, reference))


def bad_input_checks(engine, session, x, y, onnx, workdir):
    reference = y.clone()
    expect_raises("wrong dtype (float16 input) -> BadInputError", kiln.BadInputError,
                  lambda: session(x.half(), out=y), "float16", session, x, y, reference)
    expect_raises("wrong rank (3-D input) -> BadInputError", kiln.BadInputError,
                  lambda: session(x[0], out=y), "static session runs", session, x, y, reference)
    expect_raises("wrong output shape -> BadInputError", kiln.BadInputError,
                  lambda: session(x, out=torch.empty(y.shape[0] + 1, y.shape[1], device="cuda")), "output",
                  session, x, y, reference)
    expect_raises("CPU tensor to run_device -> BadInputError", kiln.BadInputError,
                  lambda: session.run_device({"input": x.cpu()}, out=y), "host memory", session, x, y, reference)
    expect_raises("non-contiguous input -> UsageError", kiln.UsageError,
                  lambda: session(x.transpose(2, 3), out=y), "C-contiguous", session, x, y, reference)
    other = engine.static_session()
    other.close()
    expect_raises("closed session -> UsageError", kiln.UsageError, lambda: other(x, out=y), "closed", session, x, y,
                  reference)
    # Batch outside a dynamic profile (a quick untuned engine: only the error matters here).
    dyn = kiln.build(onnx, precision="fp16", tune=False, profiles=[
        {"min": {"input": (1, 3, 224, 224)}, "opt": {"input": (4, 3, 224, 224)}, "max": {"input": (8, 3, 224, 224)}}])
    with dyn.dynamic_session() as ds:
        big = torch.zeros(9, 3, 224, 224, device="cuda")
        expect_raises("batch 9 outside profile [1, 8] -> BadInputError", kiln.BadInputError, lambda: ds(big),
                      "is outside [1, 8]", session, x, y, reference)
        out = ds(x[:1].repeat(3, 1, 1, 1)) if x.shape[0] == 1 else ds(x[:3])
        check("dynamic session runs batch 3 after the refusal", tuple(out.shape) == (3, y.shape[1]),
              "output %s" % (tuple(out.shape),))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="JSON results file")
    p.add_argument("--model", help="ResNet-50 ONNX with a dynamic batch (default: made with build/bin/kiln zoo "
                                   "resnet50 --batch dynamic)")
    p.add_argument("--batches", default="1,128")
    p.add_argument("--runs", type=int, default=200, help="timed runs per side (>= 200 recommended)")
    p.add_argument("--workdir", default=None, help="where plans and outputs go (default: a temporary folder)")
    p.add_argument("--reuse-plans", action="store_true", help="load plans already in --workdir")
    p.add_argument("--bin", default=str(ROOT / "build" / "bin"), help="folder of kiln and kiln_example_infer")
    p.add_argument("--max-ratio", type=float, default=None,
                   help="Python / C++ median time above this fails (default: issue 17's bar, 1.05 or +0.02 ms "
                        "below batch 128, 1.02 from batch 128)")
    args = p.parse_args()
    RESULTS["environment"] = {"python": platform.python_version(), "torch": torch.__version__,
                              "kiln": kiln.version(), "argv": sys.argv}
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="kiln_gpu_acceptance_"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        available, why = kiln.cuda_available()
        if not check("kiln sees a CUDA GPU", available, why or torch.cuda.get_device_name()):
            return 1
        RESULTS["environment"]["gpu"] = torch.cuda.get_device_name()
        onnx = args.model
        if not onnx:
            onnx = str(workdir / "resnet50.onnx")
            if not Path(onnx).exists():
                subprocess.run([str(Path(args.bin) / "kiln"), "zoo", "resnet50", "--batch", "dynamic", "-o", onnx],
                               check=True)
        RESULTS["model"] = onnx
        example = Path(args.bin) / "kiln_example_infer"
        keep = None
        for batch in [int(b) for b in args.batches.split(",")]:
            plan = workdir / ("resnet50_fp16_b%d.plan" % batch)
            if not (args.reuse_plans and plan.exists()):
                t = time.perf_counter()
                kiln.build(onnx, precision="fp16", shapes={"input": (batch, 3, 224, 224)}).save(plan)
                print("built %s in %.1f s" % (plan.name, time.perf_counter() - t), flush=True)
            npy = workdir / ("cpp_b%d.npy" % batch)
            cpp_ms, _ = run_example(example, plan, args.runs, npy)
            engine = kiln.load(plan)
            session = engine.static_session()
            x = torch.from_numpy(example_input((batch, 3, 224, 224))).cuda()
            y = torch.empty(engine.outputs[0].shape, dtype=torch.float32, device="cuda")
            py_ms, host_us = python_times(session, x, y, args.runs)
            ratio = py_ms / cpp_ms
            RESULTS["timings"].append({"batch": batch, "plan": str(plan), "cpp_device_io_median_ms": cpp_ms,
                                       "python_median_ms": py_ms, "python_host_call_median_us": host_us,
                                       "ratio": ratio, "runs": args.runs})
            print("batch %d: C++ %.4f ms, Python %.4f ms (host call %.1f us), ratio %.3f" % (batch, cpp_ms, py_ms,
                                                                                          host_us, ratio))
            # Issue 17's bar: within 5% (or 0.02 ms) of the C++ example at batch 1, within 2% at batch 128.
            limit = args.max_ratio if args.max_ratio else (1.05 if batch < 128 else 1.02)
            slack_ms = 0.02 if batch < 128 and not args.max_ratio else 0.0
            check("batch %d: Python/C++ time ratio <= %.2f%s" % (batch, limit, " or +%.2f ms" % slack_ms if slack_ms
                                                                   else ""),
                  ratio <= limit or py_ms - cpp_ms <= slack_ms, "%.3f (%+.4f ms)" % (ratio, py_ms - cpp_ms))
            session(x, out=y)
            torch.cuda.synchronize()
            same = np.array_equal(y.cpu().numpy(), np.load(npy))
            check("batch %d: Python output == C++ example output, bit for bit" % batch, same,
                  "" if same else "max |diff| %.3e" % np.abs(y.cpu().numpy() - np.load(npy)).max())
            counts = count_copies(session, x, y, 50)
            RESULTS.setdefault("profiler_copies", {})[str(batch)] = counts
            check("batch %d: no host copy in 50 Python runs (profiler)" % batch,
                  counts["HtoD"] == 0 and counts["DtoH"] == 0 and counts["DtoD"] >= 100, json.dumps(counts))
            if batch == 1:
                keep = (engine, session, x, y)
            else:
                session.close()
        if keep:
            bad_input_checks(*keep, onnx, workdir)
    except Exception as e:  # noqa: BLE001 - recorded in the JSON, then the script fails
        traceback.print_exc()
        check("no unexpected exception", False, "%s: %s" % (type(e).__name__, e))
    RESULTS["passed"] = all(c["passed"] for c in RESULTS["checks"])
    Path(args.out).write_text(json.dumps(RESULTS, indent=2) + "\n")
    print("%s: %d checks, %d failed; results in %s" % ("PASSED" if RESULTS["passed"] else "FAILED",
                                                       len(RESULTS["checks"]),
                                                       sum(not c["passed"] for c in RESULTS["checks"]), args.out))
    return 0 if RESULTS["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
