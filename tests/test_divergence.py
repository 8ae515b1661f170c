"""A diverged run stops at once with one message and keeps its last good checkpoint; distances never overflow."""

from __future__ import annotations

import re

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from fashionret.cli.train import train
from fashionret.losses.distances import pairwise_euclidean
from fashionret.utils.jobs import run_job
from tests.conftest import compose_cfg, tiny_overrides


class PoisonWeights(Callback):
    """Test helper: sets every weight to NaN at the start of training epoch ``epoch`` (or of its validation)."""

    def __init__(self, epoch: int = 1, when: str = "train"):
        self.epoch, self.when = epoch, when

    def _poison(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            with torch.no_grad():
                for p in pl_module.parameters():
                    p.fill_(float("nan"))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.when == "train":
            self._poison(trainer, pl_module)

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        if self.when == "validation":
            self._poison(trainer, pl_module)


def _cfg(root, tmp_path, *extra):
    overrides = tiny_overrides(
        root,
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=2",
        "+callbacks.poison._target_=tests.test_divergence.PoisonWeights",
        *extra,
    )
    return compose_cfg("train", overrides, tmp_path)


def test_nan_loss_exits_nonzero_with_one_message_and_keeps_last_good_checkpoint(inshop_root, tmp_path, capsys):
    cfg = _cfg(inshop_root, tmp_path, "+callbacks.poison.epoch=1", "optimizer.lr=0.002")
    with pytest.raises(SystemExit) as exit_info:
        run_job(train, cfg)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert re.match(r"Training diverged: the loss is nan at step [1-9]\d*, epoch 1, lr 0.002 ", err), err
    assert f"the last good checkpoint is {last}" in err
    ckpt = torch.load(last, weights_only=True, map_location="cpu")
    assert ckpt["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["epoch_000.ckpt", "last.ckpt"]
    assert '"status": "failed"' in (tmp_path / "results.json").read_text()


def test_nan_validation_embeddings_say_the_model_diverged(inshop_root, tmp_path, capsys):
    cfg = _cfg(inshop_root, tmp_path, "+callbacks.poison.epoch=0", "+callbacks.poison.when=validation")
    with pytest.raises(SystemExit):
        run_job(train, cfg)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("The model diverged: ") and "validation embeddings" in err and "epoch 0" in err
    assert "no checkpoint had been written yet" in err
    assert not (tmp_path / "checkpoints").exists() or not list((tmp_path / "checkpoints").iterdir())


@pytest.mark.parametrize(("scale", "dtype"), [(1e25, torch.float32), (300.0, torch.float16), (1.0, torch.bfloat16)])
def test_pairwise_euclidean_does_not_overflow(scale, dtype):
    x = torch.randn(8, 16, dtype=torch.float64)
    ref = torch.cdist(x, x)
    d = pairwise_euclidean((x * scale).to(dtype))
    assert d.dtype == torch.float32 and torch.isfinite(d).all()
    tol = 1e-2 if dtype != torch.float32 else 1e-5
    torch.testing.assert_close(d.double() / scale, ref, rtol=tol, atol=tol)
    assert (d.diagonal() == 0).all()
