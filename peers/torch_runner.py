#!/usr/bin/env python3
"""Times a model in PyTorch (eager, CUDA graph or torch.compile max-autotune; FP32 or FP16; optional
channels_last) with kiln bench's loop and statistics, and writes the kiln.bench/1 JSON (docs/BENCH_JSON.md)
with backend "torch", "precision" and "mode". `kiln bench --peer torch-graph:fp16` and `kiln sweep` run it.

MODEL is a torchvision name (resnet18, resnet34, resnet50, mobilenet_v2, efficientnet_b0, vgg11_bn; random
weights seeded by --seed) or a `kiln zoo` ONNX file (its weights loaded strictly through zoo_to_torch.py, so
torch runs exactly the network kiln runs). Latency is GPU time per iteration from CUDA events around the
call (the stream is synchronised after each iteration, as kiln does); host_latency_ms is the wall time.
Inputs stay on the GPU unless --transfers (then each iteration copies the input in and the output out
through pinned buffers, inside the timed region).

Exit codes: 0 ok, 1 usage, 2 bad input, 3 torch/torchvision missing or no CUDA for graph/compile, 5 runtime.

Examples:
  torch_runner.py resnet50 --mode graph --precision fp16 --batches 1,8,32 --json torch.json
  torch_runner.py r50.onnx --mode eager --precision fp32 --channels-last --iterations 200 --json t.json
  torch_runner.py r50.onnx --mode compile --precision fp16 --random-batch 1:16 --iterations 1000 --json d.json
"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common as bc  # noqa: E402

TOOL = "torch_runner"
TORCHVISION_NAMES = ["resnet18", "resnet34", "resnet50", "mobilenet_v2", "efficientnet_b0", "vgg11_bn"]


def parse_args(argv):
    p = bc.base_parser(__doc__.split("\n\n")[0])
    p.epilog = "\n\n".join(__doc__.split("\n\n")[1:])
    p.add_argument("model", help="torchvision name or `kiln zoo` .onnx file")
    p.add_argument("--mode", choices=["eager", "graph", "compile"], default="eager")
    p.add_argument("--precision", choices=["fp32", "fp16"], default="fp32")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format for model and input")
    p.add_argument("--transfers", action="store_true", help="time host->device input and device->host output too")
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu (eager only)")
    bc.common_args(p)
    a = p.parse_args(argv)
    bc.check_common(TOOL, a)
    return a


def load_model(a, torch):
    """(module, dims after batch, fixed batch or None, model label)."""
    if a.model.endswith(".onnx"):
        try:
            import onnx
            from onnx import numpy_helper
        except ImportError as e:
            bc.die(TOOL, bc.EXIT_UNSUPPORTED, f"{e}: loading an ONNX file needs the onnx package")
        import zoo_to_torch as z
        if not os.path.exists(a.model):
            bc.die(TOOL, bc.EXIT_INPUT, f"model file '{a.model}' not found")
        proto = onnx.load(a.model)
        inits = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
        model = z.build_torch_model(proto.graph.name, None, inits)
        z.load_strict(model, inits, [t.name for t in proto.graph.initializer])
        dims = proto.graph.input[0].type.tensor_type.shape.dim
        batch = dims[0].dim_value if dims and dims[0].HasField("dim_value") else None
        rest = [d.dim_value if d.HasField("dim_value") else 0 for d in dims[1:]]
        return model, rest, batch, os.path.basename(a.model)
    if a.model not in TORCHVISION_NAMES:
        bc.die(TOOL, bc.EXIT_USAGE, f"unknown model '{a.model}': give an .onnx file or one of "
                                    f"{', '.join(TORCHVISION_NAMES)}")
    import torchvision
    torch.manual_seed(a.seed)
    return torchvision.models.get_model(a.model, weights=None), [3, 224, 224], None, a.model


class Runner:
    """One prepared batch size: static input (and pinned host copies), the callable the mode gives."""

    def __init__(self, a, torch, model, dims, batch, dtype, device):
        self.torch, self.a, self.batch = torch, a, batch
        gen = torch.Generator().manual_seed(a.seed * 1000003 + batch)
        host = torch.randn([batch] + dims, generator=gen).to(dtype)
        fmt = torch.channels_last if a.channels_last and len(dims) == 3 else torch.contiguous_format
        self.x = host.to(device).contiguous(memory_format=fmt)
        self.x_host = host.pin_memory() if a.transfers and device.type == "cuda" else host
        self.fn = self._prepare(model, device)
        out = self.fn()
        self.out_host = torch.empty(out.shape, dtype=out.dtype, pin_memory=device.type == "cuda")

    def _prepare(self, model, device):
        torch, mode = self.torch, self.a.mode
        if mode == "eager":
            return lambda: model(self.x)
        if mode == "compile":
            compiled = torch.compile(model, mode="max-autotune")
            for _ in range(3):  # compiles (and autotunes) here, outside the timed loop
                compiled(self.x)
            return lambda: compiled(self.x)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                model(self.x)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.static_out = model(self.x)

        def replay():
            graph.replay()
            return self.static_out
        return replay

    def step(self):
        if self.a.transfers:
            self.x.copy_(self.x_host, non_blocking=True)
        out = self.fn()
        if self.a.transfers:
            self.out_host.copy_(out, non_blocking=True)
        return out


def timed_step(torch, device, runners, order):
    """step(i): runs runners[order(i)] between two CUDA events, waits, returns (GPU ms, host wall ms)."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def step(i):
        r = runners[order(i)]
        t0 = time.perf_counter()
        if device.type != "cuda":
            r.step()
            ms = (time.perf_counter() - t0) * 1e3
            return ms, ms
        start.record()
        r.step()
        end.record()
        end.synchronize()
        return start.elapsed_time(end), (time.perf_counter() - t0) * 1e3
    return step


