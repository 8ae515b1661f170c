#!/usr/bin/env python
"""Does an attribute model learn, and which training detail stops it? AG-MAN variants side by side.

Each variant is ``fashionret-train experiment=demo_attribute <data> <variant>`` run as a user types it (the
installed console script, a fresh working directory, CSV logger), on the package's synthetic FashionAI-format
data. ``--data cluttered`` writes two photos per garment, the second a consumer view (cluttered background,
rotation, scale, shift, lighting cast, occlusion, blur: :func:`fashionret.data.synth.render.render_view`), so half
of every split looks like a street photo; ``--data clean`` is the demo's (shop views only).

For each variant the table gives test MAP, chance MAP (exact expectation), the mean triplet loss and attribute
classification BCE over the first and the last 20 % of logged training steps, the final eq. 9 coefficients, and
the ``looks collapsed`` warning if the run printed it. ``init`` is the random-init network tested without training
(``train=false``): the floor the trained variants must rise above.

    python benchmarks/attribute_learning.py --data cluttered --epochs 3 --out /tmp/attr_learning
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

#: name -> overrides added to the demo's (the demo itself: separate forwards, lr 5e-4, eq. 9 constant)
VARIANTS = {
    "init": ["train=false"],
    "default": [],
    "joint-bn": ["lit.triplet_forward=joint"],
    "eq9-learned": ["lit.loss_weighting.learn=true", "lit.loss_weighting.on_throttle=warn"],
    "lr-5e-5": ["optimizer.lr=5e-5"],
    "no-cls": ["model.classification=false"],
}
DATA = {
    "clean": [],
    "cluttered": ["data.synthetic.params.images_per_item=2"],
}


def _column(rows: list[dict], key: str) -> list[float]:
    return [float(r[key]) for r in rows if r.get(key) not in (None, "")]


def _ends(values: list[float]) -> str:
    if not values:
        return "-"
    k = max(1, len(values) // 5)
    return f"{sum(values[:k]) / k:.3f} -> {sum(values[-k:]) / k:.3f}"


def run_variant(name: str, data: str, epochs: int, out: Path) -> dict:
    cwd = out / f"{data}_{name}"
    cwd.mkdir(parents=True, exist_ok=True)
    argv = [
        str(Path(sys.executable).parent / "fashionret-train"),
        "experiment=demo_attribute",
        f"data.root={out / 'data' / data}",  # one dataset per --data, shared by the variants
        f"trainer.max_epochs={epochs}",
        "logger=csv",
        *DATA[data],
        *VARIANTS[name],
    ]
    env = {**os.environ, "FASHIONRET_ROOT": str(cwd), "HF_HUB_OFFLINE": "1"}
    start, cpu0 = time.perf_counter(), os.times()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    cpu1 = os.times()
    (cwd / "stdout.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        return {"variant": name, "error": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
    (res_path,) = list((cwd / "logs" / "train" / "runs").glob("*/results.json"))
    res = json.loads(res_path.read_text())
    metrics_csv = next(res_path.parent.glob("csv/metrics.csv"), None)
    rows = list(csv.DictReader(metrics_csv.open())) if metrics_csv else []
    weights = [_column(rows, f"train/weight_{t}") for t in ("classification", "triplet")]
    return {
        "variant": name,
        "mAP": res["test"]["mAP"],
        "chance": res["chance"]["mAP"],
        "triplet": _ends(_column(rows, "train/triplet_loss")),
        "bce": _ends(_column(rows, "train/classification_loss")),
        "weights": " / ".join(f"{w[-1]:.3g}" for w in weights if w) or "-",
        "collapsed": "looks collapsed" in proc.stdout + proc.stderr,
        "cpu_s": (cpu1.children_user + cpu1.children_system) - (cpu0.children_user + cpu0.children_system),
        "wall_s": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", choices=list(DATA), default="cluttered")
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    ap.add_argument("--epochs", type=int, default=3, help="epochs of the demo's 800 triplets (the demo: 2)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/fashionret_attribute_learning"))
    args = ap.parse_args(argv)
    rows = []
    for name in args.variants:
        print(f"{args.data} / {name}: load average {os.getloadavg()[0]:.1f}", flush=True)
        rows.append(run_variant(name, args.data, args.epochs, args.out))
        print(f"  {rows[-1]}", flush=True)
    print(f"\nAG-MAN (resnet18 from scratch, 64x64), {args.data} synthetic FashionAI data, {args.epochs} epochs x 800")
    print("triplets; losses: mean of the first -> last 20 % of logged steps\n")
    print("| variant | test MAP | chance | x chance | triplet loss | classification BCE | eq. 9 coeff. (L_c / L_t) "
          "| collapse warning | CPU s |")  # fmt: skip
    print("|---|---:|---:|---:|---|---|---|---|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['variant']} | {r['error']} |||||||")
            continue
        print(
            f"| {r['variant']} | {r['mAP']:.4f} | {r['chance']:.4f} | {r['mAP'] / r['chance']:.2f} | {r['triplet']} "
            f"| {r['bce']} | {r['weights']} | {'yes' if r['collapsed'] else 'no'} | {r['cpu_s']:.0f} |"
        )
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
