"""A team's own catalogue: one manifest, one row per image (``data=catalogue`` / ``data=catalogue_attr``).

The manifest is ``<root>/manifest.csv`` (UTF-8, a BOM is accepted, ``,`` separated, CRLF or LF) or
``<root>/manifest.parquet`` (read with pyarrow, the ``parquet`` extra), or the file named by the parser option
``manifest``. Its first row (CSV) or its schema (Parquet) names the columns:

``path``      image path relative to ``<root>`` (or to the ``image_root`` option); no absolute paths, no ``..``
``item_id``   the item (identity) the image shows: what retrieval matches on
``split``     ``train``, ``val`` or ``test``
``role``      ``query`` or ``gallery`` for rows of ``val`` / ``test`` (optional for identity retrieval: without it
              consumer images are queries and shop images the gallery where ``domain`` is given, else each
              item's first image by path is its gallery image); empty for ``train``
``x1, y1, x2, y2``   optional box in pixels (all four or none in a row)
``domain``    optional ``consumer`` / ``shop``
``category``  optional category name (per-category metrics)
``attr:<name>``      optional attribute columns: a value name per row, empty where unknown

Any other column is refused (a typo such as ``item`` would otherwise be silently ignored). Every bad row is an
error naming ``file:line`` (Parquet: ``file:row N``) and what was expected, or a counted, logged skip under
``data.on_bad_sample=skip``: a wrong field count, an empty path or item, an unknown split / role / domain, a
role on a ``train`` row, an incomplete or inverted box, a non-numeric coordinate, an image listed twice (same
path and box: the second line names the first), an unsafe path. Missing and unreadable images are found by
``fashionret-data validate`` and by the datamodule's pre-flight (evaluation images), as for every family.

Two families read it:

* ``catalogue`` (identity retrieval): one table row per manifest row; ``test`` rows with a role become the
  ``query`` / ``gallery`` splits (as In-Shop's), ``val`` rows keep their role.
* ``catalogue_attr`` (attribute-specific retrieval, the ASEN protocol): one table row per (image, attribute
  with a value); identity = ``<attribute>=<value>``; value indices are the sorted value names of each
  attribute over the whole manifest. ``val`` / ``test`` rows need a role. Training images without any
  attribute value are counted (``meta["images_without_attributes"]``) and left out.
"""

from __future__ import annotations

import csv
from pathlib import Path, PurePosixPath
from typing import ClassVar

from fashionret.data.errors import BadSampleCounter, DatasetFormatError, DatasetNotFoundError
from fashionret.data.table import SampleTable, TableBuilder

MANIFESTS = ("manifest.csv", "manifest.parquet")
REQUIRED = ("path", "item_id", "split")
OPTIONAL = ("role", "domain", "category", "x1", "y1", "x2", "y2")
BOX = ("x1", "y1", "x2", "y2")
ATTR_PREFIX = "attr:"
SPLITS = ("train", "val", "test")
ROLES = ("query", "gallery", "")
DOMAINS = ("consumer", "shop", "")


def manifest_file(root: Path, manifest: str | None = None) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError("catalogue", root, root)
    if manifest:
        f = Path(manifest) if Path(manifest).is_absolute() else root / manifest
        if not f.is_file():
            raise DatasetNotFoundError("catalogue", f, root)
        return f
    for name in MANIFESTS:
        if (root / name).is_file():
            return root / name
    raise DatasetNotFoundError("catalogue", root / MANIFESTS[0], root)


def read_manifest(file: Path) -> tuple[list[str], list[tuple[int | str, list[str]]]]:
    """``(header, [(line, fields)])``: CSV lines are 1-based file lines (header = line 1, blank lines skipped);
    Parquet rows are ``"row N"`` (1-based). Values are strings (``""`` for empty / null)."""
    if file.suffix.lower() == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DatasetFormatError(
                file, None, "a CSV manifest, or pyarrow installed to read Parquet (pip install 'fashionret[parquet]')"
            ) from None
        try:
            tbl = pq.read_table(file)
        except Exception as err:
            raise DatasetFormatError(file, None, "a readable Parquet file", f"{type(err).__name__}: {err}") from None
        header = [str(c) for c in tbl.column_names]
        cols = [tbl.column(c).to_pylist() for c in header]
        rows = [(f"row {i + 1}", ["" if c[i] is None else str(c[i]) for c in cols]) for i in range(tbl.num_rows)]
        return header, rows
    try:
        with open(file, encoding="utf-8-sig", newline="") as fh:  # utf-8-sig: a BOM (Excel's export) is dropped
            reader = csv.reader(fh)
            lines = [(reader.line_num, fields) for fields in reader]
    except UnicodeDecodeError as err:
        raise DatasetFormatError(file, None, "a UTF-8 text file", f"undecodable byte at offset {err.start}") from None
    except csv.Error as err:
        raise DatasetFormatError(file, None, "a well-formed CSV file", str(err)) from None
    lines = [(n, f) for n, f in lines if any(v.strip() for v in f)]
    if not lines:
        raise DatasetFormatError(file, 1, "a header row naming the columns (path,item_id,split,...)", "empty file")
    (_, header), rows = lines[0], lines[1:]
    return [h.strip() for h in header], rows


