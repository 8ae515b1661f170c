"""One parser per dataset family: official annotation files -> :class:`~fashionret.data.table.SampleTable`.

Each parser module provides ``FAMILY``, ``annotation_files(root) -> list[Path]`` (raises
:class:`~fashionret.data.errors.DatasetNotFoundError` naming what is missing) and
``parse(root, bad, **options) -> SampleTable``. A module may provide ``fingerprint(root) -> str`` instead of
listing every annotation file (DeepFashion2's ~300k per-image JSON files are fingerprinted from their
directory listing with sizes and mtimes) and ``OPTIONS`` (its parse options with defaults).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fashionret.data.checks import check_duplicates
from fashionret.data.errors import BadSampleCounter
from fashionret.data.parsers import asen, c2s, catalogue, deepfashion2, inshop, street2shop, zappos
from fashionret.data.table import SampleTable, files_fingerprint

log = logging.getLogger(__name__)

PARSERS: dict[str, Any] = {
    inshop.FAMILY: inshop,
    c2s.FAMILY: c2s,
    deepfashion2.FAMILY: deepfashion2,
    street2shop.FAMILY: street2shop,
    asen.FASHIONAI.FAMILY: asen.FASHIONAI,
    asen.DEEPFASHION_ATTR.FAMILY: asen.DEEPFASHION_ATTR,
    zappos.FAMILY: zappos,
    catalogue.IDENTITY.FAMILY: catalogue.IDENTITY,
    catalogue.ATTRIBUTE.FAMILY: catalogue.ATTRIBUTE,
}

#: the ``task`` of each family: which datamodule serves it
TASKS = {
    "deepfashion_inshop": "identity",
    "deepfashion_c2s": "identity",
    "deepfashion2": "identity",
    "street2shop": "identity",
    "fashionai": "attribute",
    "deepfashion_attr": "attribute",
    "zappos50k": "triplet",
    "catalogue": "identity",
    "catalogue_attr": "attribute",
}


def get_parser(family: str) -> Any:
    if family not in PARSERS:
        raise ValueError(f"unknown dataset family {family!r}; available: {sorted(PARSERS)}")
    return PARSERS[family]


def parse(family: str, root: Path | str, bad: BadSampleCounter | None = None, options: dict | None = None):
    """Parse without the cache (``fashionret-data validate``): the family's parser, then the duplicate checks
    (:mod:`fashionret.data.checks`); ``table.meta["skipped"]`` holds the skip counts by kind."""
    parser = get_parser(family)
    bad = bad or BadSampleCounter("error")
    table = check_duplicates(parser.parse(Path(root), bad, **dict(options or {})), bad)
    table.meta["skipped"] = dict(bad.counts)
    return table


def load_table(
    family: str,
    root: Path | str,
    cache_dir: Path | str | None = None,
    on_bad_sample: str = "error",
    options: dict | None = None,
) -> SampleTable:
    """Parse ``root`` as ``family``, through an on-disk cache keyed on the annotation files' size and mtime.

    ``options`` are the family's parse options (e.g. DeepFashion2's ``keep_unpaired``); they are part of the
    cache key.
    """
    parser = get_parser(family)
    root = Path(root)
    options = dict(options or {})
    cache = None
    if cache_dir is not None:
        extra = {"family": family, "root": str(root.resolve()), "bad": on_bad_sample, "options": options}
        if hasattr(parser, "fingerprint"):
            key = files_fingerprint([], {**extra, "listing": parser.fingerprint(root)})
        else:
            # a family whose annotation file is an option (the catalogue's ``manifest``) is handed that option
            file_opts = {k: options[k] for k in getattr(parser, "FILE_OPTIONS", ()) if k in options}
            key = files_fingerprint(parser.annotation_files(root, **file_opts), extra)
        cache = Path(cache_dir) / f"{family}-{key}.npz"
        if cache.is_file():
            try:
                table = SampleTable.load(cache)
                log.info("loaded parsed %s table from cache %s", family, cache)
                return table
            except Exception as err:  # truncated, corrupt, unreadable: the annotation files are the truth
                log.warning("annotation cache %s is unreadable (%s: %s): re-parsing", cache, type(err).__name__, err)
    bad = BadSampleCounter(on_bad_sample)
    table = parse(family, root, bad, options)
    if bad.total:
        log.warning("%s at %s: skipped %d bad annotation rows: %s", family, root, bad.total, dict(bad.counts))
    if cache is not None and not bad.total:  # tables with skips are re-parsed so the skips are logged each run
        try:
            table.save(cache)
        except OSError as err:
            log.warning("cannot write the annotation cache %s (%s): parsing again next time", cache, err)
    return table
