#!/usr/bin/env python3
"""Export a PyTorch model (torchvision, timm, or your own module) to ONNX, check it, compare ONNX Runtime with
PyTorch on a seeded input, and write a model config YAML (seed-003 format) beside the ONNX file.

Runs where PyTorch is (the GPU machine): needs torch, onnx, onnxruntime, numpy; torchvision and/or timm for
models given by name. Exit codes follow kiln's: 0 ok, 1 usage, 2 bad input, 3 unsupported, 4 the ONNX Runtime
output differs from PyTorch by more than --tol, 5 runtime error.

Examples:
  export_pytorch.py resnet50 -o resnet50.onnx                          # static batch 1
  export_pytorch.py resnet50 -o resnet50_dyn.onnx --dynamic-batch      # symbolic batch dim "batch"
  export_pytorch.py timm:efficientnet_b0 -o eb0.onnx --dynamic-batch --dynamic-hw
  export_pytorch.py --module mynet.py:MyNet --weights mynet.pt -o mynet.onnx --height 128 --width 128
"""

import argparse
import importlib.util
import os
import sys

EXIT_USAGE, EXIT_INPUT, EXIT_UNSUPPORTED, EXIT_ACCURACY, EXIT_RUNTIME = 1, 2, 3, 4, 5


def die(code, message):
    print(f"export_pytorch: error: {message}", file=sys.stderr)
    sys.exit(code)


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.split("\n\n")[2:]),
    )
    p.add_argument("model", nargs="?", help="torchvision or timm model name (prefix 'tv:' or 'timm:' to choose)")
    p.add_argument("--module", metavar="FILE.py:CLASS", help="your own nn.Module class instead of a named model")
    p.add_argument("--module-kwargs", default="{}", metavar="JSON", help="keyword arguments for CLASS (JSON)")
    p.add_argument("--weights", metavar="FILE.pt", help="state_dict to load (strict) into --module or a named model")
    p.add_argument("--pretrained", action="store_true", help="named models: download the published weights")
    p.add_argument("--num-classes", type=int, help="named models: classifier size (random weights only)")
    p.add_argument("-o", "--output", help="ONNX file to write (default: <name>.onnx)")
    p.add_argument("--name", help="model name in the YAML config (default: from the model / file name)")
    p.add_argument("--batch", type=int, default=1, help="batch of the example input (default 1)")
    p.add_argument("--dynamic-batch", action="store_true", help="export dim 0 of inputs and outputs as 'batch'")
    p.add_argument("--dynamic-hw", action="store_true", help="also export height and width as symbolic dims")
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--height", type=int, default=224)
    p.add_argument("--width", type=int, default=224)
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--input-name", default="input")
    p.add_argument("--output-names", default="logits", help="comma-separated output names (default logits)")
    p.add_argument("--exporter", choices=["legacy", "dynamo"], default="legacy",
                   help="legacy TorchScript exporter (dynamo=False, the default: stable output) or the dynamo one")
    p.add_argument("--seed", type=int, default=0, help="seed for random weights and the test input")
    p.add_argument("--tol", type=float, default=1e-4,
                   help="fail (exit 4) when max|ort-torch| / max|torch| exceeds this (default 1e-4)")
    p.add_argument("--opt-batch", type=int, default=8, help="YAML optimization 'opt' batch for a dynamic batch")
    p.add_argument("--max-batch", type=int, default=32, help="YAML optimization 'max' batch for a dynamic batch")
    p.add_argument("--min-hw", type=int, default=128, help="YAML optimization 'min' H/W for dynamic H/W")
    p.add_argument("--max-hw", type=int, default=512, help="YAML optimization 'max' H/W for dynamic H/W")
    p.add_argument("--no-compare", action="store_true", help="skip the ONNX Runtime comparison")
    p.add_argument("--keep-batchnorm", action="store_true",
                   help="legacy exporter: keep BatchNormalization nodes (TrainingMode.PRESERVE on the eval-mode "
                        "model) instead of folding them into the convolutions; the ONNX file then has the "
                        "module's structure and parameter count (kiln folds BN itself when it builds an engine)")
    args = p.parse_args(argv)
    if bool(args.model) == bool(args.module):
        p.error("give either a model name or --module FILE.py:CLASS")
    for flag in ("batch", "channels", "height", "width", "opt_batch", "max_batch"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag.replace('_', '-')} must be positive")
    if not 7 <= args.opset <= 21:
        p.error("--opset must be in 7..21")
    if args.pretrained and args.num_classes:
        p.error("--pretrained and --num-classes do not go together")
    return args


