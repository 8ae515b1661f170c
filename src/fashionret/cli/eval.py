"""``fashionret-eval``: test a trained run again, from its run directory or checkpoint alone.

The checkpoint stores the run's config name, overrides and resolved config
(:mod:`fashionret.utils.checkpoints`). Eval re-composes that config with the run's own overrides and the ones
given here on top (``data=deepfashion2 data.root=...`` evaluates across datasets), builds model, loss, data,
transforms and the run's callbacks (retrieval figures included) from it, and tests the checkpoint's weights.
A missing or unreadable checkpoint, one of another model, or a config whose model does not fit the weights
fails first, in one sentence, before anything heavy is built. torch, Lightning and the model code are imported
inside the functions: ``--help`` needs only Hydra.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf, open_dict

from fashionret.cli import CONFIG_DIR, CONFIG_PATH

if TYPE_CHECKING:
    from fashionret.utils.checkpoints import CheckpointInfo

log = logging.getLogger(__name__)

_EVAL_KEYS = ("ckpt_path", "run_dir", "zero_shot")
_FIT_ONLY_CALLBACKS = ("ModelCheckpoint", "EarlyStopping", "LearningRateMonitor")


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _compose(name: str, overrides: list[str]) -> DictConfig:
    """Compose inside the running app (its search path), or from the package's config tree outside one."""
    if GlobalHydra.instance().is_initialized():
        return hydra.compose(config_name=name, overrides=overrides)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return hydra.compose(config_name=name, overrides=overrides)


def run_config(cfg: DictConfig) -> tuple[DictConfig, CheckpointInfo]:
    """The config to evaluate with: the run's own, re-composed, with this command's overrides on top.

    Raises:
        CheckpointError: nothing to evaluate, an unusable checkpoint, or a model that does not match it.
    """
    from fashionret.utils.checkpoints import (
        CheckpointError,
        check_model_matches,
        hydra_job_overrides,
        inspect_checkpoint,
        replayable_overrides,
        resolve_checkpoint,
    )
    from fashionret.utils.confine import check_write_folders, inside, run_folder, working_root
    from fashionret.utils.trust import check_stored_run, resolve_checked

    ckpt = resolve_checkpoint(cfg.get("ckpt_path"), cfg.get("run_dir"))
    info = inspect_checkpoint(ckpt)
    user = [o for o in hydra_job_overrides() if _key(o) not in _EVAL_KEYS]
    user_keys = {_key(o) for o in user}
    check_stored_run(info.meta, info.describe())  # nothing outside the package's tree and allow-list is replayed
    if info.config is None:  # a checkpoint from before configs were stored: the config as given
        run_cfg = cfg.copy()
    else:
        # a group the user picks again (data=..., model=...) drops the run's values inside that group too
        groups = {k for k in user_keys if "." not in k}
        replay = [
            o
            for o in replayable_overrides(info.overrides)
            if _key(o) not in user_keys and not any(_key(o).startswith((f"{g}.", f"{g}/")) for g in groups)
        ]
        name = info.meta.get("config_name") or "train"
        try:
            run_cfg = _compose(name, [*replay, *user])
        except Exception as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(
                f"{info.describe()} was trained with config {name!r} and overrides {replay}, which do not compose "
                f"here ({first}): check the overrides given to fashionret-eval"
            ) from None
    with open_dict(run_cfg):
        run_cfg.task_name = cfg.task_name
        run_cfg.ckpt_path = str(info.path)
        run_cfg.paths = cfg.paths.copy()  # this eval job's directories ...
        stored_paths = (info.config or {}).get("paths") or {}
        roots = [working_root(), run_folder(info.path)]  # where a stored run may make eval write
        if not any(k.startswith("paths.") for k in user_keys):
            # ... but the run's data, wherever eval is started from, where it is on this machine (read only), and
            # its parse cache where eval may write
            data_dir, cache_dir = stored_paths.get("data_dir"), stored_paths.get("cache_dir")
            if data_dir and Path(str(data_dir)).is_dir():
                run_cfg.paths.data_dir = data_dir
            if cache_dir and inside(cache_dir, roots):
                run_cfg.paths.cache_dir = cache_dir
        run_cfg.on_job_failure = cfg.get("on_job_failure", "raise")
        # the checkpoint's weights replace whatever the backbone would load: no download, no local file
        run_cfg.backbone.pretrained = False
        run_cfg.backbone.checkpoint_path = None
        run_cfg.trainer.enable_checkpointing = False
        for name in list((run_cfg.get("callbacks") or {}).keys()):  # callbacks of fit only (checkpoints, ...)
            target = str((run_cfg.callbacks[name] or {}).get("_target_", ""))
            if target.endswith(_FIT_ONLY_CALLBACKS):
                del run_cfg.callbacks[name]
    keep_run_model_values(run_cfg, info.config, user_keys)
    keep_run_backbone(run_cfg, info.config, user_keys)
    # what is checked is what is instantiated: resolved here, once (no resolver runs after the check); every
    # class allow-listed, and every folder eval writes to inside the run's folder or the working directory
    resolve_checked(run_cfg, info.describe())
    roots.append(Path(str(run_cfg.paths.output_dir)))
    cache = OmegaConf.select(run_cfg, "data.cache_dir", default=None)
    if cache and "data.cache_dir" not in user_keys and not inside(cache, roots):
        # only a parse cache: the run's own, elsewhere on the trainer's machine, is not written to
        log.info("data.cache_dir=%s is outside this run's folder and the working directory: parse cache at %s",
                 cache, run_cfg.paths.cache_dir)  # fmt: skip
        run_cfg.data.cache_dir = run_cfg.paths.cache_dir
    check_write_folders(OmegaConf.to_container(run_cfg), info.describe(), roots, user_keys)
    check_synthetic_roots(run_cfg, info.describe(), roots, user_keys)
    model_choice = next((o.split("=", 1)[1] for o in user if _key(o) == "model"), None)
    check_model_matches(info, run_cfg.get("model"), model_choice)
    return run_cfg, info


