"""Comparing your own runs (README "Comparing runs"): any sweep becomes a table and curves, and its W&B runs
are grouped the same way.

ONE sweep serves every check here (a module-scoped fixture): the README section's commands, run as written
from an empty directory — ``fashionret-train -m +smoke=cpu optimizer.lr=1e-3,3e-4 seed=1,2`` and the
``fashionret-tables`` calls after it. Each printed number is checked against the jobs' own ``results.json`` /
``csv/metrics.csv`` (computed here independently), the PNGs by their pixels and their saved data, the W&B
runs by reading their offline run files back.
"""

from __future__ import annotations

import csv
import json
import shutil
import statistics
import struct
import subprocess
from pathlib import Path

import pytest

from tests.test_readme_commands import BIN, READMES, bash_commands, user_env

#: the tests that read the sweep are slow: one 4-job sweep (~40-100 s on 2 shared cores), shared by all of them
slow = pytest.mark.slow

THIS = "tests/test_sweep_tables.py"
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")
METRICS = ("mAP", "top1", "top5", "top10", "top20", "top50")


def _env(cwd: Path) -> dict[str, str]:
    return {**user_env(cwd), "WANDB_MODE": "offline"}


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]], cwd=cwd, env=_env(cwd), capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, f"{argv} exited {out.returncode}:\n{(out.stdout + out.stderr)[-4000:]}"
    assert "Traceback" not in out.stdout + out.stderr
    return out


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The README section's commands, in order, from an empty directory: the outputs by command."""
    cmds = [c for c in bash_commands(READMES[0]) if c.tested_in == THIS]
    assert [c.argv[0] for c in cmds][:2] == ["fashionret-train", "fashionret-tables"], cmds
    assert cmds[0].argv == ["fashionret-train", "-m", "+smoke=cpu", "optimizer.lr=1e-3,3e-4", "seed=1,2"]
    cwd = tmp_path_factory.mktemp("compare")
    outs = {" ".join(c.argv): _run(c.argv, cwd) for c in cmds}
    (sweep_dir,) = (cwd / "logs" / "train" / "multiruns").iterdir()
    return cwd, sweep_dir, outs


def _results(sweep_dir: Path) -> dict[tuple[str, str], dict]:
    """(lr, seed) -> results.json, read from the job directories."""
    out = {}
    for res in sorted(sweep_dir.glob("*/results.json")):
        data = json.loads(res.read_text())
        ov = dict(o.lstrip("+").split("=", 1) for o in data["overrides"])
        out[(ov["optimizer.lr"], ov["seed"])] = {**data, "dir": res.parent}
    return out


def _output(outs: dict, start: str) -> subprocess.CompletedProcess:
    (hit,) = [o for cmd, o in outs.items() if cmd == start]
    return hit


@slow
def test_the_table_has_one_row_per_lr_with_mean_std_over_two_seeds(sweep):
    _, sweep_dir, outs = sweep
    res = _results(sweep_dir)
    assert len(res) == 4 and all(r["status"] == "ok" for r in res.values())
    text = _output(outs, "fashionret-tables logs/train").stdout
    lines = text.splitlines()
    assert "Fixed in every job: `+smoke=cpu`" in lines
    assert lines.count("| optimizer.lr | n | mAP | top-1 | top-5 | top-10 | top-20 | top-50 |") == 1
    rows = {ln.split(" | ")[0].strip("| "): ln for ln in lines if ln.startswith("| 0.")}
    assert sorted(rows) == ["0.0003", "0.001"]  # two rows, one per lr; the seeds are averaged
    means = {}
    for lr, line in rows.items():
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[1] == "2"  # n
        for m, cell in zip(METRICS, cells[2:]):
            vals = [res[(lr, s)]["test"][m] for s in ("1", "2")]
            want = f"{statistics.fmean(vals):.3f} ± {statistics.stdev(vals):.3f}"
            assert cell.strip("*") == want, (lr, m, cell, vals)
            means[(lr, m)] = (statistics.fmean(vals), cell.startswith("**"))
    for m in METRICS:  # the best mean of each metric is bold, the other not (unless tied)
        best = max(means[(lr, m)][0] for lr in rows)
        assert all(means[(lr, m)][1] == (means[(lr, m)][0] == best) for lr in rows), m
    (chance_line,) = [ln for ln in lines if ln.startswith("| chance |")]
    chance = res[("0.001", "1")]["chance"]
    assert [c.strip() for c in chance_line.strip("|").split("|")][2:] == [f"{chance[m]:.3f}" for m in METRICS]
    assert "Jobs without results" not in text
    # README's sample is this output: the same lines, the numbers aside (they depend on the machine's arithmetic)
    readme = READMES[0].read_text()
    sample = readme[readme.index("Sweep: `logs/train/multiruns/") :].split("```", 1)[0].splitlines()
    assert [_shape(x) for x in sample] == [_shape(x) for x in lines]


