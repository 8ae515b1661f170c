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


class Vectors:
    """Seeded embedding generators, block by block (a 1M x 512 set is never held twice).

    * ``gaussian``: i.i.d. N(0, 1) in D dimensions -- no neighbourhood structure, the worst case;
    * ``clustered``: the shape of a trained model's embeddings: ``n / CLUSTER_SIZE`` small clusters (one per
      catalogue item, ~20 rows each) whose centres are N(0, I) in a ``LATENT``-dimensional subspace (a fixed
      random orthonormal basis of R^D), rows = centre + ``SPREAD`` x N(0, I) in that subspace + ``NOISE`` x
      N(0, I) in all D dimensions (intrinsic dimension ~32; ``SPREAD`` is the within-item / between-item
      standard-deviation ratio). Queries are new draws around random items' centres (another photo of an
      item in the catalogue), never gallery rows.
    """

    CLUSTER_SIZE, LATENT, SPREAD, NOISE = 20, 32, 0.5, 0.05

    def __init__(self, kind: str, n: int, dim: int, seed: int):
        self.kind, self.n, self.dim, self.seed = kind, n, dim, seed
        rng = np.random.default_rng(seed)
        if kind == "clustered":
            self.basis = np.linalg.qr(rng.standard_normal((dim, self.LATENT)))[0].T.astype(np.float32)
            self.centres = rng.standard_normal((max(1, n // self.CLUSTER_SIZE), self.LATENT)).astype(np.float32)

    def block(self, lo: int, hi: int, stream: int = 0) -> np.ndarray:
        rng = np.random.default_rng([self.seed, stream, lo])
        m = hi - lo
        if self.kind == "gaussian":
            return rng.standard_normal((m, self.dim), dtype=np.float32)
        which = rng.integers(0, len(self.centres), m)
        z = self.centres[which] + self.SPREAD * rng.standard_normal((m, self.LATENT), dtype=np.float32)
        return z @ self.basis + self.NOISE * rng.standard_normal((m, self.dim), dtype=np.float32)

    def queries(self, m: int) -> torch.Tensor:
        return torch.from_numpy(self.block(0, m, stream=1))


def write_index(root: Path, vectors: Vectors, shard_size: int) -> GalleryIndex:
    """A real index folder of ``vectors`` (resumed where an earlier run stopped; reused when complete)."""
    emb = {"checkpoint": None, "model": "vectors", "fingerprint": "0" * 64, "similarity": "cosine"}
    items = [{"path": None, "item_id": str(i)} for i in range(vectors.n)]
    index = GalleryIndex.create(root, emb, {vectors.kind: vectors.seed}, items, shard_size)
    for s in range(index.written_shards(), index.num_shards):
        lo, hi = index.shard_range(s)
        index.write_shard(s, vectors.block(lo, hi))
    return GalleryIndex.open(root)


def make_index(root: Path, n: int, dim: int, shard_size: int, seed: int, approx: str) -> tuple[GalleryIndex, dict]:
    index = write_index(root, Vectors("gaussian", n, dim, seed), shard_size)
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


def thread_cpu_ms(fn, queries: torch.Tensor, k: int) -> list[float]:
    """Thread CPU ms of ``fn(one query)`` for each query, on one thread (faiss and torch)."""
    out = []
    for i in range(len(queries)):
        t0 = time.thread_time()
        fn(queries[i : i + 1], k)
        out.append(1000 * (time.thread_time() - t0))
    return out


def service_load(root: Path, queries: torch.Tensor, k: int, requests: int, workers: int) -> str:
    """A bounded loopback load test of ``fashionret-search serve``'s app on the index (its default backend):
    ``requests`` embedding queries from ``workers`` concurrent keep-alive clients; queries/s and latency."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    server, client = start_service(root)
    client.close()
    port = server.servers[0].sockets[0].getsockname()[1]
    local = threading.local()

    def one(i: int) -> float:
        if not hasattr(local, "c"):
            local.c = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
        t0 = time.perf_counter()
        r = local.c.post("/api/search", json={"embedding": queries[i % len(queries)].tolist(), "k": k})
        assert r.status_code == 200, r.text
        return time.perf_counter() - t0

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(2 * workers)))  # warm-up
        t0 = time.perf_counter()
        lat = np.array(list(pool.map(one, range(requests)))) * 1000
        wall = time.perf_counter() - t0
    server.should_exit = True
    return (
        f"service load ({requests} embedding queries, {workers} concurrent clients, loopback): "
        f"{requests / wall:.1f} queries/s, latency p50 {np.percentile(lat, 50):.1f} ms, p99 "
        f"{np.percentile(lat, 99):.1f} ms (load average {os.getloadavg()[0]:.1f})"
    )


def approx_table(n: int, kind_vectors: str, args) -> None:
    """Per approximate index kind: build time, memory, recall@10 against exact on held-out queries, and
    single-query p50/p99 CPU-ms on one thread."""
    import faiss

    from fashionret.serve.approx import auto_pick, clear_cache, describe_auto

    vectors = Vectors(kind_vectors, n, args.dim, args.seed)
    root = Path(args.workdir) / f"{kind_vectors}_{n}_{args.dim}"
    t0 = time.perf_counter()
    index = write_index(root, vectors, args.shard_size)
    write_s = time.perf_counter() - t0
    vec_mb = n * args.dim * 4 / 2**20
    queries = vectors.queries(args.queries)
    t0 = time.perf_counter()
    truth = index.search(queries, args.k)[0].numpy()  # the exact engine, batched
    exact_s = time.perf_counter() - t0
    print(
        f"\n## {kind_vectors} N={n} D={args.dim}: index written (or reused) in {write_s:.1f} s; exact top-{args.k} of "
        f"{len(queries)} held-out queries in {exact_s:.1f} s wall; vectors {vec_mb:.0f} MB; load "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(
        "| kind | params | build wall s | build CPU s | index MB | x vectors | recall@10 (build, gallery rows) "
        "| recall@10 held-out | p50 CPU-ms | p99 CPU-ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    sys.stdout.flush()
    for kind in args.kinds:
        if kind == "keep":  # the faiss index already in the folder (e.g. for --load-requests alone)
            continue
        if kind == "auto":
            t0, c0 = time.perf_counter(), cpu()
            _, auto = auto_pick(index, args.recall_target, args.seed)
            print(f"| auto | {describe_auto({'auto': auto})} | {time.perf_counter() - t0:.1f} | {cpu() - c0:.1f} "
                  "| | | | | | |")  # fmt: skip
            sys.stdout.flush()
            continue
        faiss.omp_set_num_threads(args.build_threads)
        torch.set_num_threads(args.build_threads)
        t0, c0 = time.perf_counter(), cpu()
        rec = build_approx(index, kind, recall_target=args.recall_target, seed=args.seed)
        build_wall, build_cpu = time.perf_counter() - t0, cpu() - c0
        index.meta["approx"] = rec
        index.save_meta()
        approx = load_approx(index)
        faiss.omp_set_num_threads(1)
        torch.set_num_threads(1)
        found = np.concatenate(
            [approx.search(queries[i : i + 100], args.k)[0].numpy() for i in range(0, len(queries), 100)]
        )
        recall = float(np.mean([len(set(f) & set(t)) / args.k for f, t in zip(found, truth)]))
        for i in range(20):  # warm-up (page cache of the shards for the re-rank)
            approx.search(queries[i : i + 1], args.k)
        times = thread_cpu_ms(approx.search, queries, args.k)
        p50, p99 = np.percentile(times, 50), np.percentile(times, 99)
        params = {k: v for k, v in rec["params"].items()}
        print(
            f"| {kind} | {params} | {build_wall:.1f} | {build_cpu:.1f} | {rec['bytes'] / 2**20:.0f} | "
            f"{rec['bytes'] / 2**20 / vec_mb:.3f} | {rec['recall_at_10']:.4f} | {recall:.4f} | {p50:.3f} | {p99:.3f} |"
        )
        sys.stdout.flush()
        del approx
        clear_cache()
    if args.load_requests:
        faiss.omp_set_num_threads(1)
        torch.set_num_threads(1)
        print(service_load(root, queries, args.k, args.load_requests, args.load_clients))
    print(f"(peak RSS of the process so far: {status_kb('VmHWM') / 2**20:.2f} GiB)")


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
    p.add_argument(
        "--vectors",
        nargs="+",
        choices=("gaussian", "clustered"),
        default=None,
        help="the approximate-index table instead (per --kinds: build, memory, recall on held-out queries, "
        "single-query CPU-ms) on these vector kinds (see Vectors)",
    )
    p.add_argument(
        "--kinds",
        nargs="+",
        default=["hnsw", "ivf", "ivfpq", "auto"],
        help="with --vectors (keep: build nothing, use the folder's faiss index)",
    )
    p.add_argument("--queries", type=int, default=1000, help="with --vectors: held-out queries")
    p.add_argument("--recall-target", type=float, default=0.95)
    p.add_argument("--build-threads", type=int, default=2, help="with --vectors: threads while building")
    p.add_argument("--workdir", default="/tmp/fashionret_search_bench", help="with --vectors: index folders (reused)")
    p.add_argument("--load-requests", type=int, default=0, help="with --vectors: a service load test after the kinds")
    p.add_argument("--load-clients", type=int, default=8)
    args = p.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    for n in args.sizes:
        if args.vectors:
            for v in args.vectors:
                approx_table(n, v, args)
        else:
            run_size(n, args)


if __name__ == "__main__":
    main()
