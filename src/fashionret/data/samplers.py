"""Batch samplers for metric learning."""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence

import numpy as np
import torch.distributed as dist
from torch.utils.data import Sampler

log = logging.getLogger(__name__)


class _EpochSampler:
    """Per-epoch reshuffling (Lightning calls :meth:`set_epoch`) and the DDP rank/world to split batches over."""

    epoch: int = 0
    _rank: int | None = None
    _world: int | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _dist(self) -> tuple[int, int]:
        if self._rank is not None and self._world is not None:
            return self._rank, self._world
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1


class IdentityBatchSampler(_EpochSampler, Sampler[list[tuple[int, int]]]):
    """Batches of ``C`` identities x ``N`` images, drawn without replacement until the epoch is used up.

    Paper 000 §III-D: groups of N images of one item are drawn at random; a drawn group leaves the pool until
    the next epoch; the epoch ends when no group is left. Each epoch shuffles every identity's images and cuts
    them into groups of ``N`` (a remainder of fewer than N images waits for a later epoch's shuffle), then packs
    groups into batches of ``C`` distinct identities. Identities with fewer than ``N`` images can never form a
    group: they are counted and logged once, not silently used.

    Under DDP every rank builds the same epoch (same seed) and takes every ``world_size``-th batch, truncated
    to the same length on all ranks. Lightning calls :meth:`set_epoch` each epoch.

    Batches hold ``(index, augmentation_seed)`` pairs: the dataset seeds its random transforms per sample, so
    augmentations depend only on (seed, epoch, position) — not on worker count or process — and a resumed run
    sees exactly the images an uninterrupted one would.
    """

    def __init__(
        self,
        labels: Sequence[int],
        classes_per_batch: int,
        images_per_class: int,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ):
        if classes_per_batch < 2:
            raise ValueError("classes_per_batch must be >= 2 (a triplet needs a negative identity)")
        if images_per_class < 2:
            raise ValueError("images_per_class must be >= 2 (a triplet needs a positive)")
        self.C, self.N, self.seed = classes_per_batch, images_per_class, seed
        by_label: dict[int, list[int]] = defaultdict(list)
        for i, lab in enumerate(np.asarray(labels).tolist()):
            by_label[lab].append(i)
        self.by_label = {k: np.asarray(v) for k, v in by_label.items() if len(v) >= self.N}
        self.num_too_small = len(by_label) - len(self.by_label)
        if self.num_too_small:
            log.warning(
                "IdentityBatchSampler: %d of %d identities have fewer than N=%d images and are not used for training",
                self.num_too_small,
                len(by_label),
                self.N,
            )
        if len(self.by_label) < self.C:
            raise ValueError(
                f"only {len(self.by_label)} identities have >= {self.N} images; need >= C={self.C} for one batch"
            )
        self._rank, self._world = rank, world_size
        self.epoch = 0
        self._cache: tuple[int, int, int, list[list[tuple[int, int]]]] | None = None

    def _all_batches(self) -> list[list[tuple[int, int]]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        groups: list[tuple[int, list[int]]] = []
        for lab in sorted(self.by_label):
            idx = rng.permutation(self.by_label[lab])
            for s in range(0, len(idx) - self.N + 1, self.N):
                groups.append((lab, idx[s : s + self.N].tolist()))
        order = rng.permutation(len(groups))
        aug_seeds = iter(rng.integers(0, 2**31 - 1, size=len(groups) * self.N).tolist())
        pending = deque(groups[i] for i in order)
        batches = []
        while len(pending) >= self.C:
            batch, seen, skipped = [], set(), []
            while pending and len(seen) < self.C:
                lab, grp = pending.popleft()
                if lab in seen:
                    skipped.append((lab, grp))
                    continue
                seen.add(lab)
                batch.extend((i, next(aug_seeds)) for i in grp)
            pending.extendleft(reversed(skipped))
            if len(seen) < self.C:
                break  # the rest are groups of too few distinct identities
            batches.append(batch)
        return batches

    def _batches(self) -> list[list[tuple[int, int]]]:
        rank, world = self._dist()
        key = (self.epoch, rank, world)
        if self._cache is None or self._cache[:3] != key:
            allb = self._all_batches()
            per_rank = len(allb) // world
            self._cache = (*key, allb[rank::world][:per_rank])
        return self._cache[3]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        yield from self._batches()

    def __len__(self) -> int:
        return len(self._batches())


class ShuffledBatchSampler(IdentityBatchSampler):
    """Batches of ``batch_size`` images in a seeded random order, every training image once per epoch (a last
    incomplete batch is dropped): for classification losses (normalised softmax, ArcFace, Proxy-Anchor) that need
    no positive pair inside a batch. On a category-level catalogue (a few identities of very different sizes) C x N
    identity batches end when the smallest identity runs out; these use every image. Same ``(index,
    augmentation_seed)`` pairs, epochs and DDP split as :class:`IdentityBatchSampler`."""

    def __init__(self, labels: Sequence[int], batch_size: int, seed: int = 0, rank: int | None = None, world_size=None):
        if batch_size < 2:
            raise ValueError("batch_size must be >= 2")
        self.n, self.batch_size, self.seed = len(labels), int(batch_size), seed
        if self.n < self.batch_size:
            raise ValueError(f"{self.n} training images are fewer than one batch of {self.batch_size}")
        self._rank, self._world = rank, world_size
        self.epoch = 0
        self._cache = None

    def _all_batches(self) -> list[list[tuple[int, int]]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(self.n).tolist()
        seeds = rng.integers(0, 2**31 - 1, size=self.n).tolist()
        b = self.batch_size
        return [list(zip(order[s : s + b], seeds[s : s + b])) for s in range(0, self.n - b + 1, b)]


class AttributeTripletSampler(_EpochSampler, Sampler[list[tuple[int, int, int, int, int]]]):
    """Per-epoch (anchor, positive, negative, attribute) triplets for attribute-specific retrieval.

    ASEN / ASEN++ / AG-MAN protocol (AG-MAN §IV-A: "for every epoch, we construct 100k triplets from the
    training set"): for each triplet an attribute is drawn uniformly; then a value with at least two images
    (anchor and a different positive image with that value), and a negative image of another value of that
    attribute. ASEN draws the positive value uniformly over all values and retries until images exist; we draw
    uniformly over the values that can serve (same distribution conditioned on success).

    ``negatives``: ``images`` (default; the authors' loaders) draws the negative uniformly over all images of the
    attribute's other values, so a frequent value is a frequent negative; ``values`` draws another value
    uniformly, then an image of it (on an imbalanced attribute the two differ: a value with 1% of the images is
    a negative half the time under ``values`` with two values, 1% of the time under ``images``).

    Two sources of triplets:

    * ``attrs`` / ``values`` (per table row: attribute index and value index): sampled per epoch, seeded by
      ``(seed, epoch)``;
    * ``fixed`` ``[M, 4]`` (anchor, positive, negative, condition) rows (Zappos50k's CSN training triplets:
      positive = "close", negative = "far"). ``fixed_subset="once"`` (default; the CSN / AG-MAN loaders): a
      seeded subset of ``triplets_per_epoch`` is chosen once and the same triplets, reshuffled, make every epoch;
      ``"per_epoch"``: a fresh subset each epoch (all of the list is seen over the run).

    Batches hold ``(anchor, positive, negative, attribute, augmentation_seed)``; under DDP every rank builds the
    same epoch and takes every ``world_size``-th batch (equal lengths).
    """

    def __init__(
        self,
        batch_size: int,
        triplets_per_epoch: int | None,
        attrs: Sequence[int] | None = None,
        values: Sequence[int] | None = None,
        fixed: np.ndarray | None = None,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool = True,
        negatives: str = "images",
        fixed_subset: str = "once",
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if negatives not in ("images", "values"):
            raise ValueError(f"negatives must be 'images' or 'values', got {negatives!r}")
        if fixed_subset not in ("once", "per_epoch"):
            raise ValueError(f"fixed_subset must be 'once' or 'per_epoch', got {fixed_subset!r}")
        self.negatives, self.fixed_subset = negatives, fixed_subset
        self.batch_size, self.seed, self.drop_last = batch_size, seed, drop_last
        self._rank, self._world = rank, world_size
        self.epoch = 0
        self.fixed = None if fixed is None else np.asarray(fixed, dtype=np.int64).reshape(-1, 4)
        if self.fixed is not None:
            if len(self.fixed) == 0:
                raise ValueError("no training triplets")
            self.n = len(self.fixed) if triplets_per_epoch is None else min(triplets_per_epoch, len(self.fixed))
            if fixed_subset == "once" and self.n < len(self.fixed):  # one subset for the whole run
                chosen = np.random.default_rng([self.seed, 0x0CE]).permutation(len(self.fixed))[: self.n]
                self.fixed = self.fixed[np.sort(chosen)]
            return
        if attrs is None or values is None:
            raise ValueError("give attrs and values (per row), or fixed triplets")
        if triplets_per_epoch is None:
            raise ValueError("triplets_per_epoch is required when triplets are sampled")
        self.n = int(triplets_per_epoch)
        attrs, values = np.asarray(attrs), np.asarray(values)
        self.pools: dict[int, dict[int, np.ndarray]] = {}
        for a in np.unique(attrs).tolist():
            rows = np.nonzero(attrs == a)[0]
            by_value = {v: rows[values[rows] == v] for v in np.unique(values[rows]).tolist()}
            if len(by_value) >= 2 and any(len(r) >= 2 for r in by_value.values()):
                self.pools[int(a)] = by_value
        # per attribute: its rows grouped by value, and where each value's block starts (negatives over images)
        self._rows = {a: np.concatenate(list(p.values())) for a, p in self.pools.items()}
        self._start = {}
        for a, p in self.pools.items():
            starts = np.cumsum([0] + [len(r) for r in p.values()])[:-1]
            self._start[a] = dict(zip(p.keys(), starts.tolist()))
        unusable = sorted(set(np.unique(attrs).tolist()) - set(self.pools))
        if unusable:
            log.warning(
                "AttributeTripletSampler: attributes %s have no value with 2 images or only one value: not trained",
                unusable,
            )
        if not self.pools:
            raise ValueError("no attribute has two values with an (anchor, positive) pair: cannot form triplets")
        self.attr_ids = sorted(self.pools)

    def _triplets(self) -> Iterator[tuple[int, int, int, int]]:
        """The epoch's triplets in order, drawn one at a time (a run that stops after a few batches, e.g. under
        ``limit_train_batches``, does not pay for the whole epoch)."""
        rng = np.random.default_rng([self.seed, self.epoch, 0xA77])
        if self.fixed is not None:
            yield from (tuple(r) for r in self.fixed[rng.permutation(len(self.fixed))[: self.n]].tolist())
            return
        attrs = rng.choice(self.attr_ids, size=self.n)
        for a in attrs.tolist():
            pool = self.pools[a]
            pos_values = [v for v, r in pool.items() if len(r) >= 2]
            vp = pos_values[int(rng.integers(len(pos_values)))]
            if self.negatives == "values":
                neg_values = [v for v in pool if v != vp]
                vn = neg_values[int(rng.integers(len(neg_values)))]
                x, p = rng.choice(pool[vp], size=2, replace=False)
                n = pool[vn][int(rng.integers(len(pool[vn])))]
            else:  # uniform over the attribute's images of any other value: skip vp's block
                x, p = rng.choice(pool[vp], size=2, replace=False)
                rows, start, size = self._rows[a], self._start[a][vp], len(pool[vp])
                k = int(rng.integers(len(rows) - size))
                n = rows[k if k < start else k + size]
            yield int(x), int(p), int(n), int(a)

    def _batches(self) -> Iterator[list[tuple[int, int, int, int, int]]]:
        """This rank's batches: every ``world_size``-th batch of the epoch, all ranks equally many."""
        rank, world = self._dist()
        rng = np.random.default_rng([self.seed, self.epoch, 0x5EED])
        seeds = rng.integers(0, 2**31 - 1 - 3, size=self.n).tolist()
        per_rank = len(self)
        if per_rank == 0:
            return
        batch: list[tuple[int, int, int, int, int]] = []
        b = given = 0
        for (a, p, n, c), s in zip(self._triplets(), seeds):
            batch.append((a, p, n, c, s))
            if len(batch) < self.batch_size:
                continue
            if b % world == rank:
                yield batch
                given += 1
                if given == per_rank:
                    return
            batch, b = [], b + 1
        if batch and b % world == rank and given < per_rank:  # a last short batch (drop_last=False, or the only one)
            yield batch

    def __iter__(self) -> Iterator[list[tuple[int, int, int, int, int]]]:
        yield from self._batches()

    def __len__(self) -> int:
        n_batches = -(-self.n // self.batch_size)
        if self.drop_last and self.n % self.batch_size and n_batches > 1:
            n_batches -= 1
        _, world = self._dist()
        return n_batches // world if world > 1 else n_batches
