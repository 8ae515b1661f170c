"""``fashionret-search``: index a gallery with a trained run, then query it with images.

torch and the serving code are imported inside the commands: ``--help`` reads only this module.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fashionret.serve.run import TrainedRun

log = logging.getLogger(__name__)

DESCRIPTION = """\
fashionret-search: index a gallery with a trained run, then query the index with images: the top-k gallery
items per query with their scores (cosine similarity, or Euclidean distance for runs trained with it),
printed and drawn as a grid PNG. Ranking is the package's exact engine; --backend faiss uses the index's
persistent faiss index (flat, HNSW or IVF; its recall is measured when it is built). `serve` answers the
same over HTTP with a web page.

examples:
  fashionret-search index --run logs/train/runs/<run> --images shop_photos/ --out catalogue.idx
  fashionret-search query --index catalogue.idx my_photo.jpg another.jpg --k 5
  fashionret-search verify --index catalogue.idx
  fashionret-search serve --index catalogue.idx --port 8000
"""


def _data_split(run: TrainedRun, split: str):
    """A dataset split of the run's own data config (``test_gallery``, ``test_query``, ``val_gallery``, ...)."""
    import hydra
    from omegaconf import OmegaConf

    from fashionret.serve.index import SearchIndexError
    from fashionret.utils.confine import read_only_data

    dm = hydra.utils.instantiate(OmegaConf.create(read_only_data(run.config["data"])))
    dm.setup("test")
    if split not in dm.datasets:
        raise SearchIndexError(f"--data {split}: the run's data ({dm.family}) has splits {sorted(dm.datasets)}")
    ds = dm.datasets[split]
    t = ds.table
    items = [{"path": str(Path(t.image_root) / str(t.path[i])), "label": str(t.identity[i])} for i in range(len(ds))]
    names = list(getattr(dm, "attribute_names", []) or [])
    return ds, items, names


def cmd_index(args: argparse.Namespace) -> int:
    from fashionret.serve.approx import choose_kind
    from fashionret.serve.embed import ImageFiles, OnlyImage, ShardWriter, list_images, loader, predict_trainer
    from fashionret.serve.index import GalleryIndex
    from fashionret.serve.run import load_run

    run = load_run(args.run)
    names: list[str] = []
    if args.images:
        files = list_images(args.images)
        items = [{"path": str(p.resolve()), "label": None} for p in files]
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


def _approx(index, args: argparse.Namespace) -> int:
    """Build the persistent faiss index once (or report the one there) and print its measured recall."""
    from fashionret.serve.approx import build_approx, choose_kind

    rec = index.meta.get("approx")
    want = choose_kind(args.approx, len(index))
    if rec is None or rec["kind"] != want or (want != "none" and rec.get("recall_target") != args.recall_target):
        t0 = time.perf_counter()
        rec = build_approx(index, want, recall_target=args.recall_target)
        index.meta["approx"] = rec
        index.save_meta()
        if want != "none":
            print(f"built the {want} faiss index in {time.perf_counter() - t0:.1f} s")
    print(_describe_approx(rec))
    return 0


def _describe_approx(rec: dict) -> str:
    if rec["kind"] == "none":
        return "approximate index: none (--backend exact only)"
    params = ", ".join(f"{k}={v}" for k, v in rec["params"].items())
    return (
        f"approximate index: {rec['kind']}{f' ({params})' if params else ''}, recall@10 vs exact = "
        f"{rec['recall_at_10']:.4f} on {rec['recall_queries']} sampled gallery queries (own item excluded)"
    )


def _default_out() -> Path:
    root = Path(os.environ.get("FASHIONRET_ROOT") or Path.cwd())
    return root / "logs" / "search" / time.strftime("%Y-%m-%d_%H-%M-%S")


