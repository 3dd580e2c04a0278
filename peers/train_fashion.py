#!/usr/bin/env python3
"""Train small classifiers on Fashion-MNIST (real images; the Debian package dataset-fashion-mnist) with
PyTorch (on the GPU machine, or on this machine's CPUs with Debian's python3-torch), score them with PyTorch FP32 on the 10k test images, and export them to ONNX, so that
kiln's precisions (FP32, FP16, BF16, INT8, ...) can be scored on a model with real accuracy.

Two models, both on 3x64x64 inputs (the 28x28 images bilinearly upsampled, grey in 3 channels; the same
preprocessing as peers/fashion_data.py, which this script imports):
  resnet18  ResNet-18-style: basic blocks [2,2,2,2], widths 16/32/64/128, 3x3 stride-2 stem
  mobilenet_v2  torchvision's MobileNetV2 with width_mult 0.5
Seeded (weights, order, augmentation); on the GPU cuDNN's autotuning makes the result close to but not
bit-for-bit reproducible. On the GPU the training runs in BF16 autocast, on the CPU in FP32. Writes fashion_<model>.onnx (dynamic batch, input 'input', output 'logits') and
train_fashion.json (PyTorch FP32/FP16 top-1 on the test split, epochs, time, versions) into --out.

Example (on the GPU machine a minute or two per model; on 2 CPU cores about 2-3 minutes an epoch):
  python3 peers/train_fashion.py --out models/fashion --epochs 10
  python3 peers/fashion_data.py --split test -o test.npz --labels-out test_labels.npy
  kiln accuracy models/fashion/fashion_resnet18.onnx --dataset test.npz --labels test_labels.npy \\
      --backends cpu,cuda:fp32,cuda:fp16
"""

import argparse
import contextlib
import inspect
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fashion_data  # noqa: E402


def make_model(name, nn, torchvision):
    if name == "mobilenet_v2":
        return torchvision.models.mobilenet_v2(num_classes=10, width_mult=0.5)

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = self.b2(self.c2(nn.functional.relu(self.b1(self.c1(x)))))
            return nn.functional.relu(y + (x if self.down is None else self.down(x)))

    class ResNet18Style(nn.Module):
        def __init__(self, widths=(16, 32, 64, 128), classes=10):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                      nn.ReLU())
            layers, cin = [], widths[0]
            for i, w in enumerate(widths):
                layers += [Block(cin, w, 1 if i == 0 else 2), Block(w, w, 1)]
                cin = w
            self.layers = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, classes)

        def forward(self, x):
            return self.fc(self.pool(self.layers(self.stem(x))).flatten(1))

    return ResNet18Style()


def evaluate(torch, model, x, y, dtype=None, batch=500):
    correct = 0
    with torch.no_grad():
        for s in range(0, len(x), batch):
            xb = x[s:s + batch]
            if dtype is not None:
                with torch.autocast(x.device.type, dtype=dtype):
                    logits = model(xb)
            else:
                logits = model(xb)
            correct += (logits.float().argmax(1) == y[s:s + batch]).sum().item()
    return correct / len(x)


