"""Checkpoints that describe themselves, and a cheap inspection before anything heavy is built.

Every checkpoint written by ``fashionret-train`` carries, beside Lightning's own keys, a ``fashionret`` entry
(:data:`META_KEY`) with

* ``config``: the resolved composed config of the run (model, backbone, data, transforms, normalisation, lit,
  loss, eval, ...; the ``hydra`` node left out), plain Python containers so the file still loads with
  ``torch.load(weights_only=True)``;
* ``overrides``: the run's command-line overrides (``HydraConfig.overrides.task``), from which
  ``fashionret-eval`` re-composes the run's config with the user's overrides on top;
* ``choices``: the config-group choices (``model: dban``, ``backbone: resnet50``, ...), used to name what a
  checkpoint was trained with in error messages.

:func:`inspect_checkpoint` opens a file with ``mmap=True`` (tensors are not read) and turns every way it can be
unusable -- missing, empty, truncated, not a PyTorch file, not a Lightning checkpoint, a checkpoint of another
model than the config asks for -- into one :class:`CheckpointError` sentence naming the file, its size and what
was expected. Resume (``fashionret-train ckpt_path=...``), eval, search and export call it first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from fashionret.utils.errors import OneSentenceError

# the Hydra job's overrides, config name and choices live below both this module and the callbacks that log
# them (fashionret.utils.hydra_job); imported here for the checkpoint meta and for callers that import them from
# this module
from fashionret.utils.hydra_job import hydra_job_choices, hydra_job_config_name, hydra_job_overrides

log = logging.getLogger(__name__)

META_KEY = "fashionret"
META_VERSION = 1
#: top-level config keys not stored in a checkpoint (Hydra's own node; machine-local paths stay resolved in
#: the data section, which is what the run used)
_NOT_STORED = ("hydra",)
#: overrides of a training run that do not describe the trained model and must not be replayed at eval time
_TRAIN_ONLY_OVERRIDES = ("ckpt_path", "train", "test", "run_dir")


class CheckpointError(ValueError, OneSentenceError):
    """A checkpoint file cannot be used as asked; the message is one sentence naming file, size and need."""


def human_size(num_bytes: int) -> str:
    size = float(num_bytes)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


# ------------------------------------------------------------------------------------------ writing the meta
def run_meta(cfg: DictConfig) -> dict[str, Any]:
    """The ``fashionret`` checkpoint entry for a composed config (resolved; plain containers only)."""
    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    assert isinstance(resolved, dict)
    config = {k: v for k, v in resolved.items() if k not in _NOT_STORED}
    return {
        "version": META_VERSION,
        "config": config,
        "config_name": hydra_job_config_name(),
        "overrides": hydra_job_overrides(),
        "choices": hydra_job_choices(),
    }


# ---------------------------------------------------------------------------------------------- inspection
@dataclass
class CheckpointInfo:
    """What :func:`inspect_checkpoint` learnt without reading the tensors."""

    path: Path
    size: int
    meta: dict[str, Any] = field(default_factory=dict)
    state_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    #: it holds the optimizer and loop state a resume needs (not a weights-only checkpoint)
    resumable: bool = True

    @property
    def config(self) -> dict[str, Any] | None:
        return self.meta.get("config")

    @property
    def overrides(self) -> list[str]:
        return list(self.meta.get("overrides") or [])

    @property
    def choices(self) -> dict[str, str]:
        return dict(self.meta.get("choices") or {})

    def describe(self) -> str:
        return f"{self.path} ({human_size(self.size)})"

    def model_name(self) -> str:
        """``model=<choice>`` as the run was composed, else the model's class path."""
        if "model" in self.choices:
            return self.choices["model"]
        target = ((self.config or {}).get("model") or {}).get("_target_")
        return str(target) if target else "an unknown model"


