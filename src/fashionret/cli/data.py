"""``fashionret-data``: generate synthetic datasets in official layouts, and check datasets on disk.

examples:
fashionret-data synth --format F --out DIR [--num-items 40 --images-per-item 4 --image-size 96 --seed 0]
fashionret-data validate --format F --root DIR [--keep-going] [--skip-images] [--option KEY=VALUE ...]
fashionret-data stats --format F --root DIR [--keep-going] [--option KEY=VALUE ...]
fashionret-data import --root DIR [--split items|categories|photos] [--val-fraction 0.15 --test-fraction 0.25]
                       [--seed 0 --force]

F is one of the dataset families (deepfashion_inshop, deepfashion_c2s, deepfashion2, street2shop, fashionai,
deepfashion_attr, zappos50k, catalogue, catalogue_attr). `import` writes DIR/manifest.csv (format catalogue)
from a folder-per-item tree DIR/<item>/<image>, items (or, --split, categories or photos) split into
train/val/test by a seeded shuffle.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter

import numpy as np

from fashionret.cli import help_text
from fashionret.data.errors import BadSampleCounter, DatasetFormatError, DatasetNotFoundError
from fashionret.data.parsers import PARSERS, TASKS, parse
from fashionret.data.synth import FORMATS, synthesize
from fashionret.data.table import SampleTable


def _kv(items: list[str] | None) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"expected KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def _synth(args: argparse.Namespace) -> int:
    params = {
        "num_items": args.num_items,
        "images_per_item": args.images_per_item,
        "image_size": args.image_size,
        "seed": args.seed,
        **_kv(args.param),
    }
    out = synthesize(args.format, args.out, **params)
    print(f"wrote synthetic {args.format} dataset to {out}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from fashionret.data.catalogue import import_tree

    try:
        report = import_tree(
            args.root,
            args.manifest,
            args.val_fraction,
            args.test_fraction,
            seed=args.seed,
            force=args.force,
            split=args.split,
        )
    except (OSError, ValueError) as err:
        print(f"fashionret-data import: {err}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0


# ------------------------------------------------------------------------------------------------ checks
def check_images(table: SampleTable, workers: int = 8, show: int = 5) -> Counter:
    """Open and decode every distinct (image, box) of the table; print the first few problems with their
    annotation line(s)."""
    from fashionret.data.preflight import find_image_problems, where_listed  # torch, cv2: only when used

    problems: Counter = Counter()
    for i, res in find_image_problems(table, workers=workers, decode=True):
        kind = res.split(" ")[0] if not res.startswith("bbox") else "bbox outside image"
        problems[kind] += 1
        if problems[kind] <= show:
            print(f"  {kind}: {table.image_root / table.path[i]} (listed at {where_listed(table, i)}): {res}")
    report_image_modes(table, workers, show)
    return problems


def report_image_modes(table: SampleTable, workers: int = 8, show: int = 5) -> Counter:
    """Count the PIL modes of the distinct images (headers only) and list the first images of unusual modes
    (16-bit, float, CMYK, palette, alpha, 1-bit): read by scaling to 8-bit RGB, never clipped, but worth knowing."""
    from fashionret.data.images import UNUSUAL_MODES, image_mode
    from fashionret.data.preflight import chunked_map

    files = sorted({str(table.image_root / p) for p in table.path.tolist()})

    def mode(f: str) -> str | None:
        try:
            return image_mode(f)
        except Exception:  # missing / unreadable: counted above
            return None

    modes = chunked_map(mode, files, workers)
    counts = Counter(m for m in modes if m is not None)
    unusual = [(f, m) for f, m in zip(files, modes) if m in UNUSUAL_MODES]
    shown = ", ".join(f"{m} {n}" for m, n in counts.most_common())
    print(
        f"  image modes: {shown or 'none read'}" + (f"; unusual: {len(unusual)} (read by scaling)" if unusual else "")
    )
    for f, m in unusual[:show]:
        print(f"    {m}: {f}")
    return counts


def _per_identity(identities: np.ndarray) -> str:
    c = np.asarray(list(Counter(identities.tolist()).values()))
    if not len(c):
        return ""
    return f"images/identity min={c.min()} median={np.median(c):g} max={c.max()}"


def _eval_tables(table: SampleTable) -> dict[str, SampleTable]:
    out = {}
    if (table.split == "val").any():
        out["val"] = table.subset(table.split == "val")
    test = np.isin(table.split, ("query", "gallery", "test"))
    if test.any():
        out["test"] = table.subset(test)
    return out


def _queries_without_match(family: str, table: SampleTable, show: int = 3) -> int:
    """Evaluation queries whose identity (attribute value) has no gallery (candidate) image, printed per stage (a
    warning: the metrics leave them out and count them); returns the number of empty query or gallery sets."""
    from fashionret.data.table import query_gallery

    total = 0
    for stage, t in _eval_tables(table).items():
        q, g = query_gallery(t)
        if TASKS[family] == "attribute":
            gal = set(zip(g.columns["attr"].tolist(), g.columns["attr_value"].tolist()))
            miss = np.array(
                [(a, v) not in gal for a, v in zip(q.columns["attr"].tolist(), q.columns["attr_value"].tolist())],
                dtype=bool,
            )
        else:
            gal = set(g.identity.tolist())
            miss = np.array([i not in gal for i in q.identity], dtype=bool)
        n = int(miss.sum())
        print(
            f"  {stage}: {len(q)} queries, {len(g)} gallery; queries without a gallery match: {n}"
            + (" (WARNING: the metrics leave them out and count them as num_queries_without_match)" if n else "")
        )
        for i in np.nonzero(miss)[0][:show]:
            print(f"    no match for {q.path[i]} (identity {q.identity[i]}, listed at {q.source_line[i]})")
        if len(q) == 0 or len(g) == 0:
            print(f"  EMPTY {stage} {'query' if len(q) == 0 else 'gallery'} set")
            total += 1
    return total


def _validate(args: argparse.Namespace) -> int:
    bad = BadSampleCounter("skip" if args.keep_going else "error")
    try:
        table = parse(args.format, args.root, bad, _kv(args.option))
    except (DatasetFormatError, DatasetNotFoundError) as err:
        print(f"INVALID: {err}", file=sys.stderr)
        return 1
    print(f"{args.format} at {args.root}: {len(table)} samples, {len(set(table.path.tolist()))} distinct images")
    problems = 0
    for split, c in table.counts().items():
        sel = table.split == split
        print(
            f"  {split:<8} samples={c['images']:>8} identities={c['identities']:>7} "
            f"{_per_identity(table.identity[sel])}"
        )
    for split in ("train",):
        if not (table.split == split).any():
            print(f"  EMPTY {split} split")
            problems += 1
    if args.format == "catalogue":  # what data=catalogue's defaults need to train (fashionret-data import too)
        from fashionret.data.catalogue import trainability_problems

        held = table.split == "val" if (table.split == "val").any() else np.isin(table.split, ("query", "gallery"))
        ids = (len(set(table.identity[table.split == "train"].tolist())), len(set(table.identity[held].tolist())))
        for p in trainability_problems(*ids):
            print(f"  NOT TRAINABLE with data=catalogue's defaults: {p}")
            problems += 1
    if TASKS[args.format] == "triplet":
        for k, v in table.extras.items():
            print(f"  {k}: {len(v)}")
            if len(v) == 0:
                problems += 1
    else:
        problems += _queries_without_match(args.format, table)  # empty query / gallery sets
    if table.meta.get("unpaired_items"):
        print(f"  style-0 (unpaired) items left out: {table.meta['unpaired_items']}")
    for line in shop_box_lines(table.meta.get("shop_boxes")):
        print(f"  {line}")
    img_problems: Counter = Counter()
    if not args.skip_images:
        img_problems = check_images(table, workers=args.workers)
    print(f"  malformed annotation rows: {bad.total} {dict(bad.counts) if bad.total else ''}".rstrip())
    print(
        f"  missing images: {img_problems['missing']}, unreadable images: {img_problems['unreadable']}, "
        f"bboxes outside their image: {img_problems['bbox outside image']}"
        + (" (not checked: --skip-images)" if args.skip_images else "")
    )
    problems += sum(img_problems.values()) + bad.total
    print("OK" if problems == 0 else f"PROBLEMS: {problems}")
    return 0 if problems == 0 else 1


def shop_box_lines(counts: dict | None) -> list[str]:
    """What ``validate`` and ``stats`` say about Street2Shop's shop photos: cropped by a shop-box file or whole."""
    if not counts:
        return []
    n = counts["shop_photos"]
    if not counts.get("file"):
        return [f"shop photos: {n}, used whole (no shop-box file; --option shop_boxes=FILE crops them by its boxes)"]
    lines = [f"shop boxes: {counts['file']}: {counts['with_box']} of {n} shop photos cropped by their box"]
    if counts["without_box"]:
        why = f" (or one scoring below {counts['min_score']})" if counts.get("min_score") is not None else ""
        lines.append(f"WARNING: {counts['without_box']} shop photos have no box{why} in the file: used whole")
    if counts["unused_boxes"]:
        lines.append(
            f"WARNING: {counts['unused_boxes']} boxes are for photos that are not shop photos of these categories "
            f"(not used; {counts['unknown_photo_ids']} of them not in photos/photos.txt)"
        )
    return lines


