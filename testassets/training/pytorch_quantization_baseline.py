#!/usr/bin/python3
"""PyTorch's own int8 quantization of the sample's Fashion CNN, as the accuracy baseline for ModelBuild's.

Re-creates FashionCnn (train_fashion.py), loads the weights of ../SampleApp/models/fashion.pt, and measures top-1 on
../SampleApp/data/test.npz (1000 samples) for:

  fp32             the float model
  dynamic int8     torch.ao.quantization.quantize_dynamic on the Linear layers (qint8 weights)
  static int8      eager mode: QuantStub/DeQuantStub wrapper, conv+bn+relu and linear+relu fused, fbgemm qconfig
                   (HistogramObserver activations, per-channel symmetric weights), calibrated on
                   ../SampleApp/data/calib.npy (256 samples), converted

Debian's torch 1.13 is built without FBGEMM (supported engines: qnnpack, onednn), so the quantized kernels run on the
onednn engine (x86); the fbgemm qconfig's observers (reduce_range activations) are kept as asked, and the onednn
qconfig (full-range activations) is measured too. Writes pytorch-quantization.json next to this script.

Usage: /usr/bin/python3 pytorch_quantization_baseline.py     (a few seconds; nothing runs Python at build or test time)
"""
import json
import os

import numpy as np
import torch
import torch.ao.quantization as tq
import torch.nn as nn
import torch.nn.functional as F

from train_fashion import FashionCnn

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.normpath(os.path.join(HERE, "..", "SampleApp"))


class QuantFashionCnn(nn.Module):
    """FashionCnn with explicit ReLU modules (fusable) between QuantStub and DeQuantStub."""

    def __init__(self):
        super().__init__()
        self.quant = tq.QuantStub()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.relu2 = nn.ReLU()
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(64, 10)
        self.dequant = tq.DeQuantStub()

    def forward(self, x):
        x = self.quant(x)
        x = F.max_pool2d(self.relu1(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(self.relu2(self.bn2(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        x = self.relu3(self.fc1(x))
        return self.dequant(self.fc2(x))


def top1(model, x, y):
    with torch.no_grad():
        logits = torch.cat([model(torch.from_numpy(x[i:i + 100])) for i in range(0, len(x), 100)])
    return float((logits.argmax(1).numpy() == y).mean())


def static_int8(state, calib, qconfig):
    m = QuantFashionCnn()
    m.load_state_dict(state, strict=True)
    m.eval()
    m = tq.fuse_modules(m, [["conv1", "bn1", "relu1"], ["conv2", "bn2", "relu2"], ["fc1", "relu3"]])
    m.qconfig = qconfig
    tq.prepare(m, inplace=True)
    with torch.no_grad():
        for i in range(0, len(calib), 64):
            m(torch.from_numpy(calib[i:i + 64]))
    return tq.convert(m)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    engine = "fbgemm" if "fbgemm" in torch.backends.quantized.supported_engines else "onednn"
    torch.backends.quantized.engine = engine

    state = torch.jit.load(os.path.join(SAMPLE, "models", "fashion.pt")).state_dict()
    test = np.load(os.path.join(SAMPLE, "data", "test.npz"))
    x, y = test["input"], test["labels"]
    calib = np.load(os.path.join(SAMPLE, "data", "calib.npy"))

    fp32 = FashionCnn()
    fp32.load_state_dict(state, strict=True)
    fp32.eval()
    acc_fp32 = top1(fp32, x, y)

    dynamic = tq.quantize_dynamic(fp32, {nn.Linear}, dtype=torch.qint8)
    acc_dynamic = top1(dynamic, x, y)

    acc_static_fbgemm = top1(static_int8(state, calib, tq.get_default_qconfig("fbgemm")), x, y)
    acc_static_onednn = top1(static_int8(state, calib, tq.get_default_qconfig("onednn")), x, y)

    result = {
        "model": "testassets/SampleApp/models/fashion.pt (FashionCnn, weights via torch.jit.load(...).state_dict())",
        "test": "testassets/SampleApp/data/test.npz (1000 samples)",
        "calibration": "testassets/SampleApp/data/calib.npy (256 samples, batches of 64)",
        "torch_version": torch.__version__,
        "quantized_engine": engine,
        "supported_engines": list(torch.backends.quantized.supported_engines),
        "fp32_top1": round(acc_fp32, 4),
        "dynamic_int8_linear_top1": round(acc_dynamic, 4),
        "static_int8_fbgemm_qconfig_top1": round(acc_static_fbgemm, 4),
        "static_int8_onednn_qconfig_top1": round(acc_static_onednn, 4),
        "static_notes": "eager mode, QuantStub/DeQuantStub, fused conv+bn+relu and linear+relu, per-channel weights; "
                        "fbgemm qconfig = HistogramObserver(reduce_range=True) activations + per-channel symmetric qint8 "
                        "weights; onednn qconfig = the same with full-range activations",
    }
    out = os.path.join(HERE, "pytorch-quantization.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
