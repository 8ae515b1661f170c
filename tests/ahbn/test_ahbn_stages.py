"""The two-stage schedule as config (fashionret.cli.stages): what each stage of a job is composed as."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fashionret.cli.stages import stage_configs
from tests.conftest import compose_cfg


def _stages(experiment: str, tmp_path: Path, *extra: str):
    cfg = compose_cfg("train", [f"experiment={experiment}", "+smoke=cpu", *extra], tmp_path)
    return cfg, stage_configs(cfg)


def test_ahbn_pretrains_the_branches_then_trains_the_whole_model(tmp_path):
    cfg, stages = _stages("paper001", tmp_path, "trainer.max_epochs=3")
    assert [name for name, _ in stages] == ["pretrain", "joint"]
    (_, pre), (_, joint) = stages
    assert (pre.loss.id, pre.loss.attribute, pre.loss.landmark) == (0, 1, 1)  # eq. 1 + eq. 2
    assert (joint.loss.id, joint.loss.attribute, joint.loss.landmark) == (1, 1, 1)  # eq. 1 + 2 + 12
    assert pre.paths.output_dir == str(tmp_path / "stage_pretrain") and not pre.test and joint.test
    assert pre.callbacks.stage_weights.path == str(tmp_path / "stage_pretrain" / "weights.pt")
    assert pre.lit.init_weights is None and joint.lit.init_weights == pre.callbacks.stage_weights.path
    # the job's own overrides (here the epochs and +smoke=cpu) hold in every stage
    assert pre.trainer.max_epochs == joint.trainer.max_epochs == 3
    assert pre.data.root == joint.data.root == cfg.data.root and pre.stages is None


def test_street2shop_pretrains_on_consumer_to_shop(tmp_path):
    _, ((n1, pre), (n2, s2s)) = _stages("paper001_street2shop_skirts", tmp_path)
    assert (n1, n2) == ("pretrain_c2s", "street2shop")
    assert pre.data.family == "deepfashion_c2s" and pre.data.categories is None
    assert list(pre.data.aux_labels) == ["attributes", "landmarks"] and pre.data.attribute_top_k == 51
    assert (pre.loss.id, pre.loss.attribute, pre.loss.landmark) == (0, 1, 1)
    assert s2s.data.family == "street2shop" and list(s2s.data.categories) == ["skirts"]
    assert list(s2s.data.aux_labels) == [] and (s2s.loss.id, s2s.loss.attribute, s2s.loss.landmark) == (1, 0, 0)


def test_stage_names_must_be_distinct(tmp_path):
    cfg = compose_cfg("train", ["experiment=paper001", "+smoke=cpu", "stages.1.name=pretrain"], tmp_path)
    with pytest.raises(ValueError, match="distinct name"):
        stage_configs(cfg)


def _ahbn_module(init_weights=None):
    from fashionret.lit.ahbn import AHBNModule
    from fashionret.losses.ahbn import AHBNLoss
    from fashionret.models import Backbone
    from fashionret.models.ahbn import AHBN

    torch.manual_seed(len(str(init_weights)))  # the two modules start from different random weights
    model = AHBN(Backbone("resnet18"), conv_channels=16, num_stacks=1, hourglass_depth=2, grid=4, cbp_dim=64)
    return AHBNModule(model, AHBNLoss(), optimizer=torch.optim.Adam, init_weights=init_weights)


@pytest.mark.slow
def test_pretrained_attribute_classifier_is_carried_into_the_joint_stage(tmp_path, caplog):
    """Paper 001 §IV-B: the joint stage starts eq. 1 from the pre-trained attribute classifier, not a random one
    (and a stage that selects other attributes starts fresh, saying so)."""
    import logging
    from types import SimpleNamespace

    import numpy as np

    from fashionret.lit.stages import HEADS, StageWeights

    dm = SimpleNamespace(
        datasets={"train": SimpleNamespace(labels=torch.arange(6))}, attribute_index=np.array([4, 1, 7]), table=None
    )
    pre = _ahbn_module()
    pre._trainer = SimpleNamespace(datamodule=dm)
    pre.setup("fit")
    with torch.no_grad():
        pre.attribute_head.weight.normal_()
    StageWeights(str(tmp_path / "weights.pt")).on_fit_end(SimpleNamespace(is_global_zero=True), pre)
    assert (tmp_path / HEADS).is_file()

    joint = _ahbn_module(str(tmp_path / "weights.pt"))
    joint._trainer = SimpleNamespace(datamodule=dm)
    with caplog.at_level(logging.INFO):
        joint.setup("fit")
    assert "carried over" in caplog.text
    for k, v in pre.attribute_head.state_dict().items():
        assert torch.equal(joint.attribute_head.state_dict()[k], v), k
    for k, v in pre.model.state_dict().items():
        assert torch.equal(joint.model.state_dict()[k], v), k

    other = _ahbn_module(str(tmp_path / "weights.pt"))
    other._trainer = SimpleNamespace(datamodule=SimpleNamespace(**{**vars(dm), "attribute_index": np.array([0, 1, 2])}))
    with caplog.at_level(logging.INFO):
        other.setup("fit")
    assert "not carried over (this stage selects other attributes)" in caplog.text
    assert not torch.equal(other.attribute_head.weight, pre.attribute_head.weight)
