#!/usr/bin/python3
"""A small, deterministic detection data set from Fashion-MNIST: items pasted at random positions and scales
onto grey-noise canvases, with COCO annotations (kiln accuracy --task detection scores detections on it).

    /usr/bin/python3 peers/make_fashion_detect.py --split test --count 500 --out fashion_detect_val
    /usr/bin/python3 peers/make_fashion_detect.py --split train --count 20000 --size 320 --seed 1 --out train

Writes OUT/images.npz (member "images", uint8, (N, 3, H, W), or (N, H, W) with --channels 1; row i is image
id i + 1), OUT/annotations.json (COCO: images, annotations with bbox [x, y, w, h] / area / iscrowd 0 /
category_id, categories 1..10 named after Fashion-MNIST's classes) and, with --png and Pillow installed,
OUT/images/NNNNNN.png. Needs only numpy; the same arguments give the same bytes.

A box is the tight box of the item's visible pixels (scaled item value > --background, not covered by a later
item); `area` counts those pixels, as COCO's area counts a segmentation's. A new item is moved (up to 50 tries,
else dropped) when an earlier item would end with more than --max-occlusion of its pixels hidden.
Exit codes: 0 ok, 1 usage, 2 bad input (missing or corrupt Fashion-MNIST files).
"""
import argparse
import io
import json
import os
import sys
import zipfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fashion_data import CLASSES, load  # noqa: E402  the one Fashion-MNIST reader

DATA_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist


def die(code, message):
    sys.stderr.write(f"make_fashion_detect.py: error: {message}\n")
    sys.exit(code)


def resize_bilinear(img, size):
    """Square bilinear resize with half-pixel centres (as OpenCV's INTER_LINEAR / align_corners=False)."""
    n = img.shape[0]
    coords = np.clip((np.arange(size) + 0.5) * (n / size) - 0.5, 0, n - 1)
    lo = np.floor(coords).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    w = coords - lo
    x = img.astype(np.float64)
    rows = x[lo, :] * (1 - w)[:, None] + x[hi, :] * w[:, None]
    out = rows[:, lo] * (1 - w)[None, :] + rows[:, hi] * w[None, :]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def make_image(rng, items, labels, args):
    """One canvas: its pixels (H, W, 3) and its objects as (category_id, owner index)."""
    h, w = args.height, args.width
    base = rng.integers(80, 170)
    noise = args.noise[0] if len(args.noise) == 1 else rng.uniform(args.noise[0], args.noise[1])
    grey = np.clip(base + rng.normal(0, noise, (h, w)), 0, 255).astype(np.uint8)
    canvas = np.repeat(grey[:, :, None], 3, axis=2)
    owner = np.full((h, w), -1, dtype=np.int64)  # which pasted item each pixel shows
    objects, original, visible = [], [], []  # per pasted item: category, pixel count at paste, visible now
    for _ in range(int(rng.integers(1, args.max_objects + 1))):
        index = int(rng.integers(0, len(items)))
        size = int(rng.integers(args.min_scale, min(args.max_scale, h, w) + 1))
        item = resize_bilinear(items[index], size)
        mask = item > args.background
        tint = rng.uniform(0.55, 1.0, 3)
        for _try in range(50):
            y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
            hidden = np.bincount(owner[y:y + size, x:x + size][mask] + 1, minlength=len(objects) + 1)[1:]
            if all(original[k] - visible[k] + hidden[k] <= args.max_occlusion * original[k]
                   for k in range(len(objects))):
                break
        else:
            continue  # no place hides little enough of the others: leave this item out
        k = len(objects)
        region = canvas[y:y + size, x:x + size]
        region[mask] = np.clip(np.rint(item[mask][:, None] * tint[None, :]), 0, 255).astype(np.uint8)
        owner[y:y + size, x:x + size][mask] = k
        visible = [v - int(hidden[j]) for j, v in enumerate(visible)] + [int(np.count_nonzero(mask))]
        original.append(visible[-1])
        objects.append(int(labels[index]) + 1)
    return canvas, owner, objects


def annotations_of(owner, objects, image_id, next_id):
    anns = []
    for k, category in enumerate(objects):
        ys, xs = np.nonzero(owner == k)
        if len(xs) == 0:
            continue
        x0, y0 = int(xs.min()), int(ys.min())
        anns.append({"id": next_id + len(anns), "image_id": image_id, "category_id": category,
                     "bbox": [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1], "area": int(len(xs)),
                     "iscrowd": 0})
    return anns


