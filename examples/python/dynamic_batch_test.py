#!/usr/bin/env python3
"""kiln's port of the hard dynamic-batch test (TensorRT users' hard_dynamic_test.py): one dynamic engine
(min/opt/max batch), four passes of --runs batches each -- min, opt, max, then a random batch in [min, opt] at
every run -- timing each pass, checking outputs against PyTorch FP32 every --check-every runs, and watching device
memory (torch.cuda.mem_get_info before and after). Exits 1 on an error beyond the tolerance, 2 on memory growth.

    python3 examples/python/dynamic_batch_test.py [--model resnet18] [--min 1 --opt 8 --max 16] [--hw 112]
        [--runs 10000] [--precision fp16] [--tol 2e-2]
"""
import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import torch
import torchvision

import _path  # noqa: F401
import kiln


def mib(free_total):
    free, total = free_total
    return (total - free) / 2**20


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet18", help="torchvision model (random weights, seed 0)")
    p.add_argument("--onnx", help="use this ONNX (input 'input', dynamic batch) instead of exporting --model")
    p.add_argument("--min", type=int, default=1)
    p.add_argument("--opt", type=int, default=8)
    p.add_argument("--max", type=int, default=16)
    p.add_argument("--hw", type=int, default=112, help="image height and width (default 112)")
    p.add_argument("--runs", type=int, default=10000, help="batches per pass (default 10000)")
    p.add_argument("--precision", default="fp16")
    p.add_argument("--tol", type=float, default=2e-2,
                   help="max |kiln - torch| / max |torch| per checked batch (default 2e-2)")
    p.add_argument("--check-every", type=int, default=1,
                   help="compare with PyTorch every N runs (default 1: every output, as the acceptance asks)")
    p.add_argument("--mem-slack-mib", type=float, default=64, help="allowed device memory growth (default 64 MiB)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("error: needs a CUDA GPU", file=sys.stderr)
        return 5
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    hw = args.hw
    model = getattr(torchvision.models, args.model)(weights=None).eval().cuda()
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = args.onnx
        if not onnx_path:
            onnx_path = str(Path(tmp) / "model.onnx")
            torch.onnx.export(model, (torch.randn(1, 3, hw, hw, device="cuda"),), onnx_path, dynamo=False,
                              input_names=["input"], output_names=["logits"], opset_version=17,
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        shape = lambda b: (b, 3, hw, hw)  # noqa: E731
        start = time.perf_counter()
        engine = kiln.build(onnx_path, precision=args.precision, profiles=[
            {"min": {"input": shape(args.min)}, "opt": {"input": shape(args.opt)}, "max": {"input": shape(args.max)}}])
        print("built %s %s engine, batch %d/%d/%d, in %.1f s" % (args.model, args.precision, args.min, args.opt,
                                                                 args.max, time.perf_counter() - start))
    session = engine.dynamic_session()
    classes = engine.outputs[0].shape[1]
    x_full = torch.randn(args.max, 3, hw, hw, device="cuda")
    y_full = torch.empty(args.max, classes, device="cuda")
    worst = 0.0
    failures = 0

    def check(b):
        nonlocal worst, failures
        with torch.inference_mode():
            ref = model(x_full[:b])
        err = ((y_full[:b] - ref).abs().max() / ref.abs().max().clamp_min(1e-6)).item()
        worst = max(worst, err)
        if err > args.tol:
            failures += 1
            print("  batch %d: error %.3e above tolerance %.1e" % (b, err, args.tol))

    # Warm-up: every fixed batch once (graphs captured), PyTorch's allocator settled at the max batch.
    for b in (args.min, args.opt, args.max):
        session(x_full[:b], out=y_full[:b])
        check(b)
    torch.cuda.synchronize()
    before = mib(torch.cuda.mem_get_info())
    print("device memory used before: %.1f MiB" % before)

    passes = [("min", lambda: args.min), ("opt", lambda: args.opt), ("max", lambda: args.max),
              ("random[min,opt]", lambda: rng.randint(args.min, args.opt))]
    t0, t1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for name, batch_of in passes:
        images, ms_total = 0, 0.0
        t0.record()
        for i in range(args.runs):
            b = batch_of()
            x_full[:b].normal_()
            session(x_full[:b], out=y_full[:b])
            images += b
            if (i + 1) % args.check_every == 0:  # checks are not timed: close the interval, check, reopen
                t1.record()
                t1.synchronize()
                ms_total += t0.elapsed_time(t1)
                check(b)
                t0.record()
        t1.record()
        t1.synchronize()
        ms_total += t0.elapsed_time(t1)
        print("pass %-16s %6d runs  %8.3f ms per batch  %9.0f images/s (incl. input fill)"
              % (name, args.runs, ms_total / args.runs, images / ms_total * 1e3))
    torch.cuda.synchronize()
    after = mib(torch.cuda.mem_get_info())
    growth = after - before
    print("device memory used after:  %.1f MiB (growth %+.1f MiB, allowed %.0f)" % (after, growth, args.mem_slack_mib))
    print("max error vs PyTorch FP32: %.3e (tolerance %.1e), %d batch(es) above" % (worst, args.tol, failures))
    session.close()
    if failures:
        print("FAILED: outputs differ from PyTorch")
        return 1
    if growth > args.mem_slack_mib:
        print("FAILED: device memory grew by %.1f MiB" % growth)
        return 2
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
