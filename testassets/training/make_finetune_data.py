"""Fine-tuning data for the pruning tests and bench: N normalized Fashion-MNIST training images + labels.

  ../SampleApp/data/train.npz   input f32 [N,1,28,28] ((x/255 - 0.2860)/0.3530), labels int64 [N]

Usage: /usr/bin/python3 make_finetune_data.py [--data-dir /usr/share/datasets/fashion-mnist] [--samples 12000] [--out PATH]
Only makes the fixture; nothing runs Python at build or test time.
"""
import argparse
import os

import numpy as np

from fixture_io import savez_compressed_reproducible
from train_fashion import normalize, read_idx

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20250105


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--samples", type=int, default=12000)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "SampleApp", "data", "train.npz"))
    args = ap.parse_args()
    x = read_idx(os.path.join(args.data_dir, "train-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(args.data_dir, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    idx = np.random.RandomState(SEED).choice(len(x), args.samples, replace=False)
    out = args.out
    savez_compressed_reproducible(out, input=normalize(x[idx]), labels=y[idx])
    print(f"wrote {out}: {args.samples} samples, {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    main()
