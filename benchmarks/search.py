#!/usr/bin/env python
"""Benchmark gallery search (``fashionret.serve``) against a prebuilt faiss flat index and numpy brute force.

For each gallery size N (random Gaussian vectors, D=512, seeded) the script writes a real index folder with
:class:`fashionret.serve.index.GalleryIndex` (validated, normalised, ``--shard-size`` rows per shard, digests),
builds its persistent faiss index (``--approx``; recall@10 against exact measured as ``fashionret-search index``
does), then times, per query batch size (1 and 100 by default), with interleaved repeats in one process:

* ``ours exact``: ``GalleryIndex.search`` -- memory-mapped shards, the engine's product + top-k per shard;
* ``ours approx``: ``GalleryIndex.search(..., backend="faiss")`` -- the persistent faiss index;
* ``ours service``: ``POST /api/search`` with the query's embedding to ``fashionret-search serve``'s app
  (uvicorn on loopback, one keep-alive httpx client; batch 1 only: the API takes one query);
* ``faiss flat``: a prebuilt ``faiss.IndexFlatIP`` on the same normalised vectors, in memory (the baseline);
* ``numpy``: ``g @ q.T`` + ``argpartition`` top-k on the same normalised array in memory.

Times are CPU seconds (user + sys of the process: wall time swings on a shared machine) per call; ``x flat``
is the ratio of medians against the faiss flat index measured in the same rounds. ``p50 ms`` is the median wall
time per call. Peak extra memory is ``VmHWM`` during the timed calls minus the RSS before them; ``held MB`` is
the memory the contender keeps besides the shared page cache (its own copy of the vectors, or the faiss
index's size: 0 for the memory-mapped shards).
Opening the index (``GalleryIndex.open``: items list, shard headers, digests only up to 32 MiB) is timed too.

    python benchmarks/search.py --sizes 10000 100000 1000000 --repeats 7
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fashionret.serve.approx import build_approx, load_approx
from fashionret.serve.index import GalleryIndex


def status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_hwm() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make_index(root: Path, n: int, dim: int, shard_size: int, seed: int, approx: str) -> tuple[GalleryIndex, dict]:
    emb = {"checkpoint": "random", "model": "random", "fingerprint": "0" * 64, "similarity": "cosine"}
    items = [{"path": f"/catalogue/{i:07d}.jpg", "label": str(i)} for i in range(n)]
    index = GalleryIndex.create(root, emb, {"random": seed}, items, shard_size)
    gen = torch.Generator().manual_seed(seed)
    for s in range(index.num_shards):
        lo, hi = index.shard_range(s)
        index.write_shard(s, torch.randn(hi - lo, dim, generator=gen).numpy())
    t0 = time.perf_counter()
    rec = build_approx(index, approx)
    rec["wall_build_s"] = time.perf_counter() - t0
    index.meta["approx"] = rec
    index.save_meta()
    return index, rec


def start_service(root: Path):
    import httpx
    import uvicorn

    from fashionret.serve.service import SearchService, create_app

    app = create_app(SearchService(root, model=False))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)


def run_size(n: int, args) -> None:
    import faiss

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        root = Path(tmp) / "idx"
        t0 = time.perf_counter()
        kind = args.approx_large if (args.approx_large and n > 100_000) else args.approx
        _, rec = make_index(root, n, args.dim, args.shard_size, args.seed, kind)
        write_s = time.perf_counter() - t0
        opens = []
        for _ in range(5):
            t0 = time.perf_counter()
            index = GalleryIndex.open(root)
            opens.append(time.perf_counter() - t0)
        for i in range(index.num_shards):  # map every shard once (as the service does)
            index.shard(i)
        load_approx(index)
        held = {"ours exact": 0.0, "ours approx": rec["bytes"] / 2**20}
        g = np.concatenate([index.shard(i).numpy() for i in range(index.num_shards)])  # normalised rows
        held["numpy"] = g.nbytes / 2**20
        flat = faiss.IndexFlatIP(args.dim)
        flat.add(g)
        held["faiss flat"] = g.nbytes / 2**20  # faiss keeps its own copy of the vectors
        gen = torch.Generator().manual_seed(args.seed + 1)
        qs = torch.nn.functional.normalize(torch.randn(max(args.batches), args.dim, generator=gen), dim=1)
        server, client = start_service(root)

        def numpy_topk(q: np.ndarray, k: int):
            s = g @ q.T
            part = np.argpartition(-s, k - 1, axis=0)[:k]
            return part

        contenders = {
            "ours exact": lambda q: index.search(q, args.k),
            "ours approx": lambda q: index.search(q, args.k, backend="faiss"),
            "faiss flat": lambda q: flat.search(np.ascontiguousarray(q.numpy()), args.k),
            "numpy": lambda q: numpy_topk(q.numpy(), args.k),
            "ours service": lambda q: client.post("/api/search", json={"embedding": q[0].tolist(), "k": args.k}),
        }
        # correctness on the first batch: ours exact = faiss flat's lists (same normalised vectors)
        ours_i = index.search(qs[:100], args.k)[0].numpy()
        flat_i = flat.search(np.ascontiguousarray(qs[:100].numpy()), args.k)[1]
        agree = float((ours_i == flat_i).all(axis=1).mean())
        print(
            f"\n## N={n} D={args.dim}: index written in {write_s:.1f} s ({index.num_shards} shards of "
            f"{args.shard_size}); GalleryIndex.open median {1000 * statistics.median(opens):.1f} ms; approx "
            f"{rec['kind']} {rec.get('params', {})} built in {rec['wall_build_s']:.1f} s, recall@10 vs exact "
            f"{rec.get('recall_at_10', float('nan')):.4f} ({rec.get('recall_queries')} queries); top-{args.k} lists "
            f"identical to faiss flat for {agree:.0%} of 100 queries; load {os.getloadavg()[0]:.1f}"
        )
        print("| batch | contender | cpu ms/call (median) | x flat | p50 wall ms/call | peak extra MB | held MB |")
        print("|---|---|---|---|---|---|---|")
        for b in args.batches:
            q = qs[:b]
            names = [c for c in contenders if not (c == "ours service" and b != 1)]
            for name in names:  # warm-up (page cache, BLAS, connections)
                contenders[name](q)
            cpu_t = {c: [] for c in names}
            wall_t = {c: [] for c in names}
            peak = dict.fromkeys(names, 0.0)
            for _ in range(args.repeats):  # interleaved rounds
                for name in names:
                    rss0 = status_kb("VmRSS")
                    reset_hwm()
                    c0, w0 = cpu(), time.perf_counter()
                    for _ in range(args.calls):
                        contenders[name](q)
                    wall_t[name].append((time.perf_counter() - w0) / args.calls)
                    cpu_t[name].append((cpu() - c0) / args.calls)
                    peak[name] = max(peak[name], (status_kb("VmHWM") - rss0) / 1024)
            base = statistics.median(cpu_t["faiss flat"])
            for name in names:
                med, wall = statistics.median(cpu_t[name]), statistics.median(wall_t[name])
                print(
                    f"| {b} | {name} | {1000 * med:.2f} | {med / base:.2f} | {1000 * wall:.2f} | {peak[name]:.0f} "
                    f"| {held.get(name, 0):.0f} |"
                )
            sys.stdout.flush()
        client.close()
        server.should_exit = True


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 100])
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--shard-size", type=int, default=4096, help="rows per shard (fashionret-search's default)")
    p.add_argument("--approx", default="auto", help="the persistent faiss index kind (auto: flat <= 100000, hnsw)")
    p.add_argument("--approx-large", default=None, help="another kind for sizes above 100000 (e.g. hnsw)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    p.add_argument("--calls", type=int, default=3, help="calls per contender per round")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tmp", default=None, help="where the index folders are written (default: the system's)")
    args = p.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    for n in args.sizes:
        run_size(n, args)


if __name__ == "__main__":
    main()