def _where(file: Path, line: int | str) -> tuple[str, int | None]:
    return (f"{file}:{line}", None) if isinstance(line, str) else (str(file), line)


def check_header(file: Path, header: list[str]) -> list[str]:
    """The attribute names (``attr:<name>`` columns, in order); raises on a missing, unknown or repeated column."""
    seen = set()
    for h in header:
        if h in seen:
            raise DatasetFormatError(file, 1, "each column once in the header", h)
        seen.add(h)
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DatasetFormatError(
            file, 1, f"a header with the columns {', '.join(REQUIRED)} (missing {missing})", ",".join(header)
        )
    unknown = [h for h in header if h not in REQUIRED + OPTIONAL and not (h.startswith(ATTR_PREFIX) and len(h) > 5)]
    if unknown:
        raise DatasetFormatError(
            file, 1, f"only the columns {', '.join(REQUIRED + OPTIONAL)} and attr:<name> (unknown: {unknown})"
        )
    box = [c for c in BOX if c in header]
    if box and len(box) != 4:
        raise DatasetFormatError(file, 1, "all four box columns x1,y1,x2,y2 or none", ",".join(box))
    return [h[len(ATTR_PREFIX) :] for h in header if h.startswith(ATTR_PREFIX)]


def _safe_path(path: str) -> bool:
    p = PurePosixPath(path.replace("\\", "/"))
    return bool(path) and not p.is_absolute() and ".." not in p.parts and ":" not in p.parts[0]


def parse_rows(file: Path, bad: BadSampleCounter) -> tuple[list[str], list[dict]]:
    """Checked manifest rows as dicts (``line``, the columns, ``bbox``, ``attrs``); bad rows raise or are
    counted by ``bad``."""
    header, raw = read_manifest(file)
    attr_names = check_header(file, header)
    col = {h: i for i, h in enumerate(header)}
    out: list[dict] = []
    first_line: dict[tuple, int | str] = {}
    for line, fields in raw:
        where, ln = _where(file, line)
        try:
            if len(fields) != len(header):
                raise DatasetFormatError(
                    where, ln, f"{len(header)} comma-separated fields (the header's)", str(len(fields))
                )
            v = {h: fields[i].strip() for h, i in col.items()}
            if not v["item_id"]:
                raise DatasetFormatError(where, ln, "a non-empty item_id")
            if not _safe_path(v["path"]):
                raise DatasetFormatError(
                    where, ln, "a relative image path inside the image root (no '..', not absolute)", v["path"]
                )
            split, role, domain = v["split"], v.get("role", ""), v.get("domain", "")
            if split not in SPLITS:
                raise DatasetFormatError(where, ln, f"split in {SPLITS}", split)
            if role not in ROLES:
                raise DatasetFormatError(where, ln, "role query, gallery or empty", role)
            if role and split == "train":
                raise DatasetFormatError(where, ln, "an empty role on a train row (roles are for val/test rows)", role)
            if domain not in DOMAINS:
                raise DatasetFormatError(where, ln, "domain consumer, shop or empty", domain)
            bbox = None
            if "x1" in col and any(v[c] for c in BOX):
                if not all(v[c] for c in BOX):
                    raise DatasetFormatError(where, ln, "all four of x1,y1,x2,y2 or none", ",".join(v[c] for c in BOX))
                try:
                    bbox = [float(v[c]) for c in BOX]
                except ValueError:
                    raise DatasetFormatError(
                        where, ln, "numeric box coordinates x1,y1,x2,y2", ",".join(v[c] for c in BOX)
                    ) from None
                if not (bbox[2] > bbox[0] and bbox[3] > bbox[1] and min(bbox) >= 0):
                    raise DatasetFormatError(
                        where, ln, "a box with x2 > x1 >= 0 and y2 > y1 >= 0", ",".join(v[c] for c in BOX)
                    )
            key = (v["path"], None if bbox is None else tuple(bbox))
            if key in first_line:
                prev_s = f"{file}:{first_line[key]}"
                raise DatasetFormatError(
                    where, ln, f"each image (and box) once; {v['path']} is already listed at {prev_s}"
                )
        except DatasetFormatError as err:
            bad(err, "duplicate_row" if "already listed" in str(err) else "bad_row")
            continue
        first_line[key] = line
        out.append({**v, "line": line, "bbox": bbox, "attrs": {a: v[ATTR_PREFIX + a] for a in attr_names}})
    return attr_names, out


