#!/usr/bin/env python3
"""Times an ONNX model in ONNX Runtime with kiln bench's loop and statistics and writes the kiln.bench/1
JSON (docs/BENCH_JSON.md) with backend "ort", "precision" and "mode" (the execution provider).
`kiln bench --peer ort` and `kiln sweep` run it.

The provider is the first present of CUDA, then CPU (TensorRT only when asked with --provider, since it
builds its own engines). Latency is the wall time of InferenceSession.run with numpy inputs, so it
includes host<->device copies on the CUDA provider (data_transfers: true); with --io-binding on CUDA the
input and output stay on the device (OrtValue binding) and only compute is timed.

Exit codes: 0 ok, 1 usage, 2 bad input, 3 onnxruntime/numpy missing or provider unavailable, 5 runtime.

Examples:
  ort_runner.py r50.onnx --batches 1,8,32 --json ort.json
  ort_runner.py r50.onnx --provider CPUExecutionProvider --iterations 50 --json ort_cpu.json
  ort_runner.py r50.onnx --random-batch 1:16 --iterations 1000 --json dyn.json
"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common as bc  # noqa: E402

TOOL = "ort_runner"
PREFERRED = ["CUDAExecutionProvider", "CPUExecutionProvider"]
NUMPY_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
                "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(bool)": "bool", "tensor(uint8)": "uint8"}


def parse_args(argv):
    p = bc.base_parser(__doc__.split("\n\n")[0])
    p.epilog = "\n\n".join(__doc__.split("\n\n")[1:])
    p.add_argument("model", help="ONNX file")
    p.add_argument("--provider", default="", help="execution provider (default: CUDA if present, else CPU)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16"],
                   help="the model's own precision: ONNX Runtime runs the file as it is (fp16 needs an fp16 model)")
    p.add_argument("--io-binding", action="store_true", help="CUDA provider: keep inputs/outputs on the device")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: onnxruntime's default)")
    bc.common_args(p)
    a = p.parse_args(argv)
    bc.check_common(TOOL, a)
    return a


def input_dims(inp, batch, override):
    dims = list(inp.shape)
    rest = override if override else dims[1:]
    if len(rest) != len(dims) - 1 or any(not isinstance(d, int) or d <= 0 for d in rest):
        bc.die(TOOL, bc.EXIT_INPUT, f"input '{inp.name}' has dims {dims}: give the dims after the batch with --shape")
    if isinstance(dims[0], int) and dims[0] > 0 and dims[0] != batch:
        bc.die(TOOL, bc.EXIT_INPUT, f"input '{inp.name}' has a fixed batch {dims[0]}; batch {batch} needs a "
                                    "dynamic-batch model (kiln zoo NAME --batch dynamic)")
    return [batch] + rest


class Feeds:
    """Seeded inputs for one batch size; with io-binding, device copies bound once."""

    def __init__(self, a, ort, np, sess, batch, use_binding):
        rng = np.random.default_rng(a.seed * 1000003 + batch)
        self.feeds = {}
        self.shapes = {}
        for i, inp in enumerate(sess.get_inputs()):
            dims = input_dims(inp, batch, a.dims if i == 0 else None)
            dtype = NUMPY_DTYPES.get(inp.type)
            if dtype is None:
                bc.die(TOOL, bc.EXIT_UNSUPPORTED, f"input '{inp.name}' has type {inp.type}, not generated")
            self.feeds[inp.name] = rng.standard_normal(dims).astype(dtype)
            self.shapes[inp.name] = dims
        self.binding = None
        if use_binding:
            self.binding = sess.io_binding()
            for name, x in self.feeds.items():
                self.binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0))
            for out in sess.get_outputs():
                self.binding.bind_output(out.name, "cuda")


def main(argv=None):
    a = parse_args(argv)
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        bc.die(TOOL, bc.EXIT_UNSUPPORTED, f"ONNX Runtime is not available ({e}); install onnxruntime and numpy "
                                          "to compare with it")
    if not os.path.exists(a.model):
        bc.die(TOOL, bc.EXIT_INPUT, f"model file '{a.model}' not found")
    present = ort.get_available_providers()
    provider = a.provider or next(p for p in PREFERRED + present if p in present)
    if provider not in present:
        bc.die(TOOL, bc.EXIT_UNSUPPORTED, f"provider {provider} is not in this onnxruntime build (present: "
                                          f"{', '.join(present)})")
    use_binding = a.io_binding and provider == "CUDAExecutionProvider"
    opts = ort.SessionOptions()
    if a.threads > 0:
        opts.intra_op_num_threads = a.threads
    try:
        sess = ort.InferenceSession(a.model, sess_options=opts, providers=[provider])
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
        bc.die(TOOL, bc.EXIT_INPUT, f"onnxruntime cannot load '{a.model}': {e}")
    first = sess.get_inputs()[0]
    if a.precision == "fp16" and first.type != "tensor(float16)":
        bc.die(TOOL, bc.EXIT_UNSUPPORTED, f"--precision fp16: '{a.model}' takes {first.type}; ONNX Runtime runs "
                                          "the file as it is, so give an fp16 model (or measure fp32)")
    fixed = first.shape[0] if isinstance(first.shape[0], int) and first.shape[0] > 0 else None
    batches = a.batch_list or ([] if a.random_range else [fixed or 1])  # --random-batch alone: that case only
    mode = provider.replace("ExecutionProvider", "") + ("+iobinding" if use_binding else "")
    nvml = bc.Nvml()
    cases = []
    plans = [("static", b) for b in batches] + ([("random", None)] if a.random_range else [])
    for kind, b in plans:
        if kind == "static":
            feeds = {b: Feeds(a, ort, np, sess, b, use_binding)}
            order = lambda i, b=b: b  # noqa: E731
        else:
            lo, hi = a.random_range
            feeds = {k: Feeds(a, ort, np, sess, k, use_binding) for k in range(lo, hi + 1)}
            rng, seq = random.Random(a.seed), {}
            order = lambda i: seq.setdefault(i, rng.randint(lo, hi)) if i >= 0 else lo + (-i) % (hi - lo + 1)  # noqa: E731

        def step(i):
            f = feeds[order(i)]
            t0 = time.perf_counter()
            if f.binding is not None:
                sess.run_with_iobinding(f.binding)
            else:
                sess.run(None, f.feeds)
            ms = (time.perf_counter() - t0) * 1e3
            return ms, ms

        with bc.GpuSampler(nvml) as sampler:
            run = bc.run_timed(step, a.warmUp, a.iterations, a.duration)
        extra = {"timing": "wall", "data_transfers": not use_binding, "device": provider, "device_memory": None}
        if kind == "random":
            batches_run = [order(i) for i in range(len(run["times"]))]
            run["samples_done"] = sum(batches_run)
            extra["dynamic"] = {"kind": "random", "min": lo, "max": hi, "batches": batches_run, "seed": a.seed}
        shapes = feeds[b if kind == "static" else hi].shapes
        case = bc.make_case(run, a, a.label or "ort", a.precision, mode, b if b else 0, shapes, nvml, sampler, extra)
        bc.print_case(TOOL, case)
        cases.append(case)
    options = {"backend": a.label or "ort", "mode": mode, "precision": a.precision, "warmUp_ms": a.warmUp,
               "iterations": a.iterations, "duration_s": a.duration, "avgRuns": a.avgRuns,
               "percentiles": a.percentile_list, "batches": a.batch_list, "seed": a.seed,
               "random_batch": list(a.random_range) if a.random_range else None, "provider": provider}
    versions = {"onnxruntime": ort.__version__, "cuda": None, "cudnn": None, "cublas": None}
    bc.write_document(TOOL, a.json, os.path.basename(a.model), options, versions, cases)
    return 0


if __name__ == "__main__":
    sys.exit(main())