def cmd_query(args: argparse.Namespace) -> int:
    import torch

    from fashionret.serve.embed import OnlyImage, WithAttribute, embed, read_rgb
    from fashionret.serve.embedder import QueryEmbedder
    from fashionret.serve.index import GalleryIndex, distances
    from fashionret.serve.run import load_run
    from fashionret.viz.grid import distinct_captions, retrieval_grid

    index = GalleryIndex.open(args.index)
    index.require_complete()
    attribute = index.attribute_id(args.attribute)
    run = load_run(args.run or index.meta["embedder"]["checkpoint"], what="--run")
    index.check_embedder(run.describe())
    if args.images:
        queries = [{"path": str(Path(p).resolve()), "label": None} for p in args.images]
        for q in queries:
            if not Path(q["path"]).is_file():
                raise FileNotFoundError(f"query image {q['path']} does not exist")
        embedder = QueryEmbedder(run, args.embedder, batch_size=args.batch_size)
        images = [read_rgb(q["path"]) for q in queries]
        q_emb = embedder.embed_images(images, attribute)
        shown_image = images.__getitem__
        if embedder.engine == "onnx":
            print(f"queries embedded with the run's ONNX export {embedder.onnx_path} (onnxruntime)")
    else:
        ds, queries, _ = _data_split(run, args.data)
        if args.limit:
            queries = queries[: args.limit]
            ds = torch.utils.data.Subset(ds, range(len(queries)))
        dataset = OnlyImage(ds) if attribute is None else WithAttribute(ds, attribute)
        shown_image = getattr(ds, "dataset", ds).load_image  # as the model saw it (cropped to its box)
        q_emb = embed(run.module, dataset, batch_size=args.batch_size)
    top, scores = index.search(q_emb, args.k, attribute=attribute, backend=args.backend)
    sim = index.meta["embedder"]["similarity"]
    shown = distances(q_emb, scores, sim)
    col = "cosine" if sim == "cosine" else "distance"
    out = Path(args.out).expanduser() if args.out else _default_out()
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for j, q in enumerate(queries):
        hits = []
        for r in range(top.shape[1]):
            item = index.items[int(top[j, r])]
            hits.append({"rank": r + 1, "path": item["path"], "label": item.get("label"), col: float(shown[j, r])})
        results.append({"query": q["path"], "label": q.get("label"), "attribute": attribute, "topk": hits})
    marked = False
    for j, res in enumerate(results[: args.show]):
        item = f"  (item {res['label']})" if res["label"] is not None else ""
        print(f"query {j + 1}/{len(results)}: {res['query']}{item}")
        print(f"  {'rank':>4}  {col:>8}  {'item':<12}  path")
        for h in res["topk"]:
            mark = " *" if _is_match(res, h) else ""
            marked |= bool(mark)
            print(f"  {h['rank']:>4}  {h[col]:>8.4f}  {h['label'] or '-':<12}  {h['path']}{mark}")
    if len(results) > args.show:
        print(f"... {len(results) - args.show} more queries in {out / 'results.json'}")
    (out / "results.json").write_text(json.dumps({"index": str(index.root), "results": results}, indent=2))
    grid_rows = results[: args.grid_rows]
    grid = retrieval_grid(
        [shown_image(j) for j in range(len(grid_rows))],
        [[read_rgb(h["path"]) for h in r["topk"]] for r in grid_rows],
        [[_is_match(r, h) for h in r["topk"]] for r in grid_rows],
        row_captions=[f"query {j + 1}: {c}" for j, c in enumerate(distinct_captions([r["query"] for r in grid_rows]))],
        cell_captions=[[f"#{h['rank']}" for h in r["topk"]] for r in grid_rows],
        cell_scores=[[h[col] for h in r["topk"]] for r in grid_rows],
    )
    grid.save(out / "grid.png")
    if marked:  # the legend only where a mark was printed: items known on both sides, or the query image itself
        labelled = any(r["label"] is not None for r in results)
        print("(* = same item as the query)" if labelled else "(* = the query image itself)")
    print(f"grid: {out / 'grid.png'}\nresults: {out / 'results.json'}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Every check of the index's files, digests included (what opening it skips on large indexes)."""
    from fashionret.serve.approx import load_approx
    from fashionret.serve.index import GalleryIndex

    index = GalleryIndex.open(args.index, check_digests=True)
    index.require_complete()
    if (index.meta.get("approx") or {"kind": "none"})["kind"] != "none":
        load_approx(index)
    print(
        f"{index.root}: OK ({len(index)} items in {index.num_shards} shards; row counts and sha256 digests of "
        f"the items list, every shard{' and the faiss index' if index.meta.get('approx', {}).get('file') else ''} "
        "match index.json)"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from fashionret.serve.service import serve

    return serve(args.index, host=args.host, port=args.port, embedder=args.embedder, run=args.run)


def _is_match(query: dict, hit: dict) -> bool:
    """Same item (labels known on both sides), else the same file."""
    if query.get("label") is not None and hit.get("label") is not None:
        return query["label"] == hit["label"]
    return query["query"] == hit["path"]


def quiet_lightning() -> None:
    """No accelerator banners or tips around a predict-only Trainer."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fashionret-search", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="{index,query,verify,serve}")
    pi = sub.add_parser(
        "index",
        help="embed a gallery into an index folder",
        description="Embed a gallery (an image folder, or a split of the run's dataset) with a trained run into an "
        "index folder: batched, with a progress bar, written in shards so that an interrupted run resumes.\n\n"
        "examples:\n  fashionret-search index --run logs/train/runs/<run> --images shop_photos/ --out catalogue.idx\n"
        "  fashionret-search index --run logs/train/runs/<run> --data test_gallery --out test_gallery.idx",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pi.add_argument("--run", required=True, help="a fashionret-train run directory, or one of its checkpoints")
    src = pi.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", help="a folder of gallery images (searched recursively)")
    src.add_argument("--data", help="a split of the run's own dataset: test_gallery, test_query, val_gallery, ...")
    pi.add_argument("--out", required=True, help="the index folder to write (or to resume)")
    pi.add_argument("--batch-size", type=int, default=64)
    pi.add_argument("--shard-size", type=int, default=4096, help="items per shard file (the resume granularity)")
    pi.add_argument("--workers", type=int, default=0, help="dataloader worker processes")
    pi.add_argument("--no-progress", action="store_true", help="no progress bar")
    pi.add_argument(
        "--approx",
        default="auto",
        choices=("auto", "none", "flat", "hnsw", "ivf"),
        help="the persistent faiss index built beside the shards (default auto: flat up to 100000 items, hnsw "
        "beyond); its recall@10 against exact search is measured and printed",
    )
    pi.add_argument(
        "--recall-target",
        type=float,
        default=0.95,
        help="hnsw/ivf: the smallest efSearch/nprobe whose measured recall@10 reaches this (default 0.95)",
    )
    pi.set_defaults(func=cmd_index)

    pq = sub.add_parser(
        "query",
        help="print the top-k gallery items for query images and draw them as a grid",
        description="Embed query images with the run that made the index and print the top-k gallery items per "
        "query with their scores; writes grid.png and results.json to --out.\n\n"
        "examples:\n  fashionret-search query --index catalogue.idx my_photo.jpg --k 5\n"
        "  fashionret-search query --index attr.idx photo.jpg --attribute 2 --backend faiss",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pq.add_argument("--index", required=True, help="an index folder made by fashionret-search index")
    pq.add_argument("images", nargs="*", default=[], help="query image files")
    pq.add_argument("--data", help="query with a split of the run's dataset instead (e.g. test_query)")
    pq.add_argument("--k", type=int, default=10, help="results per query (default 10)")
    pq.add_argument("--attribute", help="attribute (name or id) for an attribute-conditioned model's index")
    pq.add_argument(
        "--backend",
        choices=("exact", "faiss"),
        default="exact",
        help="exact engine (default), or the index's persistent faiss index (see index --approx)",
    )
    pq.add_argument(
        "--embedder",
        choices=("auto", "onnx", "torch"),
        default="auto",
        help="query images through the run's checked ONNX export when it has one (auto), always (onnx) or "
        "eager PyTorch (torch)",
    )
    pq.add_argument("--run", help="embed the queries with this run (default: the run that made the index)")
    pq.add_argument("--limit", type=int, default=0, help="with --data: only the first N queries")
    pq.add_argument("--show", type=int, default=10, help="queries printed (all are in results.json)")
    pq.add_argument("--grid-rows", type=int, default=8, help="queries drawn in grid.png")
    pq.add_argument("--batch-size", type=int, default=64)
    pq.add_argument("--out", help="folder for grid.png and results.json (default logs/search/<date>_<time>)")
    pq.set_defaults(func=cmd_query)

    pv = sub.add_parser(
        "verify",
        help="check an index's files against the row counts and digests in its index.json",
        description="Check every file of an index: row counts, sizes and sha256 digests of the items list, every "
        "shard and the faiss index. Opening an index checks counts always, digests only up to 32 MiB of files.\n\n"
        "examples:\n  fashionret-search verify --index catalogue.idx\n"
        "  fashionret-search verify --index /shared/indexes/shop_2026.idx   # an index someone handed you",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pv.add_argument("--index", required=True, help="an index folder made by fashionret-search index")
    pv.set_defaults(func=cmd_verify)

    ps = sub.add_parser(
        "serve",
        help="serve an index over HTTP: an API and a web page (drop a photo, see the top-k)",
        description="Serve an index over HTTP with the run that made it: POST /api/search (an image upload or an "
        "embedding), GET /api/health, and a web page at / where a photo dropped on the page shows the top-k. "
        "Binds 127.0.0.1 unless --host says otherwise.\n\n"
        "examples:\n  fashionret-search serve --index catalogue.idx --port 8000\n"
        "  fashionret-search serve --index catalogue.idx --host 0.0.0.0 --port 8080   # reachable from other hosts",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ps.add_argument("--index", required=True, help="an index folder made by fashionret-search index")
    ps.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    ps.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    ps.add_argument("--run", help="embed with this run (default: the run that made the index)")
    ps.add_argument("--embedder", choices=("auto", "onnx", "torch"), default="auto", help="as for query")
    ps.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "query" and bool(args.images) == bool(args.data):
        parser().error("query: give query image files or --data SPLIT (one of them)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Lightning's own deprecation notice about torch internals: nothing a user can act on
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    quiet_lightning()
    from fashionret.serve.index import SearchIndexError  # torch: only after the arguments are read
    from fashionret.utils.checkpoints import CheckpointError

    try:
        return args.func(args)
    except (CheckpointError, SearchIndexError, FileNotFoundError, ValueError, ImportError) as err:
        print(f"fashionret-search {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
