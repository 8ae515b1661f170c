"""The README's option tables list every option of every config group in ``conf/`` (read when the test runs, so a
new backbone, loss or experiment file only needs its README row) and name no option that does not exist; the
task table places every model and dataset; ``fashionret-eval zero_shot=true`` is documented."""

from __future__ import annotations

import fnmatch
import itertools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
README = (ROOT / "README.md").read_text()
#: an option token as the tables write it: a name, `{a,b}` alternatives, a `*` wildcard
OPTION = re.compile(r"^[A-Za-z0-9_.*{},]+$")


def table_rows(first_header: str) -> list[list[str]]:
    """The body rows (cells) of the README table whose header starts with ``| first_header |``."""
    lines = README.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"| {first_header} |"))
    rows = []
    for ln in lines[start + 2 :]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in ln.strip().strip("|").split("|")])
    return rows


def expand(token: str) -> list[str]:
    """``paper002_{agman,csn}_{fashionai,zappos}`` -> its four names (a ``*`` stays a pattern)."""
    parts = re.split(r"(\{[^}]*\})", token)
    choices = [p[1:-1].split(",") if p.startswith("{") else [p] for p in parts]
    return ["".join(c) for c in itertools.product(*choices)]


def listed(cell: str) -> list[str]:
    """The option names and patterns of a table cell (backquoted, without ``=``, ``/`` or ``+``)."""
    return [name for tok in re.findall(r"`([^`]+)`", cell) if OPTION.match(tok) for name in expand(tok)]


def options(group: str) -> set[str]:
    return {p.stem for p in (CONF / group).glob("*.yaml")}


def covered(name: str, tokens: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, t) for t in tokens)


GROUP_ROWS = {row[0].strip("`"): row for row in table_rows("group") if row[0].startswith("`")}


def test_every_config_group_has_a_row():
    groups = {p.name for p in CONF.iterdir() if p.is_dir() and list(p.glob("*.yaml"))}
    rows = {g for key in GROUP_ROWS for g in re.findall(r"[a-z_]+", key)}
    assert groups - {"recipe"} <= rows, f"conf/ groups without a README row: {sorted(groups - rows)}"


@pytest.mark.parametrize("group", sorted(g for g in GROUP_ROWS if (CONF / g).is_dir()))
def test_group_row_lists_exactly_the_options_in_conf(group):
    tokens = listed(GROUP_ROWS[group][1])
    have = options(group)
    missing = sorted(o for o in have if not covered(o, tokens))
    unknown = sorted(t for t in tokens if "*" not in t and t not in have)
    assert not missing, f"README's `{group}` row lacks {missing} (files in conf/{group}/)"
    assert not unknown, f"README's `{group}` row names {unknown}, which conf/{group}/ does not have"


def test_task_table_places_every_model_and_dataset():
    rows = table_rows("task")
    data = {n for r in rows for n in listed(r[1])}
    models = {n for r in rows for n in listed(r[2])}
    assert options("data") <= data, f"data options in no task row: {sorted(options('data') - data)}"
    assert options("model") <= models, f"model options in no task row: {sorted(options('model') - models)}"
    assert data <= options("data") and models <= options("model")


def test_zero_shot_eval_is_documented():
    assert "zero_shot" in (CONF / "eval.yaml").read_text()
    assert re.search(r"fashionret-eval zero_shot=true", README)