def write_npz(path, name, array):
    """np.savez stamps the current time into the zip; fixed timestamps keep the bytes reproducible."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path + ".tmp", "w") as z:
        z.writestr(info, buf.getvalue())
    os.replace(path + ".tmp", path)


def write_pngs(out, images):
    try:
        from PIL import Image
    except ImportError:
        print("make_fashion_detect.py: Pillow is not installed: no PNGs written (images.npz holds the pixels)")
        return
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img).save(os.path.join(out, "images", f"{i + 1:06d}.png"))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--split", choices=["train", "test"], default="test",
                   help="Fashion-MNIST split the items come from (train for a training set, test for held out)")
    p.add_argument("--count", type=int, default=100, help="images to make")
    p.add_argument("--size", default="320", help="canvas size: N or WxH (default 320)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--min-scale", type=int, default=20, help="smallest pasted item side in pixels")
    p.add_argument("--max-scale", type=int, default=120, help="largest pasted item side in pixels")
    p.add_argument("--max-objects", type=int, default=6, help="items per image: 1..this")
    p.add_argument("--max-occlusion", type=float, default=0.3,
                   help="largest share of an item's pixels a later item may cover")
    p.add_argument("--noise", default="12",
                   help="std of the canvas's grey noise: N, or LO..HI drawn per image (default 12)")
    p.add_argument("--background", type=int, default=10, help="item pixel values up to this are background")
    p.add_argument("--channels", type=int, choices=[1, 3], default=3, help="3: (N,3,H,W); 1: (N,H,W) grey")
    p.add_argument("--png", action="store_true", help="also write OUT/images/NNNNNN.png (needs Pillow)")
    p.add_argument("--data-dir", default=DATA_DIR, help="where the Fashion-MNIST .gz files are")
    args = p.parse_args()
    try:
        dims = [int(v) for v in args.size.lower().split("x")]
    except ValueError:
        dims = []
    if len(dims) not in (1, 2) or min(dims) < 8:
        p.print_usage(sys.stderr)
        die(1, f"--size '{args.size}' is not N or WxH with sides >= 8")
    args.width, args.height = dims[0], dims[-1]
    try:
        noise = [float(v) for v in args.noise.split("..")]
    except ValueError:
        noise = []
    if len(noise) not in (1, 2) or min(noise) < 0 or noise[0] > noise[-1]:
        die(1, f"--noise '{args.noise}' is not N or LO..HI with 0 <= LO <= HI")
    args.noise = noise
    if args.count < 1 or args.max_objects < 1 or not 1 <= args.min_scale <= args.max_scale:
        die(1, "--count and --max-objects must be >= 1 and 1 <= --min-scale <= --max-scale")
    if args.min_scale > min(args.width, args.height):
        die(1, f"--min-scale {args.min_scale} does not fit a {args.width}x{args.height} canvas")
    return args


def main():
    args = parse_args()
    try:
        items, labels = load(args.split, args.data_dir)
    except ValueError as e:
        die(2, str(e))
    rng = np.random.default_rng(args.seed)
    images, coco_images, anns = [], [], []
    for i in range(args.count):
        canvas, owner, objects = make_image(rng, items, labels, args)
        images.append(canvas)
        coco_images.append({"id": i + 1, "file_name": f"{i + 1:06d}.png", "width": args.width,
                            "height": args.height})
        anns += annotations_of(owner, objects, i + 1, len(anns) + 1)
    os.makedirs(args.out, exist_ok=True)
    stack = np.stack(images)
    pixels = stack[:, :, :, 0] if args.channels == 1 else stack.transpose(0, 3, 1, 2)
    write_npz(os.path.join(args.out, "images.npz"), "images", pixels)
    doc = {"info": {"description": "Fashion-MNIST items pasted on grey noise (kiln peers/make_fashion_detect.py)",
                    "split": args.split, "seed": args.seed, "size": [args.width, args.height]},
           "images": coco_images, "annotations": anns,
           "categories": [{"id": c + 1, "name": name, "supercategory": "fashion"} for c, name in enumerate(CLASSES)]}
    ann_path = os.path.join(args.out, "annotations.json")
    with open(ann_path + ".tmp", "w") as f:
        json.dump(doc, f)
        f.write("\n")
    os.replace(ann_path + ".tmp", ann_path)
    if args.png:
        write_pngs(args.out, images if args.channels == 3 else [img[:, :, 0] for img in images])
    print(f"make_fashion_detect.py: {args.count} images {args.width}x{args.height}, {len(anns)} objects "
          f"({args.split} split, seed {args.seed}) -> {args.out}")


if __name__ == "__main__":
    main()
