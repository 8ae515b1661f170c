"""LightningDataModule for attribute-specific retrieval (FashionAI, DeepFashion attributes) and triplet relation
prediction (Zappos50k)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from fashionret.data.base import RetrievalDataModuleBase
from fashionret.data.datamodule import query_gallery
from fashionret.data.datasets import RetrievalImageDataset, TripletImageDataset
from fashionret.data.parsers import TASKS
from fashionret.data.samplers import AttributeTripletSampler
from fashionret.data.table import SampleTable
from fashionret.data.transforms import compose

log = logging.getLogger(__name__)


class AttributeRetrievalDataModule(RetrievalDataModuleBase):
    """(image, attribute) triplets for training; per-attribute query/candidate sets or fixed triplets for eval.

    Two tasks, chosen by the family (``fashionret.data.parsers.TASKS``):

    * ``attribute`` (``fashionai``, ``deepfashion_attr``; ASEN / AG-MAN protocol): each epoch draws
      ``triplets_per_epoch`` (anchor, positive, negative | attribute) triplets from the training rows (same
      attribute value = positive, another value of that attribute = negative; AG-MAN: 100k per epoch).
      Evaluation datasets are the ``query_<split>`` / ``candidate_<split>`` rows: items carry ``label`` (one id
      per (attribute, value)) and ``group`` (the attribute index): MAP is computed per attribute over that
      attribute's candidates (``fashionret.eval.AttributeMAP``).
    * ``triplet`` (``zappos50k``; CSN protocol): training uses CSN's fixed training triplets, shuffled each epoch
      (the first ``triplets_per_epoch`` of the shuffle, all when null); evaluation the fixed val / test triplets
      (the first ``eval_triplets`` of each, all when null), scored as triplet relation prediction accuracy.

    Training batches are dicts with ``anchor``, ``positive``, ``negative`` images ``[B, 3, H, W]`` and ``attr``
    ``[B]``. ``num_attributes`` (from the config, read by the model config as its number of conditions) is
    checked against the dataset. ``negatives`` (``images`` / ``values``) and ``fixed_triplets`` (``once`` /
    ``per_epoch``): see :class:`fashionret.data.samplers.AttributeTripletSampler` (defaults: the authors' code).
    A training image that fails to load is replaced by another image with the same
    (attribute, value) when ``on_bad_sample=skip`` (counted and logged); an evaluation image that fails is an
    error.
    """

    def __init__(
        self,
        family: str,
        root: str | Path,
        transforms: dict,
        synthetic: dict | None = None,
        batch_size: int = 32,
        triplets_per_epoch: int | None = 100000,
        eval_batch_size: int = 64,
        eval_triplets: int | None = None,
        num_workers: int = 0,
        crop_to_bbox: bool = False,
        bbox_margin: float = 0.0,
        on_bad_sample: str = "error",
        cache_dir: str | Path | None = None,
        seed: int = 0,
        pin_memory: bool = False,
        parser_options: dict | None = None,
        num_attributes: int | None = None,
        negatives: str = "images",
        fixed_triplets: str = "once",
    ):
        super().__init__()
        if family not in TASKS or TASKS[family] == "identity":
            raise ValueError(
                f"{family!r} is not an attribute-specific dataset "
                f"(attribute families: {sorted(k for k, v in TASKS.items() if v != 'identity')}); "
                "identity datasets use IdentityRetrievalDataModule"
            )
        self.family, self.root, self.synthetic = family, Path(root), synthetic
        self.task = TASKS[family]
        self.batch_size, self.triplets_per_epoch = batch_size, triplets_per_epoch
        self.eval_batch_size, self.eval_triplets = eval_batch_size, eval_triplets
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.crop, self.bbox_margin = crop_to_bbox, bbox_margin
        self.on_bad_sample, self.cache_dir, self.seed = on_bad_sample, cache_dir, seed
        self.parser_options = dict(parser_options or {})
        self.num_attributes = num_attributes
        self.negatives, self.fixed_triplets = negatives, fixed_triplets
        self.train_transform = compose(transforms.get("train"), seed)
        self.eval_transform = compose(transforms.get("eval"), seed)
        self.table: SampleTable | None = None
        self.attribute_names: list[str] = []
        self.group_names: list[str] = []
        self.datasets: dict = {}

    def setup(self, stage: str | None = None) -> None:
        if self.table is not None:
            return
        table = self.load_sample_table()
        self.table = table
        if self.task == "attribute":
            self._setup_attribute(table)
        else:
            self._setup_triplet(table)
        if self.num_attributes is not None and len(self.attribute_names) != self.num_attributes:
            raise ValueError(
                f"data.num_attributes={self.num_attributes} but {self.family} at {self.root} has "
                f"{len(self.attribute_names)} attributes {self.attribute_names} "
                f"(from {table.meta.get('meta_source', 'its files')})"
            )
        sizes = {k: len(v.images.table) if k == "train" else len(v) for k, v in self.datasets.items()}  # train: images
        log.info(
            "%s: %s; %s training triplets per epoch",
            self.family,
            ", ".join(f"{k}={n}" for k, n in sizes.items()),
            "all" if self.triplets_per_epoch is None else self.triplets_per_epoch,
        )

    # ------------------------------------------------------------------------------------------------------
    def _setup_attribute(self, table: SampleTable) -> None:
        self.attribute_names = list(table.meta.get("attributes") or sorted(set(table.category.tolist())))
        self.group_names = self.attribute_names
        attr, value = table.columns["attr"], table.columns["attr_value"]
        nums = table.meta.get("attribute_num") or [
            int(value[attr == a].max()) + 1 if (attr == a).any() else 0 for a in range(int(attr.max()) + 1)
        ]
        offsets = np.concatenate([[0], np.cumsum(nums)])
        labels = (offsets[attr] + value).astype(np.int64)  # one id per (attribute, value)
        self._labels = labels
        train = table.split == "train"
        if not train.any():
            raise ValueError(f"{self.family} at {self.root}: the train split (label_train.txt) is empty")
        tr = np.nonzero(train)[0]
        self.datasets["train"] = TripletImageDataset(
            table.subset(tr),
            self.train_transform,
            self.crop,
            self.bbox_margin,
            on_bad_image="replace" if self.on_bad_sample == "skip" else "error",
            labels=labels[tr],
        )
        self._train_attrs, self._train_values = attr[tr], value[tr]
        self.train_images = table.path[tr]  # with _train_attrs: what eq. 7's target can tell (lit.attribute)
        for stage, sel in (("val", table.split == "val"), ("test", np.isin(table.split, ("query", "gallery")))):
            rows = np.nonzero(sel)[0]
            q, g = query_gallery(table.subset(rows))
            if len(q) == 0 or len(g) == 0:
                files = "query_valid/candidate_valid" if stage == "val" else "query_test/candidate_test"
                raise ValueError(
                    f"{self.family} at {self.root}: the {stage} split has {len(q)} queries and {len(g)} candidates "
                    f"({files}.txt); both must be non-empty"
                )
            for role, t in (("query", q), ("gallery", g)):
                lab = (offsets[t.columns["attr"]] + t.columns["attr_value"]).astype(np.int64)
                self.datasets[f"{stage}_{role}"] = RetrievalImageDataset(
                    t, lab, t.columns["attr"], self.eval_transform, self.crop, self.bbox_margin
                )

    def _setup_triplet(self, table: SampleTable) -> None:
        self.attribute_names = list(table.meta.get("conditions") or [])
        self.group_names = self.attribute_names
        for split in ("train", "val", "test"):
            trip = table.extras.get(f"triplets_{split}")
            if trip is None or len(trip) == 0:
                raise ValueError(f"{self.family} at {self.root}: no {split} triplets (tripletlists/*_{split}.txt)")
        train = table.extras["triplets_train"]
        # CSN lines are (anchor, far, close); datasets take (anchor, positive, negative, condition)
        self._train_fixed = train[:, [0, 2, 1, 3]]
        on_bad = "replace" if self.on_bad_sample == "skip" else "error"
        self.datasets["train"] = TripletImageDataset(
            table, self.train_transform, self.crop, self.bbox_margin, on_bad_image=on_bad, labels=None
        )
        if on_bad == "replace":
            log.info("zappos50k: no identities to replace a failing training image with: it stays an error")
            self.datasets["train"].images.on_bad_image = "error"
        for stage, split in (("val", "val"), ("test", "test")):
            trip = table.extras[f"triplets_{split}"][:, [0, 2, 1, 3]]
            if self.eval_triplets is not None:
                rng = np.random.default_rng(self.seed)
                trip = trip[np.sort(rng.permutation(len(trip))[: self.eval_triplets])]
            ds = TripletImageDataset(table, self.eval_transform, self.crop, self.bbox_margin, triplets=trip)
            # the identity task's names, so that the train/eval CLIs' reporting finds the test set
            self.datasets[f"{stage}_query"] = ds
            self.datasets[f"{stage}_gallery"] = ds

    # ------------------------------------------------------------------------------------------------------
    def train_dataloader(self) -> DataLoader:
        if self.task == "attribute":
            sampler = AttributeTripletSampler(
                self.batch_size,
                self.triplets_per_epoch,
                attrs=self._train_attrs,
                values=self._train_values,
                seed=self.seed,
                negatives=self.negatives,
            )
        else:
            sampler = AttributeTripletSampler(
                self.batch_size,
                self.triplets_per_epoch,
                fixed=self._train_fixed,
                seed=self.seed,
                fixed_subset=self.fixed_triplets,
            )
        return DataLoader(self.datasets["train"], batch_sampler=sampler, **self._loader_kwargs())

    def _eval_loaders(self, stage: str) -> Sequence[DataLoader]:
        if self.task == "triplet":  # one loader of fixed triplets (the query / gallery names hold the same set)
            return [self._eval_loader(self.datasets[f"{stage}_query"])]
        return super()._eval_loaders(stage)
