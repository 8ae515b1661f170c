"""Image pipelines: bbox crop, then an albumentations ``Compose`` built from config."""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import cv2
import numpy as np

#: timm / PIL interpolation names -> OpenCV flags (albumentations resizes with OpenCV)
CV2_INTERPOLATION = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


def cv2_interpolation(name: str) -> int:
    """The OpenCV flag for an interpolation name (``bicubic`` -> ``cv2.INTER_CUBIC``); the config's resize
    steps read the backbone's ``normalization.interpolation`` through the ``${cv2_interpolation:...}`` resolver.
    """
    key = str(name).lower()
    if key not in CV2_INTERPOLATION:
        raise ValueError(f"normalization.interpolation={name!r}: expected one of {sorted(CV2_INTERPOLATION)}")
    return int(CV2_INTERPOLATION[key])


def compose(
    transforms: Sequence[A.BasicTransform] | A.Compose | None, seed: int = 0, keypoints: bool = False
) -> A.Compose | None:
    """Compose the transform list the config instantiated (``data.transforms.train`` / ``.eval``).

    Seeded, so that even without per-sample seeds (see ``IdentityBatchSampler``) runs are repeatable.
    ``keypoints=True`` makes the pipeline move landmarks (``xy``) with the image (flip, rotate, resize); a
    horizontal flip does not swap left/right landmark names.
    """
    if transforms is None:
        return None
    if isinstance(transforms, A.Compose):
        if not keypoints:
            return transforms
        transforms = list(transforms.transforms)
    kw = {"keypoint_params": A.KeypointParams(format="xy", remove_invisible=False)} if keypoints else {}
    return A.Compose(list(transforms), seed=seed, **kw)


def crop_box(shape: tuple[int, ...], bbox: np.ndarray, margin: float = 0.0) -> tuple[int, int, int, int] | None:
    """The pixel window ``(xa, ya, xb, yb)`` that :func:`crop_to_bbox` cuts, or ``None`` for a ``nan`` box."""
    if np.isnan(bbox).any():
        return None
    h, w = shape[:2]
    x1, y1, x2, y2 = (float(v) for v in bbox)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    xa, ya = max(0, int(np.floor(x1 - mx))), max(0, int(np.floor(y1 - my)))
    xb, yb = min(w, int(np.ceil(x2 + mx))), min(h, int(np.ceil(y2 + my)))
    if xb <= xa or yb <= ya:
        raise ValueError(f"bbox {x1:g},{y1:g},{x2:g},{y2:g} lies outside the {w}x{h} image")
    return xa, ya, xb, yb


def crop_to_bbox(image: np.ndarray, bbox: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Crop ``image`` (H, W, C) to ``bbox`` = (x1, y1, x2, y2), widened by ``margin`` x box size per side.

    The box is clipped to the image; a box with no overlap with the image raises ``ValueError`` (the caller
    names the file and annotation line). A ``nan`` box means "no box": the image is returned whole.
    """
    box = crop_box(image.shape, bbox, margin)
    if box is None:
        return image
    xa, ya, xb, yb = box
    return image[ya:yb, xa:xb]
