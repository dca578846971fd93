#!/usr/bin/python3
"""Independent check of the exported fixtures (no onnxruntime needed).

Loads each ONNX file with the `onnx` package, runs onnx.checker, prints the graph
inputs/outputs/opset/ops, then evaluates the graph with a tiny NumPy interpreter
(only the ops these fixtures use: Conv, Relu, MaxPool, Flatten, Gemm, Softmax) on the
stored test data and compares against the PyTorch reference outputs and top-1 in the
metrics json. Exits non-zero on any mismatch.

Usage: /usr/bin/python3 check_onnx.py
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _conv(x, w, b, a):
    assert a.get("group", 1) == 1 and all(d == 1 for d in a.get("dilations", [1, 1]))
    sh, sw = a.get("strides", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    kh, kw = w.shape[2:]
    n, c, h, wd = x.shape
    oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
    cols = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    y = np.einsum("nchwij,ocij->nohw", cols[:, :, :oh, :ow], w, optimize=True)
    return (y + (b[None, :, None, None] if b is not None else 0)).astype(np.float32)


def _maxpool(x, a):
    kh, kw = a["kernel_shape"]
    sh, sw = a.get("strides", [1, 1])
    assert not any(a.get("pads", [0])), "padded MaxPool not supported"
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    return win.max(axis=(4, 5))


def run(model, feeds):
    env = dict(feeds)
    env.update({t.name: numpy_helper.to_array(t) for t in model.graph.initializer})
    for node in model.graph.node:
        a = _attrs(node)
        i = [env[n] if n else None for n in node.input]
        op = node.op_type
        if op == "Conv":
            y = _conv(i[0], i[1], i[2] if len(i) > 2 else None, a)
        elif op == "Relu":
            y = np.maximum(i[0], 0)
        elif op == "MaxPool":
            y = _maxpool(i[0], a)
        elif op == "Flatten":
            ax = a.get("axis", 1)
            y = i[0].reshape(int(np.prod(i[0].shape[:ax])), -1)
        elif op == "Gemm":
            A = i[0].T if a.get("transA", 0) else i[0]
            B = i[1].T if a.get("transB", 0) else i[1]
            y = a.get("alpha", 1.0) * (A @ B)
            if len(i) > 2 and i[2] is not None:
                y = y + a.get("beta", 1.0) * i[2]
        elif op == "Softmax":
            ax = a.get("axis", -1)
            e = np.exp(i[0] - i[0].max(axis=ax, keepdims=True))
            y = e / e.sum(axis=ax, keepdims=True)
        else:
            raise NotImplementedError(op)
        env[node.output[0]] = np.asarray(y, dtype=np.float32)
    return [env[o.name] for o in model.graph.output]


def describe(path):
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    print(f"{os.path.relpath(path, ROOT)}  ({os.path.getsize(path)} bytes)")
    print(f"  ir_version={m.ir_version} opset={[(o.domain or 'ai.onnx', o.version) for o in m.opset_import]}"
          f" producer={m.producer_name} {m.producer_version}")
    for kind, vals in (("input ", m.graph.input), ("output", m.graph.output)):
        for v in vals:
            tt = v.type.tensor_type
            dims = [d.dim_param or d.dim_value for d in tt.shape.dim]
            print(f"  {kind} {v.name!r} {onnx.TensorProto.DataType.Name(tt.elem_type)} {dims}")
    print(f"  ops: {[n.op_type for n in m.graph.node]}")
    return m


def check(onnx_rel, npz_rel, in_name, metrics_name, ref_key, top1_key):
    ok = True
    m = describe(os.path.join(ROOT, onnx_rel))
    data = np.load(os.path.join(ROOT, npz_rel))
    x, labels = data[in_name], data["labels"]
    print(f"  data: {in_name} {x.dtype} {list(x.shape)}, labels {labels.dtype} {list(labels.shape)}")
    (out,) = run(m, {in_name: x})
    with open(os.path.join(HERE, metrics_name)) as f:
        metrics = json.load(f)
    top1 = float((out.argmax(1) == labels).mean())
    ref = np.array(metrics[ref_key], dtype=np.float32)
    diff = float(np.abs(out[:len(ref)] - ref).max())
    print(f"  numpy-evaluated top1={top1:.4f} (metrics: {metrics[top1_key]}), "
          f"max |onnx - torch| on first {len(ref)} = {diff:.2e}")
    if abs(round(top1, 4) - metrics[top1_key]) > 1e-9 or diff > 1e-4:
        print("  MISMATCH")
        ok = False
    return ok


def main():
    ok = check("testassets/SampleApp/models/fashion.onnx", "testassets/SampleApp/data/test.npz",
               "input", "fashion-metrics.json", "reference_logits_first4", "test_top1_subset_1000")
    calib = np.load(os.path.join(ROOT, "testassets/SampleApp/data/calib.npy"))
    print(f"  calib.npy: {calib.dtype} {list(calib.shape)} mean={calib.mean():.4f} std={calib.std():.4f}")
    ok &= check("tests/ModelBuild.EndToEnd.Tests/assets/digits-mlp.onnx",
                "tests/ModelBuild.EndToEnd.Tests/assets/digits-test.npz",
                "pixels", "digits-metrics.json", "reference_probs_first4", "test_top1_360")
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