def check_synthetic_roots(run_cfg: DictConfig, where: str, roots: list[Path], user_keys: set[str]) -> None:
    """A synthetic dataset is generated only inside ``roots`` (or read where it already is, complete), unless the
    user named its folder.

    Raises:
        UntrustedConfigError: one sentence naming ``where``, the key and the folder.
    """
    from fashionret.data.synth.writers import synthetic_present
    from fashionret.utils.confine import inside
    from fashionret.utils.trust import UntrustedConfigError

    synthetic = OmegaConf.select(run_cfg, "data.synthetic", default=None)
    if not synthetic:
        return
    params = OmegaConf.to_container(synthetic.get("params") or {})
    for key in ("data.root", "smoke.data_root"):
        root = OmegaConf.select(run_cfg, key, default=None)
        if root is None or key in user_keys or inside(root, roots):
            continue
        if not synthetic_present(str(synthetic.get("format")), str(root), **params):
            raise UntrustedConfigError(
                f"{where} is refused: its key {key} would generate a synthetic dataset at {root}, outside the run's "
                f"folder and the working directory; a stored run may not choose where this command writes (pass "
                f"{key}=FOLDER yourself to choose), nothing from it was run"
            )


def keep_run_model_values(run_cfg: DictConfig, stored: dict | None, user_keys: set[str]) -> None:
    """The weights' architecture stays the run's when another dataset is picked: a data bundle may set model
    values (``data=demo`` sets ``model.conv_channels``), and ``data=deepfashion_c2s`` would drop them. Only plain
    top-level values (numbers, strings, booleans) are copied from the stored config, never a ``_target_``;
    nothing is kept when the user sets ``model`` values or picks a model."""
    model = (stored or {}).get("model")
    if (
        not isinstance(model, dict)
        or "model" not in run_cfg
        or any(k.split(".")[0].split("/")[0] == "model" for k in user_keys)
    ):
        return
    for key, value in model.items():
        if key.startswith("_") or key not in run_cfg.model or not isinstance(value, int | float | bool | str):
            continue
        if run_cfg.model[key] != value:
            log.info("model.%s=%s as the run was trained (the composed config says %s)", key, value, run_cfg.model[key])
            run_cfg.model[key] = value


def keep_run_backbone(run_cfg: DictConfig, stored: dict | None, user_keys: set[str]) -> None:
    """The run's backbone name and tag as it was trained: ``+smoke=cpu`` names the backbone through
    ``${hydra:runtime.choices.backbone}``, which inside ``fashionret-eval`` is eval's own default (resnet18), not
    the run's (an ``experiment=`` that picks another). Plain strings only; nothing when ``backbone`` is set here."""
    bb = (stored or {}).get("backbone")
    if not isinstance(bb, dict) or "backbone" not in run_cfg or any(k.split(".")[0] == "backbone" for k in user_keys):
        return
    for key in ("name", "pretrained_tag"):
        value = bb.get(key)
        if isinstance(value, str) and key in run_cfg.backbone and run_cfg.backbone[key] != value:
            log.info(
                "backbone.%s=%s as the run was trained (the composed config says %s)", key, value, run_cfg.backbone[key]
            )
            run_cfg.backbone[key] = value


