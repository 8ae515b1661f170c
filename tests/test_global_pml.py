"""model=global on every shipped timm backbone option, and the pytorch-metric-learning loss options."""

from __future__ import annotations

import hydra
import pytest
import torch
from omegaconf import OmegaConf

from fashionret.cli import CONFIG_DIR
from fashionret.cli.common import build
from tests.conftest import compose_cfg, tiny_overrides

NEW_BACKBONES = {
    # config file: (timm model, tag, normalisation mean[0] of that tag)
    "convnext_tiny": ("convnext_tiny", "fb_in1k", 0.485),
    "vit_small_patch16_224": ("vit_small_patch16_224", "dino", 0.485),
    "vit_small_patch14_dinov2": ("vit_small_patch14_dinov2", "lvd142m", 0.485),
    "vit_base_patch16_clip_224": ("vit_base_patch16_clip_224", "openai", 0.48145466),
}
PML_LOSSES = ("multi_similarity", "contrastive", "triplet_margin", "arcface", "proxy_anchor")


def _batch(n_ids: int = 2, per_id: int = 2, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n_ids).repeat_interleave(per_id)
    images = torch.rand(len(labels), 3, size, size, generator=g) + labels.view(-1, 1, 1, 1) * 0.5
    return images, labels


def _one_step(lit, images, labels, num_classes: int) -> float:
    if getattr(lit.loss, "needs_build", False):
        lit.loss.build(num_classes=num_classes, embedding_size=lit.model.embedding_dim)
    opt = lit.configure_optimizers()
    opt = opt["optimizer"] if isinstance(opt, dict) else opt
    trainable = [p for p in lit.parameters() if p.requires_grad]
    assert {id(p) for g in opt.param_groups for p in g["params"]} == {id(p) for p in trainable}
    before = [p.detach().clone() for p in trainable]
    lit.train()
    loss = lit.loss(lit(images), labels)
    opt.zero_grad()
    loss.backward()
    opt.step()
    changed = sum(not torch.equal(b, p.detach()) for b, p in zip(before, trainable))
    assert torch.isfinite(loss) and changed > 0
    return float(loss.detach())


@pytest.mark.parametrize(
    "backbone",
    [
        pytest.param(b, marks=pytest.mark.slow) if b in ("convnext_tiny", "vit_base_patch16_clip_224") else b
        for b in sorted(NEW_BACKBONES)
    ],
)
def test_backbone_option_builds_and_trains_one_step(backbone, tmp_path):
    name, tag, mean0 = NEW_BACKBONES[backbone]
    raw = OmegaConf.load(f"{CONFIG_DIR}/backbone/{backbone}.yaml")
    assert (raw.name, raw.pretrained_tag) == (name, tag)
    cfg = compose_cfg(
        "train",
        [
            "model=global",
            f"backbone={backbone}",
            "+smoke=cpu",
            "image_size.height=32",
            "image_size.width=32",
            "optimizer.lr=1e-2",
        ],
        tmp_path,
    )
    assert cfg.lit.model.backbone.name == name and cfg.lit.model.backbone.pretrained is False
    assert cfg.normalization.mean[0] == pytest.approx(mean0)  # from the tagged weights' pretrained_cfg
    torch.manual_seed(0)
    lit = hydra.utils.instantiate(cfg.lit)
    assert lit.model.backbone.name == f"{name}.{tag}"
    images, labels = _batch(size=32)
    emb = lit(images)
    assert emb.shape == (4, 16) and torch.allclose(emb.norm(dim=1), torch.ones(4), atol=1e-5)
    _one_step(lit, images, labels, num_classes=2)