def load_user_module(spec_text, kwargs_json):
    import json

    path, sep, cls_name = spec_text.rpartition(":")
    if not sep or not path or not cls_name:
        die(EXIT_USAGE, f"--module '{spec_text}' is not FILE.py:CLASS")
    if not os.path.isfile(path):
        die(EXIT_INPUT, f"--module file '{path}' does not exist")
    try:
        kwargs = json.loads(kwargs_json)
    except json.JSONDecodeError as e:
        die(EXIT_USAGE, f"--module-kwargs is not JSON: {e}")
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec.loader.exec_module(mod)
    if not hasattr(mod, cls_name):
        die(EXIT_INPUT, f"'{path}' defines no '{cls_name}'")
    return getattr(mod, cls_name)(**kwargs), cls_name


def load_named_model(name, pretrained, num_classes):
    source = "auto"
    if name.startswith("tv:") or name.startswith("timm:"):
        source, name = name.split(":", 1)
    kwargs = {"num_classes": num_classes} if num_classes else {}
    if source in ("auto", "tv"):
        import torchvision

        if name in torchvision.models.list_models():
            weights = "DEFAULT" if pretrained else None
            return torchvision.models.get_model(name, weights=weights, **kwargs), name
        if source == "tv":
            die(EXIT_INPUT, f"torchvision has no model '{name}'")
    try:
        import timm
    except ImportError:
        die(EXIT_INPUT, f"'{name}' is not a torchvision model and timm is not installed")
    if not timm.is_model(name):
        die(EXIT_INPUT, f"neither torchvision nor timm has a model '{name}'")
    return timm.create_model(name, pretrained=pretrained, **kwargs), name


