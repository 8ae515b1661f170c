"""Checkpoint files that are either complete or absent, and a checkpoint directory checked before training.

:class:`AtomicCheckpointIO` (``conf/trainer/default.yaml`` ``plugins``) writes every checkpoint Lightning saves
(``ModelCheckpoint``, ``trainer.save_checkpoint``) to a temporary file in the target's own directory, flushes
it to disk, then renames it over the target: a rename on one filesystem is atomic, so a process killed during
the write (``kill -9``, a SLURM pre-emption, a full disk) leaves the previous ``last.ckpt`` intact and at most a
stray ``.<name>.<pid>.tmp`` file, never a truncated checkpoint. A write that fails (disk full, quota, file size
limit) removes its temporary file and stops the run with one :class:`CheckpointDirError` sentence.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch import Callback
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig

from fashionret.utils.checkpoints import META_KEY, run_meta
from fashionret.utils.errors import OneSentenceError


class CheckpointDirError(OSError, OneSentenceError):
    """The checkpoint directory cannot be written; found before training starts."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with write-to-temp + fsync + rename for local paths (remote URLs as Lightning does)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            super().save_checkpoint(checkpoint, tmp, storage_options)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except (OSError, RuntimeError) as err:  # torch's zip writer reports a full disk as a RuntimeError
            raise CheckpointDirError(_write_failed(path, err)) from None
        finally:
            tmp.unlink(missing_ok=True)


def _write_failed(path: Path, err: BaseException) -> str:
    """One sentence for a checkpoint write that failed part-way (disk full, quota, file size limit)."""
    import shutil

    reason = getattr(err, "strerror", None) or (str(err).strip().splitlines() or [type(err).__name__])[0]
    try:
        free = shutil.disk_usage(path.parent).free
        space = f"; {free / 2**20:.1f} MB free there"
    except OSError:
        space = ""
    kept = "the previous one is intact" if path.exists() else "no earlier one was there"
    return (
        f"Could not write the checkpoint {path} ({reason}{space}): the disk is full or the file cannot grow; "
        f"nothing partial was left ({kept}); free space or point paths.output_dir at another disk, then resume "
        "with ckpt_path=<run>/checkpoints/last.ckpt"
    )


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def checkpoint_dirs(trainer: L.Trainer) -> list[Path]:
    """The directories the trainer's checkpoint callbacks will write to."""
    dirs = []
    for cb in trainer.checkpoint_callbacks:
        d = getattr(cb, "dirpath", None) or Path(trainer.default_root_dir) / "checkpoints"
        if "://" not in str(d) and Path(d) not in dirs:
            dirs.append(Path(d))
    return dirs


def check_checkpoint_dirs(trainer: L.Trainer) -> None:
    """Create every checkpoint directory and write a probe file there; raise :class:`CheckpointDirError` in one
    sentence if that fails, so an unwritable directory stops the run before its first epoch, not after it."""
    for d in checkpoint_dirs(trainer):
        probe = d / f".write_test.{os.getpid()}"
        try:
            d.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as err:
            raise CheckpointDirError(
                f"Cannot write checkpoints to {d} ({err.strerror or err}): nothing was trained; make it writable "
                "or point paths.output_dir (or callbacks.model_checkpoint.dirpath / "
                "callbacks.last_checkpoint.dirpath) at a writable directory"
            ) from None


class RunConfigInCheckpoint(Callback):
    """Adds the run's :func:`run_meta` to every checkpoint Lightning writes (best, last, resume).

    Added by :func:`fashionret.cli.common.build` to every trainer, so no config can leave it out.
    """

    def __init__(self, cfg: DictConfig):
        super().__init__()
        self.meta = run_meta(cfg)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint[META_KEY] = self.meta
