"""Which models serve which task: refuse a model/data pair that cannot train together before anything is built."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from fashionret.data.parsers import TASKS

ATTRIBUTE_MODULE = "fashionret.lit.attribute.AttributeRetrievalModule"


def task_of_lit(target: str) -> str:
    """``attribute`` for the attribute-specific LightningModule, ``identity`` otherwise."""
    return "attribute" if target == ATTRIBUTE_MODULE else "identity"


def task_of_family(family: str) -> str:
    """``identity`` or ``attribute`` (FashionAI / DeepFashion attributes / Zappos50k triplets)."""
    return "identity" if TASKS.get(family, "identity") == "identity" else "attribute"


def models_by_task(config_dir: str | Path) -> dict[str, list[str]]:
    """``{task: [model choices]}`` from ``conf/model/*.yaml`` (a model config that selects the attribute module
    in ``lit._target_`` is an attribute model)."""
    out: dict[str, list[str]] = {"identity": [], "attribute": []}
    for f in sorted(Path(config_dir, "model").glob("*.yaml")):
        cfg = OmegaConf.load(f)
        target = OmegaConf.select(cfg, "lit._target_", default="") or ""
        out[task_of_lit(str(target))].append(f.stem)
    return out


def check_task(cfg: DictConfig, config_dir: str | Path, model_choice: str | None = None) -> None:
    """Raise one sentence naming the models that fit when the model's task differs from the data's."""
    family = str(OmegaConf.select(cfg, "data.family", default="") or "")
    target = str(OmegaConf.select(cfg, "lit._target_", default="") or "")
    if not family or not target:
        return
    want, have = task_of_family(family), task_of_lit(target)
    if want == have:
        return
    fits = models_by_task(config_dir)[want]
    name = model_choice or str(OmegaConf.select(cfg, "model._target_", default="?"))
    kind = {"identity": "identity retrieval", "attribute": "attribute-specific retrieval"}
    raise ValueError(
        f"model={name} serves {kind[have]}, but data={family} is a dataset for {kind[want]}: "
        f"choose model={' | '.join(fits)} for it."
    )
