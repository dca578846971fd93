#!/usr/bin/python3
"""Train the depthwise MobileNet-style Fashion-MNIST network used to measure quantization-aware training.

A small MobileNetV2: Conv-BN-ReLU6 stem (stride 2), inverted residual blocks (1x1 expand, 3x3 depthwise, 1x1
linear projection; ReLU6; residual add where shape allows), a 1x1 head, global average pool, Linear. ~1.6 M
multiply-adds per image. Only consumed as TorchScript through ModelBuild (testassets/QatApp, the QAT end-to-end test).

Fixed seeds, 2 CPU threads; not run under torch.use_deterministic_algorithms (Debian's torch has no optimized BLAS
and the deterministic depthwise kernels made training 3x slower), so a re-run may differ in the last bits. Writes, relative to this script:

  ../QatApp/models/dwnet.pt   TorchScript (torch.jit.trace of the eval model), input [batch,1,28,28] f32 normalized
                              like the sample, output logits [batch,10]
  ../QatApp/data/calib-trousers.npy
                              f32 [64,1,28,28]: the first 64 "Trouser" images of ../SampleApp/data/train.npz, an
                              unrepresentative calibration set (one class) for the lossy-calibration measurements
  dwnet-metrics.json          fp32 top-1 and PyTorch's own eager int8 of the same network on the sample's 1000
                              test images (static post-training, and eager QAT fine-tuned on the sample's
                              train.npz), hyper-parameters

Usage: /usr/bin/python3 train_dwnet.py [--data-dir /usr/share/datasets/fashion-mnist] [--calib-only]
"""
import argparse
import copy
import json
import os
import time

import numpy as np
import torch
import torch.ao.quantization as tq
import torch.nn as nn
import torch.nn.functional as F

from train_fashion import normalize, read_idx

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "QatApp", "models"))
SAMPLE = os.path.normpath(os.path.join(HERE, "..", "SampleApp", "data"))
SEED = 20260207
EPOCHS = 2
BATCH = 64
LR = 4e-3
N_SUBSET = 1000
# (in, out, stride, expansion)
BLOCKS = [(16, 16, 1, 1), (16, 24, 2, 4), (24, 24, 1, 4), (24, 32, 1, 4), (32, 32, 1, 4)]
TRAIN_SAMPLES = 30000


def conv_bn(cin, cout, k=1, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expansion):
        super().__init__()
        hidden = cin * expansion
        layers = [] if expansion == 1 else [conv_bn(cin, hidden)]
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden), conv_bn(hidden, cout, act=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout
        self.add = nn.quantized.FloatFunctional()  # a plain add in float; lets eager int8 quantize it

    def forward(self, x):
        y = self.body(x)
        return self.add.add(y, x) if self.residual else y


class DwNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = tq.QuantStub()
        self.stem = conv_bn(1, 16, 3, 2)  # 28 → 14: Debian's torch has no optimized BLAS, keep training short
        self.blocks = nn.Sequential(*[InvertedResidual(*b) for b in BLOCKS])
        self.head = conv_bn(32, 96)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(96, 10)
        self.dequant = tq.DeQuantStub()

    def forward(self, x):
        x = self.head(self.blocks(self.stem(self.quant(x))))
        return self.dequant(self.fc(torch.flatten(self.pool(x), 1)))


def fuse(model, qat):
    """conv+bn pairs (eager mode fuses no ReLU6; it stays a quantized ReLU6 module)."""
    pairs = [[f"{name}.0", f"{name}.1"] for name, m in model.named_modules()
             if isinstance(m, nn.Sequential) and len(m) >= 2 and isinstance(m[0], nn.Conv2d)]
    return (tq.fuse_modules_qat if qat else tq.fuse_modules)(model, pairs)


@torch.no_grad()
def predict(model, x, batch=500):
    return torch.cat([model(torch.from_numpy(x[i:i + batch])) for i in range(0, len(x), batch)]).numpy()


def top1(logits, labels):
    return float((logits.argmax(axis=1) == labels).mean())


def train(model, x, y, epochs, lr, seed, one_cycle=True):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(x) + BATCH - 1) // BATCH)
    sched = (torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps) if one_cycle
             else torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps))
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(perm), BATCH):
            idx = perm[i:i + BATCH]
            if len(idx) < 2:
                continue
            opt.zero_grad()
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"  epoch {epoch + 1}: train loss {total / len(xt):.4f} ({time.time() - t0:.0f}s)", flush=True)


