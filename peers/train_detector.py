#!/usr/bin/python3
"""Train a small SSD detector (torchvision's SSD class, a tiny custom backbone) on a Fashion-MNIST detection set
made by make_fashion_detect.py, export it to ONNX for `kiln accuracy MODEL --task detection`, and score
PyTorch's own detections on a held-out set with kiln's COCO metric code, so that PyTorch and kiln's backends
are scored by one protocol.

    /usr/bin/python3 peers/train_detector.py --out models/fashion_detect --kiln build/bin/kiln

Data: make_fashion_detect.py --split train (--train-count images, --seed) for training, --split test
(--test-count images, seed 0) held out, both on --size x --size canvases (items --min-scale..--max-scale).
Model: torchvision.models.detection.ssd.SSD with a 6-conv backbone (feature maps at strides 8, 16, 32),
DefaultBoxGenerator anchors, torchvision's own transform and postprocess. Inputs are raw pixel values
0..255 (the model normalises with mean 127.5, std 64), one image [3, H, W], as torchvision's exports take.

ONNX export: torchvision's batched_nms wraps its coordinate trick in a scripted `if boxes.numel() == 0`
guard, which torch.onnx exports as an ONNX `If` (a subgraph op kiln does not import). For the export only,
that function is replaced by the same coordinate trick traced without the guard (empty input still works:
the max is taken over the boxes plus a 0, and boxes are clipped to >= 0). Everything else is torchvision's.

Writes into --out: fashion_detect.onnx (input "images" [3, H, W] float32 0..255; outputs "boxes" [N, 4]
x1,y1,x2,y2 pixels, "scores" [N], "labels" [N] = COCO category ids 1..10) and train_detector.json (data,
training time and device, PyTorch's mAP and, with --kiln, kiln CPU reference's mAP of the ONNX file on the
same held-out set). Seeded; on CUDA cuDNN makes runs close to but not bit-for-bit reproducible.
Exit codes: 0 ok, 1 usage, 2 bad input (a failing data step or kiln run).
"""
import argparse
import collections
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def die(code, message):
    sys.stderr.write(f"train_detector.py: error: {message}\n")
    sys.exit(code)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output directory (model and JSON)")
    p.add_argument("--work", help="where the generated data sets go (default: a temporary directory)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--size", type=int, default=128, help="square canvas side in pixels")
    p.add_argument("--train-count", type=int, default=5000)
    p.add_argument("--test-count", type=int, default=300)
    p.add_argument("--min-scale", type=int, default=14)
    p.add_argument("--max-scale", type=int, default=72)
    p.add_argument("--max-objects", type=int, default=4)
    p.add_argument("--noise", default="0..12", help="canvas noise std per image (make_fashion_detect.py --noise)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--from-checkpoint", help="skip training: load a checkpoint this script saved (WORK/"
                   "fashion_detect.pt; same data flags) and redo the scoring, export and JSON")
    p.add_argument("--kiln", help="kiln binary: score PyTorch's detections and the ONNX file on kiln's CPU reference")
    args = p.parse_args()
    if args.size < 32 or args.train_count < 1 or args.test_count < 1 or args.epochs < 1 or args.batch < 1:
        die(1, "--size must be >= 32 and --train-count, --test-count, --epochs, --batch >= 1")
    if args.kiln and not os.access(args.kiln, os.X_OK):
        die(2, f"--kiln {args.kiln}: not an executable file")
    return args


def make_set(args, split, count, seed, out):
    cmd = [sys.executable, os.path.join(HERE, "make_fashion_detect.py"), "--split", split, "--count", str(count),
           "--size", str(args.size), "--seed", str(seed), "--min-scale", str(args.min_scale),
           "--max-scale", str(args.max_scale), "--max-objects", str(args.max_objects), "--noise", args.noise,
           "--out", out]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        die(2, f"{' '.join(cmd)} failed:\n{r.stderr}")
    images = np.load(os.path.join(out, "images.npz"))["images"]
    with open(os.path.join(out, "annotations.json")) as f:
        coco = json.load(f)
    return images, coco


def targets_of(coco, count):
    """Per image (id i + 1 is row i): boxes x1, y1, x2, y2 (float32) and labels (int64)."""
    per = [([], []) for _ in range(count)]
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        per[a["image_id"] - 1][0].append([x, y, x + w, y + h])
        per[a["image_id"] - 1][1].append(a["category_id"])
    return [(np.array(b, np.float32).reshape(-1, 4), np.array(l, np.int64)) for b, l in per]


