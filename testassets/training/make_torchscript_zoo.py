#!/usr/bin/python3
"""Saves the TorchScript test zoo: small traced/scripted models plus reference inputs/outputs (.npz).

Run with Debian's PyTorch (torch 1.13, torchvision 0.14):  /usr/bin/python3 testassets/training/make_torchscript_zoo.py
Writes tests/ModelBuild.Core.Tests/assets/torchscript/<name>.pt and <name>.npz. Each npz holds the inputs
(`input`, or `input0`, `input1`, ...), the outputs (`output0`, ...) and facts the reader tests check:
`first_param` (the first parameter in state_dict order, flattened) and `param_count` (number of parameters).
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                   "tests", "ModelBuild.Core.Tests", "assets", "torchscript")
torch.manual_seed(0)
torch.set_num_threads(1)


class ConvBnReluLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = F.max_pool2d(x, 2)
        return self.fc(torch.flatten(x, 1))


class FlagNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 3)
        self.drop = nn.Dropout(0.5)

    def forward(self, x, use_dropout: bool = False):
        h = torch.relu(self.fc1(x))
        if use_dropout:
            h = self.drop(h)
        return self.fc2(h)


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 24)
        self.norm = nn.LayerNorm(24)
        self.fc2 = nn.Linear(24, 5)

    def forward(self, x):
        return self.fc2(F.gelu(self.norm(self.fc1(x))))


class Lstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(input_size=6, hidden_size=8, num_layers=1, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        out, (h, c) = self.lstm(x)
        return self.head(out[:, -1]), h


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)

    def forward(self, x):
        return self.encoder(x)


class WithConstant(nn.Module):
    """A traced tensor literal becomes CONSTANTS.c0, stored under <root>/constants/0."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc(x) * torch.tensor([1.0, 2.0, 3.0])


def save(name, module, inputs, kind):
    module.eval()
    with torch.no_grad():
        if kind == "trace":
            sm = torch.jit.trace(module, inputs)
        else:
            sm = torch.jit.script(module)
        outs = sm(*inputs)
    if not isinstance(outs, tuple):
        outs = (outs,)
    path = os.path.join(OUT, name + ".pt")
    sm.save(path)
    arrays = {}
    if len(inputs) == 1:
        arrays["input"] = inputs[0].numpy()
    else:
        for i, t in enumerate(inputs):
            arrays["input%d" % i] = t.numpy()
    for i, o in enumerate(outs):
        arrays["output%d" % i] = o.detach().numpy()
    params = list(sm.state_dict().items())
    arrays["first_param"] = params[0][1].detach().numpy().reshape(-1)
    arrays["param_count"] = np.array(len(params), dtype=np.int64)
    np.savez(os.path.join(OUT, name + ".npz"), **arrays)
    print("%-22s %7d bytes  first=%s %s" % (name + ".pt", os.path.getsize(path), params[0][0], tuple(params[0][1].shape)))


def main():
    os.makedirs(OUT, exist_ok=True)
    import torchvision

    save("conv_bn_relu_linear", ConvBnReluLinear(), (torch.randn(2, 1, 8, 8),), "trace")
    save("flag_scripted", FlagNet(), (torch.randn(3, 8),), "script")
    save("mlp_layernorm_gelu", Mlp(), (torch.randn(4, 12),), "trace")
    save("lstm", Lstm(), (torch.randn(2, 5, 6),), "trace")
    save("constant_traced", WithConstant(), (torch.randn(2, 3),), "trace")
    save("transformer_encoder", Encoder(), (torch.randn(2, 6, 32),), "trace")

    # resnet18's structure (torchvision BasicBlock, stem, 4 stages, avgpool, fc) with narrow layers.
    save("resnet_tiny", tiny_resnet(), (torch.randn(1, 3, 32, 32),), "trace")

    mobilenet = torchvision.models.mobilenet_v2(weights=None, width_mult=0.1, num_classes=10)
    save("mobilenet_v2_tiny", mobilenet, (torch.randn(1, 3, 32, 32),), "trace")


def tiny_resnet():
    from torchvision.models.resnet import ResNet, BasicBlock

    class TinyResNet(ResNet):
        def __init__(self):
            super().__init__(BasicBlock, [1, 1, 1, 1], num_classes=10)
            # Replace with narrow layers: same structure as resnet18 (stem, 4 stages, avgpool, fc).
            self.inplanes = 8
            self.conv1 = nn.Conv2d(3, 8, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.layer1 = self._make_layer(BasicBlock, 8, 1)
            self.layer2 = self._make_layer(BasicBlock, 16, 1, stride=2)
            self.layer3 = self._make_layer(BasicBlock, 16, 1, stride=2)
            self.layer4 = self._make_layer(BasicBlock, 32, 1, stride=2)
            self.fc = nn.Linear(32, 10)

    m = TinyResNet()
    # Non-trivial BN statistics so eval-mode BN is not the identity.
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
    return m


if __name__ == "__main__":
    sys.exit(main())
