#!/usr/bin/python3
"""Train the small Fashion-MNIST CNN used by the ModelBuild sample app.

Deterministic (fixed seeds, 2 CPU threads). Reads the official idx .gz files
directly (no torchvision, no network) and writes, relative to this script:

  ../SampleApp/models/fashion.onnx   ONNX, opset 17, input `input` [batch,1,28,28] f32,
                                     output `logits` [batch,10] f32
  ../SampleApp/models/fashion.pt     TorchScript (torch.jit.trace of the eval model)
  ../SampleApp/data/test.npz         (np.savez_compressed, fixed zip timestamps) `input` f32 [1000,1,28,28] (first 1000 test images,
                                     normalized), `labels` i64 [1000]
  ../SampleApp/data/calib.npy        f32 [256,1,28,28] (256 training images, normalized)
  fashion-metrics.json               accuracies + reference logits

Usage: /usr/bin/python3 train_fashion.py [--data-dir /usr/share/datasets/fashion-mnist]
"""
import argparse
import gzip
import json
import os
import random
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

from fixture_io import savez_compressed_reproducible

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.normpath(os.path.join(HERE, "..", "SampleApp"))
MEAN, STD = 0.2860, 0.3530
SEED = 20240917
EPOCHS = 2
BATCH = 64
LR = 1e-3
N_SUBSET = 1000
N_CALIB = 256
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:  # 0x08 = unsigned byte
        raise ValueError(f"{path}: unsupported idx type 0x{magic:08x}")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims)


def normalize(images_u8):
    x = images_u8.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return x[:, None, :, :].astype(np.float32)  # [N,1,28,28]


class FashionCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


@torch.no_grad()
def predict(model, x, batch=1000):
    outs = [model(torch.from_numpy(x[i:i + batch])) for i in range(0, len(x), batch)]
    return torch.cat(outs).numpy()


def top1(logits, labels):
    return float((logits.argmax(axis=1) == labels).mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    args = ap.parse_args()

    torch.set_num_threads(2)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)

    d = args.data_dir
    x_train = normalize(read_idx(os.path.join(d, "train-images-idx3-ubyte.gz")))
    y_train = read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    x_test = normalize(read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz")))
    y_test = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)

    model = FashionCnn()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(SEED)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    t0 = time.time()
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total, n = 0.0, 0
        for i in range(0, len(perm), BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            n += len(idx)
        print(f"epoch {epoch + 1}: train loss {total / n:.4f} ({time.time() - t0:.0f}s)")

    model.eval()
    logits = predict(model, x_test)
    acc_full = top1(logits, y_test)
    acc_sub = top1(logits[:N_SUBSET], y_test[:N_SUBSET])
    print(f"test top1 (10k): {acc_full:.4f}  subset top1 ({N_SUBSET}): {acc_sub:.4f}")

    # PyTorch's own dynamic int8 quantization of the Linear layers (reference only).
    qmodel = torch.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    acc_q_sub = top1(predict(qmodel, x_test[:N_SUBSET]), y_test[:N_SUBSET])
    print(f"dynamic-int8 (Linear) subset top1: {acc_q_sub:.4f}")

    # --- outputs ---
    models_dir = os.path.join(SAMPLE, "models")
    data_dir = os.path.join(SAMPLE, "data")
    os.makedirs(models_dir, exist_ok=True)
    os.makedirs(data_dir, exist_ok=True)

    onnx_path = os.path.join(models_dir, "fashion.onnx")
    dummy = torch.from_numpy(x_test[:1])
    torch.onnx.export(
        model, dummy, onnx_path,
        export_params=True, opset_version=17, do_constant_folding=True,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m, full_check=True)

    traced = torch.jit.trace(model, dummy)
    pt_path = os.path.join(models_dir, "fashion.pt")
    traced.save(pt_path)
    reloaded = torch.jit.load(pt_path)
    with torch.no_grad():
        assert torch.allclose(reloaded(torch.from_numpy(x_test[:8])),
                              model(torch.from_numpy(x_test[:8])), atol=1e-5)

    savez_compressed_reproducible(os.path.join(data_dir, "test.npz"),
                                  input=x_test[:N_SUBSET], labels=y_test[:N_SUBSET])
    calib_idx = np.random.RandomState(SEED).choice(len(x_train), N_CALIB, replace=False)
    calib_idx.sort()
    np.save(os.path.join(data_dir, "calib.npy"), x_train[calib_idx])

    metrics = {
        "dataset": "Fashion-MNIST (official idx files)",
        "normalization": {"mean": MEAN, "std": STD, "formula": "(x/255 - mean)/std"},
        "seed": SEED, "epochs": EPOCHS, "batch_size": BATCH, "optimizer": f"Adam lr={LR}",
        "torch_version": torch.__version__, "onnx_opset": 17,
        "test_top1_10k": round(acc_full, 4),
        "test_top1_subset_1000": round(acc_sub, 4),
        "dynamic_int8_linear_top1_subset_1000": round(acc_q_sub, 4),
        "subset_labels_first4": y_test[:4].tolist(),
        "reference_logits_first4": [[float(v) for v in row] for row in logits[:4]],
        "calib_train_indices_first8": calib_idx[:8].tolist(),
        "classes": CLASSES,
    }
    with open(os.path.join(HERE, "fashion-metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")
    print(json.dumps({k: metrics[k] for k in metrics if "top1" in k}, indent=2))


if __name__ == "__main__":
    main()
