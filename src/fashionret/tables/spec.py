"""What a printed paper table is: its rows (labels, the config choices that select our runs, the paper's numbers)
and columns. Each paper module (``tables/paper000.py``, ...) declares its ``TABLES`` / ``FIGURES`` with these;
``fashionret.tables`` registers them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

METRICS: tuple[str, ...] = ("mAP", "top1", "top5", "top10", "top20", "top50")
METRIC_TITLES = {
    "mAP": "mAP",
    "top1": "top-1",
    "top5": "top-5",
    "top10": "top-10",
    "top20": "top-20",
    "top50": "top-50",
}


@dataclass(frozen=True)
class Row:
    """One printed row: its label(s), the choices that select our runs for it, and the paper's numbers."""

    labels: tuple[str, ...]
    match: dict[str, str]
    paper: dict[str, float] | None = None
    paper_extra: dict[str, str] = field(default_factory=dict)  # e.g. Table I's "# size"
    paper_note: str = ""


@dataclass(frozen=True)
class PaperTable:
    name: str
    title: str
    row_headers: tuple[str, ...]
    rows: tuple[Row, ...]
    extra_columns: tuple[str, ...] = ()  # printed columns besides the metrics (Table I: "# size")
    metrics: tuple[str, ...] = METRICS
    sweep: str = ""  # the sweeps/ file whose multirun directory this table is rendered from
    notes: tuple[str, ...] = ()
    setting: dict[str, str] = field(default_factory=dict)  # the paper's fixed choices (runs that differ are flagged)
    companions: tuple[str, ...] = ()  # tables/figures rendered from the same multirun (Fig. 5 -> Fig. 3, 4)
    metric_titles: dict[str, str] = field(default_factory=dict)  # column titles beyond METRIC_TITLES
    # ours are multiplied by this per metric before printing / differencing (papers printing percentages: 100)
    metric_scale: dict[str, float] = field(default_factory=dict)
    # notes that depend on the runs (``Job`` list -> note lines), e.g. whether Street2Shop's gallery was cropped
    run_notes: Callable[[list], list[str]] | None = None

    def title_of(self, metric: str) -> str:
        return self.metric_titles.get(metric) or METRIC_TITLES.get(metric, metric)

    def scale_of(self, metric: str) -> float:
        return self.metric_scale.get(metric, 1.0)


@dataclass(frozen=True)
class CategoryFigure:
    """Per-category top-1 / top-5 bar charts (Fig. 3, 4): rows are models, columns the dataset's categories."""

    name: str
    title: str
    data: str  # the ``data`` choice whose runs are used
    models: tuple[tuple[str, str], ...]  # (label, model choice)
    metrics: tuple[str, ...] = ("top1", "top5")
    sweep: str = ""
    notes: tuple[str, ...] = ()
    setting: dict[str, str] = field(default_factory=dict)