def main(argv=None):
    a = parse_args(argv)
    try:
        import torch
        import torchvision  # noqa: F401 - the zoo models come from it
    except ImportError as e:
        bc.die(TOOL, bc.EXIT_UNSUPPORTED, f"PyTorch is not available ({e}); install torch and torchvision "
                                          "(the GPU machine has them) to compare with PyTorch")
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        bc.die(TOOL, bc.EXIT_UNSUPPORTED, "no CUDA device visible to PyTorch; use --device cpu --mode eager")
    if device.type != "cuda" and a.mode != "eager":
        bc.die(TOOL, bc.EXIT_UNSUPPORTED, f"--mode {a.mode} needs a CUDA device")
    if device.type != "cuda" and a.precision == "fp16":
        bc.die(TOOL, bc.EXIT_UNSUPPORTED, "fp16 on the CPU is not measured; use --precision fp32")
    model, dims, fixed_batch, label = load_model(a, torch)
    if a.dims:
        dims = a.dims
    if not dims or any(d <= 0 for d in dims):
        bc.die(TOOL, bc.EXIT_INPUT, f"input dims after the batch are not all known ({dims}); give --shape 3x224x224")
    # fp32 means fp32, as kiln's --fp32 does: PyTorch's default lets cuDNN convolutions use TF32.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    dtype = torch.float16 if a.precision == "fp16" else torch.float32
    model = model.eval().to(device=device, dtype=dtype)
    if a.channels_last and len(dims) == 3:
        model = model.to(memory_format=torch.channels_last)
    # With only --random-batch, the random case alone (kiln sweep's dyn-random cell).
    batches = a.batch_list or ([] if a.random_range else [fixed_batch or 1])
    if fixed_batch and any(b != fixed_batch for b in batches):
        bc.die(TOOL, bc.EXIT_INPUT, f"the model's batch is fixed to {fixed_batch}; export it with a dynamic batch")
    backend = a.label or "torch"
    mode = a.mode + ("+channels_last" if a.channels_last else "")
    nvml = bc.Nvml()
    cases = []
    extra = {"timing": "cuda_events" if device.type == "cuda" else "wall", "data_transfers": a.transfers,
             "device": str(device)}
    with torch.inference_mode():
        plans = [("static", b) for b in batches] + ([("random", None)] if a.random_range else [])
        for kind, b in plans:
            if kind == "static":
                runners = {b: Runner(a, torch, model, dims, b, dtype, device)}
                order = lambda i, b=b: b  # noqa: E731
            else:
                lo, hi = a.random_range
                runners = {k: Runner(a, torch, model, dims, k, dtype, device) for k in range(lo, hi + 1)}
                rng = random.Random(a.seed)
                seq = {}
                order = lambda i: seq.setdefault(i, rng.randint(lo, hi)) if i >= 0 else lo + (-i) % (hi - lo + 1)  # noqa: E731
            if device.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            with bc.GpuSampler(nvml) as sampler:
                run = bc.run_timed(timed_step(torch, device, runners, order), a.warmUp, a.iterations, a.duration)
            mem = {"peak_allocated_bytes": torch.cuda.max_memory_allocated() if device.type == "cuda" else None,
                   "peak_reserved_bytes": torch.cuda.max_memory_reserved() if device.type == "cuda" else None}
            case_extra = dict(extra, device_memory=mem)
            shape_b = b if kind == "static" else a.random_range[1]
            if kind == "random":
                batches_run = [order(i) for i in range(len(run["times"]))]
                run["samples_done"] = sum(batches_run)
                case_extra["dynamic"] = {"kind": "random", "min": a.random_range[0], "max": a.random_range[1],
                                         "batches": batches_run, "seed": a.seed}
            case = bc.make_case(run, a, backend, a.precision, mode, b if b else 0, {"input": [shape_b] + dims},
                                nvml, sampler, case_extra)
            bc.print_case(TOOL, case)
            cases.append(case)
            del runners
            if device.type == "cuda":
                torch.cuda.empty_cache()
    options = {"backend": backend, "mode": mode, "precision": a.precision, "warmUp_ms": a.warmUp,
               "iterations": a.iterations, "duration_s": a.duration, "avgRuns": a.avgRuns,
               "percentiles": a.percentile_list, "batches": a.batch_list, "seed": a.seed,
               "random_batch": list(a.random_range) if a.random_range else None, "transfers": a.transfers}
    versions = {"torch": torch.__version__, "cuda": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
                "cublas": None}
    bc.write_document(TOOL, a.json, label, options, versions, cases)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as e:  # CUDA out of memory, capture failures: exit 5 with torch's message
        bc.die(TOOL, bc.EXIT_RUNTIME, str(e).splitlines()[0] if str(e) else repr(e))
