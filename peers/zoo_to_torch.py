#!/usr/bin/env python3
"""Load a `kiln zoo` ONNX file's weights into the matching torchvision module (strict: every state_dict key
matched, shapes equal, same order), run PyTorch on a seeded (or given) input, and compare with ONNX Runtime
and/or a kiln output .npy. This is the proof that the zoo architectures are torchvision's, layer for layer.

Needs torch, torchvision, onnx, numpy (and onnxruntime unless --no-ort): run it on the GPU machine.
Exit codes: 0 ok, 1 usage, 2 bad input, 3 no torchvision counterpart, 4 outputs differ by more than --tol.

Comparing with kiln's CPU reference:
  kiln zoo resnet50 -o r50.onnx
  zoo_to_torch.py r50.onnx --save-input x.npy            # also prints torch vs onnxruntime
  kiln run r50.onnx --backend cpu --input input=x.npy --output-dir out
  zoo_to_torch.py r50.onnx --input x.npy --kiln-output out/logits.npy
"""

import argparse
import sys

EXIT_USAGE, EXIT_INPUT, EXIT_UNSUPPORTED, EXIT_ACCURACY = 1, 2, 3, 4
# Zoo models with a torchvision counterpart (zoo name -> torchvision builder name).
TORCHVISION = {
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50": "resnet50",
    "mobilenet_v2": "mobilenet_v2",
    "efficientnet_b0": "efficientnet_b0",
    "vgg11_bn": "vgg11_bn",
}


def die(code, message):
    print(f"zoo_to_torch: error: {message}", file=sys.stderr)
    sys.exit(code)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[2:]))
    p.add_argument("onnx", help="ONNX file written by `kiln zoo`")
    p.add_argument("--model", help="torchvision model name (default: the ONNX graph name, e.g. resnet50)")
    p.add_argument("--width-mult", type=float, help="mobilenet_v2 width multiplier used with `kiln zoo`")
    p.add_argument("--input", metavar="X.npy", help="input tensor (default: seeded standard normal)")
    p.add_argument("--batch", type=int, default=1, help="batch for a generated input when the ONNX batch is dynamic")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated input")
    p.add_argument("--save-input", metavar="X.npy", help="write the input used, for `kiln run --input input=X.npy`")
    p.add_argument("--save-torch", metavar="Y.npy", help="write PyTorch's output")
    p.add_argument("--kiln-output", metavar="Y.npy", help="compare with this output (e.g. kiln run's logits.npy)")
    p.add_argument("--no-ort", action="store_true", help="skip the ONNX Runtime comparison")
    p.add_argument("--tol", type=float, default=1e-4,
                   help="fail (exit 4) when max|other-torch| / max|torch| exceeds this (default 1e-4)")
    return p.parse_args(argv)


def build_torch_model(name, width_mult, inits):
    import torchvision

    if name not in TORCHVISION:
        die(EXIT_UNSUPPORTED, f"zoo model '{name}' has no torchvision counterpart (have: {', '.join(TORCHVISION)})")
    classifier = {"resnet": "fc.weight", "mobilenet_v2": "classifier.1.weight",
                  "efficientnet_b0": "classifier.1.weight", "vgg11_bn": "classifier.6.weight"}
    key = next(v for k, v in classifier.items() if name.startswith(k))
    if key not in inits:
        die(EXIT_INPUT, f"the ONNX file has no initializer '{key}': was it written by `kiln zoo {name}`?")
    kwargs = {"weights": None, "num_classes": int(inits[key].shape[0])}
    if width_mult is not None:
        if name != "mobilenet_v2":
            die(EXIT_USAGE, "--width-mult only maps onto torchvision's mobilenet_v2")
        kwargs["width_mult"] = width_mult
    return torchvision.models.get_model(TORCHVISION[name], **kwargs)


def load_strict(model, inits, order):
    """Copies every initializer into the state_dict; any missing/extra key or shape mismatch is an error."""
    import torch

    state = model.state_dict()
    keys = [k for k in state if not k.endswith("num_batches_tracked")]
    missing = [k for k in keys if k not in inits]
    extra = [k for k in order if k not in state]
    if missing or extra:
        die(EXIT_INPUT, f"keys differ: missing in ONNX {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                        f"not in torchvision {extra[:5]}{'...' if len(extra) > 5 else ''}")
    bad = [f"{k}: onnx {tuple(inits[k].shape)} torch {tuple(state[k].shape)}"
           for k in keys if tuple(inits[k].shape) != tuple(state[k].shape)]
    if bad:
        die(EXIT_INPUT, "shape mismatch: " + "; ".join(bad[:5]))
    same_order = order == keys
    new_state = {k: (torch.from_numpy(inits[k].copy()) if k in inits else v) for k, v in state.items()}
    model.load_state_dict(new_state, strict=True)
    print(f"loaded {len(keys)} tensors into torchvision {type(model).__name__} (strict); initializer order "
          f"{'matches' if same_order else 'DIFFERS from'} state_dict order")
    params = sum(p.numel() for p in model.parameters())
    print(f"torchvision parameters: {params:,}")
    return same_order


def report(label, got, ref):
    import numpy as np

    if got.shape != ref.shape:
        die(EXIT_ACCURACY, f"{label}: shape {got.shape} != torch {ref.shape}")
    diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    scale = float(np.max(np.abs(ref))) or 1.0
    max_abs = float(diff.max())
    print(f"{label} vs torch: max abs error {max_abs:.3e}, max rel error {max_abs / scale:.3e} "
          f"(of max |torch| {scale:.4g}), max elementwise rel {float(np.max(diff / (np.abs(ref) + 1e-6))):.3e}")
    return max_abs / scale


def main(argv=None):
    args = parse_args(argv)
    try:
        import numpy as np
        import onnx
        import torch
        from onnx import numpy_helper
    except ImportError as e:
        die(EXIT_UNSUPPORTED, f"{e}; this script needs torch, torchvision, onnx and numpy (the GPU machine)")

    try:
        proto = onnx.load(args.onnx)
    except Exception as e:  # noqa: BLE001 - onnx raises several types for unreadable files
        die(EXIT_INPUT, f"cannot read '{args.onnx}': {e}")
    order = [t.name for t in proto.graph.initializer]
    inits = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    name = args.model or proto.graph.name
    model = build_torch_model(name, args.width_mult, inits)
    same_order = load_strict(model, inits, order)
    model.eval()

    inp = proto.graph.input[0]
    if args.input:
        x = np.load(args.input).astype(np.float32)
    else:
        dims = [d.dim_value if d.HasField("dim_value") else args.batch for d in inp.type.tensor_type.shape.dim]
        x = np.random.default_rng(args.seed).standard_normal(dims).astype(np.float32)
    if args.save_input:
        np.save(args.save_input, x)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    if args.save_torch:
        np.save(args.save_torch, ref)
    print(f"input {inp.name} {list(x.shape)}; torch logits std across classes {float(ref.std(axis=-1).mean()):.4g}")

    worst = 0.0
    if not args.no_ort:
        import onnxruntime as ort

        sess = ort.InferenceSession(args.onnx, providers=["CPUExecutionProvider"])
        worst = max(worst, report("onnxruntime", sess.run(None, {inp.name: x})[0], ref))
    if args.kiln_output:
        worst = max(worst, report("kiln", np.load(args.kiln_output), ref))
    if worst > args.tol:
        die(EXIT_ACCURACY, f"max rel error {worst:.3e} > --tol {args.tol:g}")
    if not same_order:
        die(EXIT_INPUT, "initializer order differs from torchvision's state_dict order")
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
