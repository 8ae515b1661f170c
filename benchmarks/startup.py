"""Startup cost of the entry points against ``import torch``, from interleaved repeats.

Each repeat runs, in a fresh subprocess and in turn: ``python -c "import torch"`` (the baseline), then every
measured command (``--help`` of the six entry points, ``fashionret-train --cfg job``), from an empty temporary
directory. For each it records the wall time and the CPU seconds of the child (user + system, from
``os.wait4``: wall time swings with the machine's load, CPU time much less). The table gives medians over
the repeats and each command's ratio to the baseline measured in the same repeats (CPU and wall), with the
1-minute load average at the start and the end.

Goals (issue 17): ``--help`` of every command under 2 s, ``fashionret-train --cfg job`` under 2x ``import torch``.

    python benchmarks/startup.py                 # 5 repeats
    python benchmarks/startup.py --repeats 9
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    runs = [BASELINE, *[(name, [str(BIN / cmd[0]), *cmd[1:]]) for name, cmd in COMMANDS]]
    wall: dict[str, list[float]] = {name: [] for name, _ in runs}
    cpu: dict[str, list[float]] = {name: [] for name, _ in runs}
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as cwd:
        env_root = os.environ.setdefault("FASHIONRET_ROOT", cwd)
        del env_root
        timed(BASELINE[1], cwd)  # warm the page cache once (not counted)
        for _ in range(args.repeats):
            for name, cmd in runs:  # interleaved: every command next to a baseline run of the same minute
                w, c = timed(cmd, cwd)
                wall[name].append(w)
                cpu[name].append(c)
    load1 = os.getloadavg()[0]
    base_w, base_c = statistics.median(wall[BASELINE[0]]), statistics.median(cpu[BASELINE[0]])
    print(f"startup, median of {args.repeats} interleaved repeats; load average {load0:.2f} -> {load1:.2f}, ")
    print(f"{os.cpu_count()} CPUs; baseline `import torch`: {base_c:.2f} CPU s, {base_w:.2f} s wall")
    print(f"| {'command':<28} | {'CPU s':>6} | {'x torch (CPU)':>13} | {'wall s':>6} | {'x torch (wall)':>14} |")
    print(f"|{'-' * 30}|{'-' * 7}:|{'-' * 14}:|{'-' * 7}:|{'-' * 15}:|")
    for name, _ in runs:
        c, w = statistics.median(cpu[name]), statistics.median(wall[name])
        print(f"| {name:<28} | {c:>6.2f} | {c / base_c:>13.2f} | {w:>6.2f} | {w / base_w:>14.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
