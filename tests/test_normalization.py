"""Input normalisation per backbone: timm's pretrained_cfg, overridable, and what the transforms use."""

from __future__ import annotations

import albumentations as A
import cv2
import hydra
import pytest
import timm
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from fashionret.cli import CONFIG_DIR


def _compose(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def _eval_steps(cfg) -> tuple[A.Resize, A.Normalize]:
    steps = hydra.utils.instantiate(cfg.data.transforms.eval)
    resize = next(s for s in steps if isinstance(s, A.Resize))
    norm = next(s for s in steps if isinstance(s, A.Normalize))
    return resize, norm


@pytest.mark.parametrize("name", ["mobilenetv1_100", "inception_resnet_v2", "resnet50"])
def test_normalization_equals_timms(name):
    cfg = _compose([f"backbone={name}"])
    tagged = f"{name}.{cfg.backbone.pretrained_tag}"  # the option's explicit tag
    timm_cfg = timm.data.resolve_model_data_config(timm.create_model(tagged, pretrained=False))
    assert list(cfg.normalization.mean) == pytest.approx(list(timm_cfg["mean"]))
    assert list(cfg.normalization.std) == pytest.approx(list(timm_cfg["std"]))
    assert cfg.normalization.interpolation == timm_cfg["interpolation"]
    resize, norm = _eval_steps(cfg)
    assert list(norm.mean) == pytest.approx(list(timm_cfg["mean"]))
    assert list(norm.std) == pytest.approx(list(timm_cfg["std"]))
    assert resize.interpolation == {"bicubic": cv2.INTER_CUBIC, "bilinear": cv2.INTER_LINEAR}[timm_cfg["interpolation"]]


def test_mobilenet_and_inception_are_not_imagenet_constants():
    for name in ("mobilenetv1_100", "inception_resnet_v2"):
        cfg = _compose([f"backbone={name}"])
        assert list(cfg.normalization.mean) == [0.5, 0.5, 0.5] and list(cfg.normalization.std) == [0.5, 0.5, 0.5]


def test_normalization_is_overridable_and_reaches_the_transforms():
    cfg = _compose(
        ["normalization.mean=[0.1,0.2,0.3]", "normalization.std=[1,1,1]", "normalization.interpolation=area"]
    )
    resize, norm = _eval_steps(cfg)
    assert list(norm.mean) == pytest.approx([0.1, 0.2, 0.3]) and list(norm.std) == [1, 1, 1]
    assert resize.interpolation == cv2.INTER_AREA


def test_unknown_interpolation_names_the_choices():
    cfg = _compose(["normalization.interpolation=fancy"])
    with pytest.raises(Exception, match=r"normalization.interpolation='fancy': expected one of"):
        hydra.utils.instantiate(cfg.data.transforms.eval)
