"""Gallery indexes: a run's embeddings of a gallery, in shards on disk, searched with the ranking engine.

An index is a folder::

    index.json          the embedder (checkpoint, model, fingerprint, normalisation, image size, similarity),
                        the source (an image folder or a dataset split of the run), item count, shard size,
                        the items file's digest, and per shard its row count and digest (format version 2)
    items.jsonl         one JSON line per gallery item: its path and, for a dataset split, its item identity
    items.offsets.npy   the lines' byte offsets (:mod:`fashionret.serve.items`: both open without reading)
    shard_00000.npy     float32 rows of items [0, shard_size), [shard_size, 2 shard_size), ...
                        ([n, D]; [n, A, D] for an attribute-conditioned model: one row per attribute),
                        validated and, for cosine, L2-normalised once, when written
    removed.npy         optional: bool per item, the items ``fashionret-search remove`` took out (skipped by search)
    approx.faiss        optional, written by a layer above (:mod:`fashionret.serve.approx`); changes in place
                        (:mod:`fashionret.serve.update`) use generation names (``shard_00003.g2.npy``)

Shards are written atomically one by one, each recorded in ``index.json`` once on disk: an interrupted ``index``
resumes at the first unrecorded shard (missing at the end: not written; missing before a present one: an error).

Opening checks what is cheap: every file named is inside the folder (:mod:`fashionret.serve.safety`), the items
file has one line per item, each shard's header gives the recorded rows and dimension and matches its size. Digests
and finite rows are checked at open up to :data:`DIGEST_AT_OPEN_BYTES` of files, always by ``fashionret-search verify``.

Exact search reads the shards memory-mapped (copy-on-write: nothing copied) and scores each with the engine
(:func:`fashionret.eval.topk.topk_prepared`: one product and a top-k, no validation or normalisation at query
time), merging the per-shard lists; equal scores keep gallery order: :func:`fashionret.eval.topk_neighbours`'s.

The fingerprint (:func:`fashionret.utils.checkpoints.model_fingerprint`: weights + normalisation + input size +
eval transforms) ties an index to the model that made it: querying it through another model is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fashionret.eval.topk import merge_topk, prepare_gallery, prepare_queries, topk_prepared
from fashionret.serve.items import ITEMS_FILE, OFFSETS_FILE, Items, ItemsError, digest, encode_items, offsets_of
from fashionret.serve.safety import check_finite_rows, check_index_files
from fashionret.serve.scores import distances, drop_rows
from fashionret.serve.store import (
    SearchIndexError,
    atomic_write,
    file_digest,
    is_generation_of,
    load_mask,
    npy_header,
    save_npy,
)

__all__ = ["GalleryIndex", "SearchIndexError", "distances", "file_digest", "shard_name"]

INDEX_FILE = "index.json"
INDEX_VERSION = 2
#: Digests are checked at open up to this many bytes of shards + items (beyond: ``fashionret-search verify``).
DIGEST_AT_OPEN_BYTES = 32 * 2**20
#: Score-matrix budget for one (query chunk x shard) product.
SCORE_BUDGET_BYTES = 64 * 2**20
REMOVED_FILE = "removed.npy"


def shard_name(i: int) -> str:
    return f"shard_{i:05d}.npy"


@dataclass
class GalleryIndex:
    root: Path
    meta: dict[str, Any]
    items: Items
    _shards: dict[int, torch.Tensor] = field(default_factory=dict, repr=False)
    _neg_sq: dict[tuple[int, int | None], torch.Tensor] = field(default_factory=dict, repr=False)
    _removed: np.ndarray | None = field(default=None, repr=False)

    # ------------------------------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls, root: str | Path, embedder: dict[str, Any], source: dict[str, Any], items: list[dict], shard_size: int
    ) -> GalleryIndex:
        """A new (empty) index, or the existing one at ``root`` if it was started with the same embedder and
        items (resume); anything else at ``root`` is an error."""
        root = Path(root).expanduser()
        data = encode_items(items)
        offsets = offsets_of(data)
        meta = {
            "version": INDEX_VERSION,
            "embedder": embedder,
            "source": source,
            "num_items": len(items),
            "shard_size": int(shard_size),
            "num_shards": -(-len(items) // int(shard_size)),
            "items": {
                "file": ITEMS_FILE,
                "sha256": digest(data),
                "bytes": len(data),
                "offsets": OFFSETS_FILE,
                "offsets_sha256": digest(offsets.tobytes()),
            },
            "shards": [],
        }
        if (root / INDEX_FILE).is_file():
            old = cls.open(root, check_digests=False)
            if old.meta["embedder"]["fingerprint"] != embedder["fingerprint"]:
                raise SearchIndexError(
                    f"--out {root} already holds an index made by another model ({old.meta['embedder']['checkpoint']},"
                    f" fingerprint {old.meta['embedder']['fingerprint'][:12]}): pass a new --out"
                )
            if old.meta["items"]["sha256"] != meta["items"]["sha256"] or old.shard_size != meta["shard_size"]:
                raise SearchIndexError(
                    f"--out {root} holds an index of other items ({old.meta['num_items']} then, {len(items)} now) or "
                    "another --shard-size: the gallery changed since it was started; pass a new --out"
                )
            return old
        if root.exists() and any(root.iterdir()):
            raise SearchIndexError(f"--out {root} exists and is not a fashionret index: pass a new or empty folder")
        root.mkdir(parents=True, exist_ok=True)
        atomic_write(root / ITEMS_FILE, lambda p: p.write_bytes(data))
        atomic_write(root / OFFSETS_FILE, lambda p: save_npy(p, offsets))
        index = cls(root, meta, Items(root / ITEMS_FILE, len(items), len(data), root / OFFSETS_FILE))
        index.save_meta()
        return index

    def save_meta(self) -> None:
        text = json.dumps(self.meta, indent=1, sort_keys=True)
        atomic_write(self.root / INDEX_FILE, lambda p: p.write_text(text))

    @classmethod
    def open(cls, root: str | Path, check_digests: bool | None = None) -> GalleryIndex:
        """Open and check an index (see the module docstring); ``check_digests=None``: when small enough."""
        root = Path(root).expanduser()
        path = root / INDEX_FILE
        if not path.is_file():
            raise SearchIndexError(
                f"--index {root}: no {INDEX_FILE} there (expected a folder made by fashionret-search index)"
            )
        try:
            meta = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise SearchIndexError(f"{path} is truncated or not JSON ({err}): index the gallery again") from None
        if not isinstance(meta, dict) or meta.get("version") != INDEX_VERSION:
            version = meta.get("version") if isinstance(meta, dict) else None
            raise SearchIndexError(
                f"{path} is an index of format version {version}, this fashionret reads version {INDEX_VERSION}: "
                "index the gallery again"
            )
        check_index_files(root, meta)  # its own files only: no absolute path, no '..', no symlink out
        rec = meta["items"]
        try:
            items = Items(root / rec["file"], int(meta["num_items"]), int(rec["bytes"]), root / rec["offsets"])
        except FileNotFoundError as err:
            raise SearchIndexError(f"{err.filename} is missing: index the gallery again") from None
        except ItemsError as err:
            raise SearchIndexError(str(err)) from None
        index = cls(root, meta, items)
        index.check_shards()
        index.removed()  # its shape and count, when there is one
        if check_digests is None:
            check_digests = index.data_bytes() <= DIGEST_AT_OPEN_BYTES
        if check_digests:
            index.check_digests()
            check_finite_rows(index)
        return index

    # --------------------------------------------------------------------------------------------- shards
    @property
    def shard_size(self) -> int:
        return int(self.meta["shard_size"])

    @property
    def num_shards(self) -> int:
        return int(self.meta["num_shards"])

    @property
    def similarity(self) -> str:
        return str(self.meta["embedder"]["similarity"])

    def __len__(self) -> int:
        return int(self.meta["num_items"])

    def shard_range(self, i: int) -> tuple[int, int]:
        return i * self.shard_size, min((i + 1) * self.shard_size, len(self))

    def written_shards(self) -> int:
        """How many shards, from the first, are recorded (a resumed index starts after them)."""
        return len(self.meta["shards"])

    @property
    def complete(self) -> bool:
        return self.written_shards() == self.num_shards

    def data_bytes(self) -> int:
        extra = [self.meta["removed"]] if self.meta.get("removed") else []
        return int(self.meta["items"]["bytes"]) + sum(int(s["bytes"]) for s in self.meta["shards"] + extra)

    def write_shard(self, i: int, embeddings: np.ndarray) -> None:
        """Validate (and for cosine L2-normalise) a shard's rows, write it atomically, record it."""
        lo, hi = self.shard_range(i)
        if embeddings.shape[0] != hi - lo:
            raise ValueError(f"shard {i} of {self.root} must hold {hi - lo} items, got {embeddings.shape[0]}")
        if i != self.written_shards():
            raise ValueError(f"shard {i} of {self.root} written out of order (next is {self.written_shards()})")
        self.meta.pop("approx", None)  # built from the shards: rebuilt once they are all written
        self.meta["shards"].append(self.store_rows(shard_name(i), self.prepare_rows(embeddings, lo)))
        self.save_meta()

    def prepare_rows(self, embeddings: np.ndarray, lo: int) -> np.ndarray:
        """Rows ``lo..`` validated (finite, non-zero for cosine) and, for cosine, L2-normalised: float32."""
        emb = torch.from_numpy(np.array(embeddings, dtype=np.float32))  # a copy: a mapped input stays read-only
        flat = emb.reshape(-1, emb.shape[-1])
        try:
            rows, _ = prepare_gallery(flat, self.similarity)
        except ValueError as err:
            why = str(err).replace("query_emb ", "").replace("gallery_emb ", "")
            raise ValueError(f"the embeddings of items {lo}..{lo + len(emb) - 1} of {self.root}: {why}") from None
        return np.ascontiguousarray(rows.reshape(emb.shape).numpy(), dtype=np.float32)

    def store_rows(self, name: str, arr: np.ndarray) -> dict[str, Any]:
        """Write prepared rows as shard file ``name`` (atomically); its ``index.json`` record."""
        path = self.root / name
        atomic_write(path, lambda p: save_npy(p, arr))
        return {
            "file": name,
            "rows": int(arr.shape[0]),
            "shape": list(arr.shape),
            "sha256": file_digest(path),
            "bytes": path.stat().st_size,
        }

    def check_shards(self) -> None:
        """Row counts, shapes and sizes of every recorded shard against ``index.json`` (headers only)."""
        recs = self.meta["shards"]
        on_disk = [(self.root / r["file"]).is_file() for r in recs]
        while recs and not on_disk[len(recs) - 1]:  # shards missing at the end: an interrupted index, resumable
            recs = recs[:-1]
        self.meta["shards"] = recs
        dims = None
        for i, rec in enumerate(recs):
            path = self.root / rec["file"]
            if not is_generation_of(rec["file"], shard_name(i)):
                raise SearchIndexError(f"{self.root / INDEX_FILE}: shard {i} is recorded as {rec['file']}")
            if not path.is_file():
                raise SearchIndexError(f"{path} is missing ({rec['rows']} rows recorded): index the gallery again")
            shape, dtype, offset = npy_header(path, what="shard", dtype=np.float32)
            lo, hi = self.shard_range(i)
            if shape[0] != rec["rows"] or shape[0] != hi - lo:
                raise SearchIndexError(
                    f"{path} holds {shape[0]} rows, but index.json records {rec['rows']} (items {lo}..{hi - 1})"
                )
            if list(shape) != rec["shape"] or (dims is not None and shape[1:] != dims):
                raise SearchIndexError(f"{path} has shape {list(shape)}, index.json records {rec['shape']}")
            dims = shape[1:]
            want = offset + int(np.prod(shape)) * dtype.itemsize
            size = path.stat().st_size
            if size != want:
                what = "truncated" if size < want else "longer than its header says"
                raise SearchIndexError(f"{path} is {what} ({size} bytes, {want} expected for shape {list(shape)})")

    def check_digests(self) -> None:
        """Every file's sha256 against ``index.json``: a swapped, edited or reordered file is named."""
        if self.items.digest() != self.meta["items"]["sha256"]:
            raise SearchIndexError(
                f"{self.items.path} does not match the digest in index.json (edited, reordered or replaced "
                "since indexing): index the gallery again"
            )
        if self.items.offsets_digest() != self.meta["items"]["offsets_sha256"]:
            raise SearchIndexError(
                f"{self.items.offsets_path} does not match the digest in index.json (edited or replaced since "
                "indexing): index the gallery again"
            )
        extra = [self.meta["removed"]] if self.meta.get("removed") else []
        for rec in self.meta["shards"] + extra:
            path = self.root / rec["file"]
            if file_digest(path) != rec["sha256"]:
                raise SearchIndexError(
                    f"{path} does not match its digest in index.json (swapped with another shard, edited or "
                    "replaced since indexing): index the gallery again"
                )

    def require_complete(self) -> None:
        if not self.complete:
            raise SearchIndexError(
                f"--index {self.root} is incomplete ({self.written_shards()} of {self.num_shards} shards): rerun "
                "the same fashionret-search index command to finish it"
            )

    def shard(self, i: int) -> torch.Tensor:
        """Shard ``i`` memory-mapped (copy-on-write: never written, never copied), opened once."""
        if i not in self._shards:
            arr = np.load(self.root / self.meta["shards"][i]["file"], mmap_mode="c")
            self._shards[i] = torch.from_numpy(arr)
        return self._shards[i]

    def rows(self, i: int, attribute: int | None) -> torch.Tensor:
        g = self.shard(i)
        return g[:, attribute, :] if attribute is not None else g

    def _neg_sq_norms(self, i: int, attribute: int | None) -> torch.Tensor | None:
        if self.similarity == "cosine":
            return None
        key = (i, attribute)
        if key not in self._neg_sq:  # computed once per shard and process
            g = self.rows(i, attribute)
            self._neg_sq[key] = -(g * g).sum(1)
        return self._neg_sq[key]

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
        self, query_emb: torch.Tensor, k: int, attribute: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(item indices [Q, k], scores [Q, k])``, best first, exact; scores as the engine computes them
        (cosine similarity; for euclidean ``2 q.g - ||g||^2``, see :func:`distances`). Removed items
        (``fashionret-search remove``) are skipped: each shard is asked for ``k`` plus its removed rows, whose
        hits are then dropped, so what is left is that shard's exact top-k of the live rows, in order.
        Approximate backends are layers above (:func:`fashionret.serve.approx.search`)."""
        self.require_complete()
        q = prepare_queries(query_emb.float(), self.similarity)
        k = min(int(k), self.live_count())
        if k < 1:
            raise SearchIndexError(f"--index {self.root} has no items left (all {len(self)} removed)")
        removed = self.removed()
        chunk = max(1, SCORE_BUDGET_BYTES // (4 * self.shard_size))
        out_s, out_i = [], []
        for c0 in range(0, q.shape[0], chunk):
            qc = q[c0 : c0 + chunk]
            scores, indices = [], []
            for i in range(self.num_shards):
                lo, hi = self.shard_range(i)
                gone = removed[lo:hi] if removed is not None else None
                extra = int(gone.sum()) if gone is not None else 0
                if extra == hi - lo:
                    continue
                kk = min(k + extra, hi - lo)
                s, j = topk_prepared(qc, self.rows(i, attribute), kk, neg_sq_norms=self._neg_sq_norms(i, attribute))
                if extra:
                    s, j = drop_rows(s, j, torch.from_numpy(np.array(gone)), k)
                scores.append(s)
                indices.append(j + lo)
            s, j = merge_topk(scores, indices, k)
            out_s.append(s)
            out_i.append(j)
        return torch.cat(out_i), torch.cat(out_s)

    # -------------------------------------------------------------------------------------------- removed
    def removed(self) -> np.ndarray | None:
        """Bool ``[num_items]``: rows removed by ``fashionret-search remove`` (``None``: none ever removed)."""
        rec = self.meta.get("removed")
        if not rec:
            return None
        if self._removed is None:
            if not is_generation_of(rec["file"], REMOVED_FILE):
                raise SearchIndexError(f"{self.root / INDEX_FILE} names {rec['file']!r} as its removed-items mask")
            self._removed = load_mask(self.root / rec["file"], len(self), int(rec["count"]))
        return self._removed

    def live_count(self) -> int:
        return len(self) - int((self.meta.get("removed") or {}).get("count", 0))
