"""Every option of every config group composes; group names mean what they say."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from fashionret.cli import CONFIG_DIR

CONF = Path(CONFIG_DIR)
GROUPS = [
    "model",
    "backbone",
    "data",
    "image_size",
    "loss",
    "optimizer",
    "scheduler",
    "trainer",
    "logger",
    "callbacks",
    "paths",
    "experiment",
    "hydra",
]


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def _compose(overrides: list[str], name: str = "train"):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name=name, overrides=overrides, return_hydra_config=True)


def test_every_group_has_options():
    for g in GROUPS:
        assert _options(g), f"conf/{g}/ has no options"
    assert {"cpu", "gpu", "ddp"} <= set(_options("trainer"))
    assert {"wandb", "csv", "none"} <= set(_options("logger"))


# train.yaml and eval.yaml compose the same base (conf/base.yaml): every option composes in both
CASES = [(name, g, o) for name in ("train", "eval") for g in GROUPS if g != "hydra" for o in _options(g)]


@pytest.mark.parametrize(("config_name", "group", "option"), CASES)
def test_each_option_composes(config_name, group, option):
    cfg = _compose([f"{group}={option}"], config_name)
    OmegaConf.to_container(cfg.lit, resolve=False)
    if group == "backbone":
        assert cfg.backbone.name == option
        assert cfg.lit.model.backbone.name == option  # the model sees the chosen backbone
    if group == "image_size":
        h, w = (int(v) for v in option.split("x"))
        assert (cfg.image_size.height, cfg.image_size.width) == (h, w)  # (height, width)
        assert cfg.data.transforms.train[0].height == h and cfg.data.transforms.train[0].width == w
    if group == "data":
        assert cfg.data._target_.endswith("DataModule")


def test_model_data_size_backbone_compose_from_command_line():
    cfg = _compose(["model=sn", "data=deepfashion_inshop", "image_size=256x128", "backbone=resnet50"])
    assert cfg.lit.model._target_.endswith("SimpleNetwork")
    assert cfg.data.family == "deepfashion_inshop"
    assert cfg.backbone.pretrained is True  # real data: ImageNet weights by default
    assert cfg.data.transforms.eval[0].height == 256 and cfg.data.transforms.eval[0].width == 128


def test_demo_defaults_are_offline():
    cfg = _compose([])
    assert cfg.data.synthetic.format == "deepfashion_inshop"
    assert cfg.backbone.pretrained is False
    assert cfg.optimizer.lr == 1e-3 and cfg.trainer.max_epochs == 5  # the demo bundle's settings
    assert cfg.data.num_workers == 0 and cfg.callbacks.last_checkpoint is None  # only the checkpoint a user needs
    assert cfg.callbacks.model_checkpoint.save_weights_only is True
    assert _compose(["trainer=gpu"]).trainer.max_epochs == 5  # ... whatever trainer is chosen
    other = _compose(["data=deepfashion_inshop"])
    assert other.optimizer.lr == 3e-4  # ... and only with data=demo
    assert other.callbacks.last_checkpoint is not None and other.callbacks.model_checkpoint.save_weights_only is False
    cfg = _compose(["backbone=resnet50"])  # the smoke command keeps the demo offline
    assert cfg.backbone.name == "resnet50" and cfg.backbone.pretrained is False
    assert _compose(["backbone.pretrained=true"]).backbone.pretrained is True  # command line wins


def test_paper000_recipe_values():
    cfg = _compose(["optimizer=adam", "scheduler=exponential_decay", "loss=batch_all_triplet"])
    assert list(cfg.optimizer.betas) == [0.9, 0.999] and cfg.optimizer.eps == 1e-6
    assert cfg.scheduler.scheduler.decay_rate == 0.96 and cfg.scheduler.scheduler.decay_steps == 150000
    assert cfg.loss.margin == 1.5 and cfg.loss.distance == "euclidean"
