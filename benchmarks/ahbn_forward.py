"""AHBN (paper 001) at the paper's sizes on CPU: parameter counts per part and the forward time of one image.

    python benchmarks/ahbn_forward.py [--threads N] [--repeats 5] [--rows]

Builds the full model as conf/model/ahbn.yaml does (Inception-ResNet-v2 attribute branch, 4-stack 256-wide
hourglass, sigmoid co-attention, 8192-d compact bilinear pooling on an 8x8 grid, 2048-d output), random weights
(timm, no download), eval mode, batch 1 at 299x299, no grad. Prints the median and minimum of ``--repeats``
timed calls after one warm-up call, with the 1-minute load average (above the thread count: other processes
competed for the cores). ``--rows`` adds the parameter count of every Table I model setting.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from fashionret.models import Backbone
from fashionret.models.ahbn import AHBN

# Table I settings that change the model (the others differ in losses / stages only)
ROWS = {
    "Single-Branch": dict(branches="attribute", attention="none"),
    "Single-Branch + Res50": dict(branches="attribute", attention="none", backbone="resnet50"),
    "Single-Branch + Spatial Atten.": dict(branches="attribute", attention="spatial"),
    "Single-Branch + LM": dict(branches="landmark", attention="none", backbone=None),
    "Two-Branch w. 8LM": dict(landmark_input="heatmaps", attention="none"),
    "Two-Branch w. 256LM": dict(attention="none"),
    "Two-Branch w. 256LM + BP": dict(attention="none", fusion="bilinear"),
    "Two-Branch w. 256LM + Cat": dict(attention="none", fusion="cat"),
    "Two-Branch w. 256LM + Mul": dict(attention="none", fusion="mul"),
    "Two-Branch w. 256LM + Sepa. Atten.": dict(attention="separate"),
    "Our AHBN Model + Res50": dict(backbone="resnet50"),
    "Our AHBN Model": {},
}


def count(module: torch.nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def build(backbone: str | None = "inception_resnet_v2", **kw) -> AHBN:
    return AHBN(Backbone(backbone) if backbone else None, **kw).eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rows", action="store_true", help="parameter counts of every Table I model setting")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build()
    x = torch.randn(1, 3, 299, 299)
    parts = {
        "attribute branch (Inception-ResNet-v2)": count(model.backbone),
        "landmark branch (4-stack hourglass)": count(model.hourglass),
        "co-attention": count(model.channel_attention),
        "compact bilinear pooling": count(model.fusion),
        "FC to 2048": count(model.embed),
    }
    with torch.no_grad():
        model(x)  # warm-up
        times = []
        load = os.getloadavg()[0]
        for _ in range(args.repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    print(f"AHBN (paper 001) at 299x299, batch 1, CPU, {args.threads} threads, torch {torch.__version__}")
    print(f"shapes: {model.feature_shapes((299, 299))}")
    for name, n in parts.items():
        print(f"  {name:<42} {n:>12,}")
    print(f"  {'total':<42} {count(model):>12,}")
    print(
        f"forward: median {statistics.median(times) * 1000:.0f} ms, min {min(times) * 1000:.0f} ms over "
        f"{args.repeats} calls (1-min load average at start: {load:.2f})"
    )
    print("(ID and attribute classifiers are sized by the training set: + 2049 x items, + 1537 x attributes)")
    if args.rows:
        print("\nTable I model settings (parameters):")
        for name, kw in ROWS.items():
            kw = dict(kw)
            print(f"  {name:<36} {count(build(kw.pop('backbone', 'inception_resnet_v2'), **kw)):>14,}")


if __name__ == "__main__":
    main()
