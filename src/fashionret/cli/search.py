"""``fashionret-search``: index a gallery with a trained run (or precomputed vectors), change it, query it.

The parser only: the commands (:mod:`fashionret.cli.search_commands`) import torch and the serving code when
they run, so ``--help`` reads neither.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

log = logging.getLogger(__name__)

DESCRIPTION = """\
fashionret-search: index a gallery with a trained run (or vectors embedded elsewhere), then query the index
with images or vectors: the top-k gallery items per query with their scores (cosine similarity, or Euclidean
distance for runs trained with it), printed, written to results.json and (for images) drawn as a grid PNG.
Ranking is the package's exact engine; --backend faiss uses the index's persistent faiss index (flat, HNSW,
IVF or compressed IVF-PQ; its recall is measured when it is built). `add` and `remove` change an index in
place; `serve` answers the same over HTTP with a web page.

examples:
  fashionret-search index --run logs/train/runs/<run> --images shop_photos/ --out catalogue.idx
  fashionret-search query --index catalogue.idx my_photo.jpg another.jpg --k 5
  fashionret-search index --embeddings E.npy --items ITEMS.csv --out vectors.idx
  fashionret-search query --index vectors.idx --embeddings Q.npy --k 10 --out results/
  fashionret-search add --index vectors.idx --embeddings NEW.npy --items NEW.csv
  fashionret-search remove --index vectors.idx --items GONE.csv
  fashionret-search verify --index catalogue.idx
  fashionret-search serve --index catalogue.idx --port 8000
