"""Render a paper table from collected jobs: the paper's rows and columns, its numbers, ours, and the deltas.

Each printed row gets three lines — ``paper``, ``ours`` (mean ± sample std over the row's successful jobs,
``n`` of them; several seeds per row are averaged) and ``Δ`` (ours − paper). Failed or missing jobs are counted
in the ``ours`` line and listed under the table; a row whose jobs all failed reads ``failed``. Jobs that match no
printed row (an extra option swept) get rows of their own, labelled by their choices.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field

from fashionret.tables.collect import Job
from fashionret.tables.spec import METRIC_TITLES, CategoryFigure, PaperTable, Row


@dataclass
class Cell:
    mean: float = math.nan
    std: float = math.nan
    n: int = 0


@dataclass
class RowResult:
    labels: tuple[str, ...]
    row: Row | None
    jobs: list[Job] = field(default_factory=list)

    @property
    def ok(self) -> list[Job]:
        return [j for j in self.jobs if j.status == "ok"]

    @property
    def not_ok(self) -> list[Job]:
        return [j for j in self.jobs if j.status != "ok"]

    def cell(self, metric: str, scale: float = 1.0) -> Cell:
        vals = [j.metrics[metric] * scale for j in self.ok if metric in j.metrics and not math.isnan(j.metrics[metric])]
        if not vals:
            return Cell()
        return Cell(statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else math.nan, len(vals))

    def status(self) -> str:
        if not self.jobs:
            return "not run"
        if not self.ok:
            return "failed" if any(j.status == "failed" for j in self.jobs) else "missing"
        return "ok" if not self.not_ok else "partial"


def matches(job: Job, match: dict[str, str]) -> bool:
    return all(job.choices.get(k) == v for k, v in match.items())


def group_rows(table: PaperTable, jobs: list[Job]) -> list[RowResult]:
    results = [RowResult(r.labels, r) for r in table.rows]
    keys = sorted({k for r in table.rows for k in r.match})
    extra: dict[tuple[str, ...], RowResult] = {}
    for job in jobs:
        for res in results:
            if matches(job, res.row.match):
                res.jobs.append(job)
                break
        else:
            label = ", ".join(f"{k}={job.choices.get(k, '?')}" for k in keys)
            extra.setdefault((label,), RowResult((f"other: {label}",) + ("",) * (len(table.row_headers) - 1), None))
            extra[(label,)].jobs.append(job)
    return results + list(extra.values())


# ------------------------------------------------------------------------------------------------ formatting
def fmt_paper(v: float | None) -> str:
    return "–" if v is None else f"{v:.4f}".rstrip("0").ljust(5, "0")


def fmt_ours(c: Cell) -> str:
    if c.n == 0:
        return "–"
    return f"{c.mean:.3f}" if math.isnan(c.std) else f"{c.mean:.3f} ± {c.std:.3f}"


def fmt_delta(ours: Cell, paper: float | None) -> str:
    if paper is None or ours.n == 0:
        return "–"
    return f"{ours.mean - paper:+.3f}"


def _ours_label(res: RowResult) -> str:
    ok, bad = len(res.ok), len(res.not_ok)
    if not res.jobs:
        return "ours: not run"
    if not ok:
        return f"ours: {res.status()} ({bad} job{'s' if bad > 1 else ''})"
    label = f"ours (n={ok})"
    if bad:
        kinds = sorted({j.status for j in res.not_ok})
        label += f", {bad} {'/'.join(kinds)}"
    return label


def _size(res: RowResult) -> str:
    sizes = sorted({str(j.model_info.get("feature_sizes", {}).get("head")) for j in res.ok if j.model_info})
    sizes = [s for s in sizes if s != "None"]
    return "/".join(sizes) if sizes else "–"


def setting_notes(setting: dict[str, str], jobs: list[Job]) -> list[str]:
    """Warnings for runs that differ from the paper's setting, and for smoke runs."""
    notes = []
    smoke = [j for j in jobs if j.choices.get("smoke")]
    if smoke:
        notes.append(
            f"**{len(smoke)} of {len(jobs)} jobs are smoke runs (+smoke={smoke[0].choices['smoke']}): tiny synthetic "
            "data and settings; their numbers say nothing about the paper's.**"
        )
    for key, want in setting.items():
        got = Counter(j.choices.get(key, "?") for j in jobs if j.choices.get(key, "?") != want)
        if got:
            seen = ", ".join(f"{v} ({n})" for v, n in sorted(got.items()))
            notes.append(f"Setting differs from the paper's: {key}={seen}; the paper's is {key}={want}.")
    return notes


def _md_table(header: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cells) + " |" for cells in lines]
    return "\n".join(out)


def _failures(rows: list[RowResult]) -> list[str]:
    out = []
    for res in rows:
        for j in res.not_ok:
            err = (j.error or "").strip().splitlines()
            out.append(
                f"- {' / '.join(x for x in res.labels if x)}: {j.status} — `{j.source}`"
                + (f": {err[-1]}" if err else "")
            )
    return out


