"""The ``fashionret-search`` sub-commands (the parser is :mod:`fashionret.cli.search`).

Each command imports what it uses when it runs: torch and the serving code are never read by ``--help``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fashionret.serve.run import TrainedRun


def _data_split(run: TrainedRun, split: str):
    """A dataset split of the run's own data config (``test_gallery``, ``test_query``, ``val_gallery``, ...)."""
    import hydra
    from omegaconf import OmegaConf

    from fashionret.serve.store import SearchIndexError
    from fashionret.utils.confine import read_only_data

    dm = hydra.utils.instantiate(OmegaConf.create(read_only_data(run.config["data"])))
    dm.setup("test")
    if split not in dm.datasets:
        raise SearchIndexError(f"--data {split}: the run's data ({dm.family}) has splits {sorted(dm.datasets)}")
    ds = dm.datasets[split]
    t = ds.table
    items = [
        {"path": str(Path(t.image_root) / str(t.path[i])), "label": str(t.identity[i]), "item_id": str(t.identity[i])}
        for i in range(len(ds))
    ]
    names = list(getattr(dm, "attribute_names", []) or [])
    return ds, items, names


def _image_items(folder: str) -> list[dict]:
    """An image folder's items: each named by the folder it is in (a folder-per-item tree), else its stem."""
    from fashionret.serve.embed import list_images

    root = Path(folder).expanduser().resolve()
    items = []
    for p in list_images(folder):
        p = p.resolve()
        item_id = p.parent.name if p.parent != root else p.stem
        items.append({"path": str(p), "label": None, "item_id": item_id})
    return items


def _vectors(args: argparse.Namespace):
    """``(embeddings, items)`` of ``--embeddings`` and ``--items`` (one CSV line per row)."""
    from fashionret.serve.vectors import load_embeddings, read_items_csv

    emb = load_embeddings(args.embeddings)
    return emb, read_items_csv(args.items, need_rows=emb.shape[0])


def cmd_index(args: argparse.Namespace) -> int:
    from fashionret.serve.approx import choose_kind
    from fashionret.serve.index import GalleryIndex

    if args.embeddings:
        return _index_vectors(args)
    from fashionret.serve.embed import ImageFiles, OnlyImage, ShardWriter, loader, predict_trainer
    from fashionret.serve.run import load_run

    run = load_run(args.run)
    names: list[str] = []
    if args.images:
        items = _image_items(args.images)
        source = {"images": str(Path(args.images).resolve()), "image_root": str(Path(args.images).resolve())}
        dataset = None
    else:
        dataset, items, names = _data_split(run, args.data)
        root = str(Path(dataset.table.image_root).resolve())  # the images GET /api/items/{i}/image may serve
        source = {"data": args.data, "family": run.config["data"].get("family"), "image_root": root}
    index = GalleryIndex.create(args.out, run.describe(), source, items, args.shard_size)
    if names and not index.meta.get("attribute_names"):
        index.meta["attribute_names"] = names
        index.save_meta()
    if run.attribute_conditioned:  # one faiss index per attribute is not built: attribute indexes search exactly
        if args.approx not in ("auto", "none"):
            raise ValueError(f"--approx {args.approx}: attribute-conditioned indexes are searched exactly")
        args.approx = "none"
    choose_kind(args.approx, len(items))  # a bad --approx before any embedding
    done = index.written_shards()
    start = done * index.shard_size
    if done == index.num_shards:
        print(f"{index.root}: complete already ({len(items)} items in {index.num_shards} shards)")
        return _approx(index, args)
    if done:
        print(f"{index.root}: resuming after {done} of {index.num_shards} shards ({start} of {len(items)} items)")
    if dataset is None:
        todo = ImageFiles([it["path"] for it in items[start:]], run.transform)
    else:
        todo = OnlyImage(dataset, offset=start)
    writer = ShardWriter(index.shard_size, done, index.write_shard)
    trainer = predict_trainer([writer], progress=not args.no_progress)
    t0 = time.perf_counter()
    trainer.predict(run.module, dataloaders=loader(todo, args.batch_size, args.workers), return_predictions=False)
    print(
        f"indexed {len(items) - start} images in {time.perf_counter() - t0:.1f} s -> {index.root} "
        f"({len(items)} items, {index.num_shards} shards, model={run.info.model_name()}, "
        f"fingerprint {run.fingerprint[:12]})"
    )
    return _approx(index, args)


