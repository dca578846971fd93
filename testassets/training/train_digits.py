#!/usr/bin/python3
"""Train the digits MLP used by ModelBuild's end-to-end tests.

A deliberately different model from the sample app's Fashion-MNIST CNN: an MLP on
scikit-learn's bundled 8x8 handwritten digits (UCI optdigits test set, 1797 samples,
64 features with values 0..16, scaled by 1/16). Deterministic split: the first 1437
samples train, the last 360 test. Writes, relative to this script:

  ../../tests/ModelBuild.EndToEnd.Tests/assets/digits-mlp.onnx
        ONNX, opset 15, input `pixels` f32 [batch,64], output `probs` f32 [batch,10]
        (Linear(64,48) - ReLU - Linear(48,10) - Softmax)
  ../../tests/ModelBuild.EndToEnd.Tests/assets/digits-test.npz
        `pixels` f32 [360,64] (already scaled /16), `labels` i64 [360]
  digits-metrics.json

Usage: /usr/bin/python3 train_digits.py [--csv .../sklearn/datasets/data/digits.csv.gz]
"""
import argparse
import gzip
import json
import os
import random

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

from fixture_io import savez_compressed_reproducible

HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = os.path.normpath(os.path.join(HERE, "..", "..", "tests", "ModelBuild.EndToEnd.Tests", "assets"))
DEFAULT_CSV = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"
SEED = 1797
N_TEST = 360
EPOCHS = 300  # full-batch Adam steps
LR = 1e-2
WEIGHT_DECAY = 1e-3


def load_digits_csv(path):
    # 1797 rows: 64 pixel values (0..16) then the label, comma separated, no header.
    with gzip.open(path, "rt") as f:
        data = np.loadtxt(f, delimiter=",", dtype=np.float64)
    assert data.shape == (1797, 65), data.shape
    x = (data[:, :64] / 16.0).astype(np.float32)
    y = data[:, 64].astype(np.int64)
    return x, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", default=DEFAULT_CSV)
    args = ap.parse_args()

    torch.set_num_threads(2)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)

    x, y = load_digits_csv(args.csv)
    x_train, y_train = x[:-N_TEST], y[:-N_TEST]
    x_test, y_test = x[-N_TEST:], y[-N_TEST:]

    model = nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10), nn.Softmax(dim=1))
    logits_net = model[:3]  # train on logits (numerically stable cross-entropy)
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    for step in range(EPOCHS):
        opt.zero_grad()
        loss = F.cross_entropy(logits_net(xt), yt)
        loss.backward()
        opt.step()
        if (step + 1) % 100 == 0:
            print(f"step {step + 1}: train loss {loss.item():.4f}")

    model.eval()
    with torch.no_grad():
        train_probs = model(xt).numpy()
        probs = model(torch.from_numpy(x_test)).numpy()
    train_acc = float((train_probs.argmax(1) == y_train).mean())
    test_acc = float((probs.argmax(1) == y_test).mean())
    print(f"train top1: {train_acc:.4f}  test top1 ({N_TEST}): {test_acc:.4f}")

    os.makedirs(ASSETS, exist_ok=True)
    onnx_path = os.path.join(ASSETS, "digits-mlp.onnx")
    torch.onnx.export(
        model, torch.from_numpy(x_test[:1]), onnx_path,
        export_params=True, opset_version=15, do_constant_folding=True,
        input_names=["pixels"], output_names=["probs"],
        dynamic_axes={"pixels": {0: "batch"}, "probs": {0: "batch"}},
    )
    onnx.checker.check_model(onnx.load(onnx_path), full_check=True)
    savez_compressed_reproducible(os.path.join(ASSETS, "digits-test.npz"),
                                  pixels=x_test, labels=y_test)

    metrics = {
        "dataset": "sklearn digits (8x8, 1797 samples), features scaled /16",
        "split": f"first {len(x_train)} train, last {N_TEST} test",
        "seed": SEED, "steps": EPOCHS, "optimizer": f"Adam lr={LR} wd={WEIGHT_DECAY}, full batch",
        "torch_version": torch.__version__, "onnx_opset": 15,
        "train_top1": round(train_acc, 4),
        "test_top1_360": round(test_acc, 4),
        "test_labels_first4": y_test[:4].tolist(),
        "reference_probs_first4": [[float(v) for v in row] for row in probs[:4]],
    }
    with open(os.path.join(HERE, "digits-metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
