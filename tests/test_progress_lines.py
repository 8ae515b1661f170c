"""Progress lines for logs that are files: an ETA, and epochs numbered as the checkpoint files number them."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch

from fashionret.lit.progress import ProgressLines, eta, total_steps


def fake_trainer(**kw) -> SimpleNamespace:
    base = {"max_steps": -1, "num_training_batches": 10, "max_epochs": 5, "accumulate_grad_batches": 1}
    return SimpleNamespace(**{**base, **kw})


def test_total_steps_and_eta_format():
    assert total_steps(fake_trainer()) == 50
    assert total_steps(fake_trainer(max_steps=7)) == 7
    assert total_steps(fake_trainer(max_epochs=-1)) is None
    assert total_steps(fake_trainer(num_training_batches=float("inf"))) is None
    assert eta(65.4) == "1:05" and eta(3725) == "1:02:05" and eta(-3) == "0:00"


def test_epoch_line_has_eta_and_zero_based_epoch(monkeypatch, caplog):
    clock = iter([0.0, 0.0, 0.0, 10.0, 10.0, 10.0, 10.0])
    monkeypatch.setattr("fashionret.lit.progress.time.perf_counter", lambda: next(clock))
    cb = ProgressLines(every_n_steps=0, always=True)
    trainer = fake_trainer(global_step=0, current_epoch=0, callback_metrics={}, is_global_zero=True)
    cb.setup(trainer, None, "fit")
    cb.on_train_start(trainer, None)
    cb.on_train_epoch_start(trainer, None)
    for step in range(1, 11):  # the first of 5 epochs of 10 steps: 10 s so far, 40 steps left
        trainer.global_step = step
        cb.on_train_batch_end(trainer, None, torch.tensor(1.0), {"image": torch.zeros(4, 3, 2, 2)}, step - 1)
    with caplog.at_level(logging.INFO, logger="fashionret.lit.progress"):
        cb.on_train_epoch_end(trainer, None)
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("epoch 0/4 (step 10): loss 1.0000") and "ETA 0:40" in line, line


@pytest.mark.parametrize("max_epochs", [-1, None])
def test_epoch_line_without_an_epoch_limit(max_epochs):
    assert total_steps(fake_trainer(max_epochs=max_epochs)) is None
