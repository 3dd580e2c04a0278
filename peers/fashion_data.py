#!/usr/bin/env python3
"""Fashion-MNIST (the Debian package dataset-fashion-mnist) as model inputs kiln reads: an .npz of
N x 3 x S x S float32 images (bilinearly upsampled from 28x28, grey replicated to 3 channels, normalized)
and a .npy of int64 labels. NumPy only, so it runs on this machine and on the GPU machine alike.

The preprocessing here is the only one: peers/train_fashion.py imports `load` and `preprocess` from this
file, so the images kiln is scored on are, bit for bit, the ones PyTorch was trained and scored on.

Examples:
  fashion_data.py --split test -o fashion_test.npz --labels-out fashion_test_labels.npy
  fashion_data.py --split test --count 512 --offset 0 -o calib.npz           # a calibration subset
  fashion_data.py --split train --count 1000 --offset 5000 -o calib_train.npz # calibrate on train images
"""

import argparse
import gzip
import os
import struct
import sys

import numpy as np

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot"]
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST's pixel mean and std on [0, 1]
EXIT_USAGE, EXIT_INPUT = 1, 2


def _read_idx(path, magic_expected):
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e}); install the Debian package dataset-fashion-mnist")
    if len(data) < 8:
        raise ValueError(f"{path}: truncated idx file")
    magic, count = struct.unpack(">II", data[:8])
    if magic != magic_expected:
        raise ValueError(f"{path}: not an idx file of the expected kind (magic {magic:#x})")
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        arr = np.frombuffer(data, dtype=np.uint8, offset=16)
        if arr.size != count * rows * cols:
            raise ValueError(f"{path}: truncated ({arr.size} pixels, header says {count}x{rows}x{cols})")
        return arr.reshape(count, rows, cols)
    arr = np.frombuffer(data, dtype=np.uint8, offset=8)
    if arr.size != count:
        raise ValueError(f"{path}: truncated ({arr.size} labels, header says {count})")
    return arr


def load(split, data_dir=DEFAULT_DIR):
    """(images uint8 [N,28,28], labels int64 [N]) of the 'train' (60k) or 'test' (10k) split."""
    prefix = "train" if split == "train" else "t10k"
    images = _read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"), 2051)
    labels = _read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"), 2049)
    if len(images) != len(labels):
        raise ValueError(f"{data_dir}: {len(images)} images but {len(labels)} labels in the {split} split")
    return images, labels.astype(np.int64)


def _bilinear_matrix(src, dst):
    """[dst, src] weights of a bilinear resize with half-pixel centres (PyTorch align_corners=False,
    ONNX Resize coordinate_transformation_mode=half_pixel), edges clamped."""
    m = np.zeros((dst, src), dtype=np.float64)
    scale = src / dst
    for i in range(dst):
        x = max((i + 0.5) * scale - 0.5, 0.0)
        x0 = min(int(np.floor(x)), src - 1)
        x1 = min(x0 + 1, src - 1)
        w1 = x - x0
        m[i, x0] += 1.0 - w1
        m[i, x1] += w1
    return m


def preprocess(images, size=64):
    """uint8 [N,28,28] -> float32 [N,3,size,size]: scale to [0,1], bilinear resize, normalize, 3 channels."""
    m = _bilinear_matrix(images.shape[1], size)
    out = np.empty((len(images), 3, size, size), dtype=np.float32)
    step = 4096
    for s in range(0, len(images), step):
        x = images[s:s + step].astype(np.float64) / 255.0
        y = np.matmul(np.matmul(m, x), m.T)  # rows then columns: [N, size, size]
        y = ((y - MEAN) / STD).astype(np.float32)
        out[s:s + step] = y[:, None, :, :]
    return out


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.split("\n\n")[2:]))
    p.add_argument("--split", choices=["train", "test"], default="test")
    p.add_argument("--data-dir", default=DEFAULT_DIR, help=f"the idx .gz files (default {DEFAULT_DIR})")
    p.add_argument("--size", type=int, default=64, help="image side after resizing (default 64)")
    p.add_argument("--offset", type=int, default=0, help="first sample taken")
    p.add_argument("--count", type=int, default=0, help="samples taken (default: all from --offset)")
    p.add_argument("--input-name", default="input", help="npz member name (the model input, default input)")
    p.add_argument("-o", "--output", required=True, help=".npz to write")
    p.add_argument("--labels-out", help=".npy of int64 labels to write")
    a = p.parse_args(argv)
    if a.size < 28 or a.offset < 0 or a.count < 0:
        p.error("--size must be >= 28 and --offset/--count >= 0")
    try:
        images, labels = load(a.split, a.data_dir)
    except ValueError as e:
        print(f"fashion_data: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    end = len(images) if a.count == 0 else a.offset + a.count
    if end > len(images) or a.offset >= len(images):
        print(f"fashion_data: error: --offset {a.offset} --count {a.count} is past the {len(images)} "
              f"{a.split} images", file=sys.stderr)
        return EXIT_USAGE
    x = preprocess(images[a.offset:end], a.size)
    tmp = a.output + ".tmp.npz"
    np.savez(tmp, **{a.input_name: x})
    os.replace(tmp, a.output)
    if a.labels_out:
        tmp = a.labels_out + ".tmp.npy"
        np.save(tmp, labels[a.offset:end])
        os.replace(tmp, a.labels_out)
    print(f"fashion_data: {len(x)} {a.split} images {x.shape[1:]} -> {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
