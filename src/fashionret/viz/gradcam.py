"""Grad-CAM over query images (paper 000 §IV-J, Fig. 7) with the ``grad-cam`` package (pytorch_grad_cam).

An embedding model has no class score, so the explained quantity is the cosine similarity between the query's
embedding and a *concept* embedding — by default its true match in the gallery ("what makes this query look
like its shop image"), given to ``pytorch_grad_cam`` as a model target (:class:`CosineToConcept`, the
"similarity to concept" target of the package's embedding tutorial). Target layers default to the
model's ``gradcam_target_layers()`` (for PAResNet: the branches' CBAM outputs, else the deep path's 1x1 conv).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from torch import nn


class CosineToConcept:
    """Grad-CAM target for an embedding model: ``cos(model_output, concept)`` for one sample's output."""

    def __init__(self, concept: torch.Tensor):
        self.concept = concept

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cosine_similarity(model_output, self.concept, dim=0)


def resolve_target_layers(model: nn.Module, target_layers: str | Sequence[str] = "auto") -> list[nn.Module]:
    """``auto``: ``model.gradcam_target_layers()`` when the model defines it, else its last ``Conv2d``;
    otherwise dotted module names inside ``model`` (e.g. ``reduce`` or ``branches.0.attention``)."""
    if target_layers == "auto":
        if hasattr(model, "gradcam_target_layers"):
            return list(model.gradcam_target_layers())
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        if not convs:
            raise ValueError("no Conv2d layer to explain; name target_layers explicitly")
        return [convs[-1]]
    names = [target_layers] if isinstance(target_layers, str) else list(target_layers)
    return [model.get_submodule(n) for n in names]


def gradcam_maps(
    model: nn.Module,
    images: torch.Tensor,
    concepts: torch.Tensor,
    target_layers: str | Sequence[str] = "auto",
) -> np.ndarray:
    """Grad-CAM maps ``[B, H, W]`` in ``[0, 1]`` for ``images [B, 3, H, W]``: the gradient of
    ``cos(model(image_b), concepts[b])`` w.r.t. the target layers' activations.

    Works inside ``torch.inference_mode`` contexts (Lightning's test loop): gradients are re-enabled here and
    the inputs copied out of inference mode. The model's parameter gradients are cleared afterwards.
    """
    layers = resolve_target_layers(model, target_layers)
    was_training = model.training
    with torch.inference_mode(False), torch.enable_grad():
        device = next(model.parameters()).device
        x = images.detach().clone().to(device).float()
        targets = [CosineToConcept(c.detach().clone().to(device).float()) for c in concepts]
        with GradCAM(model=model, target_layers=layers) as cam:
            maps = cam(input_tensor=x, targets=targets)
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return np.asarray(maps, dtype=np.float32)


def overlay(image: np.ndarray, cam: np.ndarray, image_weight: float = 0.5) -> np.ndarray:
    """Heat map (red: important, blue: not — paper 000 Fig. 7) over an RGB ``uint8`` image resized to the
    map's size."""
    h, w = cam.shape
    rgb = np.asarray(Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB").resize((w, h)), np.float32)
    return show_cam_on_image(rgb / 255.0, cam, use_rgb=True, image_weight=image_weight)


def gradcam_panel(
    images: Sequence[np.ndarray],
    cams: np.ndarray,
    captions: Sequence[str] | None = None,
    cell: int = 128,
    per_row: int = 4,
) -> Image.Image:
    """Pairs of (query, query + Grad-CAM overlay), ``per_row`` pairs per row, each cell ``cell`` px high."""
    font = ImageFont.load_default()
    pairs = []
    for img, cam in zip(images, cams):
        over = overlay(img, cam)
        a = Image.fromarray(np.asarray(img, dtype=np.uint8)).convert("RGB").resize(over.shape[1::-1])
        b = Image.fromarray(over)
        scale = cell / a.height
        size = (max(1, round(a.width * scale)), cell)
        pairs.append((a.resize(size), b.resize(size)))
    if not pairs:
        return Image.new("RGB", (1, 1), (255, 255, 255))
    pw = max(a.width for a, _ in pairs) * 2 + 4
    cap, gap = 12, 8
    rows = (len(pairs) + per_row - 1) // per_row
    panel = Image.new("RGB", (min(len(pairs), per_row) * (pw + gap) + gap, rows * (cell + cap + gap) + gap), "white")
    draw = ImageDraw.Draw(panel)
    for i, (a, b) in enumerate(pairs):
        x0, y0 = gap + (i % per_row) * (pw + gap), gap + (i // per_row) * (cell + cap + gap)
        if captions:
            draw.text((x0, y0), captions[i], fill=(0, 0, 0), font=font)
        panel.paste(a, (x0, y0 + cap))
        panel.paste(b, (x0 + a.width + 4, y0 + cap))
    return panel