def eager_static(model, calib, engine):
    q = fuse(copy.deepcopy(model).eval(), qat=False)
    q.qconfig = tq.get_default_qconfig(engine)
    tq.prepare(q, inplace=True)
    predict(q, calib, 64)
    return tq.convert(q)


def eager_qat(model, calib, x, y, engine):
    """PyTorch's eager QAT: fuse conv+bn, fake-quant observers, fine-tune one epoch, convert."""
    q = fuse(copy.deepcopy(model).train(), qat=True)
    q.qconfig = tq.get_default_qat_qconfig(engine)
    tq.prepare_qat(q, inplace=True)
    predict(q.eval(), calib, 64)  # observers start from the calibration data
    train(q, x, y, 1, 1e-4, SEED + 1, one_cycle=False)
    q.apply(torch.nn.intrinsic.qat.freeze_bn_stats)
    return tq.convert(q.eval())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--calib-only", action="store_true", help="only write calib-trousers.npy")
    args = ap.parse_args()

    finetune = np.load(os.path.join(SAMPLE, "train.npz"))
    os.makedirs(os.path.join(OUT, "..", "data"), exist_ok=True)
    trousers = finetune["input"][finetune["labels"] == 1][:64]
    np.save(os.path.normpath(os.path.join(OUT, "..", "data", "calib-trousers.npy")), trousers)
    if args.calib_only:
        return

    torch.set_num_threads(2)
    np.random.seed(SEED)
    torch.manual_seed(SEED)

    d = args.data_dir
    x_train = normalize(read_idx(os.path.join(d, "train-images-idx3-ubyte.gz")))
    y_train = read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    test = np.load(os.path.join(SAMPLE, "test.npz"))
    x_test, y_test = test["input"], test["labels"]
    calib = np.load(os.path.join(SAMPLE, "calib.npy"))

    pick = np.random.RandomState(SEED).choice(len(x_train), TRAIN_SAMPLES, replace=False)
    model = DwNet()
    print("training fp32", flush=True)
    train(model, x_train[pick], y_train[pick], EPOCHS, LR, SEED)
    model.eval()
    acc = top1(predict(model, x_test), y_test)
    print(f"fp32 top1 (first {N_SUBSET}): {acc:.4f}", flush=True)

    os.makedirs(OUT, exist_ok=True)
    dummy = torch.from_numpy(x_test[:1])
    traced = torch.jit.trace(model, dummy)
    pt_path = os.path.join(OUT, "dwnet.pt")
    traced.save(pt_path)
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(pt_path)(torch.from_numpy(x_test[:8])), model(torch.from_numpy(x_test[:8])), atol=1e-5)

    engine = "fbgemm" if "fbgemm" in torch.backends.quantized.supported_engines else "onednn"
    torch.backends.quantized.engine = engine
    acc_static = top1(predict(eager_static(model, calib, engine), x_test), y_test)
    print(f"PyTorch eager static int8 ({engine}): {acc_static:.4f}", flush=True)
    acc_qat = top1(predict(eager_qat(model, calib, finetune["input"], finetune["labels"], engine), x_test), y_test)
    print(f"PyTorch eager QAT int8 ({engine}): {acc_qat:.4f}", flush=True)

    metrics = {
        "dataset": "Fashion-MNIST (official idx files)", "train_samples": TRAIN_SAMPLES, "seed": SEED,
        "epochs": EPOCHS, "batch_size": BATCH, "optimizer": f"Adam, OneCycle max lr {LR}",
        "blocks_in_out_stride_expansion": BLOCKS,
        "torch_version": torch.__version__,
        "test_top1_subset_1000": round(acc, 4),
        "pytorch_engine": engine,
        "pytorch_eager_static_int8_top1_subset_1000": round(acc_static, 4),
        "pytorch_eager_qat_int8_top1_subset_1000": round(acc_qat, 4),
        "pytorch_eager_qat": "conv+bn fused, default QAT qconfig, 1 epoch over SampleApp/data/train.npz, Adam lr 1e-4 cosine",
        "reference_logits_first2": [[float(v) for v in row] for row in predict(model, x_test[:2])],
    }
    with open(os.path.join(HERE, "dwnet-metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
