"""Pieces shared by the train and eval entry points."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import hydra
import lightning as L
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from fashionret.cli import CONFIG_DIR
from fashionret.cli.tasks import check_task
from fashionret.data.datamodule import IdentityRetrievalDataModule
from fashionret.data.errors import DatasetNotFoundError
from fashionret.eval.chance import chance_attribute_map, chance_map, chance_topk
from fashionret.lit.checkpointing import RunConfigInCheckpoint
from fashionret.models.backbones import describe_backbone
from fashionret.utils.config_checks import check_config_values
from fashionret.utils.hydra_job import hydra_job_choices, hydra_job_overrides, is_multirun, sweep_identity
from fashionret.utils.instantiate import instantiate_callbacks, instantiate_loggers
from fashionret.utils.jobs import pin_ddp_children_to_job_dir
from fashionret.utils.logs import one_line_per_record

log = logging.getLogger(__name__)


#: config tree order (lightning-hydra-template style); the remaining top-level keys follow
TREE_FIRST = ("data", "model", "normalization", "loss", "optimizer", "scheduler", "lit", "trainer", "callbacks")


@rank_zero_only
def print_config_tree(cfg: DictConfig, save_to: str | Path | None = None, echo: bool = False) -> None:
    """Save the resolved composed config as a rich tree (one branch per group, YAML inside) in
    ``config_tree.log`` of the run directory, full width (Hydra's own ``.hydra/config.yaml`` keeps the unresolved
    one); ``echo``: print it too (the terminal otherwise gets :func:`run_summary`'s few lines)."""
    import rich
    import rich.console
    import rich.syntax
    import rich.tree

    tree = rich.tree.Tree("CONFIG", style="bold", guide_style="dim")
    keys = [k for k in TREE_FIRST if k in cfg] + [k for k in cfg if k not in TREE_FIRST and k != "hydra"]
    for key in keys:
        branch = tree.add(str(key), style="bold cyan", guide_style="dim")
        node = cfg[key]
        container = isinstance(node, DictConfig | ListConfig)
        # lit shows its references (${model}, ...) rather than second copies of those branches
        text = OmegaConf.to_yaml(node, resolve=key != "lit") if container else str(node)
        branch.add(rich.syntax.Syntax(text, "yaml", theme="ansi_dark", background_color="default"))
    if echo:
        rich.print(tree)
    if save_to is not None:
        path = Path(save_to)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as f:  # full width: no value cut at a terminal's 80 columns
            rich.console.Console(file=f, width=240, color_system=None, soft_wrap=True).print(tree)


def run_summary(cfg: DictConfig, started: dict | None = None) -> list[str]:
    """What runs, in a few lines: the experiment (or the composed groups), model, data, backbone and its tag,
    and where the run's files go (the full resolved config is in its ``config_tree.log``)."""
    choices = hydra_job_choices()
    data = cfg.get("data") or {}
    root = data.get("root") if isinstance(data, DictConfig) else None
    what = [
        f"experiment {choices['experiment']}" if choices.get("experiment") else None,
        f"model {choices.get('model') or (cfg.get('model') or {}).get('_target_', '?')}",
        f"data {choices.get('data', '?')}"
        + (f" ({data.get('family')})" if data.get("family") not in (None, choices.get("data")) else ""),
    ]
    lines = [", ".join(w for w in what if w)]
    if started:
        lines.append(f"backbone {started['backbone_tag']} ({started['backbone_weights']})")
    if root is not None:
        lines.append(f"data.root {root}")
    out = Path(cfg.paths.output_dir)
    tree = f" (resolved config: {out / 'config_tree.log'})" if cfg.get("print_config", True) else ""
    lines.append(f"output {out}{tree}")
    return lines


def build(cfg: DictConfig, with_callbacks: bool = True):
    """Datamodule, LightningModule and Trainer from the composed config.

    Every trainer gets :class:`~fashionret.lit.checkpointing.RunConfigInCheckpoint`: each checkpoint it writes
    carries the resolved config and the run's overrides (what ``fashionret-eval``, ``-search`` and ``-export``
    rebuild the model from).
    """
    one_line_per_record()  # Lightning's info lines once (its own console handler printed them a second time)
    check_config_values(cfg)  # a value of the wrong type or range: one sentence, before anything is built
    check_task(cfg, CONFIG_DIR, hydra_job_choices().get("model"))  # model/data task mismatch: refused before building
    use_smoke_data(cfg)
    if cfg.get("print_config", True):
        print_config_tree(cfg, Path(cfg.paths.output_dir) / "config_tree.log")
    started = describe_backbone(cfg.get("backbone"))
    for line in run_summary(cfg, started):
        log.info("%s", line)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    check_data_root(datamodule)  # a missing dataset is the first error, before any ImageNet weights are fetched
    lit = hydra.utils.instantiate(cfg.lit)
    callbacks = instantiate_callbacks(cfg.get("callbacks")) if with_callbacks else []
    run_config = RunConfigInCheckpoint(cfg)
    callbacks.append(run_config)
    keep_run_config_in_weights_only_checkpoints(lit, run_config)
    loggers = instantiate_loggers(cfg.get("logger"))
    if cfg.trainer.get("strategy") in ("ddp", "ddp_find_unused_parameters_true"):
        pin_ddp_children_to_job_dir(cfg)
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    log_sweep_keys(cfg, loggers)
    return datamodule, lit, trainer


def log_sweep_keys(cfg: DictConfig, loggers: list) -> None:
    """A multirun job's W&B run gets, beside the config, what ``fashionret-tables`` groups the sweep by: the
    overrides its sweep varies as top-level config keys (``optimizer.lr: 0.001``, ``seed: 1``; values as
    numbers where they are numbers, so W&B's run table and parallel-coordinates plot can order them), its
    ``sweep`` (the run group) and the job's ``overrides``. A swept config group whose name is a config node
    (``model=dban,sn``) is logged as ``model_choice`` so the node stays."""
    ident = sweep_identity()
    wandb_loggers = [lg for lg in loggers if type(lg).__name__ == "WandbLogger"]
    if ident is None or not wandb_loggers:
        return
    group, varying = ident
    keys = {}
    for key, value in varying.items():
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        node = OmegaConf.select(cfg, key, default=None) if "." not in key else None
        keys[f"{key}_choice" if isinstance(node, DictConfig) else key] = parsed
    for lg in wandb_loggers:
        lg.log_hyperparams({"sweep": group, "overrides": hydra_job_overrides(), **keys})


def use_smoke_data(cfg: DictConfig) -> None:
    """``+smoke=cpu``: the synthetic data of the chosen family (``smoke.data_root``) replaces a ``data.root`` that
    does not exist, also one given on the command line, so that a command written for a real dataset
    (``data.root=/data/In-shop``) runs as a smoke test. A ``data.root`` that exists (a dataset on disk, a catalogue
    just imported) is read as it is, never replaced or written to (``synthetic.only_at``)."""
    smoke_root = OmegaConf.select(cfg, "smoke.data_root", default=None)
    if not smoke_root or "data" not in cfg or "root" not in cfg.data:
        return
    if str(cfg.data.root) != str(smoke_root) and not Path(str(cfg.data.root)).expanduser().exists():
        family = cfg.data.get("family")
        log.warning(
            "+smoke=cpu: data.root=%s does not exist, so this run uses synthetic %s data at %s instead (its numbers "
            "say nothing about your dataset)",
            cfg.data.root,
            family,
            smoke_root,
        )
        with open_dict(cfg):
            cfg.data.root = smoke_root


def check_data_root(datamodule) -> None:
    """``data.root`` of a real (not generated) dataset must exist before the model is built (and weights fetched).

    Raises:
        DatasetNotFoundError: the folder is missing, naming it and the family expected there.
    """
    root, family = getattr(datamodule, "root", None), getattr(datamodule, "family", None)
    if root is None or family is None or getattr(datamodule, "synthetic", None) is not None:
        return
    if not Path(root).is_dir():
        raise DatasetNotFoundError(family, root, root)


def keep_run_config_in_weights_only_checkpoints(lit: L.LightningModule, run_config: RunConfigInCheckpoint) -> None:
    """Lightning skips callbacks' ``on_save_checkpoint`` for weights-only checkpoints (``+smoke=cpu``): the
    module's own hook still runs, so it adds the run's config there too (eval, search and export need it)."""
    own = lit.on_save_checkpoint

    def on_save_checkpoint(checkpoint: dict) -> None:
        own(checkpoint)
        run_config.on_save_checkpoint(None, lit, checkpoint)

    lit.on_save_checkpoint = on_save_checkpoint


def results_table(metrics: dict[str, float], chance: dict[str, float], title: str) -> str:
    """Headline metrics (no per-group keys, no counts), with chance and the ratio where chance is known."""
    rows = [title, f"{'metric':<13} {'ours':>8} {'chance':>8} {'x chance':>9}"]
    tops = sorted((k for k in metrics if k.startswith("top") and k[3:].isdigit()), key=lambda k: int(k[3:]))
    others = sorted(k for k in metrics if k not in tops and "/" not in k and not k.startswith("num_"))
    for key in [*tops, *others]:
        c = chance.get(key)
        if c:
            rows.append(f"{key:<13} {metrics[key]:>8.4f} {c:>8.4f} {metrics[key] / c:>8.1f}x")
        else:
            rows.append(f"{key:<13} {metrics[key]:>8.4f} {'':>8} {'':>9}")
    return "\n".join(rows)


def chance_levels(datamodule, metrics: dict[str, float], kept: bool = False) -> dict[str, float]:
    """What a random ranking scores: top-k and mAP for identity retrieval (query vs gallery labels),
    attribute-specific MAP (per attribute, query-weighted; ``kept``: queries without a match score 0 and stay in
    the average) and 0.5 triplet accuracy (a random embedding orders a triplet either way)."""
    if getattr(datamodule, "task", None) == "attribute":
        q, g = datamodule.datasets["test_query"], datamodule.datasets["test_gallery"]
        return {"mAP": chance_attribute_map(q.labels, q.groups, g.labels, g.groups, kept)}
    if getattr(datamodule, "task", None) == "triplet":
        return {"triplet_acc": 0.5} if "triplet_acc" in metrics else {}
    if not isinstance(datamodule, IdentityRetrievalDataModule):
        return {}
    ks = [int(k[3:]) for k in metrics if k.startswith("top") and k[3:].isdigit()]
    q, g = datamodule.datasets["test_query"], datamodule.datasets["test_gallery"]
    return {**chance_topk(q.labels, g.labels, ks), "mAP": chance_map(q.labels, g.labels)}


def report_test(cfg: DictConfig, trainer: L.Trainer, datamodule, metrics: dict[str, float], extra: dict) -> None:
    """Print the test table (with chance beside it) and write ``results.json`` in the job directory."""
    if not trainer.is_global_zero:
        return
    limit = trainer.limit_test_batches
    partial = bool(trainer.fast_dev_run) or not (isinstance(limit, float) and limit == 1.0)
    # chance and the gallery size describe the whole test split: not shown when only part of it was ranked
    kept = bool((cfg.get("lit") or {}).get("include_queries_without_match", False))
    chance = {} if partial else chance_levels(datamodule, metrics, kept)
    title = f"Test ({cfg.data.get('family', type(datamodule).__name__)}): {int(metrics.get('num_queries', 0))} queries"
    if partial:
        title += " (partial evaluation: fast_dev_run / trainer.limit_test_batches)"
    elif isinstance(datamodule, IdentityRetrievalDataModule):
        title += f" vs {len(datamodule.datasets['test_gallery'])} gallery images"
    if metrics.get("num_queries_without_match"):
        n = int(metrics["num_queries_without_match"])
        fate = "scored 0 and kept in the averages" if kept else "left out of the averages"
        title += f" ({n} {'query' if n == 1 else 'queries'} without a match {fate})"
    started = describe_backbone(cfg.get("backbone"))
    if started:
        title += f"\nbackbone {started['backbone_tag']} ({started['backbone_weights']})"
    print("\n" + results_table(metrics, chance, title) + "\n", flush=True)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"status": "ok", "test": metrics, "chance": chance, **started, **extra}
    if isinstance(datamodule, IdentityRetrievalDataModule):  # whether the gallery images were cropped to a box
        payload["test_gallery_crop"] = datamodule.test_gallery_crop()
    (out / "results.json").write_text(json.dumps(payload, indent=2, sort_keys=True))
    log_wandb_summary(trainer, metrics, chance)


