"""Embedding images with a trained run through its LightningModule's ``predict_step`` (batched, with
Lightning's progress bar): image folders, a dataset split of the run, and shard-by-shard writing for indexes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import albumentations as A
import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader, Dataset

from fashionret.data.images import read_image

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def list_images(folder: str | Path) -> list[Path]:
    """Every image file under ``folder`` (recursively), sorted by path; an error if there is none."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"--images {root}: no such folder (expected a folder of gallery images)")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"--images {root}: no image files ({', '.join(IMAGE_SUFFIXES)}) under it")
    return files


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file as an RGB ``uint8`` array: the package's one reader
    (:func:`fashionret.data.images.read_image`, every PIL mode scaled, not clipped)."""
    return read_image(path)


class ImageFiles(Dataset):
    """Image files prepared by a run's eval transforms: items ``{"image", "index"}`` (+ ``"attr"``)."""

    def __init__(self, paths: Sequence[str | Path], transform: A.Compose, attr: int | None = None):
        self.paths, self.transform, self.attr = [Path(p) for p in paths], transform, attr

    def __len__(self) -> int:
        return len(self.paths)

    def load_image(self, i: int) -> np.ndarray:
        return read_rgb(self.paths[i])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {"image": self.transform(image=self.load_image(i))["image"], "index": torch.tensor(i)}
        if self.attr is not None:
            item["attr"] = torch.tensor(self.attr, dtype=torch.long)
        return item


class WithAttribute(Dataset):
    """A dataset whose items get a fixed ``attr`` (queries of an attribute-conditioned model)."""

    def __init__(self, dataset: Dataset, attr: int):
        self.dataset, self.attr = dataset, attr

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {k: v for k, v in self.dataset[i].items() if k in ("image", "index")}
        item["attr"] = torch.tensor(self.attr, dtype=torch.long)
        return item


class OnlyImage(Dataset):
    """A dataset's items reduced to ``{"image", "index"}`` (what ``predict_step`` reads)."""

    def __init__(self, dataset: Dataset, offset: int = 0):
        self.dataset, self.offset = dataset, offset

    def __len__(self) -> int:
        return len(self.dataset) - self.offset  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = self.dataset[i + self.offset]
        return {"image": item["image"], "index": torch.tensor(i + self.offset)}


def predict_trainer(callbacks: Sequence[L.Callback] = (), progress: bool = True) -> L.Trainer:
    """A Trainer for ``predict`` only: one device (a GPU if there is one), no logger, no checkpoints."""
    return L.Trainer(
        accelerator="auto",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        callbacks=list(callbacks),
    )


def loader(dataset: Dataset, batch_size: int, num_workers: int = 0) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)


def embed(
    module: L.LightningModule, dataset: Dataset, batch_size: int = 64, num_workers: int = 0, progress: bool = False
) -> torch.Tensor:
    """Embeddings of every item of ``dataset`` in dataset order (``[N, D]``, or ``[N, A, D]`` for an
    attribute-conditioned model without ``attr``), through ``module.predict_step``."""
    trainer = predict_trainer(progress=progress)
    out = trainer.predict(module, dataloaders=loader(dataset, batch_size, num_workers), return_predictions=True)
    emb = torch.cat([b["embedding"].cpu() for b in out])
    index = torch.cat([b["index"].cpu() for b in out])
    return emb[torch.argsort(index)]


class ShardWriter(BasePredictionWriter):
    """Hands ``predict_step`` outputs to ``write(shard_id, embeddings)`` in shards of ``shard_size`` items.

    Items arrive in dataset order (no shuffling, one device); the dataset starts at shard ``first_shard``,
    so an interrupted index resumes at its first unwritten shard.
    """

    def __init__(self, shard_size: int, first_shard: int, write: Callable[[int, np.ndarray], None]):
        super().__init__(write_interval="batch")
        self.shard_size, self.next_shard, self.write = shard_size, first_shard, write
        self._buffer: list[torch.Tensor] = []
        self._count = 0

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0):
        emb = prediction["embedding"].detach().cpu()
        self._buffer.append(emb)
        self._count += emb.shape[0]
        while self._count >= self.shard_size:
            self._flush(self.shard_size)

    def on_predict_end(self, trainer, pl_module) -> None:
        if self._count:
            self._flush(self._count)

    def _flush(self, n: int) -> None:
        allb = torch.cat(self._buffer)
        shard, rest = allb[:n], allb[n:]
        self._buffer, self._count = ([rest] if rest.shape[0] else []), int(rest.shape[0])
        self.write(self.next_shard, shard.numpy().astype(np.float32))
        self.next_shard += 1
