#!/usr/bin/env python3
"""kiln inside a PyTorch loop, zero-copy: export a torchvision model with torch.onnx.export, build an FP16 kiln
engine, run it on CUDA tensors (kiln reads and writes the tensors' memory, on torch's current stream) and compare
with PyTorch.

    python3 examples/python/torch_zero_copy.py [--model resnet18] [--batch 8] [--steps 50]
"""
import argparse
import sys
import tempfile
from pathlib import Path

import torch
import torchvision

import _path  # noqa: F401
import kiln


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet18", help="torchvision model name (random weights)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=50, help="loop iterations")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("error: needs a CUDA GPU", file=sys.stderr)
        return 5
    torch.manual_seed(0)
    model = getattr(torchvision.models, args.model)(weights=None).eval().cuda()
    x = torch.randn(args.batch, 3, 224, 224, device="cuda")
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / (args.model + ".onnx")
        torch.onnx.export(model, (x,), str(onnx_path), input_names=["input"], output_names=["logits"],
                          opset_version=17, dynamo=False)
        engine = kiln.build(onnx_path, precision="fp16")
    print(engine)
    session = engine.static_session()
    out = torch.empty(engine.outputs[0].shape, dtype=torch.float32, device="cuda")
    worst = 0.0
    with torch.inference_mode():
        for step in range(args.steps):
            x.normal_()                      # PyTorch work queued on the current stream ...
            session(x, out=out)              # ... kiln runs after it, writing into `out` (no host copy, no sync)
            probs = out.softmax(dim=1)       # ... and PyTorch reads kiln's result in stream order
            ref = model(x)
            err = ((out - ref).abs().max() / ref.abs().max().clamp_min(1e-6)).item()
            worst = max(worst, err)
            if step % 10 == 0:
                agree = (probs.argmax(1) == ref.argmax(1)).float().mean().item()
                print("step %3d  max |kiln - torch| / max |torch| %.2e  top-1 agreement %.2f" % (step, err, agree))
    session.close()
    ok = worst < 2e-2
    print("%s: worst relative logit difference %.2e (FP16 engine vs PyTorch FP32, tolerance 2e-2)"
          % ("ok" if ok else "FAILED", worst))
    return 0 if ok else 4


if __name__ == "__main__":
    sys.exit(main())
