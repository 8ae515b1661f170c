#!/usr/bin/env python
"""Benchmark the ranking engine (``fashionret.eval.retrieval_metrics``) against its physical floor and peers.

Every contender runs in a fresh subprocess on the same seeded random embeddings (class centres plus Gaussian
noise, ``--relevant`` gallery items per label, every query has a match). Reported per contender:

* time: wall-clock seconds of the measured call (minimum over ``--repeats`` runs), data generation excluded;
* peak extra memory: the process's peak resident set size (``VmHWM``, reset through ``/proc/self/clear_refs``
  just before the call) minus its resident size before the call, i.e. what the call itself added on top of
  the embeddings (Linux only; tracemalloc does not see torch allocations);
* the metrics it computes, and whether they agree with ours.

Contenders:

* ``ours``: ``retrieval_metrics(...)`` (exact top1..top50 and mAP, chunked; default chunk from its budget).
* ``ours-faiss``: ``faiss_retrieval_metrics(...)`` (top-k and mAP@50 from a faiss flat top-50).
* ``floor``: bare ``q @ g.T`` in query chunks of the same size as ours (on pre-normalised embeddings, result
  discarded): the physical floor of any exact method.
* ``floor-whole``: the same product as one dense ``Q x G`` matrix.
* ``naive``: dense score matrix + ``argsort`` of whole rows (the re-id toolbox way); top-k and mAP.
* ``pml``: pytorch-metric-learning ``AccuracyCalculator`` (``precision_at_1``, ``mean_average_precision``)
  with its default ``k=None`` (= the whole gallery, so ``mean_average_precision`` is the full AP, our mAP;
  ``precision_at_1`` is our top1) and a faiss ``IndexFlatIP`` kNN on L2-normalised embeddings.
* ``tm``: torchmetrics ``RetrievalMAP`` + ``RetrievalHitRate(top_k=1)`` + ``RetrievalHitRate(top_k=10)`` in
  a ``MetricCollection`` (shared state), fed ``cosine + 2`` so every score is positive (see ``tm-raw``).
* ``tm-raw``: the same fed raw cosine similarities. torchmetrics >= 1.7.4 treats items with score <= 0 as
  non-relevant inside ``retrieval_average_precision``, so its mAP on raw cosine differs from the true mAP.

torchmetrics holds every query x gallery score in memory; it is skipped above ``--tm-max-pairs``.

Example (the issue's sizes; several minutes on 2 cores)::

    python benchmarks/ranking.py --size 20000x20000 --contenders ours floor floor-whole naive pml ours-faiss
    python benchmarks/ranking.py --size 8000x12612 --contenders ours floor tm tm-raw pml naive
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

TOPK = (1, 5, 10, 20, 50)
ALL = ("ours", "ours-faiss", "floor", "floor-whole", "naive", "pml", "tm", "tm-raw")
# keys each contender reports that mean the same thing as ours
NOTES = {
    "floor": "chunked q @ g.T (chunk = ours)",
    "floor-whole": "one dense Q x G q @ g.T",
    "ours-faiss": "top-50 search; mAP@50",
    "pml": "k=None (whole gallery)",
    "tm": "scores = cos + 2 (> 0)",
    "tm-raw": "raw cosine scores",
}


# ------------------------------------------------------------------------------------------------ worker
def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def make_data(n_q: int, n_g: int, dim: int, relevant: int, sigma: float, seed: int):
    import torch

    gen = torch.Generator().manual_seed(seed)
    n_labels = max(1, n_g // relevant)
    gl = torch.arange(n_g) % n_labels
    ql = torch.randint(0, n_labels, (n_q,), generator=gen)
    centers = torch.randn(n_labels, dim, generator=gen)
    g = centers[gl] + sigma * torch.randn(n_g, dim, generator=gen)
    q = centers[ql] + sigma * torch.randn(n_q, dim, generator=gen)
    return q, g, ql, gl


def run_ours(q, g, ql, gl, args):
    from fashionret.eval import retrieval_metrics

    res = retrieval_metrics(q, g, ql, gl, topk=TOPK, chunk_size=args.chunk_size)
    return {k: v for k, v in res.items() if k.startswith("top") or k == "mAP"}


def run_ours_faiss(q, g, ql, gl, args):
    from fashionret.eval.faiss_backend import faiss_retrieval_metrics

    res = faiss_retrieval_metrics(q, g, ql, gl, topk=TOPK)
    return {k: v for k, v in res.items() if k.startswith(("top", "mAP"))}


def _normalised(q, g):
    import torch.nn.functional as F

    return F.normalize(q, dim=1), F.normalize(g, dim=1)


def prepare_floor(q, g, ql, gl, args):
    return _normalised(q, g)


def run_floor(prep, args):
    from fashionret.eval import default_chunk_size

    qn, gn = prep
    chunk = args.chunk_size or default_chunk_size(gn.shape[0], qn.device)
    gt = gn.t()
    for i in range(0, qn.shape[0], chunk):
        s = qn[i : i + chunk] @ gt
        del s
    return {}


def run_floor_whole(prep, args):
    qn, gn = prep
    s = qn @ gn.t()
    del s
    return {}


def run_naive(q, g, ql, gl, args):
    import torch

    qn, gn = _normalised(q, g)
    s = qn @ gn.t()
    order = torch.argsort(s, dim=1, descending=True)
    del s
    rel = gl[order] == ql.unsqueeze(1)
    del order
    first = torch.where(rel.any(1), rel.int().argmax(1) + 1, rel.shape[1] + 1)
    cum = rel.cumsum(1, dtype=torch.int32)
    pos = torch.arange(1, rel.shape[1] + 1, dtype=torch.float64)
    ap = ((cum * rel) / pos).sum(1) / rel.sum(1)
    out = {f"top{k}": float((first <= k).double().mean()) for k in TOPK}
    out["mAP"] = float(ap.mean())
    return out


def run_pml(q, g, ql, gl, args):
    import faiss
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
    from pytorch_metric_learning.utils.inference import FaissKNN

    qn, gn = _normalised(q, g)
    calc = AccuracyCalculator(
        include=("precision_at_1", "mean_average_precision"),
        k=None,
        knn_func=FaissKNN(index_init_fn=faiss.IndexFlatIP),
    )
    res = calc.get_accuracy(qn, ql, gn, gl, ref_includes_query=False)
    return {"top1": float(res["precision_at_1"]), "mAP": float(res["mean_average_precision"])}


def _run_tm(q, g, ql, gl, args, shift: float):
    import torch
    from torchmetrics import MetricCollection
    from torchmetrics.retrieval import RetrievalHitRate, RetrievalMAP

    qn, gn = _normalised(q, g)
    coll = MetricCollection(
        {"mAP": RetrievalMAP(), "top1": RetrievalHitRate(top_k=1), "top10": RetrievalHitRate(top_k=10)},
        compute_groups=True,
    )
    n_g = gn.shape[0]
    for i in range(0, qn.shape[0], 1000):
        s = qn[i : i + 1000] @ gn.t() + shift
        target = ql[i : i + 1000].unsqueeze(1) == gl.unsqueeze(0)
        idx = torch.arange(i, i + s.shape[0]).repeat_interleave(n_g)
        coll.update(s.flatten(), target.flatten(), indexes=idx)
    return {k: float(v) for k, v in coll.compute().items()}


def run_tm(q, g, ql, gl, args):
    return _run_tm(q, g, ql, gl, args, shift=2.0)


def run_tm_raw(q, g, ql, gl, args):
    return _run_tm(q, g, ql, gl, args, shift=0.0)


RUNNERS = {
    "ours": run_ours,
    "ours-faiss": run_ours_faiss,
    "floor": run_floor,
    "floor-whole": run_floor_whole,
    "naive": run_naive,
    "pml": run_pml,
    "tm": run_tm,
    "tm-raw": run_tm_raw,
}
PREPARE = {"floor": prepare_floor, "floor-whole": prepare_floor}


def worker(args) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    n_q, n_g = args.size
    data = make_data(n_q, n_g, args.dim, args.relevant, args.sigma, args.seed)
    name = args.worker
    # import everything the contender needs and warm up BLAS before measuring
    if name in ("pml", "ours-faiss"):
        import faiss  # noqa: F401
    if name == "pml":
        import pytorch_metric_learning.utils.accuracy_calculator  # noqa: F401
    if name.startswith("tm"):
        import torchmetrics.retrieval  # noqa: F401
    import fashionret.eval  # noqa: F401

    # warm up (first-call allocations, kernel dispatch, BLAS) on a small slice, for every contender alike
    small = (data[0][:64], data[1][:512], data[2][:64], data[3][:512])
    RUNNERS[name](PREPARE[name](*small, args), args) if name in PREPARE else RUNNERS[name](*small, args)
    prep = PREPARE[name](*data, args) if name in PREPARE else None
    gc.collect()
    rss0 = _status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    load = os.getloadavg()[0]
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    metrics = RUNNERS[name](prep, args) if prep is not None else RUNNERS[name](*data, args)
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    peak = _status_kb("VmHWM")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    out = {"time": dt, "cpu": cpu, "load": load, "extra_mb": (peak - rss0) / 1024, "metrics": metrics}
    print("RESULT " + json.dumps(out))


# ----------------------------------------------------------------------------------------------- driver
def run_contender(name: str, size: tuple[int, int], args) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        name,
        "--size",
        f"{size[0]}x{size[1]}",
        "--dim",
        str(args.dim),
        "--relevant",
        str(args.relevant),
        "--sigma",
        str(args.sigma),
        "--seed",
        str(args.seed),
    ]
    if args.chunk_size:
        cmd += ["--chunk-size", str(args.chunk_size)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    runs = []
    for _ in range(args.tm_repeats if name.startswith("tm") else args.repeats):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            why = "killed (out of memory?)" if proc.returncode in (-9, 137) else f"exit {proc.returncode}"
            tail = proc.stderr.strip().splitlines()[-1:] if proc.stderr.strip() else []
            return {"error": why + (": " + tail[0][:120] if tail else "")}
        runs.append(json.loads(lines[-1][len("RESULT ") :]))
    best = min(runs, key=lambda r: r["time"])
    return {
        **best,
        "times": [r["time"] for r in runs],
        "extra_mb": max(r["extra_mb"] for r in runs),
        "cpu": min(r["cpu"] for r in runs),
        "load": max(r["load"] for r in runs),
    }


def agreement(name: str, metrics: dict, ours: dict | None, tol: float) -> str:
    if name == "ours" or not metrics:
        return "-" if name != "ours" else "reference"
    if ours is None:
        return "(ours not run)"
    common = [k for k in metrics if k in ours]
    if not common:
        return "-"
    bad = [k for k in common if not abs(metrics[k] - ours[k]) <= tol]
    if not bad:
        return "agree: " + ",".join(common)
    return "DIFFER: " + ", ".join(f"{k} {metrics[k]:.4f} vs {ours[k]:.4f}" for k in bad)


def fmt_metrics(m: dict) -> str:
    keys = [k for k in ("top1", "top10", "mAP") if k in m] + [k for k in m if k.startswith("mAP@")]
    return " ".join(f"{k}={m[k]:.4f}" for k in keys)


def print_table(size, rows: dict, args) -> None:
    import platform

    import torch

    ours = rows.get("ours")
    ours_ok = ours is not None and "error" not in ours
    print(
        f"\n## Q={size[0]} G={size[1]} D={args.dim} ({args.relevant} relevant per label), "
        f"{args.threads or torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}; {args.repeats} run(s) each ({args.tm_repeats} for tm)"
    )
    cols = ["contender", "time s", "x ours", "all runs s", "cpu s", "load", "peak extra MB", "x ours"]
    cols += ["metrics", "agreement with ours", "note"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("-" * (len(c) + 2) for c in cols) + "|")
    for name, r in rows.items():
        if "error" in r or "skipped" in r:
            why = r.get("error") or r["skipped"]
            print(f"| {name} | " + " | ".join(["-"] * (len(cols) - 2)) + f" | {why} |")
            continue
        tr = r["time"] / ours["time"] if ours_ok else math.nan
        mr = r["extra_mb"] / ours["extra_mb"] if ours_ok and ours["extra_mb"] > 0 else math.nan
        agree = agreement(name, r["metrics"], ours["metrics"] if ours_ok else None, args.tol)
        cells = [
            name,
            f"{r['time']:.2f}",
            f"{tr:.2f}",
            "/".join(f"{t:.2f}" for t in r["times"]),
            f"{r['cpu']:.1f}",
            f"{r['load']:.1f}",
            f"{r['extra_mb']:.0f}",
            f"{mr:.2f}",
            fmt_metrics(r["metrics"]) or "-",
            agree,
            NOTES.get(name, ""),
        ]
        print("| " + " | ".join(cells) + " |")
    print(
        "\ntime = min wall-clock over runs; cpu = process CPU seconds (user+sys, min over runs); load = the "
        "highest 1-min load average seen at the start of a run (> threads means other processes competed "
        "for the cores); peak extra = VmHWM during the call minus RSS before it (max over runs)."
    )
    sys.stdout.flush()


def parse_size(text: str) -> tuple[int, int]:
    q, g = text.lower().split("x")
    return int(q), int(g)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=parse_size, action="append", help="QxG (repeatable); default 20000x20000")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--relevant", type=int, default=4, help="gallery items per label")
    p.add_argument("--sigma", type=float, default=3.0, help="noise std relative to class centres")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk-size", type=int, default=None, help="ours' (and floor's) query chunk")
    p.add_argument("--contenders", nargs="+", default=list(ALL), choices=ALL)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--tm-repeats", type=int, default=1, help="runs of the (slow) torchmetrics contenders")
    p.add_argument("--tm-max-pairs", type=float, default=1.1e8, help="skip torchmetrics above Q*G")
    p.add_argument("--tol", type=float, default=1e-5, help="agreement tolerance (absolute)")
    p.add_argument("--worker", choices=ALL, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.size is None:
        args.size = [(20000, 20000)]
    if args.worker:
        args.size = args.size[0]
        worker(args)
        return
    for size in args.size:
        rows: dict[str, dict] = {}
        order = ["ours"] + [c for c in args.contenders if c != "ours"]
        for name in order:
            if name.startswith("tm") and size[0] * size[1] > args.tm_max_pairs:
                rows[name] = {"skipped": f"skipped: Q*G > --tm-max-pairs {args.tm_max_pairs:.3g}"}
                continue
            print(f"running {name} at {size[0]}x{size[1]} ...", file=sys.stderr, flush=True)
            rows[name] = run_contender(name, size, args)
        print_table(size, rows, args)


if __name__ == "__main__":
    main()
