"""What every retrieval DataModule of the package shares (identity: :mod:`fashionret.data.datamodule`; attribute-
specific: :mod:`fashionret.data.attribute`): generating a synthetic root, loading the family's sample table,
and the loader settings and DDP-aware evaluation loaders."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from fashionret.data.parsers import load_table
from fashionret.data.synth import ensure_synthetic
from fashionret.data.table import SampleTable

log = logging.getLogger(__name__)


class RetrievalDataModuleBase(L.LightningDataModule):
    """Base of the retrieval DataModules. Subclasses set the attributes read here in their ``__init__``
    (``family``, ``root``, ``synthetic``, ``cache_dir``, ``on_bad_sample``, ``parser_options``,
    ``eval_batch_size``, ``num_workers``, ``pin_memory``) and implement ``setup`` and ``_eval_loaders(stage)``."""

    family: str
    root: Path
    synthetic: dict | None
    cache_dir: str | Path | None
    on_bad_sample: str
    parser_options: dict
    eval_batch_size: int
    num_workers: int
    pin_memory: bool

    def _generates(self) -> bool:
        """A synthetic dataset is written at ``root`` (``synthetic.only_at``, set by ``+smoke=cpu``, limits that to
        one folder: a ``data.root`` given by the user is read as it is, never replaced)."""
        if self.synthetic is None:
            return False
        only_at = self.synthetic.get("only_at")
        if only_at and Path(only_at).resolve() != self.root.resolve():
            log.info(
                "data.root=%s is not the synthetic dataset's folder %s: reading the dataset there", self.root, only_at
            )
            return False
        return True

    def prepare_data(self) -> None:
        if self._generates():
            ensure_synthetic(self.synthetic["format"], self.root, **dict(self.synthetic.get("params", {})))

    def load_sample_table(self) -> SampleTable:
        """The family's sample table (generating a synthetic root first when set up without a Trainer)."""
        if self._generates() and not self.root.exists():
            self.prepare_data()  # setup without a Trainer (scripts, tests)
        return load_table(self.family, self.root, self.cache_dir, self.on_bad_sample, self.parser_options)

    def _loader_kwargs(self) -> dict:
        return {
            "num_workers": self.num_workers,
            "pin_memory": self.pin_memory,
            "persistent_workers": self.num_workers > 0,
        }

    def _eval_loader(self, ds: Dataset) -> DataLoader:
        sampler = None
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            # pads with repeated samples to equal length; the metrics drop them by sample index
            sampler = DistributedSampler(ds, shuffle=False, drop_last=False)
        return DataLoader(ds, batch_size=self.eval_batch_size, sampler=sampler, **self._loader_kwargs())

    def _eval_loaders(self, stage: str) -> Sequence[DataLoader]:
        return [self._eval_loader(self.datasets[f"{stage}_{role}"]) for role in ("query", "gallery")]

    def val_dataloader(self) -> Sequence[DataLoader]:
        return self._eval_loaders("val")

    def test_dataloader(self) -> Sequence[DataLoader]:
        return self._eval_loaders("test")
