"""The paper-002/003 experiment files pin paper 002's recipe (§IV-A) per model x dataset; CSN exists in both
settings; a model and a dataset of different tasks are refused before anything is built; callbacks either serve
the attribute module or refuse in one sentence."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hydra
import pytest

from fashionret.cli import CONFIG_DIR
from fashionret.cli.common import build
from fashionret.cli.tasks import models_by_task
from tests.conftest import compose_cfg

BIN = Path(sys.executable).parent
MODELS = {"agman": "AttributeGuidedNetwork", "agmlan": "AttributeGuidedNetwork", "asenet_v2": "ASENetV2"}
MODELS["csn"] = "ConditionalSimilarityNetwork"
DATA = {"fashionai": "fashionai", "deepfashion": "deepfashion_attr", "zappos": "zappos50k"}
PAPER = [
    *(f"paper002_{m}_{d}" for m in ("agman", "asenet_v2", "csn") for d in DATA),
    *(f"paper002_aga_{d}" for d in ("fashionai", "deepfashion")),
    *(f"paper003_agmlan_{d}" for d in DATA),
]


@pytest.mark.parametrize("name", PAPER)
def test_paper_experiments_pin_paper_002_recipe(name, tmp_path):
    cfg = compose_cfg("train", [f"experiment={name}"], tmp_path)
    model = name.split("_", 1)[1].rsplit("_", 1)[0]
    data = DATA[name.rsplit("_", 1)[1]]
    assert cfg.model._target_.endswith(MODELS["agman" if model == "aga" else model]) and cfg.data.family == data
    assert cfg.backbone.name == "resnet50" and cfg.backbone.pretrained is True
    assert (cfg.image_size.height, cfg.image_size.width) == (224, 224)
    assert cfg.data.batch_size == 16 and cfg.data.triplets_per_epoch == 100000
    assert cfg.optimizer._target_ == "torch.optim.Adam" and cfg.optimizer.lr == 1e-4
    sch = cfg.scheduler.scheduler
    assert (sch._target_, sch.step_size, sch.gamma, cfg.scheduler.interval) == (
        "torch.optim.lr_scheduler.StepLR", 3, 0.9, "epoch",
    )  # fmt: skip
    assert cfg.trainer.max_epochs == 50
    assert cfg.lit.margin == 0.2 and cfg.lit.distance == "cosine" and cfg.lit.similarity is None  # ranks as trained
    assert cfg.lit.embed_reg == 0.0 and cfg.lit.mask_reg == 0.0  # no CSN norm penalties in paper 002's runs
    assert cfg.callbacks.model_checkpoint.monitor == "val/mAP" and cfg.callbacks.retrieval_figures.topk == 10
    if model in ("agman", "agmlan", "csn"):
        assert cfg.model.embedding_dim == 1024
    if model == "csn":
        assert cfg.model.normalize is True and cfg.model.feature_index == 3
    if model in ("agman", "agmlan", "aga"):
        # no classification branch for Zappos50k (paper 003 §4.1), triplet loss alone there (the code)
        assert cfg.model.classification is (data != "zappos50k" and model != "aga")
        assert (cfg.lit.loss_weighting is not None) is (data != "zappos50k")  # eq. 9 (a missing L_c: its w_0 too)
        assert cfg.model.masked_embedding is (model == "agmlan") and cfg.model.ca is (model != "agmlan")
        assert cfg.model.hierarchical is (model != "aga")
    model_cfg = hydra.utils.instantiate(cfg.lit.loss_weighting) if cfg.lit.loss_weighting else None
    if model_cfg is not None:
        assert model_cfg.form == "exp" and model_cfg.weights.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("data", DATA)
def test_original_csn_experiments(data, tmp_path):
    cfg = compose_cfg("train", [f"experiment=csn_{data}"], tmp_path)
    assert cfg.model.embedding_dim == 64 and cfg.model.normalize is False and cfg.lit.distance == "euclidean"
    assert (cfg.lit.embed_reg, cfg.lit.mask_reg) == (5e-3, 5e-4) and cfg.lit.similarity is None
    assert cfg.backbone.name == "resnet18" and cfg.image_size.height == 112 and cfg.optimizer.lr == 5e-5
    assert cfg.data.batch_size == 256 and cfg.trainer.max_epochs == 200 and cfg.data.family == DATA[data]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FASHIONRET_ROOT": str(cwd), "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [str(BIN / "fashionret-train"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_task_mismatch_is_refused_before_anything_is_built(tmp_path):
    out = _run(["model=csn"], tmp_path)  # the demo's identity dataset with an attribute model
    assert out.returncode != 0
    identity_models = " | ".join(models_by_task(CONFIG_DIR)["identity"])
    assert {"sn", "sbn", "sban", "dban"} <= set(identity_models.split(" | "))
    assert (
        "model=csn serves attribute-specific retrieval, but data=deepfashion_inshop is a dataset for identity "
        f"retrieval: choose model={identity_models} for it." in out.stderr
    )
    assert "KeyError" not in out.stderr and not (tmp_path / "data").exists()  # nothing generated or built
    cfg = compose_cfg("train", ["model=dban", "data=zappos50k"], tmp_path)
    with pytest.raises(ValueError, match=r"^model=dban serves identity retrieval, .* choose model=agman \| agmlan"):
        build(cfg)


def test_identity_only_callbacks_refuse_the_attribute_module_in_one_sentence(tmp_path):
    from fashionret.lit.callbacks import ValidationTripletLoss

    cfg = compose_cfg(
        "train", ["experiment=paper002_csn_fashionai", "backbone=resnet18", "backbone.pretrained=false"], tmp_path
    )
    lit = hydra.utils.instantiate(cfg.lit)
    with pytest.raises(ValueError, match=r"^callback ValidationTripletLoss needs an identity-retrieval module"):
        ValidationTripletLoss().setup(None, lit, "fit")