def train_one(name, args, torch, nn, torchvision, train, test):
    torch.manual_seed(args.seed)
    dev = args.device
    model = make_model(name, nn, torchvision).to(dev).to(memory_format=torch.channels_last)
    xtr, ytr = train
    steps_per_epoch = len(xtr) // args.batch
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch)
    gen = torch.Generator(device=dev).manual_seed(args.seed)
    # BF16 autocast on the GPU; plain FP32 on the CPU (where BF16 autocast is slower, not faster)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if dev == "cuda" else contextlib.nullcontext()
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(xtr), device=dev, generator=gen)
        total = 0.0
        for i in range(steps_per_epoch):
            idx = order[i * args.batch:(i + 1) * args.batch]
            xb, yb = xtr[idx], ytr[idx]
            flip = torch.rand(len(xb), device=dev, generator=gen) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            # random translation by up to 4 pixels (pad with the background value, crop back)
            dx, dy = (torch.randint(-4, 5, (2,), device=dev, generator=gen)).tolist()
            xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
            with amp:
                loss = nn.functional.cross_entropy(model(xb.contiguous(memory_format=torch.channels_last)), yb,
                                                   label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() if i % 50 == 0 else 0.0
        print(f"  {name} epoch {epoch + 1}/{args.epochs} loss~{total / max(1, steps_per_epoch // 50):.3f} "
              f"{time.time() - t0:.0f}s", flush=True)
    train_s = time.time() - t0
    model.eval()
    xte, yte = test
    fp32 = evaluate(torch, model, xte, yte)
    fp16 = evaluate(torch, model, xte, yte, torch.float16) if dev == "cuda" else None  # no FP16 convs on CPU
    print(f"  {name}: PyTorch FP32 top-1 {fp32 * 100:.2f}%" +
          (f", FP16 autocast {fp16 * 100:.2f}%" if fp16 is not None else ""), flush=True)
    save_predictions(torch, model, xte, os.path.join(args.out, f"fashion_{name}_torch_pred.npy"))
    path = os.path.join(args.out, f"fashion_{name}.onnx")
    model_cpu = model.float().to(memory_format=torch.contiguous_format).cpu()
    example = xte[:2].cpu()
    tmp = path + ".tmp"
    kw = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(model_cpu, example, tmp, input_names=["input"], output_names=["logits"], opset_version=17,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **kw)
    os.replace(tmp, path)
    # the PyTorch weights too (not kept in the repository): peers/export_qdq.py fake-quantizes them
    torch.save(model_cpu.state_dict(), os.path.join(args.out, f"fashion_{name}.pt"))
    err = check_ort(torch, model_cpu, path, xte[:8].cpu())
    params = sum(p.numel() for p in model.parameters())
    return {"onnx": os.path.basename(path), "params": params, "epochs": args.epochs, "train_seconds": train_s,
            "torch_fp32_top1": fp32, "torch_fp16_autocast_top1": fp16, "ort_vs_torch_max_rel": err}


def save_predictions(torch, model, x, path, batch=500):
    """PyTorch FP32's top-1 class of every test image (uint8 [N]): peers/fashion_eval.py compares kiln's
    rows with PyTorch on exactly the images it scores."""
    with torch.no_grad():
        pred = torch.cat([model(x[s:s + batch]).float().argmax(1) for s in range(0, len(x), batch)])
    np.save(path + ".tmp.npy", pred.cpu().numpy().astype(np.uint8))
    os.replace(path + ".tmp.npy", path)


def check_ort(torch, model, path, x):
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    with torch.no_grad():
        ref = model(x).numpy()
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    return float(np.abs(got - ref).max() / np.abs(ref).max())


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.split("\n\n")[3:]))
    p.add_argument("--models", default="resnet18,mobilenet_v2")
    p.add_argument("--data-dir", default=fashion_data.DEFAULT_DIR)
    p.add_argument("--out", required=True, help="folder for the ONNX files and train_fashion.json")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"],
                   help="auto: the GPU when there is one, else the CPU")
    p.add_argument("--limit-train", type=int, default=0, help="train on the first N training images only (0: all)")
    p.add_argument("--predict-only", action="store_true",
                   help="train nothing: load --out/fashion_<model>.pt and write fashion_<model>_torch_pred.npy")
    args = p.parse_args(argv)
    import torch
    import torch.nn as nn
    import torchvision
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        print("train_fashion: error: --device cuda, but torch finds no CUDA GPU", file=sys.stderr)
        return 5
    torch.manual_seed(args.seed)
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False  # FP32 scores are true FP32
    torch.backends.cudnn.allow_tf32 = False
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    tr_img, tr_lab = fashion_data.load("train", args.data_dir)
    te_img, te_lab = fashion_data.load("test", args.data_dir)
    if args.limit_train > 0:
        tr_img, tr_lab = tr_img[:args.limit_train], tr_lab[:args.limit_train]
    dev = args.device
    train = (torch.from_numpy(fashion_data.preprocess(tr_img)).to(dev), torch.from_numpy(tr_lab).to(dev))
    test = (torch.from_numpy(fashion_data.preprocess(te_img)).to(dev), torch.from_numpy(te_lab).to(dev))
    print(f"train_fashion: data ready in {time.time() - t0:.1f}s: train {tuple(train[0].shape)}, "
          f"test {tuple(test[0].shape)}", flush=True)
    if args.predict_only:
        for name in args.models.split(","):
            model = make_model(name, nn, torchvision)
            model.load_state_dict(torch.load(os.path.join(args.out, f"fashion_{name}.pt"), map_location="cpu"))
            model = model.to(dev).eval()
            save_predictions(torch, model, test[0], os.path.join(args.out, f"fashion_{name}_torch_pred.npy"))
            print(f"  {name}: PyTorch FP32 top-1 {evaluate(torch, model, test[0], test[1]) * 100:.2f}%")
        return 0
    device_name = torch.cuda.get_device_name() if dev == "cuda" else f"cpu ({os.cpu_count()} cores)"
    result = {"schema": "kiln.train_fashion/1", "device": device_name, "torch": torch.__version__,
              "torchvision": torchvision.__version__, "seed": args.seed, "batch": args.batch, "lr": args.lr,
              "train_images": len(tr_lab), "test_images": len(te_lab), "models": {}}
    for name in args.models.split(","):
        result["models"][name] = train_one(name, args, torch, nn, torchvision, train, test)
    out = os.path.join(args.out, "train_fashion.json")
    with open(out + ".tmp", "w") as f:
        json.dump(result, f, indent=2)
    os.replace(out + ".tmp", out)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
