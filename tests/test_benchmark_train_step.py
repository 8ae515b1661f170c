"""benchmarks/train_step.py runs end to end (a tiny configuration) and prints its table and ratios."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_step.py"


@pytest.mark.slow
def test_train_step_benchmark_prints_table_and_ratios(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("train_step_benchmark", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    argv = ["--image-size", "64", "--batch", "2x2", "--steps", "2", "--warmup", "1", "--repeats", "1"]
    bench.main([*argv, "--workers", "0", "--data-workers", "0", "--data", str(tmp_path / "data")])
    out = capsys.readouterr().out
    for row in ("lightning fit (0 workers", "lightning fit, bare", "plain loop", "data only (0 workers)", "model only"):
        assert re.search(rf"\| {re.escape(row)}[^|]*\| \d+\.\d \|", out), row
    assert re.search(r"Lightning / plain: \d\.\d{3} \(runs: fit [\d.]+, bare [\d.]+, loop [\d.]+\)", out)
    assert re.search(r"data only \(0 workers\) / model only: \d+\.\d\d", out)
