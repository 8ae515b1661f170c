"""Paper tables from multirun directories (or W&B groups): ``fashionret-tables``.

* :mod:`fashionret.tables.paper000` — paper 000's printed tables (numbers transcribed) and row matching.
* :mod:`fashionret.tables.collect` — jobs of a multirun directory / W&B group.
* :mod:`fashionret.tables.render` — Markdown and CSV beside the paper's numbers.
"""

from fashionret.tables.collect import Job, collect_multirun, collect_wandb
from fashionret.tables.paper000 import FIGURES, TABLES, get
from fashionret.tables.render import render_categories, render_table

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
