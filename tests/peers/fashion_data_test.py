#!/usr/bin/env python3
"""peers/fashion_data.py: the bilinear weights against hand-computed ones, the preprocessing of a known image,
the split sizes of the Debian package and the error for a truncated file. Exit 77 (skip) without numpy or the
dataset. Usage: fashion_data_test.py PEERS_DIR WORK_DIR"""
import gzip
import os
import sys

try:
    import numpy as np
except ImportError:
    print("SKIP: numpy not installed for", sys.executable)
    sys.exit(77)
sys.path.insert(0, sys.argv[1])
import fashion_data  # noqa: E402

work = sys.argv[2]
os.makedirs(work, exist_ok=True)
fails = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)


# 28 -> 64 with half-pixel centres: output i samples x = (i + 0.5) * 28/64 - 0.5, clamped at 0.
m = fashion_data._bilinear_matrix(28, 64)
check(np.allclose(m.sum(1), 1.0), "every row of the resize weights sums to 1")
check(m[0, 0] == 1.0, "output 0 samples x = -0.28125, clamped to input 0")
# output 10: x = 10.5 * 0.4375 - 0.5 = 4.09375 -> 0.90625 of input 4, 0.09375 of input 5
check(abs(m[10, 4] - 0.90625) < 1e-12 and abs(m[10, 5] - 0.09375) < 1e-12, "output 10 = 0.90625*in[4] + 0.09375*in[5]")
check(m[63, 27] == 1.0, "output 63 samples x = 27.28125, past the last input: input 27 to input 27")

# A constant image stays constant after resizing; the normalisation is (v/255 - 0.2860) / 0.3530, in 3 channels.
img = np.full((1, 28, 28), 51, dtype=np.uint8)
x = fashion_data.preprocess(img, 64)
check(x.shape == (1, 3, 64, 64) and x.dtype == np.float32, "shape 1x3x64x64 float32")
want = (51 / 255 - 0.2860) / 0.3530
check(np.allclose(x, want, atol=1e-6), f"a constant 51 becomes {want:.6f} everywhere")

if not os.path.exists(os.path.join(fashion_data.DEFAULT_DIR, "t10k-images-idx3-ubyte.gz")):
    print("SKIP: dataset-fashion-mnist not installed (the checks above passed)" if not fails else "")
    sys.exit(77 if not fails else 1)
images, labels = fashion_data.load("test")
check(images.shape == (10000, 28, 28) and labels.shape == (10000,), "test split: 10000 images of 28x28")
check(set(np.unique(labels)) == set(range(10)) and np.all(np.bincount(labels) == 1000), "1000 test images per class")

# A truncated copy is refused with the file named.
bad = os.path.join(work, "bad")
os.makedirs(bad, exist_ok=True)
with gzip.open(os.path.join(fashion_data.DEFAULT_DIR, "t10k-images-idx3-ubyte.gz")) as f:
    raw = f.read()
with gzip.open(os.path.join(bad, "t10k-images-idx3-ubyte.gz"), "wb") as f:
    f.write(raw[:5000])
with gzip.open(os.path.join(fashion_data.DEFAULT_DIR, "t10k-labels-idx1-ubyte.gz")) as f:
    lab = f.read()
with gzip.open(os.path.join(bad, "t10k-labels-idx1-ubyte.gz"), "wb") as f:
    f.write(lab)
try:
    fashion_data.load("test", bad)
    check(False, "a truncated images file is refused")
except ValueError as e:
    check("truncated" in str(e) and "t10k-images" in str(e), f"a truncated images file is refused: {e}")

print(f"fashion_data: {len(fails)} failed")
sys.exit(1 if fails else 0)
