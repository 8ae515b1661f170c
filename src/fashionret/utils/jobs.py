"""Job hygiene for single runs and multiruns: W&B runs always finished, failures recorded, a summary of the
failed jobs at the end of a sweep (and a non-zero exit), finished jobs skipped when a sweep is run again into
its directory, and one output directory per job also when Lightning launches DDP worker processes."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, read_write

from fashionret.utils.errors import OneSentenceError
from fashionret.utils.hydra_job import hydra_job_overrides

log = logging.getLogger(__name__)

FAILURE_FILE = "failure.txt"
RESULTS_FILE = "results.json"


def finish_wandb(failed: bool) -> None:
    """Close the W&B run of this job (if any) so the next multirun job starts a fresh one."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish(exit_code=1 if failed else 0)


def job_overrides() -> list[str] | None:
    """This job's command-line overrides (a multirun job's own), or None outside Hydra."""
    return hydra_job_overrides() if HydraConfig.initialized() else None


def finished_result(cfg: DictConfig) -> dict | None:
    """The ``results.json`` of an earlier, successful run of *this* multirun job, if there is one.

    A sweep run again into its directory (``hydra.sweep.dir=<the sweep's directory>``) finds each job's
    directory by job number; a job counts as done only if its ``results.json`` says ``ok`` and lists the same
    overrides (a different sweep in the same directory runs again).
    """
    if not (HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN):
        return None
    file = Path(cfg.paths.output_dir) / RESULTS_FILE
    try:
        res = json.loads(file.read_text())
    except (OSError, ValueError):
        return None
    if res.get("status") == "ok" and res.get("overrides") == job_overrides():
        return res
    return None


class JobTerminated(Exception):
    """The job received SIGTERM (a scheduler's pre-emption or time limit, ``timeout``, ``kill``)."""

    def __init__(self, signum: int = signal.SIGTERM):
        name = signal.Signals(signum).name
        super().__init__(
            f"the job was stopped by {name} (signal {int(signum)}: a scheduler's pre-emption or time limit, "
            "timeout or kill) before it finished; resume it with ckpt_path=<run>/checkpoints/last.ckpt (a sweep: the "
            "same command with hydra.sweep.dir=<its directory> reruns the jobs that are not ok)"
        )
        self.signum = int(signum)


def _raise_terminated(signum, frame) -> None:
    raise JobTerminated(signum)


def _install_sigterm() -> object | None:
    """Make SIGTERM raise :class:`JobTerminated` (recorded like any failure) in the main thread; returns the
    previous handler. Lightning's own SIGTERM handling (fit) calls it after setting ``received_sigterm``."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        return signal.signal(signal.SIGTERM, _raise_terminated)
    except (ValueError, OSError):  # pragma: no cover - not the main interpreter
        return None


def run_job(task: Callable[[DictConfig], dict], cfg: DictConfig) -> dict | None:
    """Run ``task(cfg)``; on failure record it in the job directory (``failure.txt``, ``results.json``), then
    re-raise (``on_job_failure=raise``) or return None (``record``). A multirun job already finished in an
    earlier run of the same sweep is skipped (its metrics are returned). SIGTERM is recorded the same way
    (``failure.txt`` says the job was stopped by it) and then ends the process with status 143, also under
    ``record``: a scheduler that stops a job stops the sweep."""
    done = finished_result(cfg)
    if done is not None:
        log.info("job already finished (%s says ok): skipped", Path(cfg.paths.output_dir) / RESULTS_FILE)
        return dict(done.get("test", {}))
    failed = False
    record = cfg.get("on_job_failure", "raise") == "record"
    previous = _install_sigterm()
    try:
        return task(cfg)
    except (Exception, SIGTERMException) as raised:
        failed = True
        terminated = _terminated(raised)
        if terminated is not None:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
            _record_failure(cfg, terminated)
            log.error("%s", terminated)
            print(terminated, file=sys.stderr, flush=True)
            raise SystemExit(128 + terminated.signum) from None
        one_sentence = _one_sentence_error(raised)
        _record_failure(cfg, one_sentence or raised)
        if record:
            log.exception("job failed; recorded (on_job_failure=record), the sweep goes on")
            return None
        if one_sentence is None:
            raise
        # one sentence (what failed and what to do), not a stack trace
        log.error("%s", one_sentence)
        print(one_sentence, file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        finish_wandb(failed)
        release_distributed()


def _terminated(err: BaseException) -> JobTerminated | None:
    """The SIGTERM behind ``err`` (ours, or Lightning's ``SIGTERMException`` raised at a batch boundary)."""
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, JobTerminated):
            return err
        if isinstance(err, SIGTERMException):
            return JobTerminated(signal.SIGTERM)
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


