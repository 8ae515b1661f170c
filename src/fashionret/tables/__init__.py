"""Paper tables from multirun directories (or W&B groups): ``fashionret-tables``.

* :mod:`fashionret.tables.spec` — what a printed table is (rows, columns, the paper's numbers).
* :mod:`fashionret.tables.paper000` ... :mod:`~fashionret.tables.paper003` — each paper's printed tables
  (numbers transcribed) and row matching; one module per paper, each registered in ``PAPERS`` below.
* :mod:`fashionret.tables.baselines` — the baselines table (papers' models, global baselines, zero-shot rows).
* :mod:`fashionret.tables.collect` — jobs of a multirun directory / W&B group.
* :mod:`fashionret.tables.render` — Markdown and CSV beside the paper's numbers.
"""

from __future__ import annotations

from fashionret.tables import baselines, paper000, paper001, paper002, paper003
from fashionret.tables.collect import Job, collect_multirun, collect_wandb
from fashionret.tables.render import render_categories, render_table
from fashionret.tables.spec import CategoryFigure, PaperTable

PAPERS = (paper000, paper001, paper002, paper003, baselines)  # each declares TABLES (and optionally FIGURES)

TABLES: dict[str, PaperTable] = {name: t for m in PAPERS for name, t in m.TABLES.items()}
FIGURES: dict[str, CategoryFigure] = {name: f for m in PAPERS for name, f in getattr(m, "FIGURES", {}).items()}


#: tables whose rows depend on the runs (the baselines table adds published In-Shop rows on In-Shop only)
RESOLVE = {name: fn for m in PAPERS for name, fn in getattr(m, "RESOLVE", {}).items()}


def get(name: str, jobs: list[Job] | None = None) -> PaperTable | CategoryFigure:
    if name in RESOLVE and jobs is not None:
        return RESOLVE[name](jobs)
    if name in TABLES:
        return TABLES[name]
    if name in FIGURES:
        return FIGURES[name]
    raise KeyError(f"unknown table {name!r}; available: {sorted(TABLES) + sorted(FIGURES)}")


__all__ = [
    "FIGURES",
    "TABLES",
    "Job",
    "collect_multirun",
    "collect_wandb",
    "get",
    "render_categories",
    "render_table",
]
