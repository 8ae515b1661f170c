"""Every dataset family at its official size, on this machine: seconds and peak memory per phase.

For each family the package's synthetic writer writes the official on-disk layout at the official counts
(``FAMILIES`` below: each count with its source), with every image a hard link to one tiny JPEG (pixel content
does not matter to what is measured; the rendering is replaced in this process only, so writing 400k images
takes minutes rather than hours). Then, per phase:

* ``parse+cache``: ``load_table`` (parse the official annotation files, write the on-disk cache), with the
  parse options of the family's ``conf/data`` file;
* ``validate``: ``fashionret-data validate`` (every row and image path checked, every image decoded);
* ``preflight``: the datamodule's ``setup``, built from the family's ``conf/data/<family>.yaml`` (parse from the
  cache, splits, and for identity families the pre-flight that opens every validation/test image header);
* ``sampler epoch``: every batch of one training epoch from the family's batch sampler (indices only): identity
  families the P x K identity sampler over all training images, attribute families one epoch of triplets
  (``triplets_per_epoch`` = 100k, AG-MAN / CSN);
* ``train step``: one training step of SN on resnet18 at 32x32 on the first batch (images loaded and decoded;
  attribute families: anchor, positive and negative images through the same network, a triplet margin loss);
* ``test ranking``: the package's test metric on seeded random embeddings (D=128) at the written test split's
  query x gallery size with its real labels: identity families the exact ranking engine
  (``retrieval_metrics``), FashionAI / DeepFashion attributes ``AttributeMAP`` (per attribute, that attribute's
  queries against its candidates), Zappos50k ``TripletAccuracy`` over every test triplet.

Peak memory is the process's peak resident set (``VmHWM``, reset through ``/proc/self/clear_refs`` before each
phase): the whole process, imports included, not the phase's increment. DeepFashion2's parser reads its JSON
files in worker processes: their peak is printed separately (``ru_maxrss`` of the children, a maximum since the
process started). Seconds are wall-clock: upper bounds on a shared machine; the load average at the start of
each family is printed.

    python benchmarks/full_scale.py --out /tmp/full_scale                    # every family, official sizes
    python benchmarks/full_scale.py --families zappos50k --scale 0.01        # 1% of every count (a quick check)
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]

#: official counts: writer parameters that reproduce them (``count`` entries are scaled by ``--scale``)
FAMILIES = {
    # formats.md §2 (mmpretrain's In-Shop docstring; paper 001 §IV-A: 52,712 images): 7,982 items (3,997 train /
    # 3,985 test), train 25,882 images, query 14,218, gallery 12,612 -- all exact
    "deepfashion_inshop": {
        "count": {"num_items": 7982, "num_images": (25882, 14218, 12612)},
        "write": {"train_fraction": 3997 / 7982},
    },
    # paper 000 §IV-A and paper 001 §IV-A: 33,881 items, 239,557 images; paper 001: validation 48,527 images,
    # test 47,434 images, test gallery 22,669 shop images (so train = 143,596). Not published (approximate):
    # the item split (60/20/20 here) and the shop images of train / val (the test split's shop share, 47.8%);
    # every consumer x shop image of an item is a pair (~400k pairs, the paper's 195,540 pairs are fewer)
    "deepfashion_c2s": {
        "count": {
            "num_items": 33881,
            "num_images": (143596, 48527, 47434),
            "num_shop_images": (round(143596 * 22669 / 47434), round(48527 * 22669 / 47434), 22669),
        },
        "write": {"split_fractions": (0.6, 0.2, 0.2)},
    },
    # formats.md §4 (DeepFashion2 paper and README): train 390,884 images; validation = the retrieval test set:
    # 10,844 user then 20,681 shop images (the README's layout; the paper's validation total is 33,669). Not
    # published here (approximate): the number of pair_ids (50,000 written, 40,000 train) and one shop photo
    # per training pair_id; a quarter of the images carry a second, unpairable (style 0) garment
    "deepfashion2": {
        "count": {"num_items": 50000, "num_images": (390884, 10844, 20681)},
        "write": {"train_fraction": 0.8},
    },
    # paper 001 §IV-A: the six categories (dresses, leggings, outerwear, pants, skirts, tops), 7,102 items for
    # training and testing, 256,698 gallery images; formats.md §5: their train / test pairs 22,571 / 5,972
    # (12875+1641+1945+600+3337+2173 / 3292+517+666+130+604+763). Approximate: one box per street photo (so
    # street photos = pairs), items and gallery photos shared over the categories by product count, not per
    # the real per-category sizes
    "street2shop": {
        "count": {"num_items": 7102, "num_images": (22571, 5972, 256698)},
        "write": {"categories": ("dresses", "leggings", "outerwear", "pants", "skirts", "tops")},
    },
    # paper 002 §IV-A and formats.md §6: 180,335 images, label_train.txt 144,335 lines, valid / test 18,000
    # each = 3,600 queries + 14,400 candidates -- exact; every value of every attribute is drawn (cyclically)
    "fashionai": {
        "count": {"num_images": (144335, 18000, 18000)},
        "write": {"values_per_attribute": 10, "query_fraction": 0.2},
    },
    # paper 002 §IV-A: 289,222 images split 8:1:1; formats.md §6: valid / test 27,625 each = 5,525 queries +
    # 22,100 candidates (so train = 233,972) -- exact. Approximate: 156 values drawn per attribute type (the
    # smallest type's count; the real types have 156-230)
    "deepfashion_attr": {
        "count": {"num_images": (233972, 27625, 27625)},
        "write": {"values_per_attribute": 156, "query_fraction": 0.2},
    },
    # paper 002 §IV-A: 50,025 images split 70/10/20; per condition 200k train / 20k val / 40k test triplets
    # (CSN's lists; formats.md §7: CSN evaluates 4 x 40k = 160k test triplets) -- exact
    "zappos50k": {
        "count": {"num_items": 50025, "triplets_per_condition": (200000, 20000, 40000)},
        "write": {"images_per_item": 1, "split_fractions": (0.7, 0.1, 0.2)},
    },
}
ATTRIBUTE_FAMILIES = ("fashionai", "deepfashion_attr", "zappos50k")


def scaled(value, scale: float):
    if isinstance(value, tuple | list):
        return tuple(scaled(v, scale) for v in value)
    return value if scale == 1.0 else max(1, round(value * scale))


def write_params(family: str, scale: float) -> dict:
    spec = FAMILIES[family]
    params = {**spec["write"], **{k: scaled(v, scale) for k, v in spec["count"].items()}}
    if family == "deepfashion_attr" and scale != 1.0:
        # fewer values (each needs several evaluation images); evaluation totals: multiples of the five attributes
        params["values_per_attribute"] = max(3, round(params["values_per_attribute"] * scale))
        params["num_images"] = tuple(
            n if i == 0 else max(5, 5 * round(n / 5)) for i, n in enumerate(params["num_images"])
        )
    return params


def _vmhwm_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def _children_gb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:  # pragma: no cover - not Linux
        pass


def _phase(rows: list, family: str, name: str, fn):
    _reset_peak()
    start = time.perf_counter()
    out = fn()
    rows.append((family, name, time.perf_counter() - start, _vmhwm_gb(), _children_gb()))
    print(f"  {family:<18} {name:<14} {rows[-1][2]:>8.1f} s {rows[-1][3]:>6.2f} GB", flush=True)
    return out


def _fast_images(tmp: Path):
    """Replace the writers' rendering with one tiny JPEG hard-linked at every image path (this process only);
    returns the function that puts the writers' own rendering back (``main`` calls it when it ends, so a caller
    in the same process, e.g. a test session, gets real images again)."""
    from fashionret.data.synth import attribute_families, families, writers

    master = tmp / "tiny.jpg"
    Image.new("RGB", (16, 16), (128, 64, 32)).save(master)
    tiny = Image.open(master).convert("RGB")

    def render(spec, rng, size, consumer):
        return tiny, (0, 0, 15, 15)

    made = [0]

    def link(img, file):  # a file system allows ~65k links to one inode: a fresh copy every 50k
        file.parent.mkdir(parents=True, exist_ok=True)
        src = tmp / f"tiny_{made[0] // 50000}.jpg"
        if not src.exists():
            shutil.copyfile(master, src)
        os.link(src, file)
        made[0] += 1

    modules = (families, attribute_families, writers)
    saved = [(m, m.render_view, m.save_image) for m in modules]
    for module in modules:
        module.render_view, module.save_image = render, link

    def restore() -> None:
        for module, render_view, save_image in saved:
            module.render_view, module.save_image = render_view, save_image

    return restore


def _datamodule(family: str, root: Path, cache: Path):
    """The family's datamodule as ``conf/data/<family>.yaml`` builds it (32x32 transforms, no workers)."""
    import albumentations as A
    from albumentations.pytorch import ToTensorV2
    from omegaconf import OmegaConf

    from fashionret.data.attribute import AttributeRetrievalDataModule
    from fashionret.data.datamodule import IdentityRetrievalDataModule

    cfg = OmegaConf.load(REPO / "conf" / "data" / f"{family}.yaml")
    for key in ("defaults", "_target_"):
        cfg.pop(key, None)
    cfg.merge_with({"root": str(root), "cache_dir": str(cache), "num_workers": 0, "seed": 0, "synthetic": None})
    kwargs = OmegaConf.to_container(cfg, resolve=True)
    t = [A.Resize(32, 32), A.Normalize(), ToTensorV2()]
    kwargs["transforms"] = {"train": t, "eval": t}
    cls = AttributeRetrievalDataModule if family in ATTRIBUTE_FAMILIES else IdentityRetrievalDataModule
    return cls(**kwargs)


