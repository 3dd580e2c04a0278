#!/usr/bin/python3
"""ctest (label cpu): peers/make_braking_clip.py regenerates the committed clips in examples/braking pixel for
pixel (so the frames the demo test uses are what the script says they are; clip.json byte for byte), and its ground truth follows the
geometry in its docstring: the lane item's true TTC is 3.75 - 0.1 i s and its box height scales as 1 / Z
(at most the 420 / Z square it is drawn in), and the parked items' centres stay outside the lane band. Skips (exit 77, saying why) without numpy or
the Debian Fashion-MNIST files.

    make_braking_clip_test.py SCRIPT EXAMPLES_DIR WORKDIR
"""
import filecmp
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

DATA = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


def fail(why):
    print(f"FAIL: {why}")
    sys.exit(1)


def png_pixels(path):
    """The header and the inflated image data of a PNG: equal pixels whatever zlib version compressed them."""
    with open(path, "rb") as f:
        data = f.read()
    at, header, idat = 8, b"", b""
    while at < len(data):
        length = struct.unpack(">I", data[at:at + 4])[0]
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        header += body if kind == b"IHDR" else b""
        idat += body if kind == b"IDAT" else b""
        at += 12 + length
    return header, zlib.decompress(idat)


def main():
    script, examples, work = sys.argv[1:4]
    try:
        import numpy  # noqa: F401
    except ImportError:
        print("SKIP: numpy is missing (apt-get install python3-numpy)")
        sys.exit(77)
    if not os.path.exists(DATA):
        print(f"SKIP: {DATA} is missing (apt-get install dataset-fashion-mnist)")
        sys.exit(77)
    shutil.rmtree(work, ignore_errors=True)
    r = subprocess.run([sys.executable, script, "--out", work], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{script} exited {r.returncode}: {r.stderr}")
    for clip in ("approach", "clear"):
        ours, committed = os.path.join(work, clip), os.path.join(examples, clip)
        names = sorted(os.listdir(ours))
        if names != sorted(os.listdir(committed)):
            fail(f"{committed} holds {sorted(os.listdir(committed))}, the script writes {names}")
        for name in names:
            a, b = os.path.join(ours, name), os.path.join(committed, name)
            same = png_pixels(a) == png_pixels(b) if name.endswith(".png") else filecmp.cmp(a, b, shallow=False)
            if not same:
                fail(f"{b} differs from what {script} writes now (regenerate the clips)")
        meta = json.load(open(os.path.join(ours, "clip.json")))
        lane = [o for f in meta["frames"] for o in f["objects"] if o["what"] == "lane"]
        # The item fills part of its 420 / Z square, so its box height is c / Z for one c (+-2 px of rounding).
        c = sorted((o["box"][3] - o["box"][1]) * o["distance_m"] for o in lane)[len(lane) // 2] if lane else 0
        for i, frame in enumerate(meta["frames"]):
            for o in frame["objects"]:
                x1, y1, x2, y2 = o["box"]
                if o["what"] == "lane":
                    if abs(o["ttc_s"] - (3.75 - 0.1 * i)) > 1e-3:
                        fail(f"{clip} frame {i}: lane TTC {o['ttc_s']} != 3.75 - 0.1 * {i}")
                    if not (abs((y2 - y1) - c / o["distance_m"]) <= 2 and y2 - y1 <= 420 / o["distance_m"] + 1):
                        fail(f"{clip} frame {i}: lane box height {y2 - y1} is not about {c:.0f} / {o['distance_m']}")
                elif 0.3 * 128 <= (x1 + x2) / 2 <= 0.7 * 128:
                    fail(f"{clip} frame {i}: parked item box {o['box']} has its centre inside the lane band")
        if (clip == "approach") != bool(lane):
            fail(f"{clip}: {len(lane)} lane objects")
    print("make_braking_clip: regenerates examples/braking pixel for pixel; lane TTC and box heights follow the "
          "geometry; parked items stay outside the lane")


if __name__ == "__main__":
    main()
