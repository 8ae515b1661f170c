"""Gallery indexes: a run's embeddings of a gallery, in shards on disk, searched with the ranking engine.

An index is a folder::

    index.json          the embedder (checkpoint, model, fingerprint, normalisation, image size, similarity),
                        the source (an image folder or a dataset split of the run), item count, shard size
    items.json          one entry per gallery item: its path and, for a dataset split, its item identity
    shard_00000.npy     float32 embeddings of items [0, shard_size), [shard_size, 2 shard_size), ...
                        ([n, D]; [n, A, D] for an attribute-conditioned model: one row per attribute)

Shards are written atomically one after another, so an interrupted ``fashionret-search index`` resumes at the
first missing shard. Search reads the shards memory-mapped and keeps one shard's scores in memory at a time:
the exact top-k of each shard (:func:`fashionret.eval.topk_neighbours`, the engine's scores), merged. With
``backend="faiss"`` a flat faiss index (inner product on L2-normalised vectors for cosine, L2 for euclidean)
is built from the shards instead.

The fingerprint (:func:`fashionret.utils.checkpoints.model_fingerprint`: weights + normalisation + input size +
eval transforms) ties an index to the model that made it: querying it through another model is refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fashionret.eval import topk_neighbours

INDEX_FILE, ITEMS_FILE = "index.json", "items.json"
INDEX_VERSION = 1


class SearchIndexError(ValueError):
    """An index cannot be used as asked (other model, incomplete, attribute missing); one sentence."""


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def shard_name(i: int) -> str:
    return f"shard_{i:05d}.npy"


@dataclass
class GalleryIndex:
    root: Path
    meta: dict[str, Any]
    items: list[dict[str, Any]]

    # ------------------------------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls, root: str | Path, embedder: dict[str, Any], source: dict[str, Any], items: list[dict], shard_size: int
    ) -> GalleryIndex:
        """A new (empty) index, or the existing one at ``root`` if it was started with the same embedder and
        items (resume); anything else at ``root`` is an error."""
        root = Path(root).expanduser()
        meta = {
            "version": INDEX_VERSION,
            "embedder": embedder,
            "source": source,
            "num_items": len(items),
            "shard_size": int(shard_size),
            "num_shards": -(-len(items) // int(shard_size)),
        }
        if (root / INDEX_FILE).is_file():
            old = cls.open(root)
            if old.meta["embedder"]["fingerprint"] != embedder["fingerprint"]:
                raise SearchIndexError(
                    f"--out {root} already holds an index made by another model ({old.meta['embedder']['checkpoint']},"
                    f" fingerprint {old.meta['embedder']['fingerprint'][:12]}): pass a new --out"
                )
            if old.items != items or old.meta["shard_size"] != meta["shard_size"]:
                raise SearchIndexError(
                    f"--out {root} holds an index of other items ({old.meta['num_items']} then, {len(items)} now) or "
                    "another --shard-size: the gallery changed since it was started; pass a new --out"
                )
            return old
        if root.exists() and any(root.iterdir()):
            raise SearchIndexError(f"--out {root} exists and is not a fashionret index: pass a new or empty folder")
        root.mkdir(parents=True, exist_ok=True)
        _atomic_write(root / ITEMS_FILE, lambda p: p.write_text(json.dumps(items)))
        _atomic_write(root / INDEX_FILE, lambda p: p.write_text(json.dumps(meta, indent=2, sort_keys=True)))
        return cls(root, meta, items)

    @classmethod
    def open(cls, root: str | Path) -> GalleryIndex:
        root = Path(root).expanduser()
        if not (root / INDEX_FILE).is_file():
            raise SearchIndexError(
                f"--index {root}: no {INDEX_FILE} there (expected a folder made by fashionret-search index)"
            )
        meta = json.loads((root / INDEX_FILE).read_text())
        items = json.loads((root / ITEMS_FILE).read_text())
        return cls(root, meta, items)

    # --------------------------------------------------------------------------------------------- shards
    @property
    def shard_size(self) -> int:
        return int(self.meta["shard_size"])

    @property
    def num_shards(self) -> int:
        return int(self.meta["num_shards"])

    def shard_range(self, i: int) -> tuple[int, int]:
        return i * self.shard_size, min((i + 1) * self.shard_size, len(self.items))

    def written_shards(self) -> int:
        """How many shards, from the first, are on disk (a resumed index starts after them)."""
        n = 0
        while n < self.num_shards and (self.root / shard_name(n)).is_file():
            n += 1
        return n

    @property
    def complete(self) -> bool:
        return self.written_shards() == self.num_shards

    def write_shard(self, i: int, embeddings: np.ndarray) -> None:
        lo, hi = self.shard_range(i)
        if embeddings.shape[0] != hi - lo:
            raise ValueError(f"shard {i} of {self.root} must hold {hi - lo} items, got {embeddings.shape[0]}")

        def save(p: Path) -> None:
            with open(p, "wb") as f:
                np.save(f, np.ascontiguousarray(embeddings, dtype=np.float32))

        _atomic_write(self.root / shard_name(i), save)

    def shards(self, attribute: int | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        """``(first item, embeddings [n, D])`` per shard, memory-mapped; ``attribute`` picks the attribute's
        rows of an attribute-conditioned index."""
        if not self.complete:
            raise SearchIndexError(
                f"--index {self.root} is incomplete ({self.written_shards()} of {self.num_shards} shards): rerun "
                "the same fashionret-search index command to finish it"
            )
        for i in range(self.num_shards):
            arr = np.load(self.root / shard_name(i), mmap_mode="r")
            if attribute is not None:
                arr = arr[:, attribute, :]
            yield self.shard_range(i)[0], torch.from_numpy(np.array(arr, dtype=np.float32))  # one shard in memory

    # --------------------------------------------------------------------------------------------- checks
    def check_embedder(self, embedder: dict[str, Any]) -> None:
        """Refuse a query through another model than the one that made the index."""
        mine = self.meta["embedder"]
        if mine["fingerprint"] != embedder["fingerprint"]:
            raise SearchIndexError(
                f"--index {self.root} was made by model={mine['model']} ({mine['checkpoint']}, fingerprint "
                f"{mine['fingerprint'][:12]}), not by {embedder['checkpoint']} (model={embedder['model']}, "
                f"fingerprint {embedder['fingerprint'][:12]}): query it with the run that made it, or index again"
            )

    def attribute_id(self, attribute: str | int | None) -> int | None:
        emb = self.meta["embedder"]
        names = list(self.meta.get("attribute_names") or [])
        if not emb.get("attribute_conditioned"):
            if attribute is not None:
                raise SearchIndexError(
                    f"--attribute {attribute}: --index {self.root} was made by a model without attributes"
                )
            return None
        n = int(emb["num_attributes"])
        choices = ", ".join(names) if names else f"0..{n - 1}"
        if attribute is None:
            raise SearchIndexError(
                f"--index {self.root} was made by an attribute-conditioned model ({emb['model']}): pass --attribute "
                f"({choices})"
            )
        if str(attribute) in names:
            return names.index(str(attribute))
        try:
            a = int(attribute)
        except ValueError:
            a = -1
        if not 0 <= a < n:
            raise SearchIndexError(f"--attribute {attribute}: expected one of {choices}")
        return a

    # --------------------------------------------------------------------------------------------- search
    def search(
        self, query_emb: torch.Tensor, k: int, attribute: int | None = None, backend: str = "exact"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(item indices [Q, k], scores [Q, k])``, best first; scores as the engine computes them (cosine
        similarity; for euclidean ``2 q.g - ||g||^2``, see :func:`distances`)."""
        sim = self.meta["embedder"]["similarity"]
        q = query_emb.float()
        if backend == "faiss":
            return self._search_faiss(q, k, attribute, sim)
        if backend != "exact":
            raise ValueError(f"--backend must be 'exact' or 'faiss', got {backend!r}")
        best_i: torch.Tensor | None = None
        best_s: torch.Tensor | None = None
        for start, g in self.shards(attribute):
            idx, sc = topk_neighbours(q, g.float(), k, similarity=sim)
            idx = idx + start
            if best_i is None:
                best_i, best_s = idx, sc
                continue
            cat_i, cat_s = torch.cat([best_i, idx], 1), torch.cat([best_s, sc], 1)
            order = torch.sort(cat_s, dim=1, descending=True, stable=True).indices[:, :k]
            best_i, best_s = cat_i.gather(1, order), cat_s.gather(1, order)
        assert best_i is not None and best_s is not None
        return best_i, best_s

    def _search_faiss(self, q: torch.Tensor, k: int, attribute: int | None, sim: str):
        from fashionret.eval.faiss_backend import _import_faiss

        faiss = _import_faiss()
        index = None
        for _, g in self.shards(attribute):
            g = F.normalize(g.float(), dim=1) if sim == "cosine" else g.float()
            if index is None:
                index = faiss.IndexFlatIP(g.shape[1]) if sim == "cosine" else faiss.IndexFlatL2(g.shape[1])
            index.add(np.ascontiguousarray(g.numpy(), dtype=np.float32))
        assert index is not None
        k = min(k, index.ntotal)
        qn = F.normalize(q, dim=1) if sim == "cosine" else q
        dist, idx = index.search(np.ascontiguousarray(qn.numpy(), dtype=np.float32), k)
        idx_t, dist_t = torch.from_numpy(idx).long(), torch.from_numpy(dist).float()
        if sim == "cosine":
            return idx_t, dist_t
        return idx_t, (q * q).sum(1, keepdim=True) - dist_t  # as the engine's 2 q.g - ||g||^2


def distances(query_emb: torch.Tensor, scores: torch.Tensor, similarity: str) -> torch.Tensor:
    """What to print per result: the cosine similarity, or the Euclidean distance ``||q - g||``."""
    if similarity == "cosine":
        return scores
    q2 = (query_emb.float() ** 2).sum(1, keepdim=True)
    return (q2 - scores).clamp_min(0).sqrt()
