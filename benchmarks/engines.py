#!/usr/bin/env python
"""Which vector engine serves an index beyond one machine: Qdrant (``qdrant-client``, local mode) against Milvus
(``pymilvus`` with Milvus Lite), measured on the same clustered vectors (``benchmarks/search.py``'s
``Vectors``), each in its embedded mode, with the client code that also talks to a cluster.

Per engine: install footprint (packages it pulls), load time for N vectors, top-10 recall against the exact
engine on held-out queries, single-query wall ms (p50/p99) and the CPU seconds of this process *and its
children* per query (Milvus Lite runs a server process), and the disk it wrote.

    python benchmarks/engines.py --n 20000 --queries 200
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from search import Vectors

from fashionret.eval import topk_neighbours


def cpu_all() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def child_cpu(pids: list[int]) -> float:
    """CPU seconds of running child processes (a server that never exits is not in RUSAGE_CHILDREN)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def children() -> list[int]:
    me = os.getpid()
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == me:
                    out.append(int(p.name))
            except OSError:
                pass
    return out


def disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def run_qdrant(g: np.ndarray, q: np.ndarray, k: int, root: Path):
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=str(root / "qdrant"))
    client.create_collection("bench", vectors_config=models.VectorParams(size=g.shape[1], distance="Cosine"))
    t0 = time.perf_counter()
    for lo in range(0, len(g), 2000):
        client.upload_collection("bench", g[lo : lo + 2000], ids=range(lo, min(lo + 2000, len(g))), wait=True)
    load_s = time.perf_counter() - t0

    def query(v):
        return [p.id for p in client.query_points("bench", query=v.tolist(), limit=k).points]

    return load_s, query, lambda: client.close()


def run_milvus(g: np.ndarray, q: np.ndarray, k: int, root: Path):
    from pymilvus import MilvusClient

    client = MilvusClient(str(root / "milvus.db"))
    client.create_collection("bench", dimension=g.shape[1], metric_type="COSINE", auto_id=False)
    t0 = time.perf_counter()
    for lo in range(0, len(g), 2000):
        rows = [{"id": lo + i, "vector": v.tolist()} for i, v in enumerate(g[lo : lo + 2000])]
        client.insert("bench", rows)
    client.flush("bench") if hasattr(client, "flush") else None
    load_s = time.perf_counter() - t0

    def query(v):
        res = client.search("bench", data=[v.tolist()], limit=k, search_params={"metric_type": "COSINE"})
        return [h["id"] for h in res[0]]

    return load_s, query, lambda: client.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--engines", nargs="+", default=["qdrant", "milvus"])
    args = p.parse_args()
    vec = Vectors("clustered", args.n, args.dim, 0)
    g = vec.block(0, args.n)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    q = vec.queries(args.queries).numpy()
    truth = topk_neighbours(torch.from_numpy(q), torch.from_numpy(g), args.k)[0].numpy()
    print(f"clustered vectors N={args.n} D={args.dim}, {args.queries} held-out queries, top-{args.k}")
    print(
        "| engine | load s | recall@10 vs exact | p50 wall ms | p99 wall ms | CPU ms/query (all processes) | disk MB |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.engines:
        root = Path(tempfile.mkdtemp(prefix=f"engine_{name}_"))
        try:
            load_s, query, close = (run_qdrant if name == "qdrant" else run_milvus)(g, q, args.k, root)
            for v in q[:10]:
                query(v)  # warm-up
            kids = children()
            c0, k0 = cpu_all(), child_cpu(kids)
            walls, found = [], []
            for v in q:
                t0 = time.perf_counter()
                found.append(query(v))
                walls.append(1000 * (time.perf_counter() - t0))
            cpu_ms = 1000 * (cpu_all() - c0 + child_cpu(kids) - k0) / len(q)
            recall = np.mean([len(set(f) & set(t)) / args.k for f, t in zip(found, truth)])
            print(
                f"| {name} | {load_s:.1f} | {recall:.4f} | {statistics.median(walls):.2f} | "
                f"{np.percentile(walls, 99):.2f} | {cpu_ms:.2f} | {disk_mb(root):.0f} |"
            )
            sys.stdout.flush()
            close()
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