def _shape(line: str) -> str:
    """A line with its numbers and the sweep's date blanked."""
    import re

    return re.sub(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", "<date>", re.sub(r"\d\.\d{3}", "#", line))


@slow
def test_json_and_csv_formats_sort_and_files(sweep):
    cwd, sweep_dir, outs = sweep
    res = _results(sweep_dir)
    doc = json.loads(_run(["fashionret-tables", str(sweep_dir), "--format", "json", "--sort", "mAP"], cwd).stdout)
    assert doc["columns"] == ["optimizer.lr"] and doc["fixed"] == ["+smoke=cpu"] and doc["seeds"] == ["1", "2"]
    maps = [r["metrics"]["mAP"]["mean"] for r in doc["rows"]]
    assert maps == sorted(maps, reverse=True)  # --sort mAP: best first
    for row in doc["rows"]:
        lr = row["setting"]["optimizer.lr"]
        vals = [res[(lr, s)]["test"]["mAP"] for s in ("1", "2")]
        assert row["metrics"]["mAP"]["mean"] == pytest.approx(statistics.fmean(vals), rel=1e-12)
        assert row["metrics"]["mAP"]["std"] == pytest.approx(statistics.stdev(vals), rel=1e-12)
        assert row["metrics"]["mAP"]["n"] == 2 and row["n_ok"] == 2
    csv_text = _output(outs, "fashionret-tables logs/train --sort optimizer.lr --format csv").stdout
    head, *recs = csv_text.splitlines()
    assert head.startswith("optimizer.lr,n_ok,n_failed,n_missing,mAP_mean,mAP_std,mAP_n,mAP_chance,mAP_best")
    assert [r.split(",")[0] for r in recs] == ["0.0003", "0.001"]  # --sort optimizer.lr: ascending, as numbers
    assert (sweep_dir / "tables" / "sweep.md").is_file() and (sweep_dir / "tables" / "sweep.csv").is_file()


@slow
def test_a_running_sweep_failed_jobs_and_several_directories(sweep, tmp_path):
    _, sweep_dir, _ = sweep
    copy = tmp_path / "copy"
    shutil.copytree(sweep_dir, copy, ignore=shutil.ignore_patterns("*.ckpt", "wandb"))
    (copy / "1" / "results.json").unlink()  # still running (or killed)
    (copy / "2" / "results.json").write_text(json.dumps({"status": "failed", "error": "RuntimeError: boom"}))
    out = _run(["fashionret-tables", str(copy)], tmp_path).stdout
    assert "| 0.001 | 1 (+1 running or killed) |" in out and "| 0.0003 | 1 (+1 failed) |" in out
    assert f"- `{copy / '2'}`: failed: RuntimeError: boom" in out
    assert f"- `{copy / '1'}`: no results yet (running or killed)" in out
    # the two directories in one table: the same settings, n counts the jobs with results of both
    both = _run(["fashionret-tables", str(sweep_dir), str(copy)], tmp_path).stdout
    assert "| 0.001 | 3 (+1 running or killed) |" in both and "| 0.0003 | 3 (+1 failed) |" in both
    assert both.count("repeats the setting and seed of") == 2  # the same seeds twice are said, not hidden
    # a sweep that has started only its first two jobs (both lr=0.001): the lr column stays, the count says so
    early = tmp_path / "early"
    shutil.copytree(sweep_dir, early, ignore=shutil.ignore_patterns("*.ckpt", "wandb", "2", "3"))
    out = _run(["fashionret-tables", str(early)], tmp_path).stdout
    assert f"Sweep: `{early}` (2 of 4 jobs started, 2 with results)" in out
    assert "| optimizer.lr | n | mAP |" in out and "| 0.001 | 2 |" in out and "0.0003" not in out


def test_a_wandb_group_is_the_same_table():
    """``--wandb-group``: the runs' logged ``overrides``, ``test/*`` and ``chance/*`` summary keys (as a multirun
    job logs them) make the same rows (W&B's API stood in for: no network here)."""
    from fashionret.tables import collect_wandb, sweep

    class Run:
        def __init__(self, i, lr, seed, top1, state="finished"):
            self.id, self.state = f"r{i}", state
            self.config = {"seed": seed, "overrides": ["+smoke=cpu", f"optimizer.lr={lr}", f"seed={seed}"]}
            self.summary = {"test/top1": top1, "test/mAP": top1 / 2, "chance/top1": 0.1, "chance/mAP": 0.05}

    class Api:
        def runs(self, project, filters):
            assert filters == {"group": "train-2026-01-01_00-00-00"} and project == "me/fashionret"
            return [
                Run(0, 0.001, 1, 0.5),
                Run(1, 0.001, 2, 0.7),
                Run(2, 0.0003, 1, 0.2),
                Run(3, 0.0003, 2, 0, "crashed"),
            ]

    jobs = collect_wandb("train-2026-01-01_00-00-00", "me/fashionret", api=Api())
    table = sweep.build(jobs, "wandb:train-2026-01-01_00-00-00")
    assert table.columns == ["optimizer.lr"] and table.fixed == ["+smoke=cpu"] and table.chance_row["top1"] == 0.1
    fast, slow_ = table.settings
    assert fast.stats["top1"].mean == pytest.approx(0.6) and fast.stats["top1"].std == pytest.approx(0.1414213562)
    assert fast.stats["top1"].best and not slow_.stats["top1"].best
    assert slow_.stats["top1"].n == 1 and slow_.counts() == "1 (+1 failed)"


@slow
def test_plot_writes_one_png_per_val_metric_with_a_colour_per_lr(sweep):
    from PIL import Image

    cwd, sweep_dir, outs = sweep
    assert "fashionret-tables logs/train --plot curves.png" in outs
    res = _results(sweep_dir)
    pngs = sorted(cwd.glob("curves_*.png"))
    assert {p.stem for p in pngs} == {f"curves_{m}" for m in METRICS}
    for m in ("mAP", "top1"):
        data = json.loads((cwd / f"curves_{m}.json").read_text())
        assert [s["color"] for s in data["settings"]] == list(TAB10[:2])
        for setting in data["settings"]:
            lr = setting["label"].split("=", 1)[1].split(" ")[0]
            assert setting["label"].endswith("(n=2)") and len(setting["jobs"]) == 2
            seeds = []
            for job in setting["jobs"]:
                # the value the job logged at its one validation (its CSV log, read here with csv)
                job_dir = cwd / job["job"]  # as the table names it: relative to where it was run
                with open(job_dir / "csv" / "metrics.csv", newline="") as f:
                    logged = [float(r[f"val/{m}"]) for r in csv.DictReader(f) if r.get(f"val/{m}")]
                assert job["x"] == [1] and job["y"] == logged
                assert job_dir.resolve() == res[(lr, str(job["seed"]))]["dir"].resolve()
                seeds += logged
            assert setting["mean"]["y"] == pytest.approx([statistics.fmean(seeds)])
        # the pixels: both settings' colours are drawn (thick mean markers and legend), no third colour
        img = Image.open(cwd / f"curves_{m}.png").convert("RGB")
        counts = {c: 0 for c in TAB10}
        wanted = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)): c for c in TAB10}
        for px, n in _pixel_counts(img).items():
            if px in wanted:
                counts[wanted[px]] += n
        assert counts[TAB10[0]] > 40 and counts[TAB10[1]] > 40, counts
        assert counts[TAB10[2]] == 0 and counts[TAB10[3]] == 0, counts


