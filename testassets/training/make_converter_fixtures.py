"""Small TorchScript fixtures for the TorchScript -> ONNX converter tests.

Run with Debian's PyTorch:  /usr/bin/python3 testassets/training/make_converter_fixtures.py [NAME ...]
(names given: only those fixtures are rewritten)
Writes tests/ModelBuild.Core.Tests/assets/converter/<name>.pt and <name>.npz; the .npz holds the inputs
(by forward-argument name, batch 3) and the reference outputs (output0, output1, ...) computed by PyTorch.
"""
import os
import sys
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "ModelBuild.Core.Tests", "assets", "converter")
torch.manual_seed(0)


def randomize_bn(m):
    # Fresh BN stats are 0/1 (identity): give them values so the lowering is really tested.
    for mod in m.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.5, 0.5)
    return m


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=2, dilation=2, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = F.relu(self.bn2(self.conv2(x)))
        x = torch.flatten(self.gap(x), 1)
        return self.fc(x)


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 32)
        self.ln = nn.LayerNorm(32)
        self.drop = nn.Dropout(0.1)
        self.fc2 = nn.Linear(32, 16)
        self.fc3 = nn.Linear(16, 5)

    def forward(self, x):
        x = self.drop(F.gelu(self.ln(self.fc1(x))))
        x = F.gelu(self.fc2(x), approximate="tanh")
        return F.softmax(self.fc3(x), dim=-1)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.down is None else self.down(x)
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + idt)


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.layer1 = Block(8, 8, 1)
        self.layer2 = Block(8, 16, 2)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(16 * 2 * 2, 7)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        x = self.pool(x)
        x = x.view(x.size(0), -1)
        return torch.log_softmax(self.fc(x), dim=1)


class MobileBlock(nn.Module):
    def __init__(self, c, e):
        super().__init__()
        self.expand = nn.Conv2d(c, c * e, 1, bias=False)
        self.bn0 = nn.BatchNorm2d(c * e)
        self.dw = nn.Conv2d(c * e, c * e, 3, 1, 1, groups=c * e, bias=False)
        self.bn1 = nn.BatchNorm2d(c * e)
        self.se_reduce = nn.Conv2d(c * e, 4, 1)
        self.se_expand = nn.Conv2d(4, c * e, 1)
        self.project = nn.Conv2d(c * e, c, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        y = F.relu6(self.bn0(self.expand(x)))
        y = F.hardswish(self.bn1(self.dw(y)))
        s = F.adaptive_avg_pool2d(y, 1)
        s = F.hardsigmoid(self.se_expand(F.silu(self.se_reduce(s))))
        y = y * s
        return x + self.bn2(self.project(y))


class MobileNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 2, 1)
        self.grouped = nn.Conv2d(8, 8, 3, 1, 1, groups=2)
        self.block = MobileBlock(8, 2)
        self.pool = nn.AdaptiveAvgPool2d((2, 2))
        self.head = nn.Linear(32, 6)

    def forward(self, x):
        x = torch.sigmoid(self.grouped(F.hardtanh(self.stem(x), -2.0, 2.0)))
        x = self.block(x)
        x = self.pool(x).reshape(x.shape[0], -1)
        return torch.tanh(self.head(x))