def make_model(torch, size, num_classes):
    from torch import nn
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
    from torchvision.models.detection.ssd import SSD

    def cbr(cin, cout, stride):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class Backbone(nn.Module):
        """Feature maps at strides 8, 16, 32 (16x16, 8x8, 4x4 for 128x128)."""

        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(cbr(3, 16, 2), cbr(16, 32, 2), cbr(32, 48, 2), cbr(48, 64, 1))
            self.down1 = cbr(64, 96, 2)
            self.down2 = cbr(96, 128, 2)

        def forward(self, x):
            a = self.stem(x)
            b = self.down1(a)
            c = self.down2(b)
            return collections.OrderedDict([("0", a), ("1", b), ("2", c)])

    # Default boxes of side 0.12, 0.25, 0.5 of the image (15, 32, 64 px at 128) plus the in-between sizes and
    # 2:1 / 1:2 shapes: the items are 14..72 px.
    anchors = DefaultBoxGenerator([[2], [2], [2]], scales=[0.12, 0.25, 0.5, 0.75], steps=[8, 16, 32])
    backbone = Backbone()
    backbone.out_channels = [64, 96, 128]
    return SSD(backbone, anchors, (size, size), num_classes, image_mean=[127.5] * 3, image_std=[64.0] * 3,
               score_thresh=0.01, nms_thresh=0.45, detections_per_img=100, topk_candidates=200)


def train(torch, model, images, targets, args, device):
    g = torch.Generator().manual_seed(args.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps_per_epoch = (len(images) + args.batch - 1) // args.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch,
                                                pct_start=0.15)
    history = []
    model.train()
    for epoch in range(args.epochs):
        t0, total = time.time(), 0.0
        order = torch.randperm(len(images), generator=g).tolist()
        flips = torch.rand(len(images), generator=g).tolist()
        for s in range(steps_per_epoch):
            batch = order[s * args.batch:(s + 1) * args.batch]
            xs, ts = [], []
            for i in batch:
                x = torch.from_numpy(images[i]).float()
                boxes = torch.from_numpy(targets[i][0])
                if flips[i] < 0.5:  # horizontal flip
                    x = x.flip(-1)
                    boxes = torch.stack([args.size - boxes[:, 2], boxes[:, 1], args.size - boxes[:, 0], boxes[:, 3]], 1)
                xs.append(x.to(device))
                ts.append({"boxes": boxes.to(device), "labels": torch.from_numpy(targets[i][1]).to(device)})
            losses = model(xs, ts)
            loss = losses["bbox_regression"] + losses["classification"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss)
        history.append({"epoch": epoch + 1, "loss": round(total / steps_per_epoch, 4),
                        "seconds": round(time.time() - t0, 1)})
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / steps_per_epoch:.4f} ({time.time() - t0:.0f} s)",
              flush=True)
    return history