def sweep_jobs(sweep: Path) -> list[Path]:
    """The job directories of a multirun (each holds Hydra's ``.hydra``; a job's own sub-directories, such as
    AHBN's ``stage_*``, are not jobs), in job-number order."""
    jobs = sorted({h.parent for h in sweep.rglob(".hydra") if h.is_dir()})
    jobs = [j for j in jobs if not any(o != j and o in j.parents for o in jobs)]
    if not jobs:  # hydra.output_subdir=null: Hydra's default job folders, named by job number
        jobs = [d for d in sweep.iterdir() if d.is_dir() and d.name.isdigit()]
    return sorted(jobs, key=lambda d: (int(d.name) if d.name.isdigit() else 10**9, str(d)))


def wandb_sync_command(sweep: Path) -> str | None:
    """The one line that uploads every offline W&B run of a sweep (None when it has none): ``wandb sync`` with
    one shell pattern per layout of job folders (``<sweep>/*/wandb/offline-run-*``; AHBN's stage runs one level
    deeper)."""
    runs = sorted(p for p in sweep.rglob("offline-run-*") if p.is_dir() and p.parent.name == "wandb")
    if not runs:
        return None
    patterns = []
    for run in runs:
        parts = run.relative_to(sweep).parts
        pattern = str(Path(sweep, "*", *parts[1:-1], "offline-run-*"))
        if pattern not in patterns:
            patterns.append(pattern)
    what = f"{len(runs)} offline runs; upload them all" if len(runs) > 1 else "1 offline run; upload it"
    return f"W&B: {what} with: wandb sync {' '.join(patterns)}"


class SweepSummary(Callback):
    """Hydra callback: at the end of a multirun, count its jobs (their directories, not the ``results.json``
    files under them), print the failed ones -- a job that left no ``results.json`` (killed) counts as failed --
    and exit with status 1 if there are any, so that ``on_job_failure=record`` never ends a broken sweep with 0."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep = Path(config.hydra.sweep.dir)
        results = {}
        for job in sweep_jobs(sweep) if sweep.is_dir() else []:
            file = job / RESULTS_FILE
            if not file.is_file():
                results[job] = {"status": "failed", "error": f"died without writing {RESULTS_FILE} (killed?)"}
                continue
            try:
                results[job] = json.loads(file.read_text())
            except (OSError, ValueError) as err:
                results[job] = {"status": "failed", "error": f"unreadable {RESULTS_FILE}: {err}"}
        failed = {d: r for d, r in results.items() if r.get("status") != "ok"}
        print(f"\nSweep {sweep}: {len(results) - len(failed)} of {len(results)} jobs ok", flush=True)
        sync = wandb_sync_command(sweep) if sweep.is_dir() else None
        if sync:
            print(sync, flush=True)
        if not failed:
            return
        lines = [f"{len(failed)} failed job(s):"]
        for d, r in failed.items():
            lines.append(f"  {d.relative_to(sweep)}: {r.get('error', '?')}  (see {d / FAILURE_FILE})")
        lines.append(f"Run the same command with hydra.sweep.dir={sweep} to rerun only the jobs that are not ok.")
        print("\n".join(lines), file=sys.stderr, flush=True)
        raise SystemExit(1)


def release_distributed() -> None:
    """Tear down this job's process group so the next multirun job can start its own (fresh port)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        for var in ("MASTER_PORT", "MASTER_ADDR", "WORLD_SIZE", "NODE_RANK", "LOCAL_RANK"):
            os.environ.pop(var, None)


#: errors whose message is already one sentence for the user (a failed weight download, a diverged run, a bad
#: checkpoint, a missing dataset, ...): each adds OneSentenceError as a base in its own layer
ONE_SENTENCE_ERRORS: tuple[type[BaseException], ...] = (OneSentenceError,)


def _one_sentence_error(err: BaseException) -> BaseException | None:
    """The error behind ``err`` that is already one sentence for the user (Hydra wraps errors raised while
    instantiating): a failed weight download, a diverged run, a bad checkpoint, ..."""
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, ONE_SENTENCE_ERRORS):
            return err
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


def _record_failure(cfg: DictConfig, err: BaseException) -> None:
    try:
        _write_failure(cfg, err)
    except Exception:  # never hide the job's own error behind a failure to record it
        log.exception("could not record the job's failure in its directory")


def _write_failure(cfg: DictConfig, err: BaseException) -> None:
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / FAILURE_FILE).write_text("".join(traceback.format_exception(type(err), err, err.__traceback__)))
    payload = {"status": "failed", "error": f"{type(err).__name__}: {err}", "overrides": job_overrides()}
    (out / RESULTS_FILE).write_text(json.dumps(payload, indent=2))


def pin_ddp_children_to_job_dir(cfg: DictConfig) -> None:
    """Make Lightning's DDP worker processes run *this* multirun job, in *this* job's directory.

    Lightning re-launches the script with ``sys.argv`` plus ``hydra.run.dir=<HydraConfig.run.dir>``. In a
    multirun that would start the whole sweep again in every worker, in the run (not the job) directory. We
    replace ``sys.argv`` with this job's own overrides and point ``run.dir`` at the job's output directory.
    """
    if not HydraConfig.initialized():
        return
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return
    sys.argv = [sys.argv[0], *hc.overrides.task]
    with read_write(hc.run):
        hc.run.dir = hc.runtime.output_dir
