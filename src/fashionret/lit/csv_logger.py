"""A CSV logger whose ``metrics.csv`` survives a resumed run (Lightning's deletes an existing one)."""

from __future__ import annotations

import csv

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment


class _AppendingExperimentWriter(ExperimentWriter):
    """Keeps an existing ``metrics.csv`` and appends to it (its header's columns are known, new ones added)."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as f:
                self.metrics_keys = sorted(next(csv.reader(f), []))


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` that continues ``<save_dir>/<name>/<version>/metrics.csv`` when a run is resumed in its own
    directory (``ckpt_path=<run>/checkpoints/last.ckpt``), so the metrics history of the run stays in one file.
    A fresh run has no such file and writes it as ``CSVLogger`` does."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is not None:
            return self._experiment
        self._fs.makedirs(self.root_dir, exist_ok=True)
        self._experiment = _AppendingExperimentWriter(log_dir=self.log_dir)
        return self._experiment