def check_archive(path: Path, size: int, where: str, verify: bool = True) -> None:
    """The checkpoint's zip archive, opened once: every record is stored uncompressed (as ``torch.save`` writes
    it) and declares no more bytes than the file holds — a crafted archive that would make reading it allocate
    or decompress far more than its size is refused before any record is read — then, with ``verify``, every
    record matches the CRC-32 PyTorch wrote for it (tensors, pickled metadata, optimizer state): a bit flipped
    on disk or in transfer fails here, in one sentence, instead of being evaluated (reads the whole file once,
    no tensor is built)."""

    def unreadable(err: Exception) -> CheckpointError:
        return CheckpointError(
            f"{where} is corrupted (its zip archive cannot be read: {err}): restore it from a good copy"
        )

    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise unreadable(err) from None
    with z:
        for info in z.infolist():
            if info.compress_type != zipfile.ZIP_STORED or info.header_offset + info.file_size > size:
                kind = "compressed" if info.compress_type != zipfile.ZIP_STORED else "stored"
                raise CheckpointError(
                    f"{where} is refused: its archive record {info.filename} declares {human_size(info.file_size)} "
                    f"({kind}) in a file of {human_size(size)}, which torch.save never writes: expected a Lightning "
                    "checkpoint written by fashionret-train"
                )
        try:
            bad = z.testzip() if verify else None
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
            raise unreadable(err) from None
    if bad is not None:
        raise CheckpointError(
            f"{where} is corrupted (record {bad} does not match the CRC-32 recorded when it was saved): "
            "restore it from a good copy"
        )


def inspect_checkpoint(path: str | Path, what: str = "ckpt_path", verify: bool = True) -> CheckpointInfo:
    """Open ``path`` cheaply (``mmap``, no tensor data read) and check it is a fashionret Lightning checkpoint;
    with ``verify`` (the default) first check every record against its CRC-32 (:func:`check_archive`).

    Raises:
        CheckpointError: one sentence naming the file, its size and what was expected.
    """
    if path is None or str(path) in ("", "None", "null", "???"):
        raise CheckpointError(
            f"{what} is not set: pass {what}=PATH/TO/FILE.ckpt (a checkpoint written by fashionret-train, "
            "e.g. logs/train/runs/<run>/checkpoints/epoch_005.ckpt)"
        )
    p = Path(path).expanduser()
    if not p.exists():
        raise CheckpointError(f"{what}={p} does not exist: expected a Lightning checkpoint written by fashionret-train")
    if p.is_dir():
        raise CheckpointError(f"{what}={p} is a directory: expected a .ckpt file (for a run directory use run_dir=)")
    size = p.stat().st_size
    where = f"{what}={p} ({human_size(size)})"
    expected = "expected a Lightning checkpoint written by fashionret-train"
    if size == 0:
        raise CheckpointError(f"{where} is empty: {expected}")
    if not zipfile.is_zipfile(p):
        raise CheckpointError(f"{where} is truncated or not a PyTorch file (no zip directory): {expected}")
    check_archive(p, size, where, verify)
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{where} cannot be read ({reason}): {expected}") from None
    if not isinstance(ckpt, Mapping) or "state_dict" not in ckpt:
        keys = sorted(ckpt)[:5] if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise CheckpointError(f"{where} is not a Lightning checkpoint (no 'state_dict'; it holds {keys}): {expected}")
    state = ckpt["state_dict"]
    shapes = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    meta = ckpt.get(META_KEY) or {}
    if not meta:
        log.warning("%s has no fashionret run config (written before it was stored): the config is used as given", p)
    resumable = "optimizer_states" in ckpt and "loops" in ckpt
    return CheckpointInfo(path=p, size=size, meta=dict(meta), state_shapes=shapes, resumable=resumable)


def check_model_matches(info: CheckpointInfo, model_cfg: Mapping | None, choice: str | None = None) -> None:
    """Fail in one sentence when the config asks for another model than ``info`` was trained with.

    Compares the resolved ``model`` config (class, and every value except the backbone's weight source
    ``pretrained`` / ``checkpoint_path``, which the checkpoint's weights replace) with the stored one.
    """
    stored = (info.config or {}).get("model")
    if not stored or not model_cfg:
        return
    asked = OmegaConf.to_container(model_cfg, resolve=True) if isinstance(model_cfg, DictConfig) else dict(model_cfg)
    if stored.get("_target_") != asked.get("_target_"):
        trained = info.model_name()
        wanted = choice or asked.get("_target_")
        raise CheckpointError(
            f"{info.describe()} was trained with model={trained}, but the config asks for model={wanted}: "
            f"drop the model override or pass a checkpoint of model={wanted}"
        )
    diffs = config_differences(_weights_free(stored), _weights_free(asked), "model")
    if diffs:
        shown = "; ".join(f"{k}: trained {a}, asked {b}" for k, a, b in diffs[:3])
        raise CheckpointError(
            f"{info.describe()} does not match the config's model ({shown}): evaluate with the run's own "
            "model settings (drop those overrides)"
        )


