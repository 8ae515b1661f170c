"""The paper-000 experiment files pin the paper's recipe (§III-C/D, §IV-B); tests/test_train.py runs every one."""

import pytest

from tests.conftest import compose_cfg

EXPERIMENTS = {
    "paper000": ("dban", "deepfashion2", (256, 256)),
    "paper000_sn": ("sn", "deepfashion2", (256, 256)),
    "paper000_320": ("dban", "deepfashion2", (320, 320)),
    "paper000_c2s_320": ("dban", "deepfashion_c2s", (320, 320)),
}


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_experiment_pins_the_paper_recipe(name, tmp_path):
    model, family, size = EXPERIMENTS[name]
    cfg = compose_cfg("train", [f"experiment={name}"], tmp_path)
    assert cfg.hydra.runtime.choices.model == model and cfg.data.family == family
    assert (cfg.image_size.height, cfg.image_size.width) == size
    assert cfg.backbone.name == "resnet50" and cfg.backbone.pretrained is True
    assert cfg.hydra.runtime.choices["model/head"] == "gap" and cfg.model.conv_channels is None  # 4096 (Table I)
    assert dict(cfg.loss) == {"_target_": "fashionret.losses.BatchAllTripletLoss", "margin": 1.5, "reduction": "sum",
                              "distance": "euclidean"}  # fmt: skip
    assert cfg.optimizer.lr == 1e-6 and list(cfg.optimizer.betas) == [0.9, 0.999] and cfg.optimizer.eps == 1e-6
    sch = cfg.scheduler.scheduler
    assert (sch.decay_rate, sch.decay_steps, cfg.scheduler.interval) == (0.96, 150000, "step")
    assert (cfg.data.classes_per_batch, cfg.data.images_per_class) == (2, 2)
    assert cfg.callbacks.early_stopping.monitor == "val/loss" and cfg.callbacks.early_stopping.mode == "min"
    assert cfg.callbacks.model_checkpoint.monitor == "val/loss"
    assert cfg.eval.similarity == "cosine"
    if model == "dban":
        assert [b.downsample for b in cfg.model.branches] == [4, 8]
        assert all(b.attention == "cbam" for b in cfg.model.branches)
    # fashionret-eval composes experiment files too
    ecfg = compose_cfg("eval", [f"experiment={name}", "ckpt_path=x.ckpt"], tmp_path)
    assert ecfg.model._target_ == cfg.model._target_