class Flagged(nn.Module):
    """Scripted: a bool flag argument with a default, a loop over a ModuleList and a module attribute flag."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(12, 12) for _ in range(3)])
        self.out = nn.Linear(12, 4)
        self.use_residual = True

    def forward(self, x, normalize: bool = False, scale: float = 2.0):
        for layer in self.layers:
            y = torch.relu(layer(x))
            if self.use_residual:
                x = x + y
            else:
                x = y
        if normalize:
            x = x / x.sum(dim=1, keepdim=True)
        else:
            x = x * scale
        return self.out(x)


class Lstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 8)
        self.lstm = nn.LSTM(8, 12, num_layers=2, batch_first=True)
        self.gru = nn.GRU(12, 6, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(12, 3)

    def forward(self, tokens):
        x = self.emb(tokens)
        x, _ = self.lstm(x)
        x, _ = self.gru(x)
        return self.fc(x[:, -1, :])


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, dropout=0.1, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, num_layers=2)
        self.proj = nn.Linear(16, 4)

    def forward(self, x):
        return self.proj(self.enc(x).mean(dim=1))


class Attention(nn.Module):
    """nn.MultiheadAttention: the traced slow path (not batch_first) and the fused fast path (batch_first, with
    averaged weights), plus a norm_first encoder layer with gelu."""

    def __init__(self):
        super().__init__()
        self.mha = nn.MultiheadAttention(16, 4)
        self.fast = nn.MultiheadAttention(16, 2, batch_first=True)
        self.layer = nn.TransformerEncoderLayer(16, 2, 24, 0.0, activation="gelu", batch_first=True, norm_first=True)

    def forward(self, x):
        q = x.transpose(0, 1)
        a, _ = self.mha(q, q, q, need_weights=False)
        b, w = self.fast(x, x, x)
        return self.layer(a.transpose(0, 1) + b), w


class Misc(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 5))

    def forward(self, x):
        a, b = torch.chunk(x, 2, dim=1)                 # [N,3,4] each
        c = torch.cat([a, b * 2.0], dim=2)              # [N,3,8]
        s = torch.stack([a, b], dim=1)                  # [N,2,3,4]
        s = s.permute(0, 3, 1, 2).contiguous()          # [N,4,2,3]
        p, q = torch.split(c, [3, 5], dim=2)
        r = torch.sub(p.sum(dim=2, keepdim=True), q.mean(dim=(1, 2)).unsqueeze(1).unsqueeze(2), alpha=0.5)
        t = s[:, 1:3, :, 0].squeeze(-1) / 3.0           # [N,2,2]
        u = torch.matmul(c.transpose(1, 2), c)          # [N,8,8]
        v = torch.bmm(u, c.transpose(1, 2)).flatten(1)  # [N,24]
        m = torch.mm(x.reshape(-1, 8)[:, :6], self.w)
        y = torch.addmm(torch.ones(5), m, torch.ones(5, 5))
        z = r.flatten(1).sum(1, keepdim=True) + t.reshape(t.size(0), -1).mean(1, keepdim=True) - 1
        return v.sum(dim=1, keepdim=True) * 0.01 + z, y.reshape(x.shape[0], -1).select(1, 2)


class Norms(nn.Module):
    """Vector norms as saved code spells them: F.normalize (norm(x, 2., [-1], True)), p = 1, inf, -inf, 0, 3 over
    dims, the whole-tensor norm, and linalg.vector_norm."""

    def forward(self, x):
        n = F.normalize(x, dim=-1)
        a = torch.norm(x, p=1, dim=1)
        b = torch.norm(x, p=float("inf"), dim=(1, 2), keepdim=True).flatten(1)
        c = torch.norm(x, p=float("-inf"), dim=2)
        d = torch.norm(torch.relu(x), p=0, dim=2)
        e = torch.norm(x, p=3, dim=1)
        f = torch.linalg.vector_norm(x, ord=2, dim=(1, 2))
        g = x[0].norm() * torch.ones(x.shape[0])  # the first sample: the same at every batch size
        return n, a, b, c, d, e, f, g


class SplitOps(nn.Module):
    """tensor_split by indices and by sections, linspace, and the batch axis handled at run time: two inputs
    concatenated, chunked back (RAFT's feature encoder) and a grid repeated once per sample."""

    def forward(self, x):
        a, b, c = torch.tensor_split(x, [1, 4], dim=2)       # [N,6,1], [N,6,3], [N,6,0..]
        p, q, r = torch.tensor_split(x, 3, dim=1)           # 2, 2, 2 rows
        s = torch.tensor_split(x, 4, dim=2)                 # 4 pieces of 1 (of 4 columns)
        both = torch.cat([x, x * 2.0], dim=0)               # [2N,6,4]
        first, second = torch.chunk(both, 2, dim=0)         # back to [N,6,4] each, N known only at run time
        grid = torch.linspace(-1, 1, 4).unsqueeze(0).repeat(x.shape[0], 1)   # [N,4]
        return (a * 1.0, b + c.sum(), p - q + r, s[3] + s[0], second - first, grid * x[:, 0, :])


class GridSample(nn.Module):
    """F.grid_sample in its three interpolation and padding modes, both align_corners (opset 16 and later)."""

    def forward(self, x, grid):
        outs = [F.grid_sample(x, grid, mode=m, padding_mode=p, align_corners=a)
                for m, p, a in [("bilinear", "zeros", False), ("nearest", "border", True), ("bicubic", "reflection", False)]]
        return tuple(outs)


class InPlaceViews(nn.Module):
    """In-place writes into slices and selects of activations, as MViT's relative position bias and hand-written code
    (x[:, 0] = y) do: add_ then copy_ into a slice, a select assigned, zero_ on a slice, a row added to another, and
    a write from the second sample on (the batch axis is dynamic in the converted model)."""

    def forward(self, x):
        a = x * 2.0
        a[:, 1:, 1:] += torch.ones(4, 5)
        b = x + 0.0
        b[:, 0] = x[:, -1] * 3.0
        c = x.clone()
        c[:, :, 2:4].zero_()
        d = x.clone()
        d[:, 2] += d[:, 3]
        e = x * 1.0
        e[1:, 2] = 0.5          # from the second sample on: a box along the dynamic batch axis
        return a.softmax(-1), b, c, d, e


class MaskOps(nn.Module):
    """Masks as models combine them: ~m, m & n, m | n, m ^ n, logical_and/or/xor of non-bool tensors, ~ of integers."""

    def forward(self, x):
        m = x > 0
        n = x < 0.5
        a = (~m).float()
        b = (m & n).float() + (m | n).float() * 2 + (m ^ n).float() * 4
        c = torch.logical_and(x, x > 1).float() + torch.logical_or(x > 1, x < -1).float() + torch.logical_xor(m, n).float()
        d = (~(x * 10).long()).float()
        return a, b, c, d


ONLY = set(sys.argv[1:])


def save(name, module, example_inputs, arg_names, script=False, extra=None):
    if ONLY and name not in ONLY:
        return
    module = module.eval()
    with torch.no_grad():
        ts = torch.jit.script(module) if script else torch.jit.trace(module, example_inputs)
        outs = ts(*example_inputs, *(extra or []))
    if not isinstance(outs, tuple):
        outs = (outs,)
    ts.save(os.path.join(OUT, name + ".pt"))
    arrays = {n: t.numpy() for n, t in zip(arg_names, example_inputs)}
    for i, o in enumerate(outs):
        arrays["output%d" % i] = o.detach().numpy()
    np.savez(os.path.join(OUT, name + ".npz"), **arrays)


def main():
    os.makedirs(OUT, exist_ok=True)
    img = torch.randn(3, 3, 16, 16)
    save("cnn", randomize_bn(Cnn()), (img,), ["input"])
    save("mlp", Mlp(), (torch.randn(3, 20),), ["input"])
    save("resnet", randomize_bn(ResNet()), (torch.randn(3, 3, 8, 8),), ["input"])
    save("mobilenet", randomize_bn(MobileNet()), (torch.randn(3, 3, 16, 16),), ["input"])
    flagged = Flagged()
    save("flagged", flagged, (torch.randn(3, 12),), ["input"], script=True)
    # Reference for the non-default flag values (normalize=True, scale ignored).
    with torch.no_grad():
        x = torch.from_numpy(np.load(os.path.join(OUT, "flagged.npz"))["input"])
        ts = torch.jit.load(os.path.join(OUT, "flagged.pt"))
        np.savez(os.path.join(OUT, "flagged_normalize.npz"), input=x.numpy(), output0=ts(x, True).numpy())
    save("lstm", Lstm(), (torch.randint(0, 30, (3, 7)),), ["tokens"])
    save("encoder", Encoder(), (torch.randn(3, 5, 16),), ["input"])
    save("attention", Attention(), (torch.randn(3, 5, 16),), ["input"])
    save("misc", Misc(), (torch.randn(3, 6, 4),), ["input"])
    save("norms", Norms(), (torch.randn(3, 6, 4),), ["input"])
    save("split_ops", SplitOps(), (torch.randn(3, 6, 4),), ["input"])
    save("inplace_views", InPlaceViews(), (torch.randn(3, 5, 6),), ["input"])
    save("mask_ops", MaskOps(), (torch.randn(3, 5, 6),), ["input"])
    save("grid_sample", GridSample(), (torch.randn(3, 2, 5, 6), torch.rand(3, 4, 3, 2) * 2.4 - 1.2), ["input", "grid"])


if __name__ == "__main__":
    main()
