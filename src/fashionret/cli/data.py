"""``fashionret-data``: generate synthetic datasets in official layouts, and check datasets on disk.

fashionret-data synth --format deepfashion_inshop --out DIR [--num-items 40 --images-per-item 4 ...]
fashionret-data validate --format deepfashion_inshop --root DIR
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter

from fashionret.data.errors import BadSampleCounter, DatasetFormatError, DatasetNotFoundError
from fashionret.data.parsers import PARSERS, get_parser
from fashionret.data.synth import FORMATS, synthesize


def _synth(args: argparse.Namespace) -> int:
    params = {
        "num_items": args.num_items,
        "images_per_item": args.images_per_item,
        "image_size": args.image_size,
        "seed": args.seed,
    }
    out = synthesize(args.format, args.out, **params)
    print(f"wrote synthetic {args.format} dataset to {out}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    parser = get_parser(args.format)
    bad = BadSampleCounter("skip" if args.keep_going else "error")
    try:
        table = parser.parse(args.root, bad)
    except (DatasetFormatError, DatasetNotFoundError) as err:
        print(f"INVALID: {err}", file=sys.stderr)
        return 1
    print(f"{args.format} at {args.root}: {len(table)} samples")
    for split, c in table.counts().items():
        per_id = Counter(table.identity[table.split == split].tolist())
        print(
            f"  {split:<8} images={c['images']:>8} identities={c['identities']:>7} "
            f"images/identity min={min(per_id.values())} max={max(per_id.values())}"
        )
    missing = unreadable = 0
    if not args.skip_images:
        from PIL import Image

        for rel, src in zip(table.path, table.source_line):
            f = table.image_root / rel
            if not f.is_file():
                missing += 1
                if missing <= 5:
                    print(f"  missing image {f} (listed at {src})")
                continue
            try:
                with Image.open(f) as im:
                    im.verify()
            except Exception:
                unreadable += 1
                if unreadable <= 5:
                    print(f"  unreadable image {f} (listed at {src})")
    print(f"  malformed annotation rows: {bad.total} {dict(bad.counts) if bad.total else ''}".rstrip())
    print(f"  missing images: {missing}, unreadable images: {unreadable}")
    return 0 if (missing + unreadable + bad.total) == 0 else 1


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ap = argparse.ArgumentParser(prog="fashionret-data", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("synth", help="write a synthetic dataset in a family's official on-disk layout")
    s.add_argument("--format", required=True, choices=sorted(FORMATS))
    s.add_argument("--out", required=True)
    s.add_argument("--num-items", type=int, default=40)
    s.add_argument("--images-per-item", type=int, default=4)
    s.add_argument("--image-size", type=int, default=96)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_synth)
    v = sub.add_parser("validate", help="check a dataset on disk: counts, malformed rows, missing images")
    v.add_argument("--format", required=True, choices=sorted(PARSERS))
    v.add_argument("--root", required=True)
    v.add_argument(
        "--keep-going", action="store_true", help="count malformed rows instead of stopping at the first"
    )
    v.add_argument("--skip-images", action="store_true", help="do not open every image")
    v.set_defaults(func=_validate)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