def evaluate(cfg: DictConfig, info: CheckpointInfo | None = None) -> dict:
    """Test ``cfg.ckpt_path`` with ``cfg`` (from :func:`run_config`); print the table, write ``results.json``."""
    import torch

    from fashionret.cli.common import build, print_locations, report_test
    from fashionret.utils.checkpoints import check_state_dict_matches

    if info is None:
        cfg, info = run_config(cfg)
    log.info("evaluating %s with model=%s", info.describe(), info.model_name())
    datamodule, lit, trainer = build(cfg)
    # the weights only: testing needs none of the fit state (optimizer, loops, checkpoint callbacks)
    state = torch.load(info.path, map_location="cpu", weights_only=True)["state_dict"]
    if hasattr(lit, "prepare_for_state_dict"):  # a loss with its own parameters, at its saved size
        lit.prepare_for_state_dict(state)
    check_state_dict_matches(info, lit)
    lit.load_state_dict(state)
    trainer.test(lit, datamodule=datamodule, verbose=False)
    metrics = dict(lit.last_test_metrics)
    report_test(cfg, trainer, datamodule, metrics, {"checkpoint": str(info.path)})
    print_locations(cfg, trainer, what="evaluation")
    return metrics


def zero_shot_config(cfg: DictConfig) -> tuple[DictConfig, str | None]:
    """The config ``zero_shot=true`` tests, and the run it comes from (None: none).

    With ``run_dir`` (or ``ckpt_path``) it is that run's own config, rebuilt through :func:`run_config` (the
    trusted path: the package's tree, the allow-list), with the starting weights the run had (its
    ``backbone.pretrained`` / ``checkpoint_path``; ``backbone.pretrained=false`` here gives its random init) and
    not the checkpoint's: the run's baseline in one command. Without a run and without ``model=``, the backbone's
    own pooled features are tested (``model=global model.embedding_dim=null``): an untrained projection or 1x1
    conv would only mix them at random."""
    from fashionret.utils.checkpoints import hydra_job_overrides

    user = [o for o in hydra_job_overrides() if _key(o) not in _EVAL_KEYS]
    user_keys = {_key(o) for o in user}
    if cfg.get("run_dir") or cfg.get("ckpt_path"):
        run_cfg, info = run_config(cfg)
        stored = (info.config or {}).get("backbone") or {}
        with open_dict(run_cfg):
            for key, default in (("pretrained", False), ("checkpoint_path", None)):
                given = f"backbone.{key}" in user_keys
                run_cfg.backbone[key] = cfg.backbone.get(key) if given else stored.get(key, default)
            run_cfg.ckpt_path = None
        return run_cfg, str(info.path)
    if "model" in user_keys:
        return cfg, None
    log.info("zero_shot=true without model=: the backbone's pooled features (model=global model.embedding_dim=null)")
    composed = _compose("eval", [*user, "zero_shot=true", "model=global", "model.embedding_dim=null"])
    with open_dict(composed):
        composed.task_name = cfg.task_name
        composed.paths = cfg.paths.copy()
    return composed, None


def zero_shot(cfg: DictConfig) -> dict:
    """Test the model exactly as the config builds it, without training or a checkpoint's weights
    (``zero_shot=true``): a timm backbone's pretrained (or random-init) features, or a run's starting point
    (:func:`zero_shot_config`). ``results.json`` says so."""
    from fashionret.cli.common import build, print_locations, report_test

    cfg, run = zero_shot_config(cfg)
    if not cfg.backbone.get("pretrained") and not cfg.backbone.get("checkpoint_path"):
        log.warning("zero_shot=true without pretrained weights (backbone.pretrained=false): random-init features")
    datamodule, lit, trainer = build(cfg)
    trainer.test(lit, datamodule=datamodule, verbose=False)
    metrics = dict(lit.last_test_metrics)
    weights = cfg.backbone.get("checkpoint_path") or ("pretrained" if cfg.backbone.get("pretrained") else "random")
    report_test(cfg, trainer, datamodule, metrics, {"zero_shot": True, "weights": weights, "zero_shot_of_run": run})
    print_locations(cfg, trainer, what="evaluation")
    return metrics


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="eval")
def main(cfg: DictConfig) -> None:
    """Test a trained run again from its run directory (or checkpoint) alone.

    Examples:
        fashionret-eval run_dir=logs/train/runs/2026-01-31_12-00-00
        fashionret-eval ckpt_path=logs/train/runs/<run>/checkpoints/epoch_005.ckpt data=deepfashion2 data.root=/data/DF2
    """
    from fashionret.utils.checkpoints import CheckpointError
    from fashionret.utils.jobs import run_job

    if cfg.get("zero_shot"):
        try:
            run_job(zero_shot, cfg)
        except CheckpointError as err:
            print(f"fashionret-eval: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        return
    try:
        prepared = run_config(cfg)
    except CheckpointError as err:
        print(f"fashionret-eval: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    run_job(lambda _cfg: evaluate(*prepared), cfg)


if __name__ == "__main__":
    main()
