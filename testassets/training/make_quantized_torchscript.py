#!/usr/bin/python3
"""Saves two TorchScript models that PyTorch itself already quantized, for the reader's "save the float model" error.

Run with Debian's PyTorch (torch 1.13):  /usr/bin/python3 testassets/training/make_quantized_torchscript.py
Writes tests/ModelBuild.Core.Tests/assets/torchscript/quantized_static.pt (eager-mode static int8: quantized tensors,
quantized::conv2d packed parameters) and quantized_dynamic.pt (torch.ao.quantization.quantize_dynamic on Linear).
"""
import os

import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                   "tests", "ModelBuild.Core.Tests", "assets", "torchscript")
torch.manual_seed(0)
torch.backends.quantized.engine = "onednn"


class SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.conv = nn.Conv2d(1, 4, 3)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4 * 6 * 6, 3)
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        x = self.relu(self.conv(self.quant(x)))
        return self.dequant(self.fc(torch.flatten(x, 1)))


def main():
    static = SmallCnn().eval()
    static.qconfig = torch.ao.quantization.get_default_qconfig("onednn")
    torch.ao.quantization.prepare(static, inplace=True)
    static(torch.randn(8, 1, 8, 8))
    torch.ao.quantization.convert(static, inplace=True)
    torch.jit.trace(static, torch.randn(1, 1, 8, 8)).save(os.path.join(OUT, "quantized_static.pt"))

    mlp = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    dynamic = torch.ao.quantization.quantize_dynamic(mlp, {nn.Linear}, dtype=torch.qint8)
    torch.jit.trace(dynamic, torch.randn(2, 6)).save(os.path.join(OUT, "quantized_dynamic.pt"))
    for name in ("quantized_static.pt", "quantized_dynamic.pt"):
        print(name, os.path.getsize(os.path.join(OUT, name)), "bytes")


if __name__ == "__main__":
    main()