def _index_vectors(args: argparse.Namespace) -> int:
    """An index of precomputed vectors: rows validated and written shard by shard (resumable)."""
    from fashionret.serve.approx import choose_kind
    from fashionret.serve.index import GalleryIndex
    from fashionret.serve.store import file_digest
    from fashionret.serve.vectors import stored_items, vectors_embedder

    emb, items = _vectors(args)
    choose_kind(args.approx, len(items))
    source = {"embeddings": str(Path(args.embeddings).resolve()), "sha256": file_digest(Path(args.embeddings))}
    embedder = vectors_embedder(int(emb.shape[1]), args.similarity)
    index = GalleryIndex.create(args.out, embedder, source, stored_items(items), args.shard_size)
    t0 = time.perf_counter()
    for s in range(index.written_shards(), index.num_shards):
        lo, hi = index.shard_range(s)
        index.write_shard(s, emb[lo:hi])
    print(
        f"indexed {len(items)} vectors of dimension {emb.shape[1]} in {time.perf_counter() - t0:.1f} s -> "
        f"{index.root} ({index.num_shards} shards, {args.similarity} similarity)"
    )
    return _approx(index, args)


def _approx(index, args: argparse.Namespace) -> int:
    """Build the persistent faiss index once (or report the one there) and print its measured recall."""
    from fashionret.serve.approx import build_approx, choose_kind, describe_auto

    rec = index.meta.get("approx")
    want = choose_kind(args.approx, len(index))
    if (
        rec is None
        or (rec["kind"] != want and "auto" not in (want, rec.get("asked")))
        or (want != "none" and rec.get("recall_target") != args.recall_target)
    ):
        t0 = time.perf_counter()
        rec = build_approx(index, want, recall_target=args.recall_target)
        rec["asked"] = args.approx
        index.meta["approx"] = rec
        index.save_meta()
        if rec["kind"] != "none":
            print(f"built the {rec['kind']} faiss index in {time.perf_counter() - t0:.1f} s")
    if describe_auto(rec):
        print(describe_auto(rec))
    print(describe_approx(rec))
    return 0


def describe_approx(rec: dict) -> str:
    if rec["kind"] == "none":
        return "approximate index: none (--backend exact only)"
    params = ", ".join(f"{k}={v}" for k, v in rec["params"].items())
    added = f"; {rec['added_since_build']} rows added since" if rec.get("added_since_build") else ""
    return (
        f"approximate index: {rec['kind']}{f' ({params})' if params else ''}, recall@10 vs exact = "
        f"{rec['recall_at_10']:.4f} on {rec['recall_queries']} sampled gallery queries (own item excluded){added}"
    )


def _default_out() -> Path:
    root = Path(os.environ.get("FASHIONRET_ROOT") or Path.cwd())
    return root / "logs" / "search" / time.strftime("%Y-%m-%d_%H-%M-%S")


def _query_inputs(args: argparse.Namespace, index, attribute):
    """``(query embeddings, query records, image of query j or None)`` from images, a split or vectors."""
    import torch

    if args.embeddings:
        from fashionret.serve.vectors import load_embeddings

        q = load_embeddings(args.embeddings)
        return torch.from_numpy(q.astype("float32")), [{"query": j, "label": None} for j in range(len(q))], None
    from fashionret.serve.embed import OnlyImage, WithAttribute, embed, read_rgb
    from fashionret.serve.embedder import QueryEmbedder
    from fashionret.serve.run import load_run

    run = load_run(args.run or index.meta["embedder"]["checkpoint"] or "", what="--run")
    index.check_embedder(run.describe())
    if args.images:
        queries = [{"query": str(Path(p).resolve()), "label": None} for p in args.images]
        for q in queries:
            if not Path(q["query"]).is_file():
                raise FileNotFoundError(f"query image {q['query']} does not exist")
        embedder = QueryEmbedder(run, args.embedder, batch_size=args.batch_size)
        images = [read_rgb(q["query"]) for q in queries]
        if embedder.engine == "onnx":
            print(f"queries embedded with the run's ONNX export {embedder.onnx_path} (onnxruntime)")
        return embedder.embed_images(images, attribute), queries, images.__getitem__
    ds, items, _ = _data_split(run, args.data)
    if args.limit:
        items = items[: args.limit]
        ds = torch.utils.data.Subset(ds, range(len(items)))
    dataset = OnlyImage(ds) if attribute is None else WithAttribute(ds, attribute)
    queries = [{"query": it["path"], "label": it["label"]} for it in items]
    shown = getattr(ds, "dataset", ds).load_image  # as the model saw it (cropped to its box)
    return embed(run.module, dataset, batch_size=args.batch_size), queries, shown


