"""Torch datasets over a :class:`~fashionret.data.table.SampleTable`."""

from __future__ import annotations

import logging
from collections import defaultdict

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

from fashionret.data.errors import DatasetFormatError
from fashionret.data.images import ImageReadError, read_image
from fashionret.data.table import SampleTable
from fashionret.data.transforms import crop_box

log = logging.getLogger(__name__)

ON_BAD_IMAGE = ("error", "replace")


class TableImages:
    """Loads (and crops) the images of a table; the part shared by every dataset below.

    An unreadable image or a bbox outside the image raises :class:`DatasetFormatError` naming the image and
    its annotation line. With ``on_bad_image="replace"`` (training only, where ``data.on_bad_sample=skip``) a
    sample whose image fails is replaced by another sample of the same identity (``labels``), and every
    replacement is counted and logged — the batch keeps its identity structure, the run goes on, and nothing
    is silent. Evaluation datasets always raise: dropping an image would change the gallery.
    """

    def __init__(
        self,
        table: SampleTable,
        crop: bool = True,
        bbox_margin: float = 0.0,
        on_bad_image: str = "error",
        labels: np.ndarray | None = None,
        landmarks: bool = False,
    ):
        if on_bad_image not in ON_BAD_IMAGE:
            raise ValueError(f"on_bad_image must be one of {ON_BAD_IMAGE}, got {on_bad_image!r}")
        self.table, self.crop, self.bbox_margin, self.on_bad_image = table, crop, bbox_margin, on_bad_image
        self.with_landmarks = landmarks and "landmarks" in table.columns
        self.num_replaced = 0
        self._labels = None if labels is None else np.asarray(labels)
        self._by_label: dict[int, np.ndarray] | None = None

    def load_image(self, i: int) -> np.ndarray:
        return self.load(i)[0]

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The (cropped) image of row ``i`` and, if requested, its landmarks ``[K, 3]`` in crop coordinates."""
        t = self.table
        file = t.image_root / t.path[i]
        try:
            image = read_image(file)
        except ImageReadError as err:
            raise DatasetFormatError(
                file, None, f"a readable image (listed at {t.source_line[i]})", err.reason
            ) from None
        lms = t.columns["landmarks"][i].astype(np.float32) if self.with_landmarks else None
        if self.crop:
            try:
                box = crop_box(image.shape, t.bbox[i], self.bbox_margin)
            except ValueError as err:
                # boxes from a file of their own (In-Shop / C2S lists, a Street2Shop shop-box file) name its line
                where = (t.columns["bbox_source"][i] if "bbox_source" in t.columns else "") or t.source_line[i]
                raise DatasetFormatError(where, None, f"a bbox inside {file}: {err}") from err
            if box is not None:
                xa, ya, xb, yb = box
                image = image[ya:yb, xa:xb]
                if lms is not None:
                    lms[:, 0] -= xa
                    lms[:, 1] -= ya
        return image, lms

    def load_or_replace(self, i: int, seed: int | None) -> tuple[int, np.ndarray, np.ndarray | None]:
        try:
            return (i, *self.load(i))
        except DatasetFormatError as err:
            if self.on_bad_image != "replace" or self._labels is None:
                raise
            first_err = err
        if self._by_label is None:
            groups: dict[int, list[int]] = defaultdict(list)
            for j, lab in enumerate(self._labels.tolist()):
                groups[lab].append(j)
            self._by_label = {k: np.asarray(v) for k, v in groups.items()}
        rng = np.random.default_rng([i, 0 if seed is None else seed])
        for j in rng.permutation(self._by_label[int(self._labels[i])]).tolist():
            if j == i:
                continue
            try:
                loaded = self.load(j)
            except DatasetFormatError:
                continue
            self.num_replaced += 1
            log.warning(
                "training sample replaced (data.on_bad_sample=skip; %d so far in this process): %s -> used %s "
                "of the same identity instead",
                self.num_replaced,
                first_err,
                self.table.path[j],
            )
            return (j, *loaded)
        raise DatasetFormatError(
            self.table.source_line[i], None, f"another readable image of identity {self.table.identity[i]}"
        ) from first_err


def _transform(transform: A.Compose | None, image: np.ndarray, lms: np.ndarray | None, seed: int | None):
    if transform is None:
        return image, lms
    if seed is not None:
        transform.set_random_seed(seed)
    if lms is None:
        return transform(image=image)["image"], None
    # visibility rides along as a third keypoint column, so a transform that reorders points (a flip that swaps
    # left/right landmarks, fashionret.data.landmarks) moves it with its point
    out = transform(image=image, keypoints=lms[:, :3])
    kp3 = np.asarray(out["keypoints"], dtype=np.float32).reshape(-1, 3)
    kp, vis = kp3[:, :2], kp3[:, 2].copy()
    img = out["image"]
    h, w = (img.shape[-2], img.shape[-1]) if isinstance(img, torch.Tensor) else img.shape[:2]
    outside = (kp[:, 0] < 0) | (kp[:, 1] < 0) | (kp[:, 0] >= w) | (kp[:, 1] >= h)
    vis[outside] = 0
    return img, np.concatenate([kp, vis[:, None]], axis=1)


class RetrievalImageDataset(Dataset):
    """Images of one table split with integer identity labels and group (category) ids.

    Each item is a dict: ``image`` (tensor from the transform), ``label`` (identity id), ``group`` (category
    id), ``index`` (row in this dataset: unique, used to drop DDP padding duplicates in evaluation), plus the
    auxiliary labels asked for in ``aux`` (name -> per-row array; ``landmarks`` is special: ``[K, 3]``
    x, y, visibility, transformed with the image, visibility 0 where a point leaves the image).
    An unreadable image or a bbox outside the image raises an error naming the image and its annotation line
    (or, with ``on_bad_image="replace"``, is replaced by another image of the same identity: see
    :class:`TableImages`).
    """

    def __init__(
        self,
        table: SampleTable,
        labels: np.ndarray,
        groups: np.ndarray,
        transform: A.Compose | None,
        crop: bool = True,
        bbox_margin: float = 0.0,
        on_bad_image: str = "error",
        aux: dict[str, np.ndarray] | None = None,
    ):
        if len(labels) != len(table) or len(groups) != len(table):
            raise ValueError("labels and groups must have one entry per table row")
        aux = dict(aux or {})
        want_landmarks = aux.pop("landmarks", None) is not None
        self.table, self.transform, self.crop, self.bbox_margin = table, transform, crop, bbox_margin
        self.images = TableImages(table, crop, bbox_margin, on_bad_image, labels, landmarks=want_landmarks)
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        self.groups = torch.as_tensor(np.asarray(groups), dtype=torch.long)
        self.aux = {k: torch.as_tensor(np.asarray(v)) for k, v in aux.items()}

    def __len__(self) -> int:
        return len(self.table)

    def load_image(self, i: int) -> np.ndarray:
        return self.images.load_image(i)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        """``key`` is a row index, or ``(index, augmentation_seed)`` from a seeding batch sampler."""
        i, seed = key if isinstance(key, tuple) else (key, None)
        j, image, lms = self.images.load_or_replace(i, seed)
        image, lms = _transform(self.transform, image, lms, seed)
        item = {"image": image, "label": self.labels[i], "group": self.groups[i], "index": torch.tensor(i)}
        for name, values in self.aux.items():
            item[name] = values[j]
        if lms is not None:
            item["landmarks"] = torch.as_tensor(lms, dtype=torch.float32)
        return item


class TripletImageDataset(Dataset):
    """(anchor, positive, negative) images under one condition, for attribute-specific metric learning.

    Keys are ``(anchor row, positive row, negative row, condition, augmentation seed)`` tuples (from
    :class:`~fashionret.data.samplers.AttributeTripletSampler`) or integer positions into a fixed ``triplets``
    array ``[M, 4]`` = (anchor, positive, negative, condition) (Zappos50k's test triplets: positive = "close",
    negative = "far"). Items: ``anchor``, ``positive``, ``negative`` images, ``attr`` (condition) and ``index``
    (position, for fixed triplets).
    """

    def __init__(
        self,
        table: SampleTable,
        transform: A.Compose | None,
        crop: bool = True,
        bbox_margin: float = 0.0,
        triplets: np.ndarray | None = None,
        on_bad_image: str = "error",
        labels: np.ndarray | None = None,
    ):
        self.table, self.transform = table, transform
        self.images = TableImages(table, crop, bbox_margin, on_bad_image, labels)
        self.triplets = None if triplets is None else np.asarray(triplets, dtype=np.int64).reshape(-1, 4)
        # what report_test and chance baselines read: one "label" per item (the condition)
        self.labels = torch.as_tensor(self.triplets[:, 3] if self.triplets is not None else np.zeros(0, np.int64))

    def __len__(self) -> int:
        return 0 if self.triplets is None else len(self.triplets)

    def __getitem__(self, key) -> dict[str, torch.Tensor]:
        if isinstance(key, tuple):
            a, p, n, cond, seed = key
            index = -1
        else:
            a, p, n, cond = (int(v) for v in self.triplets[key])
            seed, index = None, int(key)
        item = {}
        for k, (name, row) in enumerate((("anchor", a), ("positive", p), ("negative", n))):
            _, image, _ = self.images.load_or_replace(int(row), None if seed is None else seed + k)
            image, _ = _transform(self.transform, image, None, None if seed is None else seed + k)
            item[name] = image
        item["attr"] = torch.tensor(int(cond))
        item["index"] = torch.tensor(index)
        return item