def check_state_dict_matches(info: CheckpointInfo, module: torch.nn.Module) -> None:
    """Fail in one sentence when the built module's parameters differ in names or shapes from the file's."""
    own = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    missing = sorted(set(own) - set(info.state_shapes))
    unexpected = sorted(set(info.state_shapes) - set(own))
    shape = sorted(k for k in set(own) & set(info.state_shapes) if own[k] != info.state_shapes[k])
    if not (missing or unexpected or shape):
        return
    parts = []
    if shape:
        k = shape[0]
        parts.append(f"{len(shape)} tensors differ in shape (e.g. {k}: file {info.state_shapes[k]}, model {own[k]})")
    if missing:
        parts.append(f"{len(missing)} model tensors are not in the file (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} file tensors are not in the model (e.g. {unexpected[0]})")
    raise CheckpointError(
        f"{info.describe()} does not fit the model the config builds: {'; '.join(parts)}; "
        f"it was trained with model={info.model_name()}"
    )


def _weights_free(model_cfg: Mapping) -> dict:
    out = json.loads(json.dumps(model_cfg, default=str))
    bb = out.get("backbone")
    if isinstance(bb, dict):
        bb.pop("pretrained", None)
        bb.pop("checkpoint_path", None)
    return out


def config_differences(a: Any, b: Any, prefix: str) -> list[tuple[str, Any, Any]]:
    """``(dotted key, a value, b value)`` for every leaf where ``a`` and ``b`` differ."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += config_differences(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{prefix}.{k}")
        return out
    seqs = isinstance(a, Sequence) and isinstance(b, Sequence) and not isinstance(a, str) and not isinstance(b, str)
    if seqs and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += config_differences(x, y, f"{prefix}[{i}]")
        return out
    return [] if a == b else [(prefix, a, b)]


def replayable_overrides(overrides: Sequence[str]) -> list[str]:
    """A training run's overrides without those that only steer training (resume path, train/test switches)."""
    keep = []
    for o in overrides:
        key = o.split("=", 1)[0].lstrip("+~")
        if key in _TRAIN_ONLY_OVERRIDES or key == "hydra" or key.startswith(("hydra.", "hydra/")):
            continue
        keep.append(o)
    return keep


# ---------------------------------------------------------------------------------------------- run dirs
def find_run_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint a run's own test used (``results.json``), else its best ``epoch_*.ckpt``, else ``last``.

    Raises:
        CheckpointError: the directory is missing or holds no checkpoint.
    """
    d = Path(run_dir).expanduser()
    if not d.is_dir():
        raise CheckpointError(f"run_dir={d} does not exist: expected a run directory such as logs/train/runs/<run>")
    results = d / "results.json"
    if results.is_file():
        try:
            used = json.loads(results.read_text()).get("checkpoint")
        except json.JSONDecodeError:
            used = None
        if used and Path(used).is_file():
            return Path(used)
    ckpts = d / "checkpoints"
    best = sorted(ckpts.glob("epoch_*.ckpt")) if ckpts.is_dir() else []
    if best:
        return best[-1]
    if (ckpts / "last.ckpt").is_file():
        return ckpts / "last.ckpt"
    raise CheckpointError(
        f"run_dir={d} holds no checkpoint (no {ckpts}/epoch_*.ckpt or last.ckpt): it was trained without "
        "checkpointing (+smoke=cpu, trainer.fast_dev_run or callbacks=none); train with checkpoints to evaluate it"
    )


def resolve_checkpoint(ckpt_path: str | Path | None = None, run_dir: str | Path | None = None) -> Path:
    """``ckpt_path`` if given, else the checkpoint of ``run_dir``; one of them is needed."""
    if ckpt_path not in (None, "", "None", "null", "???"):
        return Path(str(ckpt_path)).expanduser()
    if run_dir not in (None, "", "None", "null"):
        return find_run_checkpoint(str(run_dir))
    raise CheckpointError(
        "nothing to evaluate: pass run_dir=logs/train/runs/<run> (a fashionret-train run directory) or "
        "ckpt_path=PATH/TO/FILE.ckpt"
    )


# ---------------------------------------------------------------------------------------------- fingerprint
def model_fingerprint(state_dict: Mapping[str, torch.Tensor], extra: Mapping[str, Any] | None = None) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, plus ``extra`` (e.g. normalisation, input size)
    as canonical JSON: two embedders agree on it iff they compute the same embeddings."""
    h = hashlib.sha256()
    for k in sorted(state_dict):
        t = state_dict[k]
        if not isinstance(t, torch.Tensor):
            continue
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    if extra:
        h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()
