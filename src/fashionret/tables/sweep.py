"""Any multirun as a table: one row per distinct setting of the overrides the sweep varies.

The columns are the overrides whose value differs between jobs (:func:`fashionret.utils.hydra_job.varying_keys`,
the rule the W&B runs' top-level keys follow too); overrides equal in every job are printed once above the
table. ``seed`` is the replicate: jobs that differ only in their seed form one row, whose metrics are the mean ±
sample std over its successful jobs, ``n`` of them. The chance level of each metric (a random ranking of the
same test split, from each job's ``results.json``) is printed beside ours: as a last ``chance`` row when every
row shares it, else in each cell. The best mean of each metric is bold (Markdown, HTML) or flagged
(``best`` in CSV and JSON). Jobs without results (failed, or still running: a sweep can be read while it runs)
are counted in their row and listed under the table.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import statistics
from dataclasses import dataclass, field

from fashionret.tables.collect import Job
from fashionret.tables.spec import METRIC_TITLES, METRICS
from fashionret.utils.hydra_job import overrides_dict, varying_keys

SEED = "seed"
FORMATS = ("markdown", "csv", "html", "json")
#: test metrics that are counts, not scores: not columns
_NOT_SCORES = ("num_queries", "num_queries_without_match")


@dataclass
class Stat:
    mean: float = math.nan
    std: float = math.nan
    n: int = 0
    chance: float | None = None
    best: bool = False

    def text(self, digits: int = 3, with_chance: bool = False) -> str:
        if self.n == 0:
            return "–"
        out = f"{self.mean:.{digits}f}" + ("" if math.isnan(self.std) else f" ± {self.std:.{digits}f}")
        if with_chance and self.chance is not None:
            out += f" (chance {self.chance:.{digits}f})"
        return out


@dataclass
class Setting:
    values: dict[str, str]  # varying key -> value ("–" where a job does not set it)
    jobs: list[Job] = field(default_factory=list)
    stats: dict[str, Stat] = field(default_factory=dict)

    @property
    def ok(self) -> list[Job]:
        return [j for j in self.jobs if j.status == "ok"]

    def counts(self) -> str:
        """``2``, or ``1 (+1 failed)``, ``0 (+2 running or killed)``."""
        failed = sum(j.status == "failed" for j in self.jobs)
        missing = sum(j.status not in ("ok", "failed") for j in self.jobs)
        extra = [f"+{failed} failed"] * bool(failed) + [f"+{missing} running or killed"] * bool(missing)
        return f"{len(self.ok)}" + (f" ({', '.join(extra)})" if extra else "")


@dataclass
class SweepTable:
    source: str
    jobs: list[Job]
    columns: list[str]  # varying keys other than the seed
    fixed: list[str]  # overrides equal in every job, as written
    seeds: list[str]
    metrics: list[str]
    settings: list[Setting]
    chance_row: dict[str, float] | None  # the chance levels when every row shares them
    warnings: list[str] = field(default_factory=list)
    expected: int | None = None  # jobs the sweep(s) will have when done (None: unknown)


def _metrics(jobs: list[Job]) -> list[str]:
    names = {k for j in jobs if j.status == "ok" for k in j.metrics if "/" not in k and k not in _NOT_SCORES}
    return [m for m in METRICS if m in names] + sorted(names - set(METRICS))


def _chance(job: Job) -> dict[str, float]:
    chance = job.results.get("chance") if isinstance(job.results, dict) else None
    return {k: float(v) for k, v in (chance or {}).items() if isinstance(v, (int, float))}


def _sort_value(value: str) -> tuple[int, float | str]:
    try:
        return 0, float(value)
    except ValueError:
        return 1, value


def build(
    jobs: list[Job],
    source: str = "",
    sort: str | None = None,
    expected: int | None = None,
    swept: list[str] | tuple[str, ...] = (),
) -> SweepTable:
    """Group ``jobs`` by the overrides that vary (the seed left out) and compute each row's statistics.

    ``sort``: a metric (best first) or a column (ascending; numbers as numbers); default: the order the
    settings first appear in (job-number order). ``expected``: how many jobs the sweep launches in all (a sweep
    still running has fewer job directories so far); ``swept``: keys its command line sweeps, columns even
    while the jobs so far share one value.
    """
    ovs = [overrides_dict(j.overrides) for j in jobs]
    observed = varying_keys([j.overrides for j in jobs])
    varying = observed + [k for k in dict.fromkeys(swept) if k not in observed and any(k in o for o in ovs)]
    columns = [k for k in varying if k != SEED]
    fixed = [o for o in (jobs[0].overrides if jobs else []) if overrides_dict([o]).keys().isdisjoint(varying)]
    seeds = sorted({str(o.get(SEED, j.seed)) for o, j in zip(ovs, jobs)}, key=_sort_value)
    metrics = _metrics(jobs)

    rows: dict[tuple[str, ...], Setting] = {}
    warnings = []
    seen: dict[tuple, str] = {}
    for job, ov in zip(jobs, ovs):
        key = tuple(ov.get(c, "–") for c in columns)
        rows.setdefault(key, Setting(dict(zip(columns, key)))).jobs.append(job)
        full = (key, str(ov.get(SEED, job.seed)))
        if job.status == "ok" and full in seen:
            warnings.append(f"`{job.source}` repeats the setting and seed of `{seen[full]}`; both are counted in n.")
        elif job.status == "ok":
            seen[full] = job.source
    settings = list(rows.values())

    chances = []
    for s in settings:
        per_job = [_chance(j) for j in s.ok]
        chances += per_job
        for m in metrics:
            vals = [j.metrics[m] for j in s.ok if m in j.metrics and not math.isnan(j.metrics[m])]
            ch = {round(c[m], 9) for c in per_job if m in c}
            s.stats[m] = Stat(
                statistics.fmean(vals) if vals else math.nan,
                statistics.stdev(vals) if len(vals) > 1 else math.nan,
                len(vals),
                ch.pop() if len(ch) == 1 else None,
            )
    for m in metrics:
        means = [s.stats[m].mean for s in settings if s.stats[m].n]
        if len(means) > 1:  # a best among at least two settings with results
            for s in settings:
                s.stats[m].best = s.stats[m].n > 0 and s.stats[m].mean == max(means)
    shared = {m: {round(c[m], 9) for c in chances if m in c} for m in metrics}
    chance_row = None
    if chances and all(len(v) <= 1 for v in shared.values()) and all(len(c) == len(chances[0]) for c in chances):
        chance_row = {m: v.pop() for m, v in shared.items() if v}

    if sort:
        if sort in metrics:
            settings.sort(key=lambda s: -s.stats[sort].mean if s.stats[sort].n else math.inf)
        elif sort in columns:
            settings.sort(key=lambda s: _sort_value(s.values[sort]))
        else:
            raise KeyError(f"--sort {sort!r} is neither a metric {metrics} nor a varying override {columns}")
    return SweepTable(source, jobs, columns, fixed, seeds, metrics, settings, chance_row, warnings, expected)


# ------------------------------------------------------------------------------------------------ rendering
def _title(m: str) -> str:
    return METRIC_TITLES.get(m, m)


def _header_lines(t: SweepTable) -> list[str]:
    ok = sum(j.status == "ok" for j in t.jobs)
    started = f"{len(t.jobs)} of {t.expected} jobs started" if t.expected and t.expected > len(t.jobs) else ""
    lines = [f"Sweep: `{t.source}` ({started or f'{len(t.jobs)} jobs'}, {ok} with results)"]
    if t.fixed:
        lines.append("Fixed in every job: " + " ".join(f"`{o}`" for o in t.fixed))
    if t.seeds and t.seeds != ["None"]:
        lines.append(f"Seeds: {', '.join(t.seeds)} (each row: mean ± sample std over its seeds, n of them)")
    if not t.columns:
        lines.append("No override differs between the jobs: one row.")
    return lines


def _failed_lines(t: SweepTable) -> list[str]:
    out = []
    for s in t.settings:
        for j in s.jobs:
            if j.status == "ok":
                continue
            err = (j.error or "").strip().splitlines()
            what = "failed" if j.status == "failed" else "no results yet (running or killed)"
            out.append(f"- `{j.source}`: {what}" + (f": {err[-1]}" if err and j.status == "failed" else ""))
    return out


def _grid(t: SweepTable, bold: tuple[str, str]) -> tuple[list[str], list[list[str]]]:
    inline_chance = t.chance_row is None
    header = [*t.columns, "n", *(_title(m) for m in t.metrics)]
    lines = []
    for s in t.settings:
        cells = []
        for m in t.metrics:
            st = s.stats[m]
            if st.n == 0:
                cells.append("failed" if any(j.status == "failed" for j in s.jobs) else "–")
                continue
            text = st.text(with_chance=inline_chance)
            cells.append(f"{bold[0]}{text}{bold[1]}" if st.best else text)
        lines.append([*(s.values[c] for c in t.columns), s.counts(), *cells])
    if t.chance_row:
        label = ["chance", *([""] * (len(t.columns) - 1))] if t.columns else []
        lines.append([*label, "", *(f"{t.chance_row[m]:.3f}" if m in t.chance_row else "–" for m in t.metrics)])
        if not t.columns:
            header.insert(0, "")
            lines = [["ours", *lines[0]], ["chance", *lines[1]]]
    return header, lines


def _notes(t: SweepTable) -> list[str]:
    notes = []
    smoke = [j for j in t.jobs if j.choices.get("smoke")]
    if smoke:
        notes.append(
            f"**{len(smoke)} of {len(t.jobs)} jobs are smoke runs (+smoke={smoke[0].choices['smoke']}): tiny "
            "synthetic data, one short epoch; their numbers check the wiring, not the method.**"
        )
    notes.append(
        "mean ± sample std over each row's jobs with results (n); **bold**: the best mean of each metric; "
        "chance: what a random ranking scores on the same test split."
    )
    return notes + t.warnings


def markdown(t: SweepTable) -> str:
    header, lines = _grid(t, ("**", "**"))
    md = [*_header_lines(t), ""]
    md.append("| " + " | ".join(header) + " |")
    md.append("|" + "|".join("---" for _ in header) + "|")
    md += ["| " + " | ".join(cells) + " |" for cells in lines]
    md += ["", *(f"- {n}" for n in _notes(t))]
    fails = _failed_lines(t)
    if fails:
        md += ["", "Jobs without results:", *fails]
    return "\n".join(md) + "\n"


def html_table(t: SweepTable) -> str:
    header, lines = _grid(t, ("\x00b", "\x00/b"))  # bold marks no cell text can contain, escaped around
    esc = html.escape
    out = ["<div class='fashionret-sweep'>", *(f"<p>{esc(x).replace('`', '')}</p>" for x in _header_lines(t))]
    out.append("<table>")
    out.append("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
    for cells in lines:
        cells = [esc(c).replace("\x00b", "<b>").replace("\x00/b", "</b>") for c in cells]
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    out += ["<ul>", *(f"<li>{esc(n).replace('**', '')}</li>" for n in _notes(t)), "</ul>"]
    fails = _failed_lines(t)
    if fails:
        out += ["<p>Jobs without results:</p><ul>", *(f"<li>{esc(f[2:])}</li>" for f in fails), "</ul>"]
    return "\n".join([*out, "</div>"]) + "\n"


def csv_table(t: SweepTable) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    head = [*t.columns, "n_ok", "n_failed", "n_missing"]
    for m in t.metrics:
        head += [f"{m}_mean", f"{m}_std", f"{m}_n", f"{m}_chance", f"{m}_best"]
    w.writerow([*head, "jobs"])
    for s in t.settings:
        rec: list = [*(s.values[c] for c in t.columns), len(s.ok)]
        rec += [sum(j.status == "failed" for j in s.jobs), sum(j.status not in ("ok", "failed") for j in s.jobs)]
        for m in t.metrics:
            st = s.stats[m]
            rec += [
                "" if st.n == 0 else f"{st.mean:.6f}",
                "" if math.isnan(st.std) else f"{st.std:.6f}",
                st.n,
                "" if st.chance is None else f"{st.chance:.6f}",
                int(st.best),
            ]
        w.writerow([*rec, ";".join(j.source for j in s.jobs)])
    return buf.getvalue()


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) else x


def json_table(t: SweepTable) -> str:
    doc = {
        "source": t.source,
        "fixed": t.fixed,
        "expected_jobs": t.expected,
        "columns": t.columns,
        "seeds": t.seeds,
        "metrics": t.metrics,
        "chance": t.chance_row,
        "rows": [
            {
                "setting": s.values,
                "n_ok": len(s.ok),
                "jobs": [{"source": j.source, "status": j.status, "seed": j.seed} for j in s.jobs],
                "metrics": {
                    m: {
                        "mean": _num(st.mean),
                        "std": _num(st.std),
                        "n": st.n,
                        "chance": st.chance,
                        "best": st.best,
                    }
                    for m, st in s.stats.items()
                },
            }
            for s in t.settings
        ],
        "jobs_without_results": [
            {"source": j.source, "status": j.status, "error": j.error} for j in t.jobs if j.status != "ok"
        ],
        "warnings": t.warnings,
    }
    return json.dumps(doc, indent=2) + "\n"


RENDER = {"markdown": markdown, "csv": csv_table, "html": html_table, "json": json_table}
SUFFIX = {"markdown": "md", "csv": "csv", "html": "html", "json": "json"}