# ------------------------------------------------------------------------------------------------- stats
def _pairs(t: SampleTable) -> int:
    """Consumer-shop positive pairs: sum over identities of (#consumer samples x #shop samples)."""
    cons = Counter(t.identity[t.domain == "consumer"].tolist())
    shop = Counter(t.identity[t.domain == "shop"].tolist())
    return int(sum(n * shop.get(k, 0) for k, n in cons.items()))


def stats_rows(family: str, table: SampleTable) -> list[dict]:
    """One row per split (and ``all``): the figures the papers quote (images, items, pairs...)."""
    rows = []
    splits = [s for s in ("train", "val", "query", "gallery", "test") if (table.split == s).any()]
    for split in [*splits, "all"]:
        t = table if split == "all" else table.subset(table.split == split)
        row = {"split": split, "samples": len(t), "images": len(set(t.path.tolist()))}
        if TASKS[family] == "identity":
            row["items"] = len(set(t.identity.tolist()))
            if (t.domain != "").any():
                row["consumer"] = int((t.domain == "consumer").sum())
                row["shop"] = int((t.domain == "shop").sum())
                row["pairs"] = _pairs(t)
        elif TASKS[family] == "attribute":
            row["attribute_values"] = len(set(t.identity.tolist()))
            if split != "train":
                row["queries"] = int((t.split == "query").sum() + ((t.split == "val") & (t.role == "query")).sum())
                row["candidates"] = int(
                    (t.split == "gallery").sum() + ((t.split == "val") & (t.role == "gallery")).sum()
                )
        rows.append(row)
    return rows