"""

COMMANDS = ("index", "query", "add", "remove", "export", "verify", "serve")
APPROX_KINDS = ("auto", "none", "flat", "hnsw", "ivf", "ivfpq")
BACKENDS = ("exact", "faiss", "engine")


def _command(sub, name: str, help: str, description: str, examples: list[str]) -> argparse.ArgumentParser:
    """A sub-command whose ``--help`` ends with its examples; it runs ``search_commands.cmd_<name>``."""
    p = sub.add_parser(
        name,
        help=help,
        description=description + "\n\nexamples:\n" + "\n".join(f"  fashionret-search {e}" for e in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=f"cmd_{name}")
    return p


def _index_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", required=True, help="an index folder made by fashionret-search index")


def _run_arg(p: argparse.ArgumentParser, required: bool = False) -> None:
    default = "" if required else " (default: the run that made the index)"
    p.add_argument("--run", required=required, help=f"a fashionret-train run directory or checkpoint{default}")


def _embedder_arg(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--embedder", choices=("auto", "onnx", "torch"), default="auto", help=help)


def _vectors_args(p: argparse.ArgumentParser, items_help: str) -> None:
    p.add_argument("--embeddings", help="a .npy float array [items, dim] of vectors embedded elsewhere")
    p.add_argument("--items", help=items_help)


ITEMS_HELP = "with --embeddings: a CSV with an item_id column (and optionally path), one line per row"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fashionret-search", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")

    pi = _command(
        sub,
        "index",
        "embed a gallery (or take precomputed vectors) into an index folder",
        "Embed a gallery (an image folder, or a split of the run's dataset) with a trained run into an index "
        "folder -- or take vectors embedded elsewhere (--embeddings, --items): batched, written in shards so that "
        "an interrupted run resumes.",
        [
            "index --run logs/train/runs/<run> --images shop_photos/ --out catalogue.idx",
            "index --run logs/train/runs/<run> --data test_gallery --out test_gallery.idx",
            "index --embeddings E.npy --items ITEMS.csv --out vectors.idx",
        ],
    )
    _run_arg(pi)
    src = pi.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", help="a folder of gallery images (searched recursively; items named by folder)")
    src.add_argument("--data", help="a split of the run's own dataset: test_gallery, test_query, val_gallery, ...")
    src.add_argument("--embeddings", help="a .npy float array [items, dim] of vectors embedded elsewhere")
    pi.add_argument("--items", help=ITEMS_HELP)
    pi.add_argument("--similarity", choices=("cosine", "euclidean"), default="cosine", help="with --embeddings")
    pi.add_argument("--out", required=True, help="the index folder to write (or to resume)")
    pi.add_argument("--batch-size", type=int, default=64)
    pi.add_argument("--shard-size", type=int, default=4096, help="items per shard file (the resume granularity)")
    pi.add_argument("--workers", type=int, default=0, help="dataloader worker processes")
    pi.add_argument("--no-progress", action="store_true", help="no progress bar")
    pi.add_argument(
        "--approx",
        default="auto",
        choices=APPROX_KINDS,
        help="the persistent faiss index built beside the shards (default auto: flat up to 100000 items; beyond, "
        "hnsw, ivf and ivfpq measured on a sample and the cheapest reaching --recall-target picked); its "
        "recall@10 against exact search is measured and printed",
    )
    pi.add_argument(
        "--recall-target",
        type=float,
        default=0.95,
        help="hnsw/ivf/ivfpq: the smallest efSearch/nprobe whose measured recall@10 reaches this (default 0.95)",
    )

    pq = _command(
        sub,
        "query",
        "the top-k gallery items for query images or vectors",
        "Embed query images with the run that made the index (or take query vectors) and print the top-k gallery "
        "items per query with their item names and scores; writes results.json (and for images grid.png) to "
        "--out.",
        [
            "query --index catalogue.idx my_photo.jpg --k 5",
            "query --index attr.idx photo.jpg --attribute 2",
            "query --index vectors.idx --embeddings Q.npy --k 10 --out results/",
        ],
    )
    _index_arg(pq)
    pq.add_argument("images", nargs="*", default=[], help="query image files")
    pq.add_argument("--data", help="query with a split of the run's dataset instead (e.g. test_query)")
    pq.add_argument("--embeddings", help="query with the rows of a .npy float array [queries, dim] instead")
    pq.add_argument("--k", type=int, default=10, help="results per query (default 10)")
    pq.add_argument("--attribute", help="attribute (name or id) for an attribute-conditioned model's index")
    backends = "exact engine (default), the index's persistent faiss index (see index --approx), or the vector "
    pq.add_argument("--backend", choices=BACKENDS, default="exact", help=backends + "engine it was exported to")
    _embedder_arg(
        pq,
        "query images through the run's checked ONNX export when it has one (auto), always (onnx) or eager "
        "PyTorch (torch)",
    )
    _run_arg(pq)
    pq.add_argument("--limit", type=int, default=0, help="with --data: only the first N queries")
    pq.add_argument("--show", type=int, default=10, help="queries printed (all are in results.json)")
    pq.add_argument("--grid-rows", type=int, default=8, help="queries drawn in grid.png")
    pq.add_argument("--batch-size", type=int, default=64)
    pq.add_argument("--out", help="folder for results.json and grid.png (default logs/search/<date>_<time>)")

    pa = _command(
        sub,
        "add",
        "add items to an index in place (exact and faiss search see them at once)",
        "Add items to a complete index without rebuilding it: vectors (--embeddings, --items) to an index made "
        "from vectors, images (--images, embedded by the run that made the index) to an index made by a run. "
        "The change is atomic (new files, then one rename of index.json) and verify checks it.",
        [
            "add --index vectors.idx --embeddings NEW.npy --items NEW.csv",
            "add --index catalogue.idx --images new_arrivals/",
        ],
    )
    _index_arg(pa)
    _vectors_args(pa, ITEMS_HELP)
    pa.add_argument("--images", help="a folder of new gallery images")
    _run_arg(pa)
    pa.add_argument("--batch-size", type=int, default=64)

    pr = _command(
        sub,
        "remove",
        "remove items from an index in place (every row of each named item)",
        "Remove items from a complete index without rebuilding it: every row whose item_id is listed is skipped "
        "by exact and faiss search from then on. An item_id the index does not hold is an error naming its line.",
        [
            "remove --index vectors.idx --items GONE.csv   # a CSV with an item_id column",
            "remove --index catalogue.idx --items discontinued.csv   # image items are named by their folder",
        ],
    )
    _index_arg(pr)
    pr.add_argument("--items", required=True, help="a CSV with an item_id column: the items to remove")

    pe = _command(
        sub,
        "export",
        "copy an index into a vector engine (Milvus: Milvus Lite in the index folder, or a server/cluster)",
        "Copy an index's live rows into a Milvus collection and record it in index.json; query --backend engine "
        "(and the service) then search there, and add/remove reach it too. The default is Milvus Lite, a file "
        "in the index folder; --uri http://host:19530 points the same client code at a Milvus server or "
        "cluster (a token, if it needs one, from FASHIONRET_MILVUS_TOKEN).",
        [
            "export --index vectors.idx",
            "export --index catalogue.idx --uri http://milvus.internal:19530 --collection shop_2026",
        ],
    )
    _index_arg(pe)
    pe.add_argument("--uri", default="engine.db", help="a Milvus URL, or a Milvus Lite file name in the index folder")
    pe.add_argument("--collection", default="fashionret", help="the collection to (re)create (default fashionret)")

    pv = _command(
        sub,
        "verify",
        "check an index's files against the row counts and digests in its index.json",
        "Check every file of an index: row counts, sizes and sha256 digests of the items list, every shard, the "
        "removed-items mask and the faiss index. Opening an index checks counts always, digests only up to 32 MiB "
        "of files.",
        [
            "verify --index catalogue.idx",
            "verify --index /shared/indexes/shop_2026.idx   # an index someone handed you",
        ],
    )
    _index_arg(pv)

    ps = _command(
        sub,
        "serve",
        "serve an index over HTTP: an API and a web page (drop a photo, see the top-k)",
        "Serve an index over HTTP with the run that made it: POST /api/search (an image upload or an embedding), "
        "GET /api/health, and a web page at / where a photo dropped on the page shows the top-k. Binds 127.0.0.1 "
        "unless --host says otherwise.",
        [
            "serve --index catalogue.idx --port 8000",
            "serve --index catalogue.idx --host 0.0.0.0 --port 8080   # reachable from other hosts",
        ],
    )
    _index_arg(ps)
    ps.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    ps.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    _run_arg(ps)
    _embedder_arg(ps, "as for query")
    return p


def _check(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Combinations argparse cannot express, refused before anything is loaded."""
    if args.command == "query" and sum(map(bool, (args.images, args.data, args.embeddings))) != 1:
        p.error("query: give query image files, --data SPLIT or --embeddings Q.npy (one of them)")
    if args.command == "index" and bool(args.embeddings) != bool(args.items):
        p.error("index: --embeddings and --items go together (vectors and their item ids)")
    if args.command == "index" and not args.embeddings and not args.run:
        p.error("index: --images and --data need --run (the trained run that embeds them)")
    if args.command == "add" and not (bool(args.embeddings and args.items) ^ bool(args.images)):
        p.error("add: give --embeddings with --items, or --images (one of them)")


def quiet_lightning() -> None:
    """No accelerator banners or tips around a predict-only Trainer."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    _check(p, args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Lightning's own deprecation notice about torch internals: nothing a user can act on
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    quiet_lightning()
    from fashionret.cli import search_commands
    from fashionret.serve.store import SearchIndexError
    from fashionret.utils.checkpoints import CheckpointError

    try:
        return getattr(search_commands, args.func)(args)
    except (CheckpointError, SearchIndexError, FileNotFoundError, ValueError, ImportError) as err:
        print(f"fashionret-search {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
