#!/usr/bin/env python3
"""kiln FP16/BF16/FP32/TF32 engines vs PyTorch on the same GPU, in the same run (issue 5's speed acceptance).

For each model and batch: exports the kiln zoo model (layer-for-layer torchvision's architecture),
builds a kiln engine, times it, and times torchvision's model in PyTorch (channels_last, same precision,
CUDA graph, cudnn.benchmark on). Both sides are timed the same way: CUDA events around each graph replay,
median of --iterations runs after warm-up; no host transfers on either side. Prints a table and the ratio
(torch time / kiln time: > 1 means kiln is faster) and writes JSON.

  python3 peers/speed_vs_torch.py --kiln build/bin/kiln --infer build/bin/kiln_example_infer \
      --models resnet50,resnet18,mobilenet_v2 --batches 1,128 --precision fp16 --json speed.json
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time


def torch_time(model_name, batch, precision, iterations, warmup, compile_mode=None):
    import torch
    import torchvision

    model = getattr(torchvision.models, model_name)(weights=None).eval()
    return torch_time_module(torch, model, torch.randn(batch, 3, 224, 224), precision, iterations, warmup, compile_mode)


def torch_time_module(torch, model, x, precision, iterations, warmup, compile_mode=None):
    """Median ms of one forward of `model` on `x` (moved to the GPU, channels_last, `precision`): a CUDA graph
    replay timed with CUDA events (or the torch.compile'd module, which graphs itself). Returns (ms, compile s)."""
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)
    model = model.eval().cuda().to(dtype).to(memory_format=torch.channels_last)
    x = x.to(device="cuda", dtype=dtype).contiguous(memory_format=torch.channels_last)
    compile_s = 0.0
    if compile_mode:
        t0 = time.time()
        model = torch.compile(model, mode=compile_mode)
        with torch.inference_mode():
            for _ in range(3):
                model(x)
        torch.cuda.synchronize()
        compile_s = time.time() - t0
    with torch.inference_mode():
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(warmup):
                model(x)
        torch.cuda.current_stream().wait_stream(s)
        graph = None
        if not compile_mode:  # max-autotune already uses CUDA graphs internally
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                model(x)
        run = graph.replay if graph else (lambda: model(x))
        for _ in range(warmup):
            run()
        times = []
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        for _ in range(iterations):
            start.record()
            run()
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop))
    times.sort()
    return times[len(times) // 2], compile_s


def kiln_time(args, model_name, batch, precision, workdir):
    onnx = os.path.join(workdir, f"{model_name}_b{batch}.onnx")
    if not os.path.exists(onnx):
        subprocess.run([args.kiln, "zoo", model_name, "--batch", str(batch), "-o", onnx], check=True,
                       stdout=subprocess.DEVNULL)
    plan = os.path.join(workdir, f"{model_name}_b{batch}_{precision}.plan")
    return kiln_time_onnx(args.kiln, args.infer, onnx, plan, None, precision, args.iterations, args.timing_cache)


def kiln_time_onnx(kiln, infer, onnx, plan, shapes, precision, iterations, timing_cache=None):
    """Builds `onnx` into `plan` (static `shapes` if given) and times it with kiln_example_infer: (median ms,
    build s)."""
    cmd = [kiln, "build", onnx, "--saveEngine", plan]
    if shapes:
        cmd += ["--shapes", shapes]
    if precision != "fp32":
        cmd.append("--" + precision)
    if timing_cache:
        cmd += ["--timingCacheFile", timing_cache]
    t0 = time.time()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"kiln build failed (exit {r.returncode}): {r.stderr.strip()}")
    build_s = time.time() - t0
    out = subprocess.run([infer, plan, "--iterations", str(iterations)], check=True, capture_output=True,
                         text=True).stdout
    m = re.search(r"median ([0-9.]+) ms", out)
    if not m:
        raise RuntimeError("no timing in the kiln output:\n" + out)
    return float(m.group(1)), build_s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", default="kiln")
    ap.add_argument("--infer", default="kiln_example_infer", help="kiln's example program (times graph replays)")
    ap.add_argument("--models", default="resnet50,resnet18,mobilenet_v2")
    ap.add_argument("--batches", default="1,128")
    ap.add_argument("--precision", default="fp16", choices=["fp16", "bf16", "fp32", "tf32"],
                    help="both sides: fp16/bf16 storage, fp32 (TF32 off on both), tf32 (TF32 on both)")
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--timing-cache", default="")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile(mode='max-autotune') (slow)")
    ap.add_argument("--workdir", default="")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("speed_vs_torch: PyTorch is not installed here; run this on the GPU machine", file=sys.stderr)
        return 3
    if not torch.cuda.is_available():
        print("speed_vs_torch: no CUDA GPU", file=sys.stderr)
        return 5
    workdir = args.workdir or tempfile.mkdtemp(prefix="kiln_speed_")
    env = {
        "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(), "host": platform.node(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    try:
        env["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                       capture_output=True, text=True).stdout.strip()
    except OSError:
        env["driver"] = None
    rows = []
    print(f"# {env['gpu']}, driver {env['driver']}, torch {env['torch']} (CUDA {env['cuda']}, cuDNN {env['cudnn']})")
    print(f"# GPU time per batch, median of {args.iterations} runs; ratio = torch / kiln (> 1: kiln faster)")
    print(f"{'model':14} {'batch':>5} {'prec':>5} {'torch-graph ms':>15} {'kiln ms':>9} {'ratio':>6} {'build s':>8}")
    for model in args.models.split(","):
        for batch in [int(b) for b in args.batches.split(",")]:
            t_ms, _ = torch_time(model, batch, args.precision, args.iterations, args.warmup)
            k_ms, build_s = kiln_time(args, model, batch, args.precision, workdir)
            row = {"model": model, "batch": batch, "precision": args.precision, "torch_graph_ms": t_ms,
                   "kiln_ms": k_ms, "ratio": t_ms / k_ms, "kiln_build_s": build_s}
            if args.compile:
                c_ms, c_s = torch_time(model, batch, args.precision, args.iterations, args.warmup, "max-autotune")
                row.update({"torch_compile_ms": c_ms, "torch_compile_s": c_s, "ratio_vs_compile": c_ms / k_ms})
            rows.append(row)
            extra = f"  compile {row['torch_compile_ms']:.3f} ms ({row['torch_compile_s']:.0f} s)" if args.compile else ""
            print(f"{model:14} {batch:5d} {args.precision:>5} {t_ms:15.3f} {k_ms:9.3f} {t_ms / k_ms:6.2f} "
                  f"{build_s:8.1f}{extra}", flush=True)
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"schema": "kiln.speed_vs_torch/1", "env": env, "rows": rows}, f, indent=1)
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
