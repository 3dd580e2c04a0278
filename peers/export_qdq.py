#!/usr/bin/env python3
"""Export a fake-quantized (QAT-prepared) PyTorch model to ONNX: the QuantizeLinear/DequantizeLinear model
that PyTorch users bring (explicit quantization: the scales are in the model, no calibration needed).

The model is one of peers/train_fashion.py's trained Fashion-MNIST classifiers (its fashion_<model>.pt
weights), prepared with torch.ao.quantization's FX QAT flow: Conv+BatchNorm(+ReLU) fused, weights fake-
quantized per output channel (int8, symmetric, -128..127), activations per tensor (uint8, affine 0..255).
The observers see --calib-count training images (no training step: post-training calibration through the
QAT modules), then they are frozen and the model is exported at opset 13.

Writes into --out:
  fashion_<model>_qdq.onnx       the QDQ model (input 'input' [batch,3,64,64], output 'logits')
  fashion_<model>_qdq_ref.npz    'input' (--ref-count test images) and 'logits': PyTorch's own output of the
                                 fake-quantized model on them, the independent reference for kiln's CPU
                                 reference (tests/peers: within one output quantization step)
  fashion_<model>_qdq.json       PyTorch fake-quant top-1 on the whole test split, the output scale, versions

Example:
  python3 peers/train_fashion.py --out /tmp/fm
  python3 peers/export_qdq.py --weights /tmp/fm/fashion_resnet18.pt --model resnet18 --out models/fashion
"""

import argparse
import copy
import inspect
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fashion_data  # noqa: E402
import train_fashion  # noqa: E402


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--weights", required=True, help="fashion_<model>.pt written by peers/train_fashion.py")
    p.add_argument("--model", default="resnet18", choices=["resnet18", "mobilenet_v2"])
    p.add_argument("--out", required=True)
    p.add_argument("--data-dir", default=fashion_data.DEFAULT_DIR)
    p.add_argument("--calib-count", type=int, default=1024, help="training images the observers see")
    p.add_argument("--ref-count", type=int, default=64, help="test images in the reference .npz")
    args = p.parse_args(argv)
    import torch
    import torch.nn as nn
    import torchvision
    from torch.ao.quantization import QConfig, QConfigMapping, FakeQuantize, MovingAverageMinMaxObserver
    from torch.ao.quantization import default_per_channel_weight_fake_quant
    from torch.ao.quantization.quantize_fx import prepare_qat_fx

    torch.manual_seed(0)
    model = train_fashion.make_model(args.model, nn, torchvision)
    try:
        model.load_state_dict(torch.load(args.weights, map_location="cpu"))
    except (OSError, RuntimeError) as e:
        print(f"export_qdq: error: {args.weights}: cannot load the {args.model} weights ({e})", file=sys.stderr)
        return 2
    act = FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255,
                                 dtype=torch.quint8, qscheme=torch.per_tensor_affine, reduce_range=False)
    qconfig = QConfig(activation=act, weight=default_per_channel_weight_fake_quant)
    tr_img, _ = fashion_data.load("train", args.data_dir)
    te_img, te_lab = fashion_data.load("test", args.data_dir)
    calib = torch.from_numpy(fashion_data.preprocess(tr_img[:args.calib_count]))
    example = (calib[:2],)
    qat = prepare_qat_fx(copy.deepcopy(model).train(), QConfigMapping().set_global(qconfig), example)
    # Observers on, BatchNorm statistics frozen (eval-mode BN inside the fused QAT modules), no gradient step.
    try:  # torch.ao.nn.intrinsic.qat in torch 2.x, torch.nn.intrinsic.qat before
        from torch.ao.nn.intrinsic.qat import freeze_bn_stats
    except ImportError:
        from torch.nn.intrinsic.qat import freeze_bn_stats
    qat.apply(freeze_bn_stats)
    with torch.no_grad():
        for s in range(0, len(calib), 128):
            qat(calib[s:s + 128])
    qat.apply(torch.ao.quantization.disable_observer)
    qat.eval()
    test = torch.from_numpy(fashion_data.preprocess(te_img))
    with torch.no_grad():
        correct = sum(int((qat(test[s:s + 500]).argmax(1) == torch.from_numpy(te_lab[s:s + 500])).sum())
                      for s in range(0, len(test), 500))
        ref_in = test[:args.ref_count]
        ref_out = qat(ref_in)
    top1 = correct / len(te_lab)
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, f"fashion_{args.model}_qdq")
    kw = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(qat, example, stem + ".onnx.tmp", input_names=["input"], output_names=["logits"],
                      opset_version=13, dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **kw)
    os.replace(stem + ".onnx.tmp", stem + ".onnx")
    with open(stem + "_ref.npz.tmp", "wb") as f:
        np.savez(f, input=ref_in.numpy(), logits=ref_out.numpy())
    os.replace(stem + "_ref.npz.tmp", stem + "_ref.npz")
    # The output's quantization step: the scale of the last activation fake-quant (the logits').
    fqs = [m for m in qat.modules() if isinstance(m, FakeQuantize) and m.dtype == torch.quint8]
    out_scale = float(fqs[-1].scale) if fqs else None
    doc = {"schema": "kiln.export_qdq/1", "model": args.model, "weights": os.path.basename(args.weights),
           "torch": torch.__version__, "calib_images": len(calib), "test_images": len(te_lab),
           "torch_fakequant_top1": top1, "output_scale": out_scale, "ref_images": len(ref_in),
           "qdq_nodes": None}
    try:
        import onnx
        g = onnx.load(stem + ".onnx").graph
        doc["qdq_nodes"] = sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in g.node)
    except ImportError:
        pass
    with open(stem + ".json.tmp", "w") as f:
        json.dump(doc, f, indent=2)
    os.replace(stem + ".json.tmp", stem + ".json")
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
