"""A trained run, rebuilt from its checkpoint alone: the module with its weights, the eval transforms and the
normalisation it was trained with, and a fingerprint of the embedder."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import albumentations as A
import hydra
import lightning as L
import torch
from omegaconf import OmegaConf

from fashionret.data.transforms import compose
from fashionret.utils.checkpoints import (
    CheckpointError,
    CheckpointInfo,
    check_state_dict_matches,
    find_run_checkpoint,
    inspect_checkpoint,
    model_fingerprint,
)
from fashionret.utils.confine import check_write_folders, run_folder, working_root
from fashionret.utils.trust import check_stored_run

log = logging.getLogger(__name__)


@dataclass
class TrainedRun:
    """Everything serving needs from a run (see :func:`load_run`)."""

    info: CheckpointInfo
    config: dict[str, Any]
    module: L.LightningModule
    transform: A.Compose
    fingerprint: str

    @property
    def model(self) -> torch.nn.Module:
        return self.module.model

    @property
    def normalization(self) -> dict[str, Any]:
        return dict(self.config.get("normalization") or {})

    @property
    def image_size(self) -> tuple[int, int]:
        size = self.config.get("image_size") or {}
        return int(size["height"]), int(size["width"])

    @property
    def similarity(self) -> str:
        return str(getattr(self.module.hparams, "similarity", None) or "cosine")

    @property
    def attribute_conditioned(self) -> bool:
        return int(getattr(self.model, "n_conditions", 0) or 0) > 0

    @property
    def num_attributes(self) -> int:
        return int(getattr(self.model, "n_conditions", 0) or 0)

    def describe(self) -> dict[str, Any]:
        """What an index or an export records about the embedder."""
        return {
            "checkpoint": str(self.info.path),
            "model": self.info.model_name(),
            "backbone": (self.config.get("backbone") or {}).get("name"),
            "fingerprint": self.fingerprint,
            "similarity": self.similarity,
            "image_size": list(self.image_size),
            "normalization": self.normalization,
            "attribute_conditioned": self.attribute_conditioned,
            "num_attributes": self.num_attributes,
        }


def checkpoint_of(run: str | Path) -> Path:
    """A run directory's checkpoint (:func:`~fashionret.utils.checkpoints.find_run_checkpoint`), or the file."""
    p = Path(run).expanduser()
    return find_run_checkpoint(p) if p.is_dir() else p


def load_run(run: str | Path, what: str = "--run") -> TrainedRun:
    """Rebuild a run's LightningModule from the config stored in its checkpoint and load its weights.

    The backbone is built without ImageNet weights (the checkpoint replaces them; nothing is downloaded).

    Raises:
        CheckpointError: an unusable checkpoint, one without a stored config, or weights that do not fit.
    """
    info = inspect_checkpoint(checkpoint_of(run), what=what)
    if info.config is None or "lit" not in info.config:
        raise CheckpointError(
            f"{info.describe()} has no stored run config (written before fashionret stored it): retrain the run, "
            "or evaluate it with fashionret-eval and the run's overrides"
        )
    check_stored_run(info.meta, info.describe())  # nothing outside the package's tree and allow-list is built
    roots = [working_root(), run_folder(info.path)]  # and what is built writes nowhere else
    check_write_folders(info.config["lit"], info.describe(), roots, prefix="lit")
    check_write_folders((info.config.get("data") or {}).get("transforms"), info.describe(), roots, "data.transforms")
    cfg = OmegaConf.create(info.config)
    bb = cfg.lit.model.get("backbone")
    if bb is not None:
        bb.pretrained, bb.checkpoint_path = False, None
    module = hydra.utils.instantiate(cfg.lit)
    state = torch.load(info.path, map_location="cpu", weights_only=True)["state_dict"]
    if hasattr(module, "prepare_for_state_dict"):  # a loss with its own parameters, at its saved size
        module.prepare_for_state_dict(state)
    check_state_dict_matches(info, module)
    module.load_state_dict(state)
    module.eval()
    transforms = hydra.utils.instantiate(cfg.data.transforms.eval)
    transform = compose(transforms, seed=int(cfg.get("seed") or 0))
    extra = {
        "normalization": info.config.get("normalization"),
        "image_size": info.config.get("image_size"),
        "eval_transforms": info.config["data"]["transforms"]["eval"],
        "similarity": getattr(module.hparams, "similarity", None),
    }
    fingerprint = model_fingerprint(module.model.state_dict(), extra)
    return TrainedRun(info=info, config=info.config, module=module, transform=transform, fingerprint=fingerprint)
