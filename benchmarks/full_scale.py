"""Every dataset family at its official size, on this machine: seconds and peak memory per phase.

For each family the package's synthetic writer writes the official on-disk layout at the official counts, with
every image a hard link to one tiny JPEG (pixel content does not matter to what is measured; the rendering is
replaced in this process only, so writing 240k images takes seconds rather than hours). Then, per phase:

* ``parse+cache``: ``load_table`` (parse the official annotation files, write the on-disk cache);
* ``validate``: ``fashionret-data validate`` (every row and image path checked);
* ``preflight``: the datamodule's ``setup`` (parse from the cache, splits, and the pre-flight that opens every
  validation/test image header);
* ``sampler epoch``: every batch of one training epoch from the family's batch sampler (indices only);
* ``train step``: one training step of SN on resnet18 at 32x32 on the first batch (images loaded and decoded);
* ``test ranking``: the exact ranking engine on seeded random embeddings (D=128) at the official test query x
  gallery size with the split's real labels (the family's published query and gallery counts where the
  protocol fixes them).

Peak memory is the process's peak resident set (``VmHWM``, reset through ``/proc/self/clear_refs`` before each
phase): the whole process, imports included, not the phase's increment. Seconds are wall-clock; the load
average at the start of each family is printed (other processes compete for the cores on a shared machine).

    python benchmarks/full_scale.py --families deepfashion_inshop deepfashion_c2s --out /tmp/full_scale
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import torch
from PIL import Image

#: official counts (../shared/formats.md and the papers): writer parameters that reproduce them, and the
#: published test query x gallery sizes
FAMILIES = {
    # In-Shop: 52,712 images of 7,982 items (the writer has 6 view names: 47,892); 14,218 queries vs 12,612
    # gallery images (3,985 test items)
    "deepfashion_inshop": {"write": {"num_items": 7982, "images_per_item": 6}, "test": (14218, 12612, 3985)},
    # Consumer-to-Shop: 239,557 images of 33,881 items; test gallery 22,669 shop images (paper 001)
    "deepfashion_c2s": {"write": {"num_items": 33881, "images_per_item": 7}, "test": (47434, 22669, 7509)},
}


def _vmhwm_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


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
    rows.append((family, name, time.perf_counter() - start, _vmhwm_gb()))
    print(f"  {family:<20} {name:<14} {rows[-1][2]:>9.1f} s {rows[-1][3]:>7.2f} GB", flush=True)
    return out


def _fast_images(tmp: Path):
    """Replace the writers' rendering with one tiny JPEG hard-linked at every image path (this process only)."""
    from fashionret.data.synth import families, writers

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

    for module in (families, writers):
        module.render_view, module.save_image = render, link


def run_family(family: str, spec: dict, out: Path, rows: list) -> None:
    from fashionret.cli.data import main as data_main
    from fashionret.data.datamodule import IdentityRetrievalDataModule
    from fashionret.data.parsers import load_table
    from fashionret.data.synth.writers import FORMATS
    from fashionret.eval import retrieval_metrics
    from fashionret.models import Backbone, SimpleNetwork

    root, cache = out / family, out / f"{family}_cache"
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    print(f"{family}: load average {os.getloadavg()[0]:.1f}", flush=True)
    _phase(rows, family, "write", lambda: FORMATS[family](root, image_size=16, seed=0, **spec["write"]))
    table = _phase(rows, family, "parse+cache", lambda: load_table(family, root, cache_dir=cache))
    print(f"    {len(table)} samples, {len(set(table.identity.tolist()))} identities", flush=True)
    _phase(rows, family, "validate", lambda: data_main(["validate", "--format", family, "--root", str(root)]))
    import albumentations as A
    from albumentations.pytorch import ToTensorV2

    t = [A.Resize(32, 32), A.Normalize(), ToTensorV2()]
    dm = IdentityRetrievalDataModule(
        family=family, root=root, transforms={"train": t, "eval": t}, cache_dir=cache, classes_per_batch=16,
        val_source="holdout", val_fraction=0.02, num_workers=0,
    )  # fmt: skip
    _phase(rows, family, "preflight", lambda: dm.setup("fit"))
    loader = dm.train_dataloader()
    n_batches = _phase(rows, family, "sampler epoch", lambda: sum(1 for _ in loader.batch_sampler))
    print(f"    {n_batches} training batches per epoch", flush=True)
    model = SimpleNetwork(Backbone("resnet18", pretrained=False), conv_channels=64, embedding_dim=32)
    opt = torch.optim.Adam(model.parameters())

    def step():
        batch = next(iter(loader))
        emb = model(batch["image"])
        loss = torch.cdist(emb, emb).mean()
        loss.backward()
        opt.step()

    _phase(rows, family, "train step", step)
    nq, ng, n_items = spec["test"]
    g = torch.Generator().manual_seed(0)
    g_labels = torch.randint(0, n_items, (ng,), generator=g)
    q_labels = g_labels[torch.randint(0, ng, (nq,), generator=g)]  # every query has a match
    q, gal = torch.randn(nq, 128, generator=g), torch.randn(ng, 128, generator=g)
    _phase(rows, family, "test ranking", lambda: retrieval_metrics(q, gal, q_labels, g_labels))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    ap.add_argument("--out", type=Path, default=Path("/tmp/fashionret_full_scale"))
    ap.add_argument("--keep", action="store_true", help="keep the written datasets")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    _fast_images(args.out)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    rows: list = []
    for family in args.families:
        run_family(family, FAMILIES[family], args.out, rows)
        if not args.keep:
            shutil.rmtree(args.out / family, ignore_errors=True)
    print("\n| family | phase | seconds | peak GB (process) |\n|---|---|---:|---:|")
    for family, name, sec, gb in rows:
        print(f"| {family} | {name} | {sec:.1f} | {gb:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
