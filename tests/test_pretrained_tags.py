"""Pretrained tags: each backbone option names one, each paper's experiments pin the tag closest to what that
paper loaded, and mean/std/interpolation come from that tag's pretrained_cfg; checkpoint_path loads a file of it."""

from __future__ import annotations

import pytest
import timm
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from fashionret.cli import CONFIG_DIR
from fashionret.models import Backbone
from fashionret.models.backbones import describe_backbone, timm_name


def _compose(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


# experiment -> (tag the paper's code loaded, mean, std, interpolation)
TV = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225], "bilinear")
PINNED = {
    "paper002_agman_fashionai": ("resnet50.tv_in1k", *TV),
    "paper002_agman_deepfashion": ("resnet50.tv_in1k", *TV),
    "paper002_asenet_v2_zappos": ("resnet50.tv_in1k", *TV),
    "paper002_csn_fashionai": ("resnet50.tv_in1k", *TV),
    "paper003_agmlan_fashionai": ("resnet50.tv_in1k", *TV),
    "csn_zappos": ("resnet18.tv_in1k", *TV),
    "paper001": ("inception_resnet_v2.tf_in1k", [0.5] * 3, [0.5] * 3, "bicubic"),
    "paper001_res50": ("resnet50.tv_in1k", *TV),
    "paper000": ("resnet50.tv_in1k", *TV),
}


@pytest.mark.parametrize("experiment", sorted(PINNED))
def test_each_papers_experiment_pins_its_tag(experiment):
    tag, mean, std, interpolation = PINNED[experiment]
    cfg = _compose([f"experiment={experiment}"])
    assert describe_backbone(cfg.backbone)["backbone_tag"] == tag
    norm = OmegaConf.to_container(cfg.normalization, resolve=True)
    assert norm == {"mean": pytest.approx(mean), "std": pytest.approx(std), "interpolation": interpolation}
    # the same values as the tag's own pretrained_cfg in timm's registry
    ref = timm.get_pretrained_cfg(tag)
    assert list(ref.mean) == pytest.approx(mean) and list(ref.std) == pytest.approx(std)
    assert ref.interpolation == interpolation


def test_paper000_backbone_sweep_keeps_valid_tags():
    """Table II sweeps the backbone under experiment=paper000: each option brings its own tag."""
    for option, tag, half in (("vgg16", "vgg16.tv_in1k", False), ("mobilenetv1_100", None, True)):
        cfg = _compose(["experiment=paper000", f"backbone={option}"])
        got = describe_backbone(cfg.backbone)["backbone_tag"]
        assert got == (tag or "mobilenetv1_100.ra4_e3600_r224_in1k")
        assert (list(cfg.normalization.std) == [0.5] * 3) is half


def test_tag_decides_normalization_and_model_cfg():
    cfg = _compose(["backbone=resnet50", "backbone.pretrained_tag=a1_in1k"])
    assert cfg.normalization.interpolation == "bicubic"
    bb = Backbone("resnet50", pretrained=False, pretrained_tag="tv_in1k", out_indices=[-1])
    assert bb.tag_name == "resnet50.tv_in1k" and bb.body.pretrained_cfg["tag"] == "tv_in1k"
    assert timm_name("resnet50") == "resnet50.a1_in1k"  # null tag: timm's default, resolved and recorded
    with pytest.raises(ValueError, match=r"no pretrained tag 'nope' for backbone 'resnet50'; its tags are: .*tv_in1k"):
        timm_name("resnet50", "nope")
    with pytest.raises(ValueError, match="already names tag"):
        timm_name("resnet50.a1_in1k", "tv_in1k")


@pytest.mark.parametrize("suffix", ["safetensors", "pth"])
def test_checkpoint_path_of_a_tag_loads_offline(tmp_path, suffix):
    src = timm.create_model("resnet18.tv_in1k", pretrained=False)
    path = tmp_path / f"resnet18_tv_in1k.{suffix}"
    if suffix == "safetensors":
        from safetensors.torch import save_file

        save_file(src.state_dict(), str(path))
    else:
        torch.save(src.state_dict(), path)
    loaded = Backbone("resnet18", pretrained_tag="tv_in1k", checkpoint_path=str(path))
    assert loaded.tag_name == "resnet18.tv_in1k"
    want = src.state_dict()
    for k, v in loaded.body.state_dict().items():
        assert torch.equal(v, want[k]), k
    cfg = OmegaConf.create({"name": "resnet18", "pretrained_tag": "tv_in1k", "checkpoint_path": str(path)})
    assert describe_backbone(cfg) == {"backbone_tag": "resnet18.tv_in1k", "backbone_weights": f"checkpoint {path}"}