def render_table(table: PaperTable, jobs: list[Job], source: str = "") -> tuple[str, str]:
    """``(markdown, csv)`` of a printed table beside our runs."""
    rows = group_rows(table, jobs)
    header = [*table.row_headers, *table.extra_columns, "", *(table.title_of(m) for m in table.metrics)]
    lines: list[list[str]] = []
    for res in rows:
        labels = list(res.labels)
        blank = [""] * len(labels)
        paper = res.row.paper if res.row else None
        extra_p = [res.row.paper_extra.get(c, "") if res.row else "" for c in table.extra_columns]
        extra_o = [_size(res) if c == "# size" else "" for c in table.extra_columns]
        if res.row is not None:
            note = f"paper ({res.row.paper_note})" if res.row.paper_note else "paper"
            lines.append([*labels, *extra_p, note, *(fmt_paper(paper.get(m)) if paper else "–" for m in table.metrics)])
            labels = blank
        cells = [res.cell(m, table.scale_of(m)) for m in table.metrics]
        if res.jobs and not res.ok:
            lines.append([*labels, *extra_o, _ours_label(res), *(res.status() for _ in table.metrics)])
        else:
            lines.append([*labels, *extra_o, _ours_label(res), *(fmt_ours(c) for c in cells)])
        if paper:
            lines.append(
                [
                    *blank,
                    *([""] * len(extra_o)),
                    "Δ",
                    *(fmt_delta(c, paper.get(m)) for c, m in zip(cells, table.metrics)),
                ]
            )
    md = [f"**{table.title}**", ""]
    if source:
        md += [f"Runs: `{source}` ({len(jobs)} jobs)", ""]
    md.append(_md_table(header, lines))
    notes = setting_notes(table.setting, jobs) + list(table.notes)
    if table.run_notes is not None:
        notes += table.run_notes(jobs)
    notes.append("ours: mean ± sample std over successful jobs (seeds); Δ = ours − paper.")
    fails = _failures(rows)
    if fails:
        notes.append("Jobs without results:\n" + "\n".join(fails))
    md += ["", *(f"{n}" if n.startswith("Jobs") else f"- {n}" for n in notes)]

    buf = io.StringIO()
    w = csv.writer(buf)
    csv_header = ["table", *table.row_headers, *(f"paper {c}" for c in table.extra_columns)]
    csv_header += [*(f"ours {c}" for c in table.extra_columns), "status", "n_ok", "n_not_ok"]
    for m in table.metrics:
        csv_header += [f"paper_{m}", f"ours_{m}_mean", f"ours_{m}_std", f"delta_{m}"]
    csv_header.append("jobs")
    w.writerow(csv_header)
    for res in rows:
        paper = res.row.paper if res.row else None
        rec = [table.name, *res.labels]
        rec += [res.row.paper_extra.get(c, "") if res.row else "" for c in table.extra_columns]
        rec += [_size(res) if c == "# size" else "" for c in table.extra_columns]
        rec += [res.status(), len(res.ok), len(res.not_ok)]
        for m in table.metrics:
            c = res.cell(m, table.scale_of(m))
            p = paper.get(m) if paper else None
            rec += [
                "" if p is None else p,
                "" if c.n == 0 else f"{c.mean:.6f}",
                "" if math.isnan(c.std) else f"{c.std:.6f}",
                "" if p is None or c.n == 0 else f"{c.mean - p:+.6f}",
            ]
        rec.append(";".join(j.source for j in res.jobs))
        w.writerow(rec)
    return "\n".join(md) + "\n", buf.getvalue()


def render_categories(fig: CategoryFigure, jobs: list[Job], source: str = "") -> tuple[str, str]:
    """``(markdown, csv)`` of per-category top-1 / top-5 (Fig. 3/4): one table per metric, models x categories."""
    jobs = [j for j in jobs if j.choices.get("data") == fig.data]
    per_model = {label: [j for j in jobs if j.choices.get("model") == choice] for label, choice in fig.models}
    cats = sorted(
        {
            k.split("/", 1)[1].rsplit("/", 1)[0]
            for j in jobs
            if j.status == "ok"
            for k in j.metrics
            if k.startswith("group/")
        }
    )
    md = [f"**{fig.title}**", ""]
    if source:
        md += [f"Runs: `{source}` ({len(jobs)} jobs with data={fig.data})", ""]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["table", "metric", "model", "category", "mean", "std", "n", "n_not_ok"])
    for m in fig.metrics:
        lines = []
        for label, _ in fig.models:
            res = RowResult((label,), None, per_model[label])
            if not res.jobs:
                lines.append([label, "not run", *("–" for _ in cats)])
                continue
            if not res.ok:
                lines.append([label, _ours_label(res), *(res.status() for _ in cats)])
                continue
            cells = [res.cell(f"group/{c}/{m}") for c in cats]
            lines.append([label, _ours_label(res), *(fmt_ours(c) for c in cells)])
            for c, cell in zip(cats, cells):
                w.writerow(
                    [
                        fig.name,
                        m,
                        label,
                        c,
                        "" if cell.n == 0 else f"{cell.mean:.6f}",
                        "" if math.isnan(cell.std) else f"{cell.std:.6f}",
                        cell.n,
                        len(res.not_ok),
                    ]
                )
        md += [f"{METRIC_TITLES.get(m, m)} per category", "", _md_table(["Model", "", *cats], lines), ""]
    fails = _failures([RowResult((label,), None, per_model[label]) for label, _ in fig.models])
    md += [f"- {n}" for n in setting_notes(fig.setting, jobs) + list(fig.notes)]
    if fails:
        md += ["Jobs without results:", *fails]
    return "\n".join(md) + "\n", buf.getvalue()
