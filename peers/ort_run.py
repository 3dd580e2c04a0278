#!/usr/bin/env python3
"""kiln compare's `ort` backend where Python has onnxruntime (the GPU machine): runs MODEL.onnx on ONNX Runtime
(CPU) for each IN.npz and writes every output to the matching OUT.npz. Same protocol as tools/ort/run_ort.js.

    python3 peers/ort_run.py MODEL.onnx IN.npz OUT.npz [IN2.npz OUT2.npz ...]
    python3 peers/ort_run.py --version        # prints "onnxruntime (python) X.Y.Z"

Exit codes: 0 ok, 1 usage, 2 bad input, 3 unsupported (ORT cannot load the model), 5 runtime.
"""
import os
import sys


def die(code, message):
    sys.stderr.write(f"ort_run.py: error: {message}\n")
    sys.exit(code)


def load_modules():
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        die(5, f"python3 cannot import onnxruntime and numpy ({e}); pip install onnxruntime numpy")
    return np, ort


def run_one(np, session, model, inputs_path, outputs_path):
    if not os.path.exists(inputs_path):
        die(2, f"{inputs_path}: no such file")
    try:
        with np.load(inputs_path, allow_pickle=False) as data:
            feeds = {name: data[name] for name in data.files}
    except Exception as e:  # a corrupt archive: numpy raises several kinds
        die(2, f"{inputs_path}: cannot read ({e})")
    names = [i.name for i in session.get_inputs()]
    for name in feeds:
        if name not in names:
            die(2, f"{inputs_path} member '{name}' is not an input of {model} (inputs: {', '.join(names)})")
    for name in names:
        if name not in feeds:
            die(2, f"{inputs_path} has no member for input '{name}'")
    try:
        results = session.run(None, feeds)
    except Exception as e:
        die(5, f"ONNX Runtime failed to run {model}: {str(e).splitlines()[0]}")
    outputs = {o.name: np.asarray(r) for o, r in zip(session.get_outputs(), results)}
    tmp = f"{outputs_path}.tmp.{os.getpid()}.npz"
    np.savez(tmp, **outputs)
    os.replace(tmp, outputs_path)


def main(argv):
    if argv == ["--version"]:
        _, ort = load_modules()
        print(f"onnxruntime (python) {ort.__version__}")
        return
    if len(argv) < 3 or len(argv) % 2 != 1:
        die(1, "usage: ort_run.py MODEL.onnx IN.npz OUT.npz [IN2.npz OUT2.npz ...]")
    np, ort = load_modules()
    model = argv[0]
    if not os.path.exists(model):
        die(2, f"{model}: no such file")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # deterministic sums, and a calm shared machine
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as e:
        die(3, f"ONNX Runtime cannot load {model}: {str(e).splitlines()[0]}")
    for i in range(1, len(argv), 2):
        run_one(np, session, model, argv[i], argv[i + 1])


if __name__ == "__main__":
    main(sys.argv[1:])