def test_vit_pooling_cls_or_mean_token():
    from fashionret.models.global_embedding import GlobalEmbedding, PooledBackbone

    x = torch.rand(2, 3, 32, 32)
    cls = PooledBackbone("vit_small_patch16_224", "dino", img_size=(32, 32))
    mean = PooledBackbone("vit_small_patch16_224", "dino", img_size=(32, 32), pool="avg")
    assert cls.body.global_pool == "token" and mean.body.global_pool == "avg"
    cls.eval(), mean.eval()
    tokens = cls.body.forward_features(x)  # after timm's final norm
    assert torch.allclose(cls(x), tokens[:, 0], atol=1e-5)  # the class token
    tokens = mean.body.forward_features(x)  # timm's avg pool: mean of the patch tokens, then fc_norm
    expected = mean.body.fc_norm(tokens[:, mean.body.num_prefix_tokens :].mean(1))
    assert torch.allclose(mean(x), expected, atol=1e-5)
    zero_shot = GlobalEmbedding(cls, embedding_dim=None)
    assert zero_shot.embedding_dim == 384 and isinstance(zero_shot.proj, torch.nn.Identity)


@pytest.mark.parametrize("loss", PML_LOSSES)
def test_pml_loss_option_trains_one_step(loss, tmp_path):
    cfg = compose_cfg("train", ["model=global", "backbone=resnet18", f"loss={loss}", "+smoke=cpu"], tmp_path)
    assert cfg.loss._target_ == "fashionret.losses.pml.MetricLoss"
    assert cfg.loss.loss._target_.startswith("pytorch_metric_learning.losses.")
    torch.manual_seed(0)  # the initial weights (a miner may find no pair to learn from for some of them)
    lit = hydra.utils.instantiate(cfg.lit)
    images, labels = _batch(n_ids=3, per_id=2, size=32)
    _one_step(lit, images, labels, num_classes=5)
    if loss in ("arcface", "proxy_anchor"):
        own = list(lit.loss.loss.parameters())
        assert own and own[0].shape in ((16, 5), (5, 16))  # sized from the data's classes and the model's width


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["arcface", "proxy_anchor"])
def test_class_loss_parameters_are_optimised_saved_and_restored(loss, tmp_path, inshop_root):
    """ArcFace / Proxy-Anchor weights: in the optimiser, changed by training, in the checkpoint, restored on
    resume, and rebuilt for evaluation from the checkpoint alone."""
    over = tiny_overrides(inshop_root, "model=global", f"loss={loss}", "trainer.max_epochs=1")
    over = [o for o in over if not o.startswith("model.conv_channels")]
    cfg = compose_cfg("train", [*over, "trainer.limit_train_batches=3", "trainer.limit_val_batches=0"], tmp_path)
    dm, lit, trainer = build(cfg)
    torch.manual_seed(0)
    trainer.fit(lit, datamodule=dm)
    key = next(k for k in lit.state_dict() if k.startswith("loss.loss."))
    trained = lit.state_dict()[key].clone()
    ckpt_file = tmp_path / "manual.ckpt"
    trainer.save_checkpoint(ckpt_file)
    state = torch.load(ckpt_file, map_location="cpu", weights_only=True)
    assert torch.equal(state["state_dict"][key], trained)
    assert int(state["state_dict"]["loss.num_classes"]) == dm.num_classes
    opt_state = state["optimizer_states"][0]["state"]
    assert len(opt_state) == sum(1 for p in lit.parameters() if p.requires_grad)  # loss weights have Adam moments

    # a fresh module (same seed, so the same initial weights) differs: training changed them; resuming restores
    cfg2 = compose_cfg("train", [*over, "trainer.limit_train_batches=3", "trainer.limit_val_batches=0"], tmp_path / "r")
    dm2, lit2, trainer2 = build(cfg2)
    dm2.setup("fit")
    lit2.loss.build(dm2.num_classes, lit2.model.embedding_dim)
    assert not torch.equal(lit2.state_dict()[key], trained)
    restored = {}

    def on_train_start():
        restored["w"] = lit2.state_dict()[key].clone()

    lit2.on_train_start = on_train_start
    trainer2.fit_loop.max_epochs = 2
    trainer2.fit(lit2, datamodule=dm2, ckpt_path=str(ckpt_file), weights_only=True)
    assert torch.equal(restored["w"], trained)

    # evaluation/serving: a module built from the config alone takes the checkpoint's loss at its size
    lit3 = hydra.utils.instantiate(cfg.lit)
    lit3.prepare_for_state_dict(state["state_dict"])
    lit3.load_state_dict(state["state_dict"])
    assert torch.equal(lit3.state_dict()[key], trained)
