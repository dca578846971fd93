#!/usr/bin/python3
"""PyTorch's own eager-mode int8 on the models issue 16 measures, for comparison with `modelbuild bench`.

Run with Debian's PyTorch (torch 1.13, torchvision 0.14; quantized engines here: onednn, qnnpack — no fbgemm):
    /usr/bin/python3 testassets/bench/eager_quant.py

One thread, batch 1, p50 over timed runs after warm-up, ratios int8 / fp32 measured side by side in this process.
CNNs (random weights, BatchNorm statistics randomized as the zoo does, 224x224): FX graph-mode static int8 with the
onednn default qconfig mapping, calibrated on 8 N(0,1) images. MiniLM-sized HF-style BERT encoder (zoo_modules'
BertStyleEncoder: 6 layers, hidden 384, 12 heads, vocab 30522; random weights) at 128 tokens: dynamic int8 of every
nn.Linear. Accuracy columns are the cosine of the int8 output against fp32 on the same inputs.
"""
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
from torch.ao.quantization import get_default_qconfig_mapping, quantize_dynamic
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
from torchvision import models as tvm

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "zoo"))
from make_zoo import randomize_norms  # noqa: E402
from zoo_modules import BertEmbeddings, BertStyleEncoder  # noqa: E402

torch.set_num_threads(1)
torch.backends.quantized.engine = "onednn"
torch.manual_seed(0)


def p50(fn, seconds=3.0, warmup=5):
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 20:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def side_by_side(a, b, rounds=3):
    """Median of alternating p50s, so background load hits both alike."""
    pa, pb = [], []
    for _ in range(rounds):
        pa.append(p50(a))
        pb.append(p50(b))
    return statistics.median(pa), statistics.median(pb)


def cosine(x, y):
    return torch.nn.functional.cosine_similarity(x.flatten().double(), y.flatten().double(), dim=0).item()


rows = []
with torch.no_grad():
    for name in ["mobilenet_v3_small", "efficientnet_b0", "resnet18"]:
        model = randomize_norms(getattr(tvm, name)(weights=None), 1).eval()
        calib = torch.randn(8, 3, 224, 224)
        example = calib[:1]
        prepared = prepare_fx(model, get_default_qconfig_mapping("onednn"), example_inputs=(example,))
        prepared(calib)
        int8 = convert_fx(prepared)
        fp32_ms, int8_ms = side_by_side(lambda: model(example), lambda: int8(example))
        rows.append((name, "static int8 (FX, onednn)", fp32_ms, int8_ms, cosine(model(calib), int8(calib))))

    encoder = BertStyleEncoder(vocab=30522, hidden=384, heads=12, layers=6)
    encoder.embeddings = BertEmbeddings(30522, 384, max_pos=512)  # BERT's 512 positions (the zoo's default is 64)
    encoder = encoder.eval()
    ids = torch.randint(1996, 29612, (1, 128))
    ids[0, 0], ids[0, -1] = 101, 102
    mask = torch.ones(1, 128, dtype=torch.long)
    types = torch.zeros(1, 128, dtype=torch.long)
    dynamic = quantize_dynamic(encoder, {nn.Linear}, dtype=torch.qint8)
    fp32_ms, int8_ms = side_by_side(lambda: encoder(ids, mask, types), lambda: dynamic(ids, mask, types))
    rows.append(("bert_style_encoder (MiniLM-sized)", "dynamic int8 (nn.Linear, onednn)", fp32_ms, int8_ms,
                 cosine(encoder(ids, mask, types)[0], dynamic(ids, mask, types)[0])))

print(f"torch {torch.__version__}, engine {torch.backends.quantized.engine}, 1 thread, batch 1")
print("| model | PyTorch int8 | fp32 p50 ms | int8 p50 ms | int8 / fp32 | cosine vs fp32 |")
print("|---|---|---:|---:|---:|---:|")
for name, kind, f, q, c in rows:
    print(f"| {name} | {kind} | {f:.2f} | {q:.2f} | {q / f:.2f} | {c:.4f} |")