def detect(torch, model, images, device):
    """PyTorch's detections as a COCO results list (image id i + 1 is row i)."""
    model.eval()
    results = []
    with torch.no_grad():
        for i in range(len(images)):
            out = model([torch.from_numpy(images[i]).float().to(device)])[0]
            for b, s, l in zip(out["boxes"].cpu().tolist(), out["scores"].cpu().tolist(), out["labels"].cpu().tolist()):
                results.append({"image_id": i + 1, "category_id": int(l), "score": float(s),
                                "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]})
    return results


def export_onnx(torch, model, size, path):
    """torch.onnx.export with batched_nms traced without its scripted empty-input `If` (see the docstring)."""
    import torchvision.models.detection.ssd as ssd_module

    def batched_nms_traceable(boxes, scores, idxs, iou_threshold):
        max_coordinate = torch.cat([boxes.reshape(-1), boxes.new_zeros(1)]).max()
        offsets = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
        return torch.ops.torchvision.nms(boxes + offsets[:, None], scores, iou_threshold)

    original = ssd_module.box_ops.batched_nms
    ssd_module.box_ops.batched_nms = batched_nms_traceable
    try:
        model.eval().cpu()
        x = torch.rand(3, size, size) * 255
        tmp = path + ".tmp"
        torch.onnx.export(model, ([x],), tmp, input_names=["images"], output_names=["boxes", "scores", "labels"],
                          opset_version=13, do_constant_folding=True)
        os.replace(tmp, path)
    finally:
        ssd_module.box_ops.batched_nms = original


def kiln_accuracy(kiln, extra, json_path):
    cmd = [kiln, "accuracy", "--task", "detection", "--json", json_path] + extra
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        die(2, f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    print(r.stdout, end="")
    with open(json_path) as f:
        return json.load(f), time.time() - t0


def write_json(path, doc):
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(path + ".tmp", path)


def main():
    args = parse_args()
    try:
        import torch
        import torchvision
    except ImportError as e:
        die(2, f"{e}: install Debian's python3-torch and python3-torchvision (apt-get install python3-torchvision)")
    if args.device == "cuda" and not torch.cuda.is_available():
        die(2, "--device cuda: torch sees no CUDA device")
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    work = args.work or tempfile.mkdtemp(prefix="train_detector_")
    train_dir, test_dir = os.path.join(work, "train"), os.path.join(work, "test")

    t0 = time.time()
    train_images, train_coco = make_set(args, "train", args.train_count, args.seed, train_dir)
    test_images, test_coco = make_set(args, "test", args.test_count, 0, test_dir)
    print(f"data: {len(train_images)} training images ({len(train_coco['annotations'])} objects), "
          f"{len(test_images)} held out ({len(test_coco['annotations'])} objects), {time.time() - t0:.0f} s")

    model = make_model(torch, args.size, 11).to(device)
    params = sum(p.numel() for p in model.parameters())
    print(f"SSD, {params} parameters, on {device}")
    if args.from_checkpoint:
        ckpt = torch.load(args.from_checkpoint, map_location=device)
        model.load_state_dict(ckpt["state"])
        history, train_seconds, trained_on = ckpt["history"], ckpt["seconds"], ckpt["device"]
        print(f"loaded {args.from_checkpoint}: trained {train_seconds:.0f} s on {trained_on}")
    else:
        t0 = time.time()
        history = train(torch, model, train_images, targets_of(train_coco, len(train_images)), args, device)
        train_seconds, trained_on = time.time() - t0, str(device)
        torch.save({"state": model.state_dict(), "history": history, "seconds": train_seconds, "device": trained_on},
                   os.path.join(work, "fashion_detect.pt"))

    t0 = time.time()
    dets = detect(torch, model, test_images, device)
    torch_seconds = time.time() - t0
    dets_path = os.path.join(work, "torch_detections.json")
    write_json(dets_path, dets)
    onnx_path = os.path.join(args.out, "fashion_detect.onnx")
    export_onnx(torch, model, args.size, onnx_path)

    doc = {
        "schema": "kiln.train_detector/1",
        "command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]),
        "model": {"onnx": os.path.basename(onnx_path), "architecture": "torchvision SSD, 6-conv backbone "
                  "(16-32-48-64-96-128 channels), feature maps at strides 8/16/32, 4 default boxes per cell",
                  "parameters": params, "input": f"images [3, {args.size}, {args.size}] float32, pixel values 0..255",
                  "outputs": "boxes [N, 4] x1,y1,x2,y2; scores [N]; labels [N] (category ids 1..10)",
                  "score_thresh": 0.01, "nms_thresh": 0.45, "detections_per_img": 100},
        "data": {"generator": "peers/make_fashion_detect.py", "size": args.size, "min_scale": args.min_scale,
                 "max_scale": args.max_scale, "max_objects": args.max_objects, "noise": args.noise,
                 "train": {"split": "train", "count": args.train_count, "seed": args.seed,
                           "objects": len(train_coco["annotations"])},
                 "test": {"split": "test", "count": args.test_count, "seed": 0,
                          "objects": len(test_coco["annotations"])}},
        "training": {"device": trained_on, "device_name": torch.cuda.get_device_name(0) if trained_on == "cuda"
                     else platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                     "epochs": args.epochs, "batch": args.batch, "optimizer": "AdamW, one-cycle lr",
                     "lr": args.lr, "seconds": round(train_seconds, 1), "history": history},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "torchvision": torchvision.__version__, "numpy": np.__version__},
        "pytorch": {"device": str(device), "seconds": round(torch_seconds, 1), "detections": len(dets)},
    }
    if args.from_checkpoint:
        doc["training"]["from_checkpoint"] = args.from_checkpoint
    if args.kiln:
        torch_doc, _ = kiln_accuracy(args.kiln, ["--annotations", os.path.join(test_dir, "annotations.json"),
                                                 "--detections", dets_path], os.path.join(work, "torch_map.json"))
        doc["pytorch"]["map"] = torch_doc["detection"]
        kiln_doc, kiln_seconds = kiln_accuracy(
            args.kiln, [onnx_path, "--annotations", os.path.join(test_dir, "annotations.json"), "--dataset",
                        os.path.join(test_dir, "images.npz"), "--backends", "cpu"], os.path.join(work, "kiln_map.json"))
        backend = kiln_doc["backends"][0]
        doc["kiln_cpu"] = {"backend": backend["name"], "description": backend.get("description"),
                           "seconds": round(kiln_seconds, 1), "map": backend["detection"]}
        ap_torch, ap_kiln = torch_doc["detection"]["stats"]["AP"], backend["detection"]["stats"]["AP"]
        doc["ap_difference_points"] = round(100 * (ap_kiln - ap_torch), 3)
        print(f"AP@[.50:.95] PyTorch {100 * ap_torch:.2f}, kiln CPU reference {100 * ap_kiln:.2f} "
              f"(difference {100 * (ap_kiln - ap_torch):+.3f} points)")
    write_json(os.path.join(args.out, "train_detector.json"), doc)
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes) and {os.path.join(args.out, 'train_detector.json')}"
          f"; training {train_seconds:.0f} s on {trained_on}")


if __name__ == "__main__":
    main()