class CatalogueFamily:
    """A parser (``fashionret.data.parsers`` protocol) for the manifest, identity or attribute task."""

    OPTIONS: ClassVar[dict] = {"manifest": None, "image_root": None}
    FILE_OPTIONS: ClassVar[tuple] = ("manifest",)

    def __init__(self, family: str, task: str):
        self.FAMILY, self.task = family, task

    def annotation_files(self, root: Path, manifest: str | None = None) -> list[Path]:
        return [manifest_file(Path(root), manifest)]

    def parse(
        self,
        root: Path | str,
        bad: BadSampleCounter | None = None,
        manifest: str | None = None,
        image_root: str | None = None,
    ) -> SampleTable:
        root = Path(root)
        bad = bad or BadSampleCounter("error")
        file = manifest_file(root, manifest)
        img_root = Path(image_root) if image_root else file.parent
        attr_names, rows = parse_rows(file, bad)
        if self.task == "attribute":
            return self._attribute_table(file, img_root, attr_names, rows, bad)
        builder = TableBuilder(img_root)
        for r in rows:
            split = r["split"]
            if split == "test" and r["role"]:
                split, role = r["role"], ""  # In-Shop's convention: the test split as query / gallery
            else:
                role = r["role"]
            builder.add(
                path=r["path"],
                bbox=r["bbox"],
                identity=r["item_id"],
                domain=r.get("domain", ""),
                split=split,
                role=role,
                category=r.get("category", ""),
                source_line=f"{file}:{r['line']}",
            )
        self._check_roles(file, rows, bad, required=False)
        return builder.build(meta={"manifest": str(file), "attributes": attr_names})

    @staticmethod
    def _check_roles(file: Path, rows: list[dict], bad: BadSampleCounter, required: bool) -> None:
        """Within one evaluation split, roles are given on every row or on none (else rows would be dropped)."""
        for split in ("val", "test"):
            sel = [r for r in rows if r["split"] == split]
            with_role = [r for r in sel if r["role"]]
            if (required and len(with_role) != len(sel)) or (with_role and len(with_role) != len(sel)):
                r = next(r for r in sel if not r["role"])
                where, ln = _where(file, r["line"])
                need = "every" if required else "every or no"
                raise DatasetFormatError(where, ln, f"a role (query / gallery) on {need} {split} row", "")

    def _attribute_table(
        self, file: Path, img_root: Path, attr_names: list[str], rows: list[dict], bad: BadSampleCounter
    ) -> SampleTable:
        if not attr_names:
            raise DatasetFormatError(
                file, 1, "attr:<name> columns for attribute-specific retrieval (data=catalogue_attr)"
            )
        self._check_roles(file, rows, bad, required=True)
        values = {a: sorted({r["attrs"][a] for r in rows if r["attrs"][a]}) for a in attr_names}
        index = {a: {name: i for i, name in enumerate(vs)} for a, vs in values.items()}
        builder = TableBuilder(img_root)
        without = 0
        for r in rows:
            present = [(k, a) for k, a in enumerate(attr_names) if r["attrs"][a]]
            if not present:
                without += 1
                continue
            split, role = r["split"], r["role"]
            if split == "test":
                split, role = role, ""
            for k, a in present:
                builder.add(
                    path=r["path"],
                    bbox=r["bbox"],
                    identity=f"{a}={r['attrs'][a]}",
                    domain="",
                    split=split,
                    role=role,
                    category=a,
                    source_line=f"{file}:{r['line']}",
                    attr=k,
                    attr_value=index[a][r["attrs"][a]],
                )
        meta = {
            "manifest": str(file),
            "attributes": attr_names,
            "attribute_num": [len(values[a]) for a in attr_names],
            "value_names": values,
            "images_without_attributes": without,
            "meta_source": f"the attr: columns of {file}",
        }
        return builder.build(meta=meta)


IDENTITY = CatalogueFamily("catalogue", "identity")
ATTRIBUTE = CatalogueFamily("catalogue_attr", "attribute")
