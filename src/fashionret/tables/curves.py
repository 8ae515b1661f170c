"""Validation curves of a sweep: one PNG per validation metric, metric against epoch for every job.

Each setting of the sweep (a row of :mod:`fashionret.tables.sweep`: the varying overrides, seeds left out) gets
one colour: its seeds are thin lines, their mean a thick line with markers (a one-epoch run is a point). The
values are read from each job's CSV log (``<job>/csv/metrics.csv``, the ``val/<metric>`` column at each
validation; epochs counted from 1). Beside each ``<name>.png`` a ``<name>.json`` holds the plotted data (per
setting: its colour, the mean curve and each job's curve), so what the figure shows can be checked and reused.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from fashionret.tables.sweep import SweepTable

CSV_LOG = Path("csv") / "metrics.csv"
_NOT_SCORES = ("num_queries", "num_queries_without_match")


def read_curves(job_dir: Path) -> dict[str, dict[int, float]]:
    """``{metric: {epoch (from 1): value}}`` of a job's ``val/<metric>`` columns (top-level metrics only)."""
    path = job_dir / CSV_LOG
    if not path.is_file():
        return {}
    out: dict[str, dict[int, float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            epoch = row.get("epoch", "")
            for key, value in row.items():
                if not (key and key.startswith("val/")) or value in ("", None) or not epoch:
                    continue
                name = key[len("val/") :]
                if "/" in name or name in _NOT_SCORES:
                    continue
                out.setdefault(name, {})[int(float(epoch)) + 1] = float(value)
    return out


def _label(values: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items()) or "all jobs"


def plot_paths(target: Path, metrics: list[str]) -> dict[str, Path]:
    """``OUT.png`` -> ``OUT_<metric>.png`` per metric; a folder -> ``<folder>/val_<metric>.png``."""
    if target.suffix.lower() == ".png":
        return {m: target.with_name(f"{target.stem}_{m}.png") for m in metrics}
    return {m: target / f"val_{m}.png" for m in metrics}


def plot_sweep(table: SweepTable, target: Path) -> tuple[list[Path], list[str]]:
    """Write one PNG (and its ``.json`` data) per validation metric; returns the PNGs and the jobs without a
    curve (no CSV log: a W&B run, a job that has not validated yet)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    curves: dict[str, dict[str, dict[int, float]]] = {}
    missing = []
    for job in table.jobs:
        got = read_curves(Path(job.source)) if not job.source.startswith("wandb:") else {}
        if got:
            curves[job.source] = got
        else:
            missing.append(job.source)
    metrics = sorted({m for c in curves.values() for m in c}, key=lambda m: (m != "mAP", len(m), m))
    colours = plt.get_cmap("tab10").colors
    written = []
    for metric, png in plot_paths(target, metrics).items():
        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
        data = {"metric": f"val/{metric}", "source": table.source, "settings": []}
        for i, setting in enumerate(table.settings):
            colour = matplotlib.colors.to_hex(colours[i % len(colours)])
            runs = [(j, curves[j.source][metric]) for j in setting.jobs if metric in curves.get(j.source, {})]
            if not runs:
                continue
            seeds = []
            for job, curve in runs:
                xs = sorted(curve)
                ax.plot(xs, [curve[x] for x in xs], color=colour, lw=0.8, alpha=0.45, marker=".", ms=6)
                seeds.append({"job": job.source, "seed": job.seed, "x": xs, "y": [curve[x] for x in xs]})
            epochs = sorted({x for _, c in runs for x in c})
            mean = [math.fsum(c[x] for _, c in runs if x in c) / sum(x in c for _, c in runs) for x in epochs]
            label = f"{_label(setting.values)} (n={len(runs)})"
            ax.plot(epochs, mean, color=colour, lw=2.4, marker="o", ms=6, label=label)
            data["settings"].append({"label": label, "color": colour, "mean": {"x": epochs, "y": mean}, "jobs": seeds})
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"val/{metric}")
        ax.set_title(f"val/{metric} by epoch: thick = mean over seeds, thin = each seed", fontsize=10)
        last = max((x for st in data["settings"] for x in st["mean"]["x"]), default=1)
        ax.set_xlim(0.5, last + 0.5)
        if last <= 20:
            ax.set_xticks(range(1, last + 1))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
        png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(png)
        plt.close(fig)
        png.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
        written.append(png)
    return written, missing