def log_wandb_summary(trainer: L.Trainer, metrics: dict[str, float], chance: dict[str, float]) -> None:
    """Final test metrics (``test/<metric>``) and their chance levels (``chance/<metric>``) into each W&B run's
    summary (the columns of a sweep group's run table) and as a ``test/summary`` table (metric, ours, chance)."""
    for lg in trainer.loggers:
        if type(lg).__name__ != "WandbLogger":
            continue
        import wandb

        run = lg.experiment
        run.summary.update({f"test/{k}": v for k, v in metrics.items()})
        run.summary.update({f"chance/{k}": v for k, v in chance.items()})  # fashionret-tables --wandb-group
        rows = [[k, float(v), chance.get(k)] for k, v in sorted(metrics.items()) if "/" not in k]
        run.log({"test/summary": wandb.Table(columns=["metric", "ours", "chance"], data=rows)})


def print_locations(cfg: DictConfig, trainer: L.Trainer, what: str = "run") -> None:
    """End of a run: where its results, checkpoints, figures and W&B run are (rank 0 only)."""
    if not trainer.is_global_zero:
        return
    out = Path(cfg.paths.output_dir)
    lines = [f"Where this {what}'s results are:", f"  run directory  {out}"]
    if (out / "results.json").is_file():
        lines.append(f"  test metrics   {out / 'results.json'}")
    ckpts = sorted((out / "checkpoints").glob("*.ckpt")) if (out / "checkpoints").is_dir() else []
    if ckpts:
        lines.append(f"  checkpoints    {', '.join(str(p) for p in ckpts)}")
    elif cfg.get("ckpt_path"):
        lines.append(f"  checkpoint     {cfg.ckpt_path} (evaluated)")
    if (out / "csv" / "metrics.csv").is_file():
        lines.append(f"  CSV metrics    {out / 'csv' / 'metrics.csv'}")
    figures = sorted((out / "figures").glob("*.png")) if (out / "figures").is_dir() else []
    if figures:
        lines.append(f"  figures        {', '.join(str(p) for p in figures)}")
    wandb_runs = sorted((out / "wandb").glob("offline-run-*")) + sorted((out / "wandb").glob("run-*"))
    for lg in trainer.loggers:
        if type(lg).__name__ == "WandbLogger":
            exp = getattr(lg, "_experiment", None)
            url = getattr(exp, "url", None) if exp is not None else None
            if url:
                lines.append(f"  W&B run        {url}")
            elif wandb_runs and is_multirun():  # the sweep prints one command for all its runs at its end
                lines.append(f"  W&B run        {wandb_runs[-1]} (offline)")
            elif wandb_runs:
                lines.append(f"  W&B run        {wandb_runs[-1]} (offline; upload: wandb sync {wandb_runs[-1]})")
    print("\n".join(lines), flush=True)
