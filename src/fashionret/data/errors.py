"""Errors and the counted-skip policy shared by every parser and dataset."""

from __future__ import annotations

import io
import logging
from collections import Counter
from pathlib import Path

from fashionret.utils.errors import OneSentenceError

log = logging.getLogger(__name__)

ON_BAD_SAMPLE = ("error", "skip")


class DatasetFormatError(ValueError, OneSentenceError):
    """An annotation file (or image) that does not have the official format; names file, line and expectation."""

    def __init__(self, file: Path | str, line: int | None, expected: str, got: str | None = None):
        where = f"{file}:{line}" if line is not None else f"{file}"
        msg = f"{where}: expected {expected}"
        if got is not None:
            msg += f", got {got!r}"
        super().__init__(msg)
        self.file, self.line, self.expected, self.got = str(file), line, expected, got


def read_text(file: Path | str) -> str:
    """An annotation file's text (UTF-8, an optional BOM dropped); any other encoding is one
    :class:`DatasetFormatError` naming the file and the line of the first undecodable byte."""
    data = Path(file).read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DatasetFormatError(file, 1, "UTF-8 text as distributed", "a UTF-16 file (re-save it as UTF-8)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        got = f"byte 0x{data[err.start]:02x}, which is not UTF-8 (another encoding? re-save the file as UTF-8)"
        raise DatasetFormatError(file, line, "UTF-8 text as distributed", got) from None


def open_text(file: Path | str, newline: str | None = None) -> io.StringIO:
    """:func:`read_text` as a file object (``newline=""`` for the csv module, as ``open`` takes it)."""
    return io.StringIO(read_text(file), newline=newline)


class DatasetNotFoundError(FileNotFoundError, OneSentenceError):
    """``data.root`` missing or lacking the files a dataset family needs."""

    def __init__(self, family: str, missing: Path | str, root: Path | str):
        super().__init__(
            f"{missing} not found: data.root={root} does not look like a {family} dataset "
            f"(expected the official {family} files there; see README 'Pointing data.root at a real dataset')"
        )
        self.family, self.missing, self.root = family, str(missing), str(root)


class BadSampleCounter:
    """Applies ``data.on_bad_sample``: raise the error, or count it, log it and go on (never silently)."""

    def __init__(self, policy: str = "error"):
        if policy not in ON_BAD_SAMPLE:
            raise ValueError(f"data.on_bad_sample must be one of {ON_BAD_SAMPLE}, got {policy!r}")
        self.policy = policy
        self.counts: Counter[str] = Counter()

    def __call__(self, err: Exception, kind: str = "bad_line") -> None:
        if self.policy == "error":
            raise err
        self.counts[kind] += 1
        log.warning("skipped (%s, data.on_bad_sample=skip): %s", kind, err)

    @property
    def total(self) -> int:
        return sum(self.counts.values())