def _test_ranking(family: str, dm) -> dict:
    from fashionret.eval import retrieval_metrics
    from fashionret.eval.attribute import AttributeMAP, TripletAccuracy

    g = torch.Generator().manual_seed(0)
    if family == "zappos50k":
        ds = dm.datasets["test_query"]
        trip = torch.as_tensor(ds.triplets)  # (anchor, positive = close, negative = far, condition)
        emb = torch.randn(int(trip[:, :3].max()) + 1, 128, generator=g)
        d_close = (emb[trip[:, 0]] - emb[trip[:, 1]]).norm(dim=1)
        d_far = (emb[trip[:, 0]] - emb[trip[:, 2]]).norm(dim=1)
        metric = TripletAccuracy(dm.attribute_names)
        metric.update(d_far, d_close, trip[:, 3], torch.arange(len(trip)), margin=0.2)
        return {**metric.compute(), "size": f"{len(trip)} test triplets"}
    q, gal = dm.datasets["test_query"], dm.datasets["test_gallery"]
    eq, eg = torch.randn(len(q), 128, generator=g), torch.randn(len(gal), 128, generator=g)
    if family in ATTRIBUTE_FAMILIES:
        metric = AttributeMAP(dm.attribute_names)
        for ds, e, is_q in ((q, eq, True), (gal, eg, False)):
            n = len(ds)
            metric.update(e, ds.labels, torch.arange(n), torch.full((n,), is_q), ds.groups)
        out = metric.compute()
    else:
        out = retrieval_metrics(eq, eg, q.labels, gal.labels)
    return {**out, "size": f"{len(q)} queries x {len(gal)} gallery"}


