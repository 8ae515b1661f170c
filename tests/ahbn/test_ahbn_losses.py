"""AHBN losses (eq. 1, 2, 12), Gaussian heatmap targets, DeepFashion landmark slots, flip swapping, NME."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest
import torch

from fashionret.data.landmarks import (
    DEEPFASHION_FLIP_PAIRS,
    HorizontalFlipLandmarks,
    deepfashion_slots,
    gaussian_heatmaps,
    normalized_errors,
)
from fashionret.losses.ahbn import AHBNLoss, AttributeBCELoss, LandmarkHeatmapLoss


def test_heatmap_loss_is_eq2_and_ignores_invisible_landmarks():
    torch.manual_seed(0)
    pred = torch.randn(2, 3, 8, 8, requires_grad=True)
    target = torch.rand(2, 3, 8, 8)
    visible = torch.tensor([[1, 0, 1], [0, 0, 1]], dtype=torch.bool)
    loss = LandmarkHeatmapLoss()(pred, target, visible)
    want = (
        sum((pred[b, m] - target[b, m]).norm() for b in range(2) for m in range(3) if visible[b, m]) / 2
    )  # sum over landmarks, mean over the batch
    assert torch.allclose(loss, want)
    loss.backward()
    assert (pred.grad[~visible] == 0).all() and (pred.grad[visible].abs().sum((1, 2)) > 0).all()
    # any prediction on an invisible landmark leaves the loss unchanged
    pred2 = pred.detach().clone()
    pred2[0, 1] += 100.0
    assert torch.allclose(LandmarkHeatmapLoss()(pred2, target, visible), loss.detach())
    # eq. 2 on the final stack by default; stacks="all" supervises every stack (two stacks, twice the loss)
    assert torch.allclose(LandmarkHeatmapLoss()([torch.zeros_like(pred), pred], target, visible), loss)
    assert torch.allclose(LandmarkHeatmapLoss("all")([pred, pred], target, visible), 2 * loss)
    with pytest.raises(ValueError, match="'final' or 'all'"):
        LandmarkHeatmapLoss("middle")


def test_attribute_bce_is_eq1_over_known_labels():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    labels = torch.tensor([[1, -1, 0], [-1, 1, 1]])
    known = labels != 0
    p = torch.sigmoid(logits)
    y = (labels > 0).float()
    want = -(y * p.log() + (1 - y) * (1 - p).log())[known].mean()
    assert torch.allclose(AttributeBCELoss()(logits, labels), want)


def test_gaussian_targets_peak_at_the_landmark_and_mask_invisible():
    lms = torch.tensor([[[31.5, 15.5, 2], [10.0, 10.0, 1], [0, 0, 0]]])  # visible, occluded, absent
    targets, visible = gaussian_heatmaps(lms, image_size=(64, 64), heatmap_size=(16, 16), sigma=1.0)
    assert targets.shape == (1, 3, 16, 16)
    assert visible.tolist() == [[True, False, False]]
    peak = int(targets[0, 0].argmax())
    assert (peak % 16, peak // 16) == (7, 3)  # pixel-centre 31.5 -> (31.5 + .5) / 4 - .5 = 7.5 -> 7 or 8
    assert float(targets[0, 0].max()) > 0.6 and (targets[0, 1:] == 0).all()


def test_ahbn_loss_weights_choose_the_terms():
    logits = torch.randn(4, 5)
    heat = [torch.randn(4, 8, 16, 16)]
    lms = torch.cat([torch.rand(4, 8, 2) * 64, torch.full((4, 8, 1), 2.0)], dim=2)
    attrs = torch.randint(-1, 2, (4, 3))
    kw = dict(
        id_logits=logits,
        id_targets=torch.tensor([0, 1, 2, 3]),
        attribute_logits=torch.randn(4, 3),
        attributes=attrs,
        heatmaps=heat,
        landmarks=lms,
        image_size=(64, 64),
    )
    full = AHBNLoss()
    total = full(**kw)
    assert set(full.last_stats) == {"id_loss", "attribute_loss", "landmark_loss"}
    assert torch.allclose(total, torch.tensor(sum(full.last_stats.values())), atol=1e-5)
    pre = AHBNLoss(id=0)  # the pre-training stage: eq. 1 + eq. 2 only, no ID logits needed
    pre(**{**kw, "id_logits": None, "id_targets": None})
    assert set(pre.last_stats) == {"attribute_loss", "landmark_loss"}
    with pytest.raises(ValueError, match="attribute labels"):
        AHBNLoss()(**{**kw, "attributes": None})


def test_deepfashion_slots_place_each_part_in_its_slot():
    lms = np.zeros((3, 8, 3), dtype=np.int16)
    lms[0, :6] = [[i, i, 2] for i in range(1, 7)]  # upper: collar, sleeve, hem
    lms[1, :4] = [[i, i, 2] for i in range(11, 15)]  # lower: waistline, hem
    lms[2, :8] = [[i, i, 2] for i in range(21, 29)]  # full
    out = deepfashion_slots(lms, np.array([1, 2, 3]))
    assert out[0, :, 0].tolist() == [1, 2, 3, 4, 0, 0, 5, 6]
    assert out[1, :, 0].tolist() == [0, 0, 0, 0, 11, 12, 13, 14]
    assert out[2, :, 0].tolist() == list(range(21, 29))
    assert out[0, 4:6, 2].tolist() == [0, 0]  # no waistline on an upper-body item: absent
    with pytest.raises(ValueError, match="clothes_type"):
        deepfashion_slots(lms, np.array([1, 2, 4]))


def test_horizontal_flip_swaps_left_and_right_landmarks():
    t = A.Compose(
        [HorizontalFlipLandmarks(p=1.0)], keypoint_params=A.KeypointParams(format="xy", remove_invisible=False)
    )
    kp = np.array([[1, 0, 2], [5, 0, 1]] + [[0, 0, 0]] * 6, dtype=np.float32)  # L collar visible, R occluded
    out = np.asarray(t(image=np.zeros((4, 10, 3), np.uint8), keypoints=kp)["keypoints"])
    # the old left collar (x=1) is now on the right (x = 10 - 1 - 1 = 8) and is the *right* collar (slot 1)
    assert out[1].tolist() == [8, 0, 2] and out[0].tolist() == [4, 0, 1]
    assert DEEPFASHION_FLIP_PAIRS == ((0, 1), (2, 3), (4, 5), (6, 7))


def test_normalized_error_is_zero_at_the_peak():
    lms = torch.tensor([[[31.5, 15.5, 2], [3.0, 60.0, 2]]])
    targets, _ = gaussian_heatmaps(lms, (64, 64), (64, 64))
    err, vis = normalized_errors(targets, lms, (64, 64))
    assert vis.all() and float(err.max()) < 1 / 64
    err2, _ = normalized_errors(targets.flip(-1), lms, (64, 64))  # mirrored predictions are far off
    assert float(err2[0, 1]) > 0.5