def load_weights(model, path):
    import torch

    if not os.path.isfile(path):
        die(EXIT_INPUT, f"--weights file '{path}' does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises several types for bad files
        die(EXIT_INPUT, f"cannot read '{path}' as a state_dict ({e}); save with torch.save(model.state_dict())")
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        die(EXIT_INPUT, f"'{path}' does not fit the model: {e}")


def export(model, x, args, path, output_names):
    import torch

    axes = {}
    if args.dynamic_batch or args.dynamic_hw:
        in_axes = {0: "batch"} if args.dynamic_batch else {}
        if args.dynamic_hw:
            in_axes.update({2: "height", 3: "width"})
        axes[args.input_name] = in_axes
        for name in output_names:
            axes[name] = {0: "batch"} if args.dynamic_batch else {}
    kwargs = dict(
        input_names=[args.input_name],
        output_names=output_names,
        opset_version=args.opset,
        do_constant_folding=True,
        dynamic_axes=axes or None,
    )
    if args.keep_batchnorm:
        if args.exporter != "legacy":
            die(EXIT_USAGE, "--keep-batchnorm needs the legacy exporter")
        # PRESERVE exports the model in its current (eval) mode but skips the eval-mode peephole pass
        # that fuses Conv + BatchNormalization.
        kwargs["training"] = torch.onnx.TrainingMode.PRESERVE
    with torch.no_grad():
        if args.exporter == "legacy":
            torch.onnx.export(model, (x,), path, dynamo=False, **kwargs)
        else:
            torch.onnx.export(model, (x,), path, dynamo=True, **kwargs)


def onnx_dims(value_info):
    """(runtime dims with -1 for symbolic/unknown, dim names) of an ONNX graph input/output."""
    dims, names = [], []
    for d in value_info.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
            names.append(None)
        else:
            dims.append(-1)
            names.append(d.dim_param or None)
    return dims, names


def yaml_list(values):
    return "[" + ", ".join(str(v) for v in values) + "]"


def write_config(path, name, model_proto, args, output_names):
    """Model config in the seed-003 format (runtime -1 marks dynamic dims; optimization = TensorRT profile)."""
    inp = next(i for i in model_proto.graph.input if i.name == args.input_name)
    runtime, _ = onnx_dims(inp)
    rank = len(runtime)
    in_names = ["batch", "channels", "height", "width"] if rank == 4 else ["batch"] + [f"d{i}" for i in range(1, rank)]

    def profile(batch, hw):
        dims = [d if d >= 0 else 0 for d in runtime]
        if runtime[0] < 0:
            dims[0] = batch
        if rank == 4:
            for i in (2, 3):
                if runtime[i] < 0:
                    dims[i] = hw
        return dims

    lines = [
        f"name: {name}",
        "inputs:",
        f"  - name: {args.input_name}",
        "    dtype_str: float32",
        "    shapes:",
        f"      dims_names: {yaml_list(in_names)}",
        f"      example: {yaml_list([args.height, args.width, args.channels])}",
        f"      runtime: {yaml_list(runtime)}",
        "      optimization:",
        f"        min: {yaml_list(profile(1, args.min_hw))}",
        f"        opt: {yaml_list(profile(args.opt_batch, args.height))}",
        f"        max: {yaml_list(profile(args.max_batch, args.max_hw))}",
        "outputs:",
    ]
    for out in model_proto.graph.output:
        dims, names = onnx_dims(out)
        last = len(dims) - 1
        dim_names = [n or ("batch" if i == 0 else out.name if i == last else f"d{i}") for i, n in enumerate(names)]
        lines += [f"  - name: {out.name}", "    shape:", f"      runtime: {yaml_list(dims)}",
                  f"      dims_names: {yaml_list(dim_names)}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def compare(path, x, reference, args, output_names):
    import numpy as np
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    outs = sess.run(None, {args.input_name: x})
    worst = 0.0
    for name, got, ref in zip(output_names, outs, reference):
        if got.shape != ref.shape:
            die(EXIT_ACCURACY, f"output '{name}': ONNX Runtime shape {got.shape} != PyTorch {ref.shape}")
        diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
        scale = float(np.max(np.abs(ref))) or 1.0
        max_abs = float(np.max(diff)) if diff.size else 0.0
        elem_rel = float(np.max(diff / (np.abs(ref) + 1e-6))) if diff.size else 0.0
        print(f"{name}: max abs error {max_abs:.3e}, max rel error {max_abs / scale:.3e} (of max |torch| "
              f"{scale:.4g}), max elementwise rel {elem_rel:.3e}")
        worst = max(worst, max_abs / scale)
    return worst


def main(argv=None):
    args = parse_args(argv)
    try:
        import numpy  # noqa: F401 - checked here so the error names it
        import onnx
        import torch
    except ImportError as e:
        die(EXIT_UNSUPPORTED, f"{e}; this script needs torch, onnx, onnxruntime and numpy (the GPU machine)")

    torch.manual_seed(args.seed)
    if args.module:
        model, default_name = load_user_module(args.module, args.module_kwargs)
    else:
        model, default_name = load_named_model(args.model, args.pretrained, args.num_classes)
    if args.weights:
        load_weights(model, args.weights)
    model.eval()
    name = args.name or default_name
    path = args.output or f"{name}.onnx"
    output_names = [n for n in args.output_names.split(",") if n]

    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.batch, args.channels, args.height, args.width, generator=gen)
    with torch.no_grad():
        ref = model(x)
    ref = [ref] if isinstance(ref, torch.Tensor) else list(ref)
    if len(ref) != len(output_names):
        output_names = [output_names[0] if len(ref) == 1 else f"output_{i}" for i in range(len(ref))]
    try:
        export(model, x, args, path, output_names)
    except Exception as e:  # noqa: BLE001 - exporter errors are many and varied
        die(EXIT_UNSUPPORTED, f"torch.onnx.export failed: {e}")
    try:
        onnx.checker.check_model(path)  # by path, so models over 2 GB with external data work too
    except onnx.checker.ValidationError as e:
        die(EXIT_INPUT, f"onnx.checker rejects {path}: {e}")
    proto = onnx.load(path, load_external_data=False)
    print(f"wrote {path} (opset {args.opset}, onnx.checker ok)")

    config = os.path.splitext(path)[0] + ".yaml"
    write_config(config, name, proto, args, output_names)
    print(f"wrote {config}")

    if args.no_compare:
        return 0
    ref_np = [r.detach().numpy() for r in ref]
    worst = compare(path, x.numpy(), ref_np, args, output_names)
    if args.dynamic_batch:  # a second batch size proves the batch dim really is dynamic
        x2 = torch.randn(args.batch + 1, args.channels, args.height, args.width, generator=gen)
        with torch.no_grad():
            r2 = model(x2)
        r2 = [r2] if isinstance(r2, torch.Tensor) else list(r2)
        print(f"batch {args.batch + 1}:")
        worst = max(worst, compare(path, x2.numpy(), [r.numpy() for r in r2], args, output_names))
    if worst > args.tol:
        die(EXIT_ACCURACY, f"ONNX Runtime differs from PyTorch: max rel error {worst:.3e} > --tol {args.tol:g}")
    print(f"ONNX Runtime matches PyTorch within {args.tol:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