def _stats(args: argparse.Namespace) -> int:
    bad = BadSampleCounter("skip" if args.keep_going else "error")
    try:
        table = parse(args.format, args.root, bad, _kv(args.option))
    except (DatasetFormatError, DatasetNotFoundError) as err:
        print(f"INVALID: {err}", file=sys.stderr)
        return 1
    rows = stats_rows(args.format, table)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    print(f"{args.format} at {args.root}")
    print(" ".join(f"{c:>10}" for c in cols))
    for r in rows:
        print(" ".join(f"{r.get(c, ''):>10}" for c in cols))
    m = table.meta
    if bad.total:
        print(f"malformed annotation rows left out (--keep-going): {bad.total} {dict(bad.counts)}")
    if m.get("whole_image_for_empty_box"):
        print(f"photos used whole (their box has zero width or height): {m['whole_image_for_empty_box']}")
    if m.get("pairs"):
        print(f"pairs listed in the annotation files: {m['pairs']}")
    for line in shop_box_lines(m.get("shop_boxes")):
        print(line)
    if m.get("unpaired_items"):
        print(f"style-0 (not pairable) items, not retrieval identities: {m['unpaired_items']}")
    if TASKS[args.format] == "attribute":
        from fashionret.data.table import query_gallery

        names = m.get("attributes", [])
        for split in ("val", "test"):
            t = (
                table.subset(table.split == "val")
                if split == "val"
                else table.subset(np.isin(table.split, ("query", "gallery")))
            )
            if not len(t):
                continue
            q, g = query_gallery(t)
            per = Counter(q.columns["attr"].tolist())
            cand = Counter(g.columns["attr"].tolist())
            print(
                f"{split}: queries/candidates per attribute: "
                + ", ".join(f"{names[a] if a < len(names) else a} {per[a]}/{cand.get(a, 0)}" for a in sorted(per))
            )
    if TASKS[args.format] == "triplet":
        conds = m.get("conditions", [])
        for k, v in table.extras.items():
            per = Counter(v[:, 3].tolist())
            print(
                f"{k}: {len(v)} ("
                + ", ".join(f"{conds[c] if c < len(conds) else c} {n}" for c, n in sorted(per.items()))
                + ")"
            )
    if args.by_category:
        print("per category:")
        for cat in sorted(set(table.category.tolist())):
            t = table.subset(table.category == cat)
            extra = f" pairs={_pairs(t)}" if (t.domain != "").any() else ""
            print(f"  {cat:<28} samples={len(t):>8} identities={len(set(t.identity.tolist())):>7}{extra}")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ap = argparse.ArgumentParser(
        prog="fashionret-data", description=help_text(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("synth", help="write a synthetic dataset in a family's official on-disk layout")
    s.add_argument("--format", required=True, choices=sorted(FORMATS))
    s.add_argument("--out", required=True)
    s.add_argument("--num-items", type=int, default=40)
    s.add_argument("--images-per-item", type=int, default=4)
    s.add_argument("--image-size", type=int, default=96)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--param", action="append", metavar="KEY=VALUE", help="a writer-specific parameter (JSON value)")
    s.set_defaults(func=_synth)
    v = sub.add_parser("validate", help="check a dataset on disk: counts, malformed rows, missing images")
    v.add_argument("--format", required=True, choices=sorted(PARSERS))
    v.add_argument("--root", required=True)
    v.add_argument("--keep-going", action="store_true", help="count malformed rows instead of stopping at the first")
    v.add_argument("--skip-images", action="store_true", help="do not open every image")
    v.add_argument("--workers", type=int, default=8, help="threads opening images")
    v.add_argument("--option", action="append", metavar="KEY=VALUE", help="a parser option (JSON value)")
    v.set_defaults(func=_validate)
    st = sub.add_parser("stats", help="print the figures the papers quote: images, items, pairs per split")
    st.add_argument("--format", required=True, choices=sorted(PARSERS))
    st.add_argument("--root", required=True)
    st.add_argument("--by-category", action="store_true")
    st.add_argument(
        "--keep-going", action="store_true", help="count malformed rows (and leave them out) instead of stopping"
    )
    st.add_argument("--option", action="append", metavar="KEY=VALUE", help="a parser option (JSON value)")
    st.set_defaults(func=_stats)
    im = sub.add_parser("import", help="write DIR/manifest.csv (format catalogue) from a DIR/<item>/<image> tree")
    im.add_argument("--root", required=True, help="the folder holding one sub-folder of images per item")
    im.add_argument("--manifest", default="manifest.csv", help="file name of the manifest written in --root")
    im.add_argument(
        "--split",
        choices=("items", "categories", "photos"),
        default="items",
        help="items: hold out items (first photo gallery, others queries); categories: a folder is a category, "
        "hold out folders (their photos half queries, half gallery; val from training folders' photos); photos: "
        "every folder in every split, its photos divided",
    )
    im.add_argument("--val-fraction", type=float, default=0.15, help="fraction of items (photos) for validation")
    im.add_argument("--test-fraction", type=float, default=0.25, help="fraction of items (photos) for the test split")
    im.add_argument("--seed", type=int, default=0, help="seed of the item shuffle that makes the split")
    im.add_argument("--force", action="store_true", help="replace an existing manifest")
    im.set_defaults(func=_import)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
