"""AHBN as the paper sizes it (real backbones at 299x299), and every Table I row as a config that builds and
trains (conf/experiment/paper001_*.yaml under +smoke=cpu, one fast_dev_run step each)."""

from __future__ import annotations

import json
import time

import pytest
import torch

from fashionret.cli.common import build
from fashionret.models import Backbone
from fashionret.models.ahbn import AHBN
from fashionret.tables.paper001 import TABLE1_ROWS
from tests.conftest import compose_cfg

ROWS = [exp for _, exp, _ in TABLE1_ROWS]


@pytest.mark.slow
def test_feature_shapes_at_the_paper_sizes_with_the_real_backbones():
    """V^a = 1536 x 8 x 8 (Inception-ResNet-v2 at 299x299), V^l = 256 x 64 x 64 (4-stack hourglass at 256x256),
    8 heatmaps of 64 x 64, a 2048-d output; ResNet-50 for the "+ Res50" rows re-sampled to the same 8x8 grid."""
    torch.manual_seed(0)
    model = AHBN(Backbone("inception_resnet_v2")).eval()
    x = torch.randn(1, 3, 299, 299)
    start = time.perf_counter()
    with torch.no_grad():
        va, vl, heatmaps, size = model.branch_maps(x)
        out = model.outputs(x)
    took = time.perf_counter() - start
    assert tuple(va.shape) == (1, 1536, 8, 8)
    assert tuple(vl.shape) == (1, 256, 64, 64)
    assert size == (256, 256) and len(heatmaps) == 4 and tuple(heatmaps[-1].shape) == (1, 8, 64, 64)
    assert tuple(out.embedding.shape) == (1, 2048) and tuple(out.attribute_features.shape) == (1, 1536)
    assert model.fusion.out_dim == 8192 and model.feature_sizes == {"pooled": 8192, "embedding": 2048}
    print(f"AHBN at 299x299: {sum(p.numel() for p in model.parameters()):,} parameters, {took:.2f} s (2 passes)")
    r50 = AHBN(Backbone("resnet50"), num_stacks=1).eval()
    shapes = r50.feature_shapes((299, 299))
    assert shapes["V_a"] == [2048, 10, 10] and shapes["V_l"] == [256, 64, 64]
    with torch.no_grad():
        assert tuple(r50(x).shape) == (1, 2048)


@pytest.mark.parametrize("grid", [4, 8, 16])
def test_grid_resampling_rules(grid):
    """4x4: both maps average-pooled; 16x16: V^a up-sampled, V^l average-pooled (§IV-D)."""
    model = AHBN(Backbone("resnet18"), conv_channels=16, num_stacks=1, hourglass_depth=2, grid=grid, cbp_dim=64)
    seen = []
    model.fusion.register_forward_hook(lambda m, inp, out: seen.append([tuple(t.shape) for t in inp]))
    model(torch.randn(1, 3, 299, 299))
    assert seen == [[(1, 512, grid, grid), (1, 16, grid, grid)]]


@pytest.mark.parametrize("row", ROWS)
def test_every_table1_row_builds_and_trains_a_step(row, tmp_path, tmp_path_factory):
    data_dir = tmp_path_factory.getbasetemp() / "ahbn_rows_data"  # one synthetic C2S for all rows
    cfg = compose_cfg(
        "train",
        [
            f"experiment={row}",
            "+smoke=cpu",
            "logger=csv",
            f"paths.data_dir={data_dir}",
            # one training step on a 2 x 2 batch, no validation: wiring, not learning
            "trainer.max_steps=1",
            "trainer.limit_val_batches=0",
            "data.classes_per_batch=2",
            "data.images_per_class=2",
        ],
        tmp_path,
    )
    datamodule, lit, trainer = build(cfg, with_callbacks=False)
    model = lit.model
    before = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}
    trainer.fit(lit, datamodule=datamodule)
    changed = {k.split(".")[0] for k, v in model.state_dict().items() if k in before and not torch.equal(v, before[k])}
    branches = cfg.model.branches
    assert "embed" in changed  # the ID loss (eq. 12) trains the representation
    if branches in ("both", "attribute"):
        assert "backbone" in changed
        assert (lit.attribute_head is not None) == ("attributes" in cfg.data.aux_labels)
    if lit.attribute_head is not None:  # the top-K attributes of the training split, stored with the run
        chosen = json.loads((tmp_path / "attributes.json").read_text())
        k = lit.attribute_head.out_features
        assert [c["k"] for c in chosen] == list(range(k)) and all(c["name"] for c in chosen)
        assert k == min(51, len(datamodule.table.meta["attribute_names"]))
    if branches in ("both", "landmark"):
        assert "hourglass" in changed
    if cfg.model.attention in ("co", "separate"):
        assert "channel_attention" in changed
    assert torch.isfinite(torch.tensor(trainer.callback_metrics["train/loss"].item()))