def _pixel_counts(img) -> dict:
    return {rgb: n for n, rgb in img.getcolors(maxcolors=1 << 20)}


# ------------------------------------------------------------------------------------------------ W&B
def _wandb_records(path: Path):
    """The records of an offline W&B run file (``run-<id>.wandb``: a LevelDB-style log of protobuf records in
    32 KiB blocks after a 7-byte header), read without the W&B service."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", path
    pos, buf = 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:
            pos += 32768 - pos % 32768
            continue
        _crc, n, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pos += 7
        if n == 0 and kind == 0:
            break
        buf += data[pos : pos + n]
        pos += n
        if kind in (1, 4):  # a full record, or the last piece of one
            rec = pb.Record()
            rec.ParseFromString(buf)
            buf = b""
            yield rec


@slow
def test_wandb_runs_grouped_by_the_sweep_with_its_varied_keys(sweep):
    _, sweep_dir, outs = sweep
    res = _results(sweep_dir)
    group = f"train-{sweep_dir.name}"
    for (lr, seed), r in res.items():
        (run_file,) = r["dir"].glob("wandb/offline-run-*/run-*.wandb")
        config, summary, groups = {}, {}, []
        for rec in _wandb_records(run_file):
            kind = rec.WhichOneof("record_type")
            if kind == "run":
                groups.append(rec.run.run_group)
            elif kind == "config":
                config.update({u.key: json.loads(u.value_json) for u in rec.config.update if u.key})
            elif kind == "summary":
                summary.update({u.key: json.loads(u.value_json) for u in rec.summary.update if u.key})
        assert groups == [group]
        assert config["optimizer.lr"] == float(lr) and config["seed"] == int(seed)  # top-level, as numbers
        assert config["sweep"] == group and config["overrides"] == r["overrides"]
        for m in METRICS:
            assert summary[f"test/{m}"] == pytest.approx(r["test"][m], rel=1e-12)
            assert summary[f"chance/{m}"] == pytest.approx(r["chance"][m], rel=1e-12)
    # one line at the end of the sweep syncs them all; its pattern names exactly the sweep's four runs
    train = _output(outs, "fashionret-train -m +smoke=cpu optimizer.lr=1e-3,3e-4 seed=1,2").stdout
    sync = [ln for ln in train.splitlines() if "wandb sync" in ln]
    assert sync == [f"W&B: 4 offline runs; upload them all with: wandb sync {sweep_dir}/*/wandb/offline-run-*"]
    pattern = sync[0].split("wandb sync ", 1)[1]
    assert sorted(Path("/").glob(pattern.lstrip("/"))) == sorted(sweep_dir.glob("*/wandb/offline-run-*"))
    assert len(sorted(sweep_dir.glob("*/wandb/offline-run-*"))) == 4
