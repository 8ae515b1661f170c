"""Startup cost of the entry points (and, with ``--demos``, the two demos) against ``import torch``, from
interleaved repeats.

Each repeat runs, in a fresh subprocess and in turn: ``python -c "import torch"`` (the baseline), then every
measured command (``--help`` of the six entry points, ``fashionret-train --cfg job``, and the README's working
commands on a ``+smoke=cpu`` run made first: ``search query`` of one image, ``search verify``, ``search index``
of 16 images, ``data validate``, ``export``, ``eval``; ``search serve`` until ``/api/health`` answers), from an
empty temporary directory. For each it records the wall time and the CPU seconds of the child (user + system, from
``os.wait4``: wall time swings with the machine's load, CPU time much less). The table gives medians over
the repeats and each command's ratio to the baseline measured in the same repeats (CPU and wall), with the
1-minute load average at the start and the end.

Goals (issue 17): ``--help`` of every command under 2 s, ``fashionret-train --cfg job`` under 2x ``import torch``;
(issue 25): one query of one image under 2x ``import torch``, the identity demo under 90 and the attribute demo
under 60 CPU-seconds on a quiet 2-core machine. ``serve`` is also given the seconds from its start to its
first ``/api/health`` answer (``ready s``) and its CPU seconds until then.

    python benchmarks/startup.py                 # 5 repeats
    python benchmarks/startup.py --repeats 9
    python benchmarks/startup.py --repeats 1 --demos   # + fashionret-train (the demo) and experiment=demo_attribute
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
BASELINE = ("import torch", [sys.executable, "-c", "import torch"])
COMMANDS = [
    ("fashionret-train --help", ["fashionret-train", "--help"]),
    ("fashionret-eval --help", ["fashionret-eval", "--help"]),
    ("fashionret-search --help", ["fashionret-search", "--help"]),
    ("fashionret-export --help", ["fashionret-export", "--help"]),
    ("fashionret-data --help", ["fashionret-data", "--help"]),
    ("fashionret-tables --help", ["fashionret-tables", "--help"]),
    ("fashionret-train --cfg job", ["fashionret-train", "--cfg", "job"]),
]
QUERY_IMAGE = "shop/Img/img/MEN/Pants/id_00000005/01_2_side.jpg"
#: the README's commands on the run logs/quick (made once, untimed, by SETUP); "{n}": the repeat's number
WORKING = [
    ("search query (1 image)", ["fashionret-search", "query", "--index", "shop.idx", QUERY_IMAGE, "--k", "5"]),
    ("search verify", ["fashionret-search", "verify", "--index", "shop.idx"]),
    ("search index (16 images)", ["fashionret-search", "index", "--run", "logs/quick", "--images", "shop/",
                                  "--out", "idx{n}.idx"]),
    ("data validate (16 images)", ["fashionret-data", "validate", "--format", "deepfashion_inshop", "--root", "shop"]),
    ("export (torchscript)", ["fashionret-export", "--run", "logs/quick", "--format", "torchscript"]),
    ("eval run_dir=logs/quick", ["fashionret-eval", "run_dir=logs/quick"]),
]  # fmt: skip
SETUP = [
    ["fashionret-train", "+smoke=cpu", "hydra.run.dir=logs/quick"],
    ["fashionret-data", "synth", "--format", "deepfashion_inshop", "--out", "shop", "--num-items", "8",
     "--images-per-item", "2"],
    ["fashionret-search", "index", "--run", "logs/quick", "--images", "shop/", "--out", "shop.idx"],
]  # fmt: skip
DEMOS = [
    ("demo: fashionret-train", ["fashionret-train"]),
    ("demo: experiment=demo_attribute", ["fashionret-train", "experiment=demo_attribute"]),
]


def timed(argv: list[str], cwd: str) -> tuple[float, float]:
    """(wall seconds, child CPU seconds) of one run; fails loudly on a non-zero exit."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {err[-1000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def timed_serve(cwd: str) -> tuple[float, float]:
    """(seconds from start to the first ``/api/health`` answer, CPU seconds of the server until then)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [str(BIN / "fashionret-search"), "serve", "--index", "shop.idx", "--port", str(port)]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ready = None
    while ready is None and time.perf_counter() - start < 300:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited {proc.returncode}: {proc.stderr.read().decode()[-1000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1) as r:
                if json.load(r).get("status") == "ok":
                    ready = time.perf_counter() - start
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    _, _, usage = os.wait4(proc.pid, 0)
    if ready is None:
        raise SystemExit("serve did not answer /api/health within 300 s")
    return ready, usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--demos", action="store_true", help="also the two demos (minutes each), once per repeat")
    p.add_argument("--no-working", action="store_true", help="only --help and --cfg job (no smoke run made)")
    args = p.parse_args(argv)
    measured = COMMANDS + ([] if args.no_working else WORKING) + (DEMOS if args.demos else [])
    runs = [BASELINE, *[(name, [str(BIN / cmd[0]), *cmd[1:]]) for name, cmd in measured]]
    wall: dict[str, list[float]] = {name: [] for name, _ in runs}
    cpu: dict[str, list[float]] = {name: [] for name, _ in runs}
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as cwd:
        env_root = os.environ.setdefault("FASHIONRET_ROOT", cwd)
        del env_root
        timed(BASELINE[1], cwd)  # warm the page cache once (not counted)
        if not args.no_working:
            for cmd in SETUP:
                timed([str(BIN / cmd[0]), *cmd[1:]], cwd)
            wall["search serve (until ready)"], cpu["search serve (until ready)"] = [], []
        for n in range(args.repeats):
            for name, cmd in runs:  # interleaved: every command next to a baseline run of the same minute
                w, c = timed([a.replace("{n}", str(n)) for a in cmd], cwd)
                wall[name].append(w)
                cpu[name].append(c)
            if not args.no_working:
                w, c = timed_serve(cwd)
                wall["search serve (until ready)"].append(w)
                cpu["search serve (until ready)"].append(c)
    load1 = os.getloadavg()[0]
    base_w, base_c = statistics.median(wall[BASELINE[0]]), statistics.median(cpu[BASELINE[0]])
    print(f"startup, median of {args.repeats} interleaved repeats; load average {load0:.2f} -> {load1:.2f}, ")
    print(f"{os.cpu_count()} CPUs; baseline `import torch`: {base_c:.2f} CPU s, {base_w:.2f} s wall")
    print(f"| {'command':<32} | {'CPU s':>6} | {'x torch (CPU)':>13} | {'wall s':>6} | {'x torch (wall)':>14} |")
    print(f"|{'-' * 34}|{'-' * 7}:|{'-' * 14}:|{'-' * 7}:|{'-' * 15}:|")
    for name in wall:
        c, w = statistics.median(cpu[name]), statistics.median(wall[name])
        print(f"| {name:<32} | {c:>6.2f} | {c / base_c:>13.2f} | {w:>6.2f} | {w / base_w:>14.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
