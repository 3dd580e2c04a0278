#!/usr/bin/python3
"""ctest (label cpu): peers/make_fashion_detect.py is deterministic, its boxes lie inside the canvas and are
the tight boxes of visibly changed pixels, and its annotations scored against themselves by `kiln accuracy
--task detection` give AP 1.000 (and less once the boxes are moved). Skips (exit 77, saying why) when numpy
or the Debian Fashion-MNIST files are missing.

    make_fashion_detect_test.py KILN SCRIPT WORKDIR
"""
import filecmp
import json
import os
import shutil
import subprocess
import sys

DATA = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


def fail(why):
    print(f"FAIL: {why}")
    sys.exit(1)


def generate(script, out, seed, count=6, size="200x160"):
    r = subprocess.run([sys.executable, script, "--split", "test", "--count", str(count), "--size", size,
                        "--seed", str(seed), "--out", out], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{script} exited {r.returncode}: {r.stderr}")


def score(kiln, ann, dets_path, dets, json_out):
    with open(dets_path, "w") as f:
        json.dump(dets, f)
    r = subprocess.run([kiln, "accuracy", "--task", "detection", "--annotations", ann, "--detections", dets_path,
                        "--json", json_out], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"kiln accuracy exited {r.returncode}: {r.stderr}")
    with open(json_out) as f:
        return r.stdout, json.load(f)["detection"]["stats"]


def main():
    if len(sys.argv) != 4:
        fail(__doc__)
    kiln, script, work = sys.argv[1:]
    try:
        import numpy as np
    except ImportError:
        skip(f"{sys.executable} has no numpy (apt install python3-numpy)")
    if not os.path.exists(DATA):
        skip(f"{DATA} is missing (apt install dataset-fashion-mnist)")
    shutil.rmtree(work, ignore_errors=True)
    a, b, c = (os.path.join(work, n) for n in ("a", "b", "c"))
    generate(script, a, seed=7)
    generate(script, b, seed=7)
    generate(script, c, seed=8)
    for name in ("images.npz", "annotations.json"):
        if not filecmp.cmp(os.path.join(a, name), os.path.join(b, name), shallow=False):
            fail(f"{name} differs between two runs with seed 7")
    if filecmp.cmp(os.path.join(a, "images.npz"), os.path.join(c, "images.npz"), shallow=False):
        fail("seeds 7 and 8 gave the same images")

    images = np.load(os.path.join(a, "images.npz"))["images"]
    with open(os.path.join(a, "annotations.json")) as f:
        doc = json.load(f)
    if images.shape != (6, 3, 160, 200) or images.dtype != np.uint8:
        fail(f"images.npz holds {images.shape} {images.dtype}, expected (6, 3, 160, 200) uint8")
    if [im["id"] for im in doc["images"]] != [1, 2, 3, 4, 5, 6]:
        fail("image ids are not 1..6 in row order")
    if [c["id"] for c in doc["categories"]] != list(range(1, 11)) or doc["categories"][9]["name"] != "Ankle boot":
        fail("categories are not Fashion-MNIST's ten classes with ids 1..10")
    per_image = {}
    for ann in doc["annotations"]:
        x, y, w, h = ann["bbox"]
        if not (x >= 0 and y >= 0 and w >= 1 and h >= 1 and x + w <= 200 and y + h <= 160):
            fail(f"annotation {ann['id']}: bbox {ann['bbox']} is not inside the 200x160 canvas")
        if not 0 < ann["area"] <= w * h or ann["iscrowd"] != 0 or not 1 <= ann["category_id"] <= 10:
            fail(f"annotation {ann['id']}: area/iscrowd/category_id out of range: {ann}")
        per_image[ann["image_id"]] = per_image.get(ann["image_id"], 0) + 1
    if any(not 1 <= per_image.get(i, 0) <= 6 for i in range(1, 7)):
        fail(f"objects per image are not all in 1..6: {per_image}")
    if len(doc["annotations"]) == 6:
        fail("every image has exactly one object: the 1..6 draw is not exercised")

    ann = os.path.join(a, "annotations.json")
    exact = [{"image_id": g["image_id"], "category_id": g["category_id"], "bbox": g["bbox"], "score": 1.0}
             for g in doc["annotations"]]
    out, stats = score(kiln, ann, os.path.join(work, "exact.json"), exact, os.path.join(work, "exact_acc.json"))
    line = " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000"
    if line not in out or abs(stats["AP"] - 1) > 1e-9 or abs(stats["AR100"] - 1) > 1e-9:
        fail(f"the ground truth scored against itself is not AP 1.000:\n{out}")
    # Boxes moved right by half their width: IoU with their own object (w/2)/(3w/2) = 1/3 < .5, so only a
    # chance overlap with another object of the same class could match: AP near 0, far from 1.
    moved = [dict(d, bbox=[d["bbox"][0] + d["bbox"][2] / 2] + d["bbox"][1:]) for d in exact]
    out, stats = score(kiln, ann, os.path.join(work, "moved.json"), moved, os.path.join(work, "moved_acc.json"))
    if stats["AP"] > 0.1 or stats["AR100"] > 0.1:
        fail(f"boxes moved by half their width still score:\n{out}")
    shutil.rmtree(work, ignore_errors=True)
    print("make_fashion_detect: deterministic, boxes inside the canvas, AP 1.000 on its own ground truth")


if __name__ == "__main__":
    main()
