#!/usr/bin/python3
"""The architecture zoo: real networks nobody here tuned the converter to, saved as TorchScript.

Run with Debian's PyTorch (torch 1.13, torchvision 0.14):
    /usr/bin/python3 testassets/zoo/make_zoo.py --out artifacts/zoo [--only NAME ...]
    /usr/bin/python3 testassets/zoo/make_zoo.py --out artifacts/zoo --fixtures   # also refresh the committed copies

For each entry it writes <name>.pt (torch.jit.trace, or torch.jit.script for the *_scripted entries) and
<name>.npz with the inputs (by forward-argument name, batch 2) and PyTorch's eager outputs (output0, ...), and
zoo.json listing every entry: family, file, inputs (shape with "batch" for the batch axis, dtype, value range
for integer inputs). Weights are random (torchvision builders with weights=None); BatchNorm statistics are
randomized so normalization is really exercised. The ModelBuild zoo tests build each entry through
`modelbuild build` with a manifest that has no evaluation data and compare the ONNX artifact with these outputs.
An entry that is already present (same script version) is skipped, so the folder works as a cache.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import zipfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision import models as tvm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zoo_modules import (BertStyleEncoder, ClipStyleTextEncoder, CrnnKeywordSpotter, DebertaStyleEncoder, Espcn,  # noqa: E402
                         Gpt2StyleDecoder, LlamaStyleDecoder, MixerNet, MoeRouter, IndexPutNet, OpsMix, PerceiverEinsum, SdpaBlock,
                         SpaceToDepthNet, StyleTransferNet, SwinWindowAttention, T5RelativeBias, TinyUnet,
                         UnetBilinear, Wav2Vec2StyleEncoder, YoloStyleHead, Resnet1dAudio, TorchEncoderWithPadding,
                         TorchCausalDecoder, TorchMhaWithPadding)

torch.set_num_threads(2)
SCRIPT_VERSION = hashlib.sha256(b"".join(
    open(os.path.join(os.path.dirname(os.path.abspath(__file__)), f), "rb").read()
    for f in ("make_zoo.py", "zoo_modules.py"))).hexdigest()[:16]


def randomize_norms(model, seed):
    """Random BatchNorm statistics (also torchvision's FrozenBatchNorm2d in detection backbones), and random values
    for weights a builder initializes to zero (ViT's head), so no output is trivially constant."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        for p in m.parameters(recurse=False):
            if p.dim() >= 2 and not p.detach().any():
                p.data.copy_(torch.randn(p.shape, generator=g) * 0.02)
        if isinstance(m, torchvision.ops.misc.FrozenBatchNorm2d):
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.copy_(torch.rand(m.bias.shape, generator=g) - 0.5)
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            if m.weight is not None:
                m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.data.copy_(torch.rand(m.bias.shape, generator=g) - 0.5)
    return model


class DictOutput(nn.Module):
    """Segmentation models return OrderedDict; deployment wants the 'out' tensor."""

    def __init__(self, inner, key="out"):
        super().__init__()
        self.inner = inner
        self.key = key

    def forward(self, x):
        return self.inner(x)[self.key]


class FpnOutputs(nn.Module):
    """Detection backbones with FPN return OrderedDict of feature maps; deploy them as a tuple."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        feats = self.inner(x)
        return tuple(feats.values())


class LastFlow(nn.Module):
    """RAFT returns the flow after every refinement step as a list; deploy the last, after a few steps."""

    def __init__(self, inner, steps=3):
        super().__init__()
        self.inner = inner
        self.steps = steps

    def forward(self, image1, image2):
        return self.inner(image1, image2, num_flow_updates=self.steps)[-1]


def image(size, channels=3):
    return {"input": ([channels, size, size], "float32")}


def tokens(seq, vocab, extra=()):
    spec = {"input_ids": ([seq], "int64", [0, vocab - 1])}
    for name in extra:
        if name == "attention_mask":
            spec[name] = ([seq], "int64", [0, 1])
        elif name == "token_type_ids":
            spec[name] = ([seq], "int64", [0, 1])
    return spec


def tv(builder, **kw):
    return lambda: getattr(tvm, builder)(weights=None, **kw)


# name: (family, factory, inputs, mode). inputs: name -> (shape without batch, dtype[, [low, high]]).
ZOO = {
    # torchvision classification families
    "resnet18": ("classification", tv("resnet18", num_classes=10), image(64), "trace"),
    "resnet50": ("classification", tv("resnet50", num_classes=10), image(64), "trace"),
    "resnext50_32x4d": ("classification", tv("resnext50_32x4d", num_classes=10), image(64), "trace"),
    "wide_resnet50_2": ("classification", tv("wide_resnet50_2", num_classes=10), image(64), "trace"),
    "vgg11_bn": ("classification", tv("vgg11_bn", num_classes=10), image(64), "trace"),
    "alexnet": ("classification", tv("alexnet", num_classes=10), image(64), "trace"),
    "squeezenet1_1": ("classification", tv("squeezenet1_1", num_classes=10), image(64), "trace"),
    "densenet121": ("classification", tv("densenet121", num_classes=10), image(64), "trace"),
    "googlenet": ("classification", tv("googlenet", num_classes=10, aux_logits=False, init_weights=True), image(64), "trace"),
    "inception_v3": ("classification", tv("inception_v3", num_classes=10, aux_logits=False, init_weights=True), image(96), "trace"),
    "mobilenet_v2": ("classification", tv("mobilenet_v2", num_classes=10), image(64), "trace"),
    "mobilenet_v3_small": ("classification", tv("mobilenet_v3_small", num_classes=10), image(64), "trace"),
    # At ImageNet's size: where int8 pays in MobileNetV3 differs by layer (latency-aware int8 regions are tested on it).
    "mobilenet_v3_small_224": ("classification", tv("mobilenet_v3_small"), image(224), "trace"),
    "mobilenet_v3_large": ("classification", tv("mobilenet_v3_large", num_classes=10), image(64), "trace"),
    "mnasnet0_5": ("classification", tv("mnasnet0_5", num_classes=10), image(64), "trace"),
    "shufflenet_v2_x0_5": ("classification", tv("shufflenet_v2_x0_5", num_classes=10), image(64), "trace"),
    "efficientnet_b0": ("classification", tv("efficientnet_b0", num_classes=10), image(64), "trace"),
    "efficientnet_v2_s": ("classification", tv("efficientnet_v2_s", num_classes=10), image(64), "trace"),
    "regnet_x_400mf": ("classification", tv("regnet_x_400mf", num_classes=10), image(64), "trace"),
    "regnet_y_400mf": ("classification", tv("regnet_y_400mf", num_classes=10), image(64), "trace"),
    "convnext_tiny": ("classification", tv("convnext_tiny", num_classes=10), image(64), "trace"),
    "swin_t": ("classification", tv("swin_t", num_classes=10), image(64), "trace"),
    # Swin V2: cosine attention (F.normalize: torch.norm), a log-spaced continuous position bias MLP.
    "swin_v2_t": ("classification", tv("swin_v2_t", num_classes=10), image(64), "trace"),
    "vit_small": ("classification", lambda: torchvision.models.vision_transformer.VisionTransformer(
        image_size=64, patch_size=16, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128, num_classes=10),
        image(64), "trace"),
    "resnet18_scripted": ("classification", tv("resnet18", num_classes=10), image(64), "script"),
    "mobilenet_v3_small_scripted": ("classification", tv("mobilenet_v3_small", num_classes=10), image(64), "script"),
    # Scripting keeps the Python that tracing runs away: stochastic depth's `mode in ["batch", "row"]`, GoogLeNet's
    # NamedTuple with None aux logits, Swin's list copy and sum(shift_size), MultiheadAttention's fast-path checks
    # (dtype comparisons, str(device).find, is_nested), IntermediateLayerGetter's dict.
    "efficientnet_b0_scripted": ("classification", tv("efficientnet_b0", num_classes=10), image(64), "script"),
    "googlenet_scripted": ("classification", tv("googlenet", num_classes=10, aux_logits=False, init_weights=True), image(64), "script"),
    "swin_t_scripted": ("classification", tv("swin_t", num_classes=10), image(64), "script"),
    "vit_small_scripted": ("classification", lambda: torchvision.models.vision_transformer.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128, num_classes=10),
        image(32), "script"),
    # torchvision segmentation and detection backbones
    "fcn_resnet50": ("segmentation", lambda: DictOutput(tvm.segmentation.fcn_resnet50(
        weights=None, weights_backbone=None, num_classes=5, aux_loss=False)), image(64), "trace"),
    "deeplabv3_mobilenet_v3_large": ("segmentation", lambda: DictOutput(tvm.segmentation.deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=5, aux_loss=False)), image(64), "trace"),
    "lraspp_mobilenet_v3_large": ("segmentation", lambda: DictOutput(tvm.segmentation.lraspp_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=5)), image(64), "trace"),
    "lraspp_mobilenet_v3_large_scripted": ("segmentation", lambda: DictOutput(tvm.segmentation.lraspp_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=5)), image(64), "script"),
    "resnet18_fpn_backbone": ("detection-backbone", lambda: FpnOutputs(
        tvm.detection.backbone_utils.resnet_fpn_backbone(backbone_name="resnet18", weights=None, trainable_layers=5)),
        image(64), "trace"),
    "mobilenet_v3_fpn_backbone": ("detection-backbone", lambda: FpnOutputs(
        tvm.detection.backbone_utils.mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=True,
                                                        trainable_layers=6)), image(64), "trace"),
    # video
    "r3d_18": ("video", lambda: tvm.video.r3d_18(weights=None, num_classes=10),
               {"input": ([3, 4, 32, 32], "float32")}, "trace"),
    # optical flow: correlation pyramid looked up with grid_sample, the two images' features chunked back from one
    # batch, a coordinate grid repeated per image (random weights give NaN below 128x128: the pyramid runs out)
    "raft_small": ("optical-flow", lambda: LastFlow(tvm.optical_flow.raft_small(weights=None)),
                   {"image1": ([3, 128, 128], "float32"), "image2": ([3, 128, 128], "float32")}, "trace"),
    # Scripted, RAFT keeps its correlation pyramid on self during forward and reverses a list with [::-1].
    "raft_small_scripted": ("optical-flow", lambda: LastFlow(tvm.optical_flow.raft_small(weights=None)),
                            {"image1": ([3, 128, 128], "float32"), "image2": ([3, 128, 128], "float32")}, "script"),
    # decoders with upsampling, super-resolution, style transfer
    "unet_transposed": ("decoder", TinyUnet, image(64), "trace"),
    "unet_bilinear": ("decoder", UnetBilinear, image(48), "trace"),
    "espcn_x3": ("super-resolution", Espcn, image(24, channels=1), "trace"),
    "space_to_depth_net": ("super-resolution", SpaceToDepthNet, image(32), "trace"),
    "style_transfer": ("decoder", StyleTransferNet, image(32), "trace"),
    "yolo_style_head": ("detection-head", YoloStyleHead, image(64), "trace"),
    # transformers written the Hugging Face way
    "bert_style_encoder": ("text-encoder", BertStyleEncoder, tokens(16, 100, ["attention_mask", "token_type_ids"]), "trace"),
    "deberta_style_encoder": ("text-encoder", DebertaStyleEncoder, tokens(14, 90, ["attention_mask"]), "trace"),
    "bert_style_encoder_scripted": ("text-encoder", BertStyleEncoder, tokens(16, 100, ["attention_mask", "token_type_ids"]), "script"),
    "gpt2_style_decoder": ("text-decoder", Gpt2StyleDecoder, tokens(16, 120), "trace"),
    "gpt2_style_decoder_scripted": ("text-decoder", Gpt2StyleDecoder, tokens(16, 120), "script"),
    "llama_style_decoder": ("text-decoder", LlamaStyleDecoder, tokens(12, 90), "trace"),
    "t5_relative_bias": ("text-encoder", T5RelativeBias, tokens(20, 80), "trace"),
    "clip_style_text": ("text-encoder", ClipStyleTextEncoder, tokens(10, 64), "trace"),
    "clip_style_text_scripted": ("text-encoder", ClipStyleTextEncoder, tokens(10, 64), "script"),
    "torch_encoder_padding_mask": ("text-encoder", TorchEncoderWithPadding, tokens(12, 100, ["attention_mask"]), "trace"),
    "torch_encoder_padding_mask_scripted": ("text-encoder", TorchEncoderWithPadding, tokens(12, 100, ["attention_mask"]), "script"),
    "torch_mha_padding_mask": ("text-encoder", TorchMhaWithPadding, tokens(12, 100, ["attention_mask"]), "trace"),
    "torch_causal_decoder_scripted": ("text-decoder", TorchCausalDecoder,
                                      {"input_ids": ([10], "int64", [0, 99]), "memory": ([7, 32], "float32")}, "script"),
    # Swin's window_reverse computes the batch with int() on Python floats, which tracing freezes: the archive runs
    # at the traced batch only, so its input is declared with a fixed batch, as its user would have to.
    "swin_window_attention": ("window-attention", SwinWindowAttention, {"input": ([16, 16, 32], "float32")}, "trace-fixed-batch"),
    # Scripted, the same int(B / …) runs at conversion time on the dynamic batch (a floor division in the graph).
    "swin_window_attention_scripted": ("window-attention", SwinWindowAttention, {"input": ([16, 16, 32], "float32")}, "script"),
    # PyTorch 1.13 only has the private _scaled_dot_product_attention; the archive is re-written to the PyTorch 2.x
    # call (torch.scaled_dot_product_attention), the form libtorch 2.x and every newer trace use.
    "sdpa_block": ("attention", SdpaBlock, {"input": ([12, 32], "float32")}, "trace-sdpa2"),
    "perceiver_einsum": ("attention", PerceiverEinsum, {"input": ([20, 24], "float32")}, "trace"),
    "mlp_mixer": ("classification", MixerNet, image(32), "trace"),
    # audio
    "wav2vec2_style": ("audio", Wav2Vec2StyleEncoder, {"input": ([1600], "float32")}, "trace"),
    "wav2vec2_style_scripted": ("audio", Wav2Vec2StyleEncoder, {"input": ([1600], "float32")}, "script"),
    "crnn_keyword_spotter": ("audio", CrnnKeywordSpotter, {"input": ([1, 40, 32], "float32")}, "trace"),
    "resnet1d_audio": ("audio", Resnet1dAudio, {"input": ([1, 800], "float32")}, "trace"),
    # op families gathered into small nets
    "moe_router": ("routing", MoeRouter, {"input": ([10, 16], "float32")}, "trace"),
    "ops_mix": ("misc", OpsMix, image(20, channels=4), "trace"),
    "index_put_net": ("misc", IndexPutNet, {"input": ([4, 6], "float32")}, "trace"),
    "ops_mix_scripted": ("misc", OpsMix, image(20, channels=4), "script"),
    "index_put_net_scripted": ("misc", IndexPutNet, {"input": ([4, 6], "float32")}, "script"),
}

BATCH = 2

# Small hand-written entries whose archives are committed as converter unit-test fixtures
# (tests/ModelBuild.Core.Tests/assets/converter/zoo/), so every op family here is checked at opsets 13 and 17
# without Python on the machine.
FIXTURES = ["unet_bilinear", "unet_transposed", "espcn_x3", "space_to_depth_net", "style_transfer", "yolo_style_head",
            "ops_mix", "moe_router", "perceiver_einsum", "t5_relative_bias", "gpt2_style_decoder", "bert_style_encoder",
            "clip_style_text", "llama_style_decoder", "sdpa_block", "wav2vec2_style", "crnn_keyword_spotter",
            "bert_style_encoder_scripted", "index_put_net", "deberta_style_encoder", "clip_style_text_scripted",
            "wav2vec2_style_scripted", "ops_mix_scripted", "index_put_net_scripted", "torch_encoder_padding_mask",
            "torch_encoder_padding_mask_scripted"]
FIXTURE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "ModelBuild.Core.Tests",
                           "assets", "converter", "zoo")


def make_inputs(spec, seed):
    g = torch.Generator().manual_seed(seed)
    inputs = {}
    for name, entry in spec.items():
        shape, dtype = [BATCH] + list(entry[0]), entry[1]
        if dtype == "int64":
            low, high = entry[2]
            t = torch.randint(low, high + 1, shape, generator=g)
            if name == "attention_mask":
                t = torch.ones(shape, dtype=torch.int64)
                t[0, -3:] = 0  # one padded sequence
            inputs[name] = t
        else:
            inputs[name] = torch.randn(shape, generator=g)
    return inputs


def save(name, out, force):
    family, factory, spec, mode = ZOO[name]
    pt, npz = os.path.join(out, name + ".pt"), os.path.join(out, name + ".npz")
    stamp = os.path.join(out, name + ".version")
    if not force and os.path.exists(stamp) and open(stamp).read() == SCRIPT_VERSION and os.path.exists(pt):
        return "cached"
    seed = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    torch.manual_seed(seed)
    model = randomize_norms(factory(), seed).eval()
    inputs = make_inputs(spec, seed)
    args = tuple(inputs.values())
    with torch.no_grad():
        eager = model(*args)
        if mode == "script":
            saved = torch.jit.script(model)
        else:
            saved = torch.jit.trace(model, args, check_trace=False)
    outputs = eager if isinstance(eager, (tuple, list)) else (eager,)
    saved.save(pt)
    if mode == "trace-sdpa2":
        rewrite_to_public_sdpa(pt)
    arrays = {k: v.numpy() for k, v in inputs.items()}
    for i, o in enumerate(outputs):
        arrays[f"output{i}"] = o.detach().numpy()
    np.savez(npz, **arrays)
    with open(stamp, "w") as f:
        f.write(SCRIPT_VERSION)
    return "written"


SDPA_PRIVATE = re.compile(r"(\w+), \w+ = torch\._scaled_dot_product_attention\(([^()]*)\)")


def rewrite_to_public_sdpa(pt):
    """(q, k, v[, mask, dropout, need_weights, is_causal]) returning a pair -> PyTorch 2's (q, k, v, mask, dropout,
    is_causal) returning the output. The debug tables (*.debug_pkl) describe the old text, so they are dropped."""
    def public(match):
        args = [a.strip() for a in match.group(2).split(",")]
        args += ["None", "0.", "False", "False"][len(args) - 3:]
        q, k, v, mask, dropout, _, causal = args[:7]
        return f"{match.group(1)} = torch.scaled_dot_product_attention({q}, {k}, {v}, {mask}, {dropout}, {causal})"
    with zipfile.ZipFile(pt) as src:
        entries = [(i, src.read(i.filename)) for i in src.infolist()]
    with zipfile.ZipFile(pt + ".tmp", "w", zipfile.ZIP_STORED) as dst:
        for info, data in entries:
            if info.filename.endswith(".debug_pkl"):
                continue
            if "/code/" in info.filename and info.filename.endswith(".py"):
                data = SDPA_PRIVATE.sub(public, data.decode()).encode()
            dst.writestr(info, data)
    os.replace(pt + ".tmp", pt)


def describe(name):
    family, _, spec, mode = ZOO[name]
    inputs = []
    for n, entry in spec.items():
        batch = BATCH if mode == "trace-fixed-batch" else "batch"
        item = {"name": n, "shape": [batch] + list(entry[0]), "dtype": entry[1]}
        if len(entry) > 2:
            item["range"] = entry[2]
        inputs.append(item)
    return {"name": name, "family": family, "mode": mode, "source": name + ".pt", "reference": name + ".npz",
            "inputs": inputs}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--only", nargs="*")
    p.add_argument("--force", action="store_true")
    p.add_argument("--fixtures", action="store_true", help="copy the FIXTURES entries into the converter test assets")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    names = a.only or list(ZOO)
    failed = []
    for name in names:
        try:
            print(f"{name}: {save(name, a.out, a.force)}", flush=True)
        except Exception as e:  # a model PyTorch itself cannot trace/script is left out of the zoo, loudly
            failed.append(name)
            print(f"{name}: FAILED in PyTorch: {type(e).__name__}: {str(e).splitlines()[0]}", flush=True)
    entries = [describe(n) for n in ZOO if n not in failed and os.path.exists(os.path.join(a.out, n + ".pt"))]
    with open(os.path.join(a.out, "zoo.json"), "w") as f:
        json.dump({"version": SCRIPT_VERSION, "torch": torch.__version__, "torchvision": torchvision.__version__,
                   "models": entries}, f, indent=1)
    if a.fixtures:
        os.makedirs(FIXTURE_DIR, exist_ok=True)
        for name in FIXTURES:
            for ext in (".pt", ".npz"):
                shutil.copyfile(os.path.join(a.out, name + ext), os.path.join(FIXTURE_DIR, name + ext))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
