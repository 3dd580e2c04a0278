#!/usr/bin/env python3
"""Makes the labelled set of tests/unit/compare/accuracy_sklearn_test.cc and its expected metrics, computed
by scikit-learn (run once on the GPU machine, where numpy, onnxruntime and scikit-learn are installed):

  python3 tests/data/accuracy/make_expected.py KILN_BINARY tests/data/accuracy

Writes model.onnx (`kiln zoo tiny_cnn`, 6 classes, 16x16, seeded), data.npz (48 seeded images, member
"images"), labels.txt (the ONNX Runtime prediction for 2 samples in 3, a seeded random class otherwise), and
expected.json: top-1, top-3, the confusion matrix, per-class and macro/micro precision, recall, F1
(zero_division=0; sklearn's default label set, the union of labels and predictions) and one-vs-rest ROC-AUC
per class on softmax probabilities, with its mean over the classes that have positive and negative samples.
"""
import json
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import sklearn
from sklearn.metrics import (accuracy_score, confusion_matrix, precision_recall_fscore_support, roc_auc_score,
                             top_k_accuracy_score)

CLASSES, N, K = 6, 48, 3


def main():
    kiln, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    model = os.path.join(out, "model.onnx")
    subprocess.run([kiln, "zoo", "tiny_cnn", "--batch", "dynamic", "--height", "16", "--width", "16", "--classes",
                    str(CLASSES), "--seed", "3", "-o", model], check=True)
    rng = np.random.default_rng(20261123)
    images = rng.uniform(-1.0, 1.0, size=(N, 3, 16, 16)).astype(np.float32)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    logits = sess.run(None, {sess.get_inputs()[0].name: images})[0].astype(np.float64)
    pred = logits.argmax(axis=1)
    labels = np.where(rng.uniform(size=N) < 2 / 3, pred, rng.integers(0, CLASSES, size=N)).astype(np.int64)
    np.savez(os.path.join(out, "data.npz"), images=images)
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("".join(f"{int(v)}\n" for v in labels))

    z = logits - logits.max(axis=1, keepdims=True)
    prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    present = sorted(set(labels.tolist()) | set(pred.tolist()))
    p, r, f1, support = precision_recall_fscore_support(labels, pred, labels=list(range(CLASSES)), zero_division=0)
    mp, mr, mf, _ = precision_recall_fscore_support(labels, pred, average="macro", zero_division=0)
    up, ur, uf, _ = precision_recall_fscore_support(labels, pred, average="micro", zero_division=0)
    aucs = {}
    for c in range(CLASSES):
        pos = labels == c
        if pos.any() and (~pos).any():
            aucs[c] = float(roc_auc_score(pos.astype(int), prob[:, c]))
    expected = {
        "producer": f"make_expected.py, scikit-learn {sklearn.__version__}, numpy {np.__version__}, "
                    f"onnxruntime {ort.__version__}",
        "classes": CLASSES,
        "samples": N,
        "k": K,
        "top1": float(accuracy_score(labels, pred)),
        "topk": float(top_k_accuracy_score(labels, logits, k=K, labels=list(range(CLASSES)))),
        "confusion": confusion_matrix(labels, pred, labels=list(range(CLASSES))).tolist(),
        "per_class": [{"precision": float(p[c]), "recall": float(r[c]), "f1": float(f1[c]),
                       "support": int(support[c]), "roc_auc": aucs.get(c)} for c in range(CLASSES)],
        "macro_label_set": present,
        "macro": {"precision": float(mp), "recall": float(mr), "f1": float(mf),
                  "roc_auc": float(np.mean(list(aucs.values())))},
        "micro": {"precision": float(up), "recall": float(ur), "f1": float(uf)},
    }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print(json.dumps({k: expected[k] for k in ("producer", "top1", "topk", "macro", "micro")}))


if __name__ == "__main__":
    main()
