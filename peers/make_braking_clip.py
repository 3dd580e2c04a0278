#!/usr/bin/python3
"""Render the clips of `kiln demo braking`: Fashion-MNIST items on a road seen from a moving car, as PNG frames.

    /usr/bin/python3 peers/make_braking_clip.py --out examples/braking

Writes two clips, each a folder of frame_NNN.png plus clip.json (the scene's ground truth per frame):
  approach/  one item (an ankle boot) standing in the lane ahead, closing at constant speed (it would be hit
             at 3.75 s), and items parked beside the road that grow as the car passes them, outside the lane;
  clear/     the same road and parked items, nothing in the lane.

The road is flat grey (--noise adds pixel noise, --markings a sky and dashed lane edges: the shipped clips
have neither, which also keeps them small). Geometry (pinhole camera, horizon at y = 40 of a 128x128 frame,
10 frames/s): an item of real height 1.5 m at distance Z metres is 420 / Z pixels tall, its bottom at
y = 40 + 252 / Z and its centre at x = 64 + 280 X / Z for a lateral offset X (m). The car drives at 8 m/s; the lane item starts at Z = 30 m, so its true time to
collision at frame i is Z / v = 3.75 - 0.1 i seconds (1.5 s at frame 22.5). Parked items stand at X = -2.6 m
and +2.6 m and are drawn from 25 m on, so their centres (|x - 64| >= 728 / 25 = 29 px) stay outside the
central band x in [0.3, 0.7] of the width (|x - 64| <= 25.6 px).

numpy only (PNG written with zlib); items come from Debian's dataset-fashion-mnist (test split). Seeded: the
same arguments give the same bytes. Exit codes: 0 ok, 1 usage, 2 bad input (missing Fashion-MNIST files).
"""
import argparse
import json
import os
import struct
import sys
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fashion_data import CLASSES, load  # noqa: E402
from make_fashion_detect import resize_bilinear  # noqa: E402

SIZE, HORIZON, FOCAL_HEIGHT, FOCAL_X, CAMERA = 128, 40, 420.0, 280.0, 252.0
SPEED, FPS = 8.0, 10.0
PARKED_FROM = 25.0  # parked items show from 25 m: nearer than 28.4 m their centres lie outside the lane band


