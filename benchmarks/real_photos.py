"""Does fine-tuning with fashionret beat the pretrained features? Real photos, the project's own commands.

Takes any folder-per-class tree of real photos (``<root>/<class>/<image>``, e.g. ``../shared/realphotos``) and
measures retrieval on two protocols, each a manifest written by ``fashionret-data import`` into a tree of links
under ``--work`` (the photos are read where they are, never copied):

* ``unseen``: unseen classes — ``import --split categories``: train on some classes, test on the others
  (their photos half queries, half gallery); val = photos of the training classes.
* ``seen``: seen classes, unseen images — ``import --split photos``: every class trains; held-out photos of
  every class are the queries and gallery.

Rows (``--rows``; each one command, printed, run as a subprocess; its CPU seconds are the children's user +
system time): ``chance`` (what a random ranking scores: fashionret's own chance column), ``random``
(``fashionret-eval zero_shot=true backbone.pretrained=false``), ``zero_shot`` (the offline pretrained
EfficientNet-Lite0's pooled features), ``finetune`` (``experiment=finetune_catalogue``), the papers' and PML's
losses on the same recipe (``multi_similarity``, ``arcface``, ``proxy_anchor``), the papers' models with
batch-all triplet from the same pretrained trunk (``sn``, ``dban``), and the attribute models (``agman``,
``asenet_v2``) on an attribute manifest built from the same photos (``data=catalogue_attr``; attributes: the
class, and ``kids`` where ``photos.csv`` has it; seen protocol only). Each prints mAP / top-1 / top-5 (attribute
rows: MAP and the chance MAP) and the training loss per epoch from the run's CSV metrics.

    python benchmarks/real_photos.py --root ../shared/realphotos --work /tmp/realphotos_bench --max-per-class 60
    python benchmarks/real_photos.py --root ../shared/realphotos --work /tmp/rp --protocols unseen \
        --rows zero_shot,finetune

Results go to ``<work>/results.jsonl`` (one line per row, appended; ``--table`` prints the Markdown table of a
work folder without running anything).
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

BACKBONE = "backbone=efficientnet_lite0 image_size=128x128"
FINETUNE = "experiment=finetune_catalogue"
#: pair-based losses need C x N identity batches; C=4 of N=8 keeps more of an imbalanced category-level epoch
PAIRS = "data.train_batches=identities data.classes_per_batch=4 data.images_per_class=8"
#: the attribute models (their own LightningModule and triplet sampler) from the same pretrained trunk
ATTR = f"{BACKBONE} optimizer=adamw optimizer.lr=1e-4 trainer.max_epochs=2 data.triplets_per_epoch=3000"
#: row -> (kind, the command's own options); data options are added per protocol
ROWS: dict[str, tuple[str, str]] = {
    "chance": ("chance", ""),
    "random": ("eval", f"zero_shot=true {BACKBONE} backbone.pretrained=false"),
    "zero_shot": ("eval", f"zero_shot=true {BACKBONE}"),
    "finetune": ("train", FINETUNE),
    "multi_similarity": ("train", f"{FINETUNE} loss=multi_similarity {PAIRS}"),
    "arcface": ("train", f"{FINETUNE} loss=arcface"),
    "proxy_anchor": ("train", f"{FINETUNE} loss=proxy_anchor"),
    "sn": ("train", f"{FINETUNE} model=sn loss=batch_all_triplet model.embedding_dim=512 model.normalize=true {PAIRS}"),
    "dban": (
        "train",
        f"{FINETUNE} model=dban loss=batch_all_triplet model.embedding_dim=512 model.normalize=true {PAIRS}",
    ),
    "agman": ("train", f"model=agman model.n_conditions=2 {ATTR}"),
    "asenet_v2": ("train", f"model=asenet_v2 model.n_conditions=2 {ATTR}"),
}
ATTRIBUTE_ROWS = ("agman", "asenet_v2")
DEFAULT_ROWS = "chance,random,zero_shot,finetune,multi_similarity,arcface,proxy_anchor,sn,dban,agman,asenet_v2"


def link_tree(root: Path, tree: Path, max_per_class: int | None = None, seed: int = 0) -> Path:
    """``tree/<class>/<photo>`` links to ``root``'s photos (the manifest is written in ``tree``, the photos stay
    where they are); ``max_per_class``: a seeded sample of at most that many photos per class."""
    import random

    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        photos = sorted(f for f in d.iterdir() if f.is_file() and not f.name.startswith("."))
        if max_per_class and len(photos) > max_per_class:
            photos = sorted(random.Random(f"{seed}-{d.name}").sample(photos, max_per_class))
        (tree / d.name).mkdir(parents=True, exist_ok=True)
        for f in photos:
            link = tree / d.name / f.name
            if not link.exists():
                link.symlink_to(f.resolve())
    return tree


def run(cmd: str, log: Path) -> tuple[int, float, float]:
    """Run ``cmd``; (exit code, CPU seconds of it and its children, wall seconds); output to ``log``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with log.open("w") as out:
        rc = subprocess.call(shlex.split(cmd), stdout=out, stderr=subprocess.STDOUT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return rc, cpu, time.perf_counter() - t0


def attribute_manifest(tree: Path, photos_csv: Path | None) -> str:
    """``manifest_attr.csv`` in ``tree`` from its ``manifest.csv`` (same split and roles): ``attr:category`` =
    the class folder, ``attr:kids`` from ``photos.csv`` where given."""
    kids = {}
    if photos_csv and photos_csv.is_file():
        kids = {r["path"]: r.get("kids", "") for r in csv.DictReader(photos_csv.open(encoding="utf-8"))}
    rows = list(csv.DictReader((tree / "manifest.csv").open(encoding="utf-8")))
    cols = ["path", "item_id", "split", "role", "attr:category"] + (["attr:kids"] if kids else [])
    with (tree / "manifest_attr.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            extra = [kids.get(r["path"], "")] if kids else []
            w.writerow([r["path"], r["path"], r["split"], r["role"], r["path"].split("/")[0], *extra])
    return "manifest_attr.csv"


def loss_curve(run_dir: Path) -> list[float]:
    """Mean ``train/loss`` per epoch from the run's CSV metrics."""
    files = sorted(run_dir.glob("**/metrics.csv"))
    per_epoch: dict[int, list[float]] = {}
    for f in files:
        for r in csv.DictReader(f.open(encoding="utf-8")):
            if r.get("train/loss") and r.get("epoch"):
                per_epoch.setdefault(int(float(r["epoch"])), []).append(float(r["train/loss"]))
    return [round(sum(v) / len(v), 4) for _, v in sorted(per_epoch.items())]


def read_result(run_dir: Path) -> dict:
    res = json.loads((run_dir / "results.json").read_text())
    test, chance = res.get("test") or {}, res.get("chance") or {}
    out = {k: test.get(k) for k in ("mAP", "top1", "top5") if k in test}
    out.update({f"chance_{k}": chance.get(k) for k in ("mAP", "top1", "top5") if k in chance})
    out["status"] = res.get("status")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, help="folder-per-class tree of photos")
    ap.add_argument("--work", type=Path, required=True, help="links, manifests, runs and results.jsonl")
    ap.add_argument("--protocols", default="unseen,seen")
    ap.add_argument("--rows", default=DEFAULT_ROWS)
    ap.add_argument("--test-fraction", type=float, default=0.53, help="unseen: share of classes held out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-per-class", type=int, default=None, help="a seeded sample of at most N photos a class")
    ap.add_argument("--extra", default="", help="options added to every train command (e.g. trainer.max_epochs=1)")
    ap.add_argument("--table", action="store_true", help="print the table of --work's results and stop")
    args = ap.parse_args()
    results = args.work / "results.jsonl"
    if args.table:
        print_table(results)
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    for protocol in args.protocols.split(","):
        tree = link_tree(args.root, args.work / f"tree_{protocol}", args.max_per_class, args.seed)
        split = "categories" if protocol == "unseen" else "photos"
        imp = f"fashionret-data import --root {tree} --split {split} --seed {args.seed} --force"
        if protocol == "unseen":
            imp += f" --test-fraction {args.test_fraction}"
        rc, _, _ = run(imp, args.work / f"import_{protocol}.log")
        print((args.work / f"import_{protocol}.log").read_text().strip())
        if rc:
            return rc
        data = f"data=catalogue data.root={tree}"
        for row in args.rows.split(","):
            kind, opts = ROWS[row]
            run_dir = args.work / "runs" / protocol / row
            if row in ATTRIBUTE_ROWS:
                if protocol != "seen":
                    continue
                manifest = attribute_manifest(tree, args.root / "photos.csv")
                row_data = f"data=catalogue_attr data.root={tree} data.parser_options.manifest={manifest}"
            else:
                row_data = data
            if kind == "chance":
                continue  # every other row prints fashionret's chance column beside its numbers
            if run_dir.exists():  # an earlier run of this row: kept aside, never mixed into this one
                k = 1
                while run_dir.with_name(f"{row}.{k}").exists():
                    k += 1
                run_dir.rename(run_dir.with_name(f"{row}.{k}"))
            app = "fashionret-eval" if kind == "eval" else "fashionret-train"
            extra = args.extra if kind == "train" else ""
            cmd = f"{app} {opts} {row_data} {extra} logger=csv hydra.run.dir={run_dir}".replace("  ", " ")
            print(f"$ {cmd}", flush=True)
            rc, cpu, wall = run(cmd, args.work / f"{protocol}_{row}.log")
            entry = {"protocol": protocol, "row": row, "command": cmd, "rc": rc}
            entry.update({"cpu_s": round(cpu), "wall_s": round(wall)})
            if rc == 0 and (run_dir / "results.json").is_file():
                entry.update(read_result(run_dir))
                entry["loss_per_epoch"] = loss_curve(run_dir)
            with results.open("a") as f:
                f.write(json.dumps(entry) + "\n")
            print(json.dumps(entry), flush=True)
    print_table(results)
    return 0


def print_table(results: Path) -> None:
    """Markdown: one line per (protocol, row, options added with --extra), its latest successful result (a
    failure only where none succeeded); x zero-shot against the protocol's zero-shot row."""
    latest: dict[tuple[str, str, str], dict] = {}
    for line in results.read_text().splitlines() if results.is_file() else []:
        e = json.loads(line)
        extra = " ".join(o for o in e["command"].split() if o.startswith(("trainer.", "lit.", "optimizer.")))
        key = (e["protocol"], e["row"], extra)
        if "mAP" in e or "mAP" not in latest.get(key, {}):
            latest[key] = e
    print("| protocol | row | mAP | top-1 | top-5 | chance mAP | x zero-shot mAP | CPU s | loss per epoch |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (protocol, row, extra), e in sorted(latest.items(), key=lambda kv: (kv[0][0], list(ROWS).index(kv[0][1]))):
        label = f"{row} ({extra})" if extra else row
        zs = latest.get((protocol, "zero_shot", ""), {}).get("mAP")
        if "mAP" not in e:
            print(f"| {protocol} | {label} | failed (rc {e['rc']}) | | | | | {e['cpu_s']} | |")
            continue
        ratio = f"{e['mAP'] / zs:.2f}x" if zs and row not in ATTRIBUTE_ROWS else ""
        f = lambda v: f"{v:.3f}" if isinstance(v, float) else "-"  # noqa: E731
        curve = " ".join(f"{v:.3f}" for v in e.get("loss_per_epoch", []))
        print(
            f"| {protocol} | {label} | {f(e.get('mAP'))} | {f(e.get('top1'))} | {f(e.get('top5'))} | "
            f"{f(e.get('chance_mAP'))} | {ratio} | {e['cpu_s']} | {curve} |"
        )


if __name__ == "__main__":
    sys.exit(main())
