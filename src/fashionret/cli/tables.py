"""``fashionret-tables``: a multirun directory (or a W&B group) as a table: a paper's table, or any sweep's.

examples:
    fashionret-tables logs/train/multiruns/2025-01-01_12-00-00       # any sweep: one row per setting
    fashionret-tables logs/train --sort mAP --format csv              # the newest multirun of ``train``, best first
    fashionret-tables logs/train/multiruns/A logs/train/multiruns/B  # several sweeps in one table
    fashionret-tables logs/train --plot curves.png                    # + curves_<metric>.png per val metric
    fashionret-tables logs/paper000_table1          # a paper sweep: the paper's table beside its numbers
    fashionret-tables logs/paper000_fig5/multiruns/<date> --table paper000_fig4
    fashionret-tables --wandb-group <group> --wandb-project <entity>/fashionret --table paper000_table2

A paper's table is taken from the runs' ``report.table`` (set by the sweep files in ``sweeps/``) unless ``--table``
names one; a Fig. 5 sweep also renders its per-category figures (Fig. 3 and Fig. 4). Any other sweep (or
``--table sweep``) is rendered as one row per distinct setting: the overrides that vary as columns, the test
metrics as mean ± std over seeds with n and chance, the best marked, jobs without results listed; a sweep that
is still running shows what has finished. The table goes to stdout (``--format``) and, as Markdown and CSV, to
``--out`` (default: ``<first multirun dir>/tables/``).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from fashionret.cli import help_text
from fashionret.tables import FIGURES, TABLES, collect_multirun, collect_wandb, get
from fashionret.tables.render import render_categories, render_table
from fashionret.tables.sweep import FORMATS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fashionret-tables", description=help_text(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "multirun_dir", nargs="*", help="Hydra multirun directories (hydra.sweep.dir), or a sweep's log folder"
    )
    p.add_argument(
        "--table",
        action="append",
        help=f"table to render (repeatable): {sorted(TABLES) + sorted(FIGURES)}, or 'sweep' (any sweep's table)",
    )
    p.add_argument("--sort", help="sweep table: order rows by a metric (best first) or a varying override")
    p.add_argument("--format", choices=FORMATS, default="markdown", help="sweep table: what goes to stdout")
    p.add_argument(
        "--plot",
        nargs="?",
        const="",
        metavar="OUT",
        help="sweep table: also draw val metric vs epoch, one PNG per metric (OUT.png -> OUT_<metric>.png; "
        "a folder -> val_<metric>.png in it; default: <out>/curves/)",
    )
    p.add_argument("--out", help="folder for <table>.md and <table>.csv (default: <multirun_dir>/tables)")
    p.add_argument("--wandb-group", help="read the runs of this W&B group instead of a directory (needs network)")
    p.add_argument("--wandb-project", default="fashionret", help="W&B entity/project of --wandb-group")
    p.add_argument("--list", action="store_true", help="list the tables and exit")
    return p


def newest_multirun(path: Path) -> Path:
    """A sweep's log folder (``logs/<sweep>`` or ``logs/<sweep>/multiruns``) stands for its newest multirun
    directory (the names are ``<date>_<time>``); a multirun directory itself is returned as given."""
    if not path.is_dir() or any(path.glob("*/.hydra/config.yaml")):
        return path
    for base in (path / "multiruns", path):
        runs = sorted(d for d in base.glob("*") if d.is_dir() and any(d.glob("*/.hydra/config.yaml")))
        if runs:
            print(f"fashionret-tables: the newest multirun under {path}: {runs[-1]}", file=sys.stderr)
            return runs[-1]
    return path


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `fashionret-tables DIR | head`
        return 0


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.list:
        for name, t in {**TABLES, **FIGURES}.items():
            print(f"{name:18s} sweeps/{t.sweep}.yaml  {t.title}")
        print(f"{'sweep':18s} any multirun: one row per setting of the overrides it varies")
        return 0
    if bool(args.multirun_dir) == bool(args.wandb_group):
        print("fashionret-tables: give multirun directories or --wandb-group (one of them)", file=sys.stderr)
        return 2
    dirs: list[Path] = []
    try:
        if args.wandb_group:
            jobs, source = collect_wandb(args.wandb_group, args.wandb_project), f"wandb:{args.wandb_group}"
        else:
            dirs = [newest_multirun(Path(d)) for d in args.multirun_dir]
            jobs = [j for d in dirs for j in collect_multirun(d)]
            source = ", ".join(str(d) for d in dirs)
    except (FileNotFoundError, RuntimeError) as err:
        print(f"fashionret-tables: {err}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else (dirs[0] / "tables" if dirs else Path("tables"))
    names = list(args.table or [])
    if not names:
        found = Counter(j.table for j in jobs if j.table)
        names = [found.most_common(1)[0][0]] if found else ["sweep"]
        names += list(getattr(TABLES.get(names[0]), "companions", ()))
    if "sweep" in names or args.plot is not None or args.sort or args.format != "markdown":
        if names != ["sweep"]:
            print("fashionret-tables: --table sweep, --sort, --format and --plot go alone", file=sys.stderr)
            return 2
        return _sweep(args, jobs, source, out, dirs)
    try:
        specs = [get(n, jobs) for n in names]
    except KeyError as err:
        print(f"fashionret-tables: {err.args[0]}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        md, csv_text = (
            render_table(spec, jobs, source) if spec.name in TABLES else render_categories(spec, jobs, source)
        )
        (out / f"{spec.name}.md").write_text(md)
        (out / f"{spec.name}.csv").write_text(csv_text)
        print(md)
    print(f"written: {', '.join(str(out / f'{s.name}.{{md,csv}}') for s in specs)}")
    return 0


def _sweep(args: argparse.Namespace, jobs: list, source: str, out: Path, dirs: list[Path]) -> int:
    """Any sweep: one row per setting (fashionret.tables.sweep), optionally its validation curves."""
    from fashionret.tables import sweep
    from fashionret.tables.collect import sweep_plan

    try:
        plans = [sweep_plan(d) for d in dirs]
        counts = [n for n, _ in plans]
        expected = sum(counts) if counts and None not in counts else None  # type: ignore[arg-type]
        swept = [k for _, keys in plans for k in keys]
        table = sweep.build(jobs, source, sort=args.sort, expected=expected, swept=swept)
    except KeyError as err:
        print(f"fashionret-tables: {err.args[0]}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in dict.fromkeys(("markdown", "csv", args.format)):
        path = out / f"sweep.{sweep.SUFFIX[fmt]}"
        path.write_text(sweep.RENDER[fmt](table))
        written.append(path)
    print(sweep.RENDER[args.format](table), end="")
    print(f"written: {', '.join(str(p) for p in written)}", file=sys.stderr)
    if args.plot is not None:
        from fashionret.tables.curves import plot_sweep

        pngs, missing = plot_sweep(table, Path(args.plot) if args.plot else out / "curves")
        for job in missing:
            print(f"fashionret-tables: no validation curve in {job} (no csv/metrics.csv yet)", file=sys.stderr)
        if not pngs:
            print("fashionret-tables: no job has validation curves to plot", file=sys.stderr)
            return 1
        print(f"plots: {', '.join(str(p) for p in pngs)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
