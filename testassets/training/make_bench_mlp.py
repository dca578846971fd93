"""A compute-heavy MLP with a dynamic batch axis for `modelbuild bench-serve` (random weights: throughput only).

    /usr/bin/python3 testassets/training/make_bench_mlp.py /tmp/bigmlp/mlp.onnx [HIDDEN]

784 -> HIDDEN -> HIDDEN -> 10. The default HIDDEN 2048 is about 5.8 M multiply-adds per sample (~1 ms on one core),
23 MB: large enough that inference, not HTTP, dominates a served request, which is what dynamic batching can speed
up. Other widths (1024: ~0.3 ms, 4096: ~4 ms) show how the served/in-process ratio grows with inference time.
Not committed.
"""
import sys

import torch

out = sys.argv[1] if len(sys.argv) > 1 else "mlp.onnx"
hidden = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Linear(784, hidden), torch.nn.ReLU(),
    torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
    torch.nn.Linear(hidden, 10),
).eval()
torch.onnx.export(model, torch.randn(1, 784), out, input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17)
print(out)