def cmd_query(args: argparse.Namespace) -> int:
    from fashionret.serve.backends import search
    from fashionret.serve.index import GalleryIndex, distances
    from fashionret.serve.items import item_name
    from fashionret.serve.store import SearchIndexError
    from fashionret.serve.vectors import is_vectors_index

    index = GalleryIndex.open(args.index)
    index.require_complete()
    if is_vectors_index(index.meta) and not args.embeddings:
        raise SearchIndexError(f"--index {index.root} was made from vectors (no model): query it with --embeddings")
    attribute = index.attribute_id(args.attribute)
    q_emb, queries, shown_image = _query_inputs(args, index, attribute)
    if q_emb.shape[-1] != index.shard(0).shape[-1]:
        raise SearchIndexError(
            f"--embeddings {args.embeddings}: queries of dimension {q_emb.shape[-1]}, --index {index.root} holds "
            f"{index.shard(0).shape[-1]}"
        )
    top, scores = search(index, q_emb, args.k, attribute=attribute, backend=args.backend)
    sim = index.similarity
    shown = distances(q_emb, scores, sim)
    col = "cosine" if sim == "cosine" else "distance"
    out = Path(args.out).expanduser() if args.out else _default_out()
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for j, q in enumerate(queries):
        hits = []
        for r in range(top.shape[1]):
            item = index.items[int(top[j, r])]
            hits.append(
                {"rank": r + 1, "item_id": item_name(item), "path": item.get("path"), "label": item.get("label"),
                 col: float(shown[j, r])}
            )  # fmt: skip
        results.append({"query": q["query"], "label": q.get("label"), "attribute": attribute, "topk": hits})
    marked = False
    for j, res in enumerate(results[: args.show]):
        item = f"  (item {res['label']})" if res["label"] is not None else ""
        print(f"query {j + 1}/{len(results)}: {res['query']}{item}")
        print(f"  {'rank':>4}  {col:>8}  {'item':<12}  path")
        for h in res["topk"]:
            mark = " *" if _is_match(res, h) else ""
            marked |= bool(mark)
            print(f"  {h['rank']:>4}  {h[col]:>8.4f}  {h['item_id']:<12}  {h['path'] or ''}{mark}")
    if len(results) > args.show:
        print(f"... {len(results) - args.show} more queries in {out / 'results.json'}")
    (out / "results.json").write_text(json.dumps({"index": str(index.root), "results": results}, indent=2))
    if shown_image is not None:
        _grid(out, results[: args.grid_rows], shown_image, col)
        print(f"grid: {out / 'grid.png'}")
    if marked:  # the legend only where a mark was printed: items known on both sides, or the query image itself
        labelled = any(r["label"] is not None for r in results)
        print("(* = same item as the query)" if labelled else "(* = the query image itself)")
    print(f"results: {out / 'results.json'}")
    return 0


def _grid(out: Path, rows: list[dict], shown_image, col: str) -> None:
    from fashionret.serve.embed import read_rgb
    from fashionret.viz.grid import distinct_captions, retrieval_grid

    grid = retrieval_grid(
        [shown_image(j) for j in range(len(rows))],
        [[read_rgb(h["path"]) for h in r["topk"]] for r in rows],
        [[_is_match(r, h) for h in r["topk"]] for r in rows],
        row_captions=[f"query {j + 1}: {c}" for j, c in enumerate(distinct_captions([r["query"] for r in rows]))],
        cell_captions=[[f"#{h['rank']}" for h in r["topk"]] for r in rows],
        cell_scores=[[h[col] for h in r["topk"]] for r in rows],
    )
    grid.save(out / "grid.png")


def _is_match(query: dict, hit: dict) -> bool:
    """Same item (labels known on both sides), else the same file."""
    if query.get("label") is not None and hit.get("label") is not None:
        return query["label"] == hit["label"]
    return query["query"] == hit["path"]


