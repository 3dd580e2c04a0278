#!/usr/bin/env python3
"""kiln from Python with NumPy: build (or load) an engine, run it on a NumPy array, print the top classes.

    python3 examples/python/infer_numpy.py resnet50.onnx --fp16 --batch 4 [--save resnet50.plan]
    python3 examples/python/infer_numpy.py resnet50.plan
"""
import argparse
import sys
import time

import numpy as np

import _path  # noqa: F401  (python/ of this checkout)
import kiln


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help=".onnx model or .plan engine")
    p.add_argument("--fp16", action="store_true", help="FP16 engine (when building)")
    p.add_argument("--batch", type=int, default=1, help="batch size of a dynamic-batch ONNX model (default 1)")
    p.add_argument("--save", help="write the built engine to this plan file")
    args = p.parse_args()

    print("kiln", kiln.version())
    try:
        if args.model.endswith(".plan"):
            print(kiln.plan_info(args.model)["header"]["env"]["gpu_name"], "plan")
            engine = kiln.load(args.model)
        else:
            start = time.perf_counter()
            shapes = None
            if args.batch != 1:
                shapes = {"input": (args.batch, 3, 224, 224)}
            engine = kiln.build(args.model, precision="fp16" if args.fp16 else None, shapes=shapes)
            print("built in %.1f s" % (time.perf_counter() - start))
            if args.save:
                engine.save(args.save)
                print("saved", args.save)
    except kiln.KilnError as e:
        print("error:", e, file=sys.stderr)
        return e.code
    for t in engine.inputs + engine.outputs:
        print(" ", t)
    inp = engine.inputs[0]
    shape = tuple(d if d > 0 else args.batch for d in inp.shape)
    x = np.random.default_rng(0).standard_normal(shape).astype(inp.dtype)
    session = engine.static_session() if not engine.dynamic else engine.dynamic_session()
    with session:
        y = session(x)
        if isinstance(y, dict):
            y = next(iter(y.values()))
        print("output", y.shape, y.dtype)
        if y.ndim == 2:
            for i, row in enumerate(y[:4]):
                print("  sample %d top-5 classes %s" % (i, np.argsort(row)[::-1][:5].tolist()))
        start = time.perf_counter()
        for _ in range(20):
            session(x)
        ms = (time.perf_counter() - start) / 20 * 1e3
        print("%.3f ms per run (host path: copies in and out, synchronised)" % ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