def png_bytes(rgb):
    """An 8-bit RGB PNG (filter 'Sub' on every row), deflated at level 9."""
    h, w, _ = rgb.shape
    rows = rgb.astype(np.int16).reshape(h, w * 3)
    sub = np.concatenate([rows[:, :3], rows[:, 3:] - rows[:, :-3]], axis=1) % 256
    raw = b"".join(b"\x01" + sub[y].astype(np.uint8).tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def write_atomic(path, data):
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def road(rng, noise, markings):
    """Grey asphalt (value 112, Gaussian noise of `noise`); with `markings`, a lighter sky above the horizon
    and dashed lane edges converging on the vanishing point."""
    y = np.arange(SIZE)[:, None]
    base = (np.where(y < HORIZON, 150.0, 112.0) if markings else np.full((SIZE, 1), 112.0)) + np.zeros((SIZE, SIZE))
    img = base + (rng.normal(0, noise, (SIZE, SIZE)) if noise > 0 else 0)
    if markings:
        for side in (-1.8, 1.8):  # lane edges 1.8 m either side: x = 64 + 280 X / Z with Z = 252 / (y - 40)
            for yy in range(HORIZON + 2, SIZE):
                z = CAMERA / (yy - HORIZON)
                if int(z * 2) % 2 == 0:  # dashes of 0.5 m
                    x = int(round(64 + FOCAL_X * side / z))
                    if 0 <= x < SIZE:
                        img[yy, max(0, x - 1):x + 1] += 30
    return img


def paste(canvas, item, cx, bottom, height, tint):
    """The item scaled to height x height, bottom-centred at (cx, bottom); returns its box in the frame or None."""
    size = int(round(height))
    if size < 4:
        return None
    scaled = resize_bilinear(item, size).astype(np.float64)
    x0, y0 = int(round(cx - size / 2)), int(round(bottom - size))
    mask = scaled > 10
    ys, xs = np.nonzero(mask)
    fx, fy = xs + x0, ys + y0
    keep = (fx >= 0) & (fx < SIZE) & (fy >= 0) & (fy < SIZE)
    if not keep.any():
        return None
    for c in range(3):
        canvas[fy[keep], fx[keep], c] = scaled[ys[keep], xs[keep]] * tint[c]
    return [int(fx[keep].min()), int(fy[keep].min()), int(fx[keep].max()) + 1, int(fy[keep].max()) + 1]


def render(rng, items, labels, frames, lane_item, out, args):
    os.makedirs(out, exist_ok=True)
    background = road(rng, args.noise, args.markings)
    lane_tint = rng.uniform(0.7, 1.0, 3)
    # Parked items: (lateral offset m, distance at frame 0 m, item index, tint).
    parked = [(-2.6, 18.0, 1), (2.6, 24.0, 2), (-2.6, 30.0, 3), (2.6, 36.0, 4)]
    parked_tints = [rng.uniform(0.6, 1.0, 3) for _ in parked]
    truth = []
    for i in range(frames):
        travelled = SPEED * i / FPS
        canvas = np.repeat(background[:, :, None], 3, axis=2).copy()
        objects = []
        for k, (x_m, z0, idx) in enumerate(sorted(parked, key=lambda p: -(p[1]))):  # far ones first
            z = z0 - travelled
            if not 3.0 <= z <= PARKED_FROM:
                continue
            box = paste(canvas, items[idx], 64 + FOCAL_X * x_m / z, HORIZON + CAMERA / z, FOCAL_HEIGHT / z,
                        parked_tints[k])
            if box:
                objects.append({"what": "parked", "category": CLASSES[labels[idx]], "distance_m": round(z, 3),
                                "box": box})
        if lane_item:
            z = 30.0 - travelled
            box = paste(canvas, items[0], 64, HORIZON + CAMERA / z, FOCAL_HEIGHT / z, lane_tint)
            objects.append({"what": "lane", "category": CLASSES[labels[0]], "distance_m": round(z, 3),
                            "ttc_s": round(z / SPEED, 4), "box": box})
        frame = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
        write_atomic(os.path.join(out, f"frame_{i:03d}.png"), png_bytes(frame))
        truth.append({"frame": f"frame_{i:03d}.png", "objects": objects})
    meta = {"fps": FPS, "speed_m_s": SPEED, "size": SIZE, "lane": [0.3, 0.7],
            "lane_item": "starts at 30 m, true TTC = 3.75 - 0.1 * frame s" if lane_item else None, "frames": truth}
    write_atomic(os.path.join(out, "clip.json"), (json.dumps(meta, indent=1) + "\n").encode())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="writes OUT/approach and OUT/clear")
    p.add_argument("--frames", type=int, default=31, help="frames of the approach clip (31: the lane item ends 6 m away)")
    p.add_argument("--clear-frames", type=int, default=20, help="frames of the clear clip")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--noise", type=float, default=0.0, help="std of the asphalt's pixel noise")
    p.add_argument("--markings", action="store_true", help="draw a sky and dashed lane edges")
    p.add_argument("--lane-class", type=int, default=9, help="Fashion-MNIST class of the lane item (9: ankle boot)")
    p.add_argument("--parked-classes", default="1,4,7,8",
                   help="classes of the four parked items (default trouser, coat, sneaker, bag)")
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    args = p.parse_args()
    try:
        args.parked_classes = [int(c) for c in args.parked_classes.split(",")]
    except ValueError:
        args.parked_classes = []
    if len(args.parked_classes) != 4 or not all(0 <= c <= 9 for c in args.parked_classes + [args.lane_class]):
        sys.stderr.write("make_braking_clip.py: error: --lane-class and the four --parked-classes must be 0..9\n")
        sys.exit(1)
    if not 4 <= args.frames <= 33 or not 4 <= args.clear_frames <= 33:
        sys.stderr.write("make_braking_clip.py: error: --frames must be 4..33 (the lane item is 3.6 m away at 33)\n")
        sys.exit(1)
    try:
        images, labels = load("test", args.data_dir)
    except (OSError, ValueError) as e:
        sys.stderr.write(f"make_braking_clip.py: error: {e} (install dataset-fashion-mnist)\n")
        sys.exit(2)
    rng = np.random.default_rng(args.seed)
    pick = [int(rng.choice(np.nonzero(labels == c)[0])) for c in [args.lane_class] + args.parked_classes]
    items, item_labels = images[pick], labels[pick]
    render(np.random.default_rng(args.seed + 1), items, item_labels, args.frames, True,
           os.path.join(args.out, "approach"), args)
    render(np.random.default_rng(args.seed + 1), items, item_labels, args.clear_frames, False,
           os.path.join(args.out, "clear"), args)
    print(f"wrote {args.frames} frames to {args.out}/approach and {args.clear_frames} to {args.out}/clear")


if __name__ == "__main__":
    main()