def _train_step(family: str, loader):
    from fashionret.models import Backbone, SimpleNetwork

    model = SimpleNetwork(Backbone("resnet18", pretrained=False), conv_channels=64, embedding_dim=32)
    opt = torch.optim.Adam(model.parameters())

    def step():
        batch = next(iter(loader))
        if family in ATTRIBUTE_FAMILIES:
            a, p, n = (model(batch[k]) for k in ("anchor", "positive", "negative"))
            loss = torch.nn.functional.triplet_margin_loss(a, p, n, margin=0.2)
        else:
            emb = model(batch["image"])
            loss = torch.cdist(emb, emb).mean()
        loss.backward()
        opt.step()

    return step


def run_family(family: str, out: Path, rows: list, scale: float) -> None:
    from fashionret.cli.data import main as data_main
    from fashionret.data.parsers import load_table
    from fashionret.data.synth.writers import FORMATS

    root, cache = out / family, out / f"{family}_cache"
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    params = write_params(family, scale)
    print(f"{family}: load average {os.getloadavg()[0]:.1f}; writer {params}", flush=True)
    _phase(rows, family, "write", lambda: FORMATS[family](root, image_size=16, seed=0, **params))
    dm = _datamodule(family, root, cache)
    table = _phase(
        rows, family, "parse+cache", lambda: load_table(family, root, cache, dm.on_bad_sample, dm.parser_options)
    )
    splits = {str(k): int(v) for k, v in zip(*np.unique(table.split, return_counts=True))}
    print(f"    {len(table)} samples, {len(set(table.identity.tolist()))} identities, splits {splits}", flush=True)
    rc = _phase(rows, family, "validate", lambda: data_main(["validate", "--format", family, "--root", str(root)]))
    if rc != 0:
        raise SystemExit(f"{family}: fashionret-data validate exited {rc}")
    _phase(rows, family, "preflight", lambda: dm.setup("fit"))
    sizes = {k: len(v.images.table) if k == "train" else len(v) for k, v in dm.datasets.items()}  # train: images
    print("    " + ", ".join(f"{k}={n}" for k, n in sizes.items()), flush=True)
    loader = dm.train_dataloader()
    n_batches = _phase(rows, family, "sampler epoch", lambda: sum(1 for _ in loader.batch_sampler))
    print(f"    {n_batches} training batches per epoch", flush=True)
    _phase(rows, family, "train step", _train_step(family, loader))
    res = _phase(rows, family, "test ranking", lambda: _test_ranking(family, dm))
    shown = {k: round(float(v), 4) for k, v in res.items() if k != "size" and "/" not in k}
    print(f"    test ranking at {res['size']}: {shown} (random embeddings)", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    ap.add_argument("--out", type=Path, default=Path("/tmp/fashionret_full_scale"))
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every official count (a quick check: 0.01)")
    ap.add_argument("--keep", action="store_true", help="keep the written datasets")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    restore, threads = _fast_images(args.out), torch.get_num_threads()
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    rows: list = []
    try:
        for family in args.families:
            run_family(family, args.out, rows, args.scale)
            if not args.keep:
                shutil.rmtree(args.out / family, ignore_errors=True)
                shutil.rmtree(args.out / f"{family}_cache", ignore_errors=True)
    finally:
        restore()
        torch.set_num_threads(threads)
    print("\n| family | phase | seconds | peak GB (process) | peak GB (worker processes, so far) |")
    print("|---|---|---:|---:|---:|")
    for family, name, sec, gb, child in rows:
        print(f"| {family} | {name} | {sec:.1f} | {gb:.2f} | {child:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
