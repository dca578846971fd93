#!/usr/bin/python3
"""Train the held-out acceptance CNN: a wider Fashion-MNIST network with a residual block.

This model exists to check ModelBuild's quantization and pruning targets on a model the passes were not
developed against (the sample's CNN is too narrow for int8 to pay on ONNX Runtime). It is only ever consumed
as TorchScript through `dotnet build` (testassets/HoldoutApp and the end-to-end acceptance test).

Deterministic (fixed seeds, 2 CPU threads). Writes, relative to this script:

  ../HoldoutApp/models/wide.pt   TorchScript (torch.jit.trace of the eval model), input [batch,1,28,28] f32,
                                 output logits [batch,10]
  holdout-metrics.json           fp32 top-1, PyTorch's own int8 (dynamic and eager static) top-1 on the same
                                 1000 test images the sample uses, hyper-parameters

Usage: /usr/bin/python3 train_holdout_cnn.py [--data-dir /usr/share/datasets/fashion-mnist]
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from train_fashion import normalize, read_idx

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "HoldoutApp", "models"))
SEED = 20261128
TRAIN_SAMPLES = 24000
EPOCHS = 3
BATCH = 64
LR = 2e-3
N_SUBSET = 1000


class ConvBnRelu(nn.Sequential):
    def __init__(self, cin, cout, relu=True):
        layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout)]
        if relu:
            layers.append(nn.ReLU())
        super().__init__(*layers)


class WideFashionNet(nn.Module):
    """32 → 64 → (64 residual) → 128 → 128 channels, global average pool, one Linear. ~51 M MACs per image."""

    def __init__(self):
        super().__init__()
        self.quant = torch.quantization.QuantStub()
        self.stem = ConvBnRelu(1, 32)
        self.conv2 = ConvBnRelu(32, 64)
        self.res_a = ConvBnRelu(64, 64)
        self.res_b = ConvBnRelu(64, 64, relu=False)
        self.skip_add = nn.quantized.FloatFunctional()  # a plain add in float; lets eager int8 quantize it
        self.res_relu = nn.ReLU()
        self.conv4 = ConvBnRelu(64, 128)
        self.conv5 = ConvBnRelu(128, 128)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, 10)
        self.dequant = torch.quantization.DeQuantStub()

    def forward(self, x):
        x = self.quant(x)
        x = self.stem(x)
        x = F.max_pool2d(self.conv2(x), 2)
        x = self.res_relu(self.skip_add.add(self.res_b(self.res_a(x)), x))
        x = F.max_pool2d(self.conv4(x), 2)
        x = self.conv5(x)
        x = torch.flatten(self.pool(x), 1)
        return self.dequant(self.fc(x))


@torch.no_grad()
def predict(model, x, batch=500):
    return torch.cat([model(torch.from_numpy(x[i:i + batch])) for i in range(0, len(x), batch)]).numpy()


def top1(logits, labels):
    return float((logits.argmax(axis=1) == labels).mean())


def pytorch_static_int8(model, calib):
    """Eager-mode static int8, the way PyTorch users do it: fuse conv+bn(+relu), observe, convert."""
    import copy
    q = copy.deepcopy(model).eval()
    fuse = [["stem.0", "stem.1", "stem.2"], ["conv2.0", "conv2.1", "conv2.2"], ["res_a.0", "res_a.1", "res_a.2"],
            ["res_b.0", "res_b.1"], ["conv4.0", "conv4.1", "conv4.2"], ["conv5.0", "conv5.1", "conv5.2"]]
    torch.quantization.fuse_modules(q, fuse, inplace=True)
    engine = "fbgemm" if "fbgemm" in torch.backends.quantized.supported_engines else "onednn"
    torch.backends.quantized.engine = engine
    q.qconfig = torch.quantization.get_default_qconfig(engine)
    torch.quantization.prepare(q, inplace=True)
    predict(q, calib)
    torch.quantization.convert(q, inplace=True)
    return q, engine


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    args = ap.parse_args()

    torch.set_num_threads(2)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)

    d = args.data_dir
    x_train = normalize(read_idx(os.path.join(d, "train-images-idx3-ubyte.gz")))
    y_train = read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    x_test = normalize(read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz")))
    y_test = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    pick = np.random.RandomState(SEED).choice(len(x_train), TRAIN_SAMPLES, replace=False)
    xt, yt = torch.from_numpy(x_train[pick]), torch.from_numpy(y_train[pick])

    model = WideFashionNet()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    steps = EPOCHS * ((len(xt) + BATCH - 1) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps)
    gen = torch.Generator().manual_seed(SEED)
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
            sched.step()
            total += loss.item() * len(idx)
            n += len(idx)
        print(f"epoch {epoch + 1}: train loss {total / n:.4f} ({time.time() - t0:.0f}s)", flush=True)

    model.eval()
    logits = predict(model, x_test)
    acc_full, acc_sub = top1(logits, y_test), top1(logits[:N_SUBSET], y_test[:N_SUBSET])
    print(f"fp32 top1: 10k {acc_full:.4f}, first {N_SUBSET} {acc_sub:.4f}")

    # The same 256 calibration images as the sample (train_fashion.py's fixed pick).
    calib_idx = np.random.RandomState(20240917).choice(len(x_train), 256, replace=False)
    calib_idx.sort()
    qstatic, engine = pytorch_static_int8(model, x_train[calib_idx])
    acc_static = top1(predict(qstatic, x_test[:N_SUBSET]), y_test[:N_SUBSET])
    qdyn = torch.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    acc_dyn = top1(predict(qdyn, x_test[:N_SUBSET]), y_test[:N_SUBSET])
    print(f"PyTorch int8 top1 (first {N_SUBSET}): static {acc_static:.4f} ({engine}), dynamic {acc_dyn:.4f}")

    os.makedirs(OUT, exist_ok=True)
    dummy = torch.from_numpy(x_test[:1])
    traced = torch.jit.trace(model, dummy)
    pt_path = os.path.join(OUT, "wide.pt")
    traced.save(pt_path)
    reloaded = torch.jit.load(pt_path)
    with torch.no_grad():
        assert torch.allclose(reloaded(torch.from_numpy(x_test[:8])), model(torch.from_numpy(x_test[:8])), atol=1e-5)

    metrics = {
        "dataset": "Fashion-MNIST (official idx files)", "train_samples": TRAIN_SAMPLES, "seed": SEED,
        "epochs": EPOCHS, "batch_size": BATCH, "optimizer": f"Adam, OneCycle max lr {LR}",
        "torch_version": torch.__version__,
        "test_top1_10k": round(acc_full, 4),
        "test_top1_subset_1000": round(acc_sub, 4),
        "pytorch_static_int8_top1_subset_1000": round(acc_static, 4),
        "pytorch_static_int8_engine": engine,
        "pytorch_dynamic_int8_linear_top1_subset_1000": round(acc_dyn, 4),
        "reference_logits_first2": [[float(v) for v in row] for row in logits[:2]],
    }
    with open(os.path.join(HERE, "holdout-metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
