"""Attribute-specific retrieval splits of ASEN / ASEN++ / AG-MAN: FashionAI and DeepFashion attributes
(``formats.md`` §6).

Reads, in a dataset folder (``data/FashionAI`` or ``data/DeepFashion``; ``data.root`` may point at it or at its
parent ``data/``):

- ``filenames_{train,valid,test}.txt``: one image path per line (relative to the dataset folder); the 0-based
  line index is the image id;
- ``label_train.txt``: ``<image idx> (<attr idx> <value idx>)+``;
- ``query_{valid,test}.txt`` / ``candidate_{valid,test}.txt``: ``<image idx> <attr idx> <value idx>``;
- ``meta.json``: ``ATTRIBUTES`` (names, in attr-index order) and ``ATTRIBUTES_NUM``; ASEN++ keeps one
  ``data/meta.json`` keyed by dataset (``{"FashionAI": {...}, "DeepFashion": {...}}``), the early ASEN one
  ``meta.json`` per dataset folder. Both are accepted. Where neither exists the ASEN++ config values are used
  (FashionAI: 8 attributes 6/9/8/6/5/5/10/5 values; DeepFashion: 5 attribute types 156/218/180/216/230).

Lines may end in CRLF (the FashionAI files do) and fields may be separated by spaces or tabs. DeepFashion's
``label_{valid,test}.txt`` (every attribute of each evaluation image) is not needed for the protocol and is not
read.

Table rows are (image, attribute) samples: one per ``(attr, value)`` pair of ``label_train.txt`` (split
``train``), and one per query / candidate line (valid: split ``val`` with role ``query`` / ``gallery``; test:
split ``query`` / ``gallery``). Identity = ``<attribute>=<value idx>``, category = attribute name; the optional
columns ``attr``, ``attr_value`` and ``image_id`` (line in the filenames file) carry the numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from fashionret.data.errors import BadSampleCounter, DatasetFormatError, DatasetNotFoundError, open_text, read_text
from fashionret.data.table import SampleTable, TableBuilder

SPLIT_FILES = {
    "train": ("filenames_train.txt", "label_train.txt"),
    "valid": ("filenames_valid.txt", "query_valid.txt", "candidate_valid.txt"),
    "test": ("filenames_test.txt", "query_test.txt", "candidate_test.txt"),
}
DEFAULT_META = {
    "FashionAI": {
        "ATTRIBUTES": [
            "skirt_length",
            "sleeve_length",
            "coat_length",
            "pant_length",
            "collar_design",
            "lapel_design",
            "neckline_design",
            "neck_design",
        ],
        "ATTRIBUTES_NUM": {
            "skirt_length": 6,
            "sleeve_length": 9,
            "coat_length": 8,
            "pant_length": 6,
            "collar_design": 5,
            "lapel_design": 5,
            "neckline_design": 10,
            "neck_design": 5,
        },
    },
    "DeepFashion": {
        "ATTRIBUTES": ["texture-related", "fabric-related", "shape-related", "part-related", "style-related"],
        "ATTRIBUTES_NUM": {
            "texture-related": 156,
            "fabric-related": 218,
            "shape-related": 180,
            "part-related": 216,
            "style-related": 230,
        },
    },
}


class AsenFamily:
    """One ASEN-format family (the parser protocol of :mod:`fashionret.data.parsers`)."""

    OPTIONS: ClassVar[dict] = {}

    def __init__(self, family: str, dataset: str, folder_names: tuple[str, ...]):
        self.FAMILY, self.dataset, self.folder_names = family, dataset, folder_names

    def dataset_dir(self, root: Path) -> Path:
        root = Path(root)
        for name in self.folder_names:
            if (root / name / "filenames_train.txt").is_file():
                return root / name
        return root

    def annotation_files(self, root: Path) -> list[Path]:
        root = Path(root)
        if not root.is_dir():
            raise DatasetNotFoundError(self.FAMILY, root, root)
        ds = self.dataset_dir(root)
        files = []
        for names in SPLIT_FILES.values():
            for n in names:
                if not (ds / n).is_file():
                    raise DatasetNotFoundError(self.FAMILY, ds / n, root)
                files.append(ds / n)
        return files + [m for m in (ds / "meta.json", ds.parent / "meta.json") if m.is_file()]

    def read_meta(self, ds: Path) -> tuple[dict, str]:
        for file in (ds / "meta.json", ds.parent / "meta.json"):
            if not file.is_file():
                continue
            try:
                data = json.loads(read_text(file))
            except json.JSONDecodeError as err:
                raise DatasetFormatError(file, err.lineno, "valid JSON", err.msg) from None
            if isinstance(data, dict) and isinstance(data.get(self.dataset), dict):
                data = data[self.dataset]
            elif not (isinstance(data, dict) and "ATTRIBUTES" in data):
                continue  # a meta.json of other datasets only
            attrs, nums = data.get("ATTRIBUTES"), data.get("ATTRIBUTES_NUM")
            if not (isinstance(attrs, list) and isinstance(nums, dict) and all(a in nums for a in attrs)):
                raise DatasetFormatError(file, 1, "ATTRIBUTES (list) and ATTRIBUTES_NUM (one count per attribute)")
            return data, str(file)
        return DEFAULT_META[self.dataset], "built-in ASEN++ defaults (no meta.json found)"

    @staticmethod
    def read_filenames(file: Path) -> list[str]:
        with open_text(file, newline="") as fh:
            lines = fh.read().splitlines()
        return [ln.strip() for ln in lines]

    def parse(self, root: Path | str, bad: BadSampleCounter | None = None) -> SampleTable:
        root = Path(root)
        bad = bad or BadSampleCounter("error")
        self.annotation_files(root)
        ds = self.dataset_dir(root)
        meta, meta_source = self.read_meta(ds)
        attrs = list(meta["ATTRIBUTES"])
        nums = [int(meta["ATTRIBUTES_NUM"][a]) for a in attrs]
        builder = TableBuilder(ds)
        for split_name, names in SPLIT_FILES.items():
            fn_file = ds / names[0]
            filenames = self.read_filenames(fn_file)
            for label_name in names[1:]:
                lfile = ds / label_name
                if split_name == "train":
                    split, role = "train", ""
                else:
                    role = "query" if label_name.startswith("query") else "gallery"
                    split = "val" if split_name == "valid" else role
                with open_text(lfile, newline="") as fh:
                    lines = fh.read().splitlines()
                for lineno, line in enumerate(lines, start=1):
                    fields = line.split()
                    if not fields:
                        continue
                    try:
                        pairs = self._check_line(lfile, lineno, fields, split_name == "train", filenames, fn_file, nums)
                    except DatasetFormatError as err:
                        bad(err)
                        continue
                    idx = int(fields[0])
                    for a, v in pairs:
                        builder.add(
                            path=filenames[idx],
                            bbox=None,
                            identity=f"{attrs[a]}={v}",
                            domain="",
                            split=split,
                            role=role,
                            category=attrs[a],
                            source_line=f"{lfile}:{lineno}",
                            attr=a,
                            attr_value=v,
                            image_id=idx,
                        )
        values = meta.get("ATTRIBUTES_VALUES") or {}
        table_meta = {
            "attributes": attrs,
            "attribute_num": nums,
            "attribute_values": {a: values[a] for a in attrs if a in values},
            "meta_source": meta_source,
        }
        return builder.build(meta=table_meta)

    @staticmethod
    def _check_line(
        file: Path, lineno: int, fields: list[str], train: bool, filenames: list[str], fn_file: Path, nums: list[int]
    ) -> list[tuple[int, int]]:
        if train:
            if len(fields) < 3 or len(fields) % 2 == 0:
                raise DatasetFormatError(file, lineno, "<image idx> (<attr idx> <value idx>)+", " ".join(fields))
        elif len(fields) != 3:
            raise DatasetFormatError(file, lineno, "3 fields <image idx> <attr idx> <value idx>", " ".join(fields))
        try:
            ints = [int(f) for f in fields]
        except ValueError:
            raise DatasetFormatError(file, lineno, "integer fields", " ".join(fields)) from None
        idx = ints[0]
        if not 0 <= idx < len(filenames) or not filenames[idx]:
            raise DatasetFormatError(
                file, lineno, f"an image index into {fn_file.name} (0..{len(filenames) - 1})", str(idx)
            )
        pairs = list(zip(ints[1::2], ints[2::2]))
        for a, v in pairs:
            if not 0 <= a < len(nums):
                raise DatasetFormatError(file, lineno, f"an attribute index 0..{len(nums) - 1}", str(a))
            if not 0 <= v < nums[a]:
                raise DatasetFormatError(file, lineno, f"a value index 0..{nums[a] - 1} for attribute {a}", str(v))
        return pairs


FASHIONAI = AsenFamily("fashionai", "FashionAI", ("FashionAI", "fashionAI"))
DEEPFASHION_ATTR = AsenFamily("deepfashion_attr", "DeepFashion", ("DeepFashion",))
