"""``fashionret-tables``: render a paper table from a multirun directory (or a W&B group).

examples:
    fashionret-tables logs/paper000_table1/multiruns/2025-01-01_12-00-00
    fashionret-tables logs/paper000_table1          # the newest multirun of that sweep
    fashionret-tables logs/paper000_fig5/multiruns/<date> --table paper000_fig4
    fashionret-tables --wandb-group <group> --wandb-project <entity>/fashionret --table paper000_table2

The table is taken from the runs' ``report.table`` (set by the sweep files in ``sweeps/``) unless ``--table``
names one; a Fig. 5 sweep also renders its per-category figures (Fig. 3 and Fig. 4). Markdown goes to stdout
and, with the CSV, to ``--out`` (default: ``<multirun dir>/tables/``).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from fashionret.cli import help_text
from fashionret.tables import FIGURES, TABLES, collect_multirun, collect_wandb, get
from fashionret.tables.render import render_categories, render_table


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fashionret-tables", description=help_text(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("multirun_dir", nargs="?", help="a Hydra multirun directory (hydra.sweep.dir)")
    p.add_argument("--table", action="append", help=f"table to render (repeatable): {sorted(TABLES) + sorted(FIGURES)}")
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
        return 0
    if bool(args.multirun_dir) == bool(args.wandb_group):
        print("fashionret-tables: give a multirun directory or --wandb-group (one of them)", file=sys.stderr)
        return 2
    try:
        if args.wandb_group:
            jobs, source = collect_wandb(args.wandb_group, args.wandb_project), f"wandb:{args.wandb_group}"
        else:
            args.multirun_dir = str(newest_multirun(Path(args.multirun_dir)))
            jobs, source = collect_multirun(args.multirun_dir), str(args.multirun_dir)
    except (FileNotFoundError, RuntimeError) as err:
        print(f"fashionret-tables: {err}", file=sys.stderr)
        return 2
    names = list(args.table or [])
    if not names:
        found = Counter(j.table for j in jobs if j.table)
        if not found:
            print("fashionret-tables: the runs name no report.table; pass --table (see --list)", file=sys.stderr)
            return 2
        names = [found.most_common(1)[0][0]]
        names += list(getattr(TABLES.get(names[0]), "companions", ()))
    try:
        specs = [get(n, jobs) for n in names]
    except KeyError as err:
        print(f"fashionret-tables: {err.args[0]}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else (Path(args.multirun_dir) / "tables" if args.multirun_dir else Path("tables"))
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


if __name__ == "__main__":
    raise SystemExit(main())