def cmd_add(args: argparse.Namespace) -> int:
    """New rows into a complete index, in place (exact and faiss search see them at once)."""
    from fashionret.serve.index import GalleryIndex
    from fashionret.serve.store import SearchIndexError
    from fashionret.serve.update import add_rows
    from fashionret.serve.vectors import is_vectors_index, stored_items

    index = GalleryIndex.open(args.index)
    vectors = is_vectors_index(index.meta)
    if args.embeddings:
        if not vectors:
            raise SearchIndexError(
                f"--index {index.root} was made by {index.meta['embedder']['checkpoint']}: add images with --images "
                "(embedded by that run), not vectors made elsewhere"
            )
        emb, items = _vectors(args)
        emb = emb.astype("float32")
    else:
        if vectors:
            raise SearchIndexError(f"--index {index.root} was made from vectors: add with --embeddings and --items")
        from fashionret.serve.embed import ImageFiles, embed
        from fashionret.serve.run import load_run

        run = load_run(args.run or index.meta["embedder"]["checkpoint"], what="--run")
        index.check_embedder(run.describe())
        items = _image_items(args.images)
        root = (index.meta.get("source") or {}).get("image_root")
        if not root or not Path(args.images).expanduser().resolve().is_relative_to(root):
            raise SearchIndexError(
                f"--images {args.images}: new photos go under {root}, the folder the index serves images from "
                "(the service sends no file outside it)"
            )
        emb = embed(run.module, ImageFiles([it["path"] for it in items], run.transform), args.batch_size).numpy()
    n0 = len(index)
    index = add_rows(index, stored_items(items), emb)
    print(f"{index.root}: added {len(items)} items (rows {n0}..{len(index) - 1}); {index.live_count()} searchable")
    if index.meta.get("approx", {}).get("kind", "none") != "none":
        print(describe_approx(index.meta["approx"]))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from fashionret.serve.index import GalleryIndex
    from fashionret.serve.update import remove_items
    from fashionret.serve.vectors import read_items_csv

    ids = [(it["item_id"], it["where"]) for it in read_items_csv(args.items)]
    index, count = remove_items(GalleryIndex.open(args.index), ids)
    print(f"{index.root}: removed {len({i for i, _ in ids})} items ({count} rows); {index.live_count()} searchable")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """The index's live rows into a vector engine; then its top-10 against exact search on sampled rows."""
    import numpy as np
    import torch

    from fashionret.serve.backends import search
    from fashionret.serve.engine import export
    from fashionret.serve.index import GalleryIndex

    index = GalleryIndex.open(args.index)
    t0 = time.perf_counter()
    index.meta["engine"] = export(index, args.uri, args.collection)
    index.save_meta()
    rec = index.meta["engine"]
    live = np.flatnonzero(~np.asarray(index.removed())) if index.meta.get("removed") else np.arange(len(index))
    ids = np.sort(np.random.default_rng(0).choice(live, size=min(len(live), 200), replace=False))
    from fashionret.serve.approx import take_rows

    q = torch.from_numpy(take_rows(index, ids))
    k = min(10, len(live))
    exact, got = search(index, q, k)[0].numpy(), search(index, q, k, backend="engine")[0].numpy()
    recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(exact, got)]))
    print(
        f"exported {rec['rows']} rows of {index.root} to {rec['kind']} {rec['uri']} collection {rec['collection']} "
        f"in {time.perf_counter() - t0:.1f} s; top-{k} vs exact search on {len(ids)} sampled rows: recall {recall:.4f}"
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Every check of the index's files, digests included (what opening it skips on large indexes)."""
    from fashionret.serve.approx import load_approx
    from fashionret.serve.index import GalleryIndex

    index = GalleryIndex.open(args.index, check_digests=True)
    index.require_complete()
    has_approx = (index.meta.get("approx") or {"kind": "none"})["kind"] != "none"
    if has_approx:
        load_approx(index)
    removed = f", {len(index) - index.live_count()} removed" if index.meta.get("removed") else ""
    print(
        f"{index.root}: OK ({len(index)} items in {index.num_shards} shards{removed}; row counts and sha256 digests "
        f"of the items list, every shard{', the removed-items mask' if removed else ''}"
        f"{' and the faiss index' if has_approx else ''} match index.json)"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from fashionret.serve.service import serve

    return serve(args.index, host=args.host, port=args.port, embedder=args.embedder, run=args.run)
