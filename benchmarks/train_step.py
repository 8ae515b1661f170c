#!/usr/bin/env python
"""Training throughput: a Lightning fit against a plain PyTorch loop, and the data pipeline against the model.

Everything is built from the framework's own config (``conf/train.yaml`` composed with the overrides below), so
the measured objects are the ones ``fashionret-train`` runs: the In-Shop-format datamodule (decode, bbox crop,
albumentations from ``conf/data/transforms/paper000.yaml``, C x N identity batches) and the
``IdentityRetrievalModule`` (SN on the chosen timm backbone, batch-all triplet loss, Adam).

Measured, in images per second (``--steps`` steps after ``--warmup`` steps; the best of ``--repeats`` runs):

* ``lightning fit``: ``Trainer.fit`` with the run's callbacks and a CSV logger (no validation, no checkpoint
  files), timed from the start of the first measured batch to the end of the last one;
* ``lightning fit, bare``: the same without callbacks and logger (what they cost);
* ``plain loop``: the same model, loss, optimizer and DataLoader in a hand-written loop
  (``zero_grad``/forward/loss/backward/step);
* ``data only (w workers)``: iterating the training DataLoader (decode + crop + augment + collate), no model;
* ``model only``: forward/backward/step on one batch already in memory, no data loading.

Ratios printed: Lightning / plain (1.0 = no overhead) and data only / model only at the run's worker count
(above 1: the data pipeline keeps up with the model).

Example (CPU, a couple of minutes on 2 cores)::

    python benchmarks/train_step.py --backbone resnet18 --image-size 128 --batch 16x2 --workers 2
    python benchmarks/train_step.py --device cuda --precision bf16-mixed --channels-last --compile
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, Checkpoint
from lightning.pytorch.loggers import CSVLogger
from omegaconf import open_dict

from fashionret.cli import CONFIG_DIR
from fashionret.data.synth import ensure_synthetic
from fashionret.utils.instantiate import instantiate_callbacks


def compose_cfg(args: argparse.Namespace, root: Path, out: Path):
    c, n = (int(v) for v in args.batch.split("x"))
    overrides = [
        "data=deepfashion_inshop",
        f"data.root={root}",
        "data.cache_dir=null",
        f"data.num_workers={args.workers}",
        f"data.pin_memory={args.device == 'cuda'}",
        f"data.classes_per_batch={c}",
        f"data.images_per_class={n}",
        f"backbone={args.backbone}",
        "backbone.pretrained=false",
        f"image_size.height={args.image_size}",  # any size, not only the image_size/ group's files
        f"image_size.width={args.image_size}",
        f"lit.channels_last={args.channels_last}",
        "logger=csv",
    ]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
        cfg.paths.log_dir = str(out)
    return cfg


def build(cfg, args):
    L.seed_everything(0, workers=True)
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    lit = instantiate(cfg.lit)
    if args.compile:
        lit.model = torch.compile(lit.model)
    return dm, lit


class StepTimer(Callback):
    """Wall time from the start of the ``warmup``-th batch (counted across epochs) to the end of the last one."""

    def __init__(self, warmup: int):
        self.warmup, self.seen, self.t0, self.t1, self.images = warmup, 0, None, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.seen == self.warmup:
            _sync(trainer.strategy.root_device)
            self.t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.seen >= self.warmup:
            self.images += len(batch["label"])
        self.seen += 1
        _sync(trainer.strategy.root_device)
        self.t1 = time.perf_counter()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def batches(dm, n: int):
    """The first ``n`` training batches, across epochs as Lightning draws them (one DataLoader, re-iterated)."""
    loader, i = dm.train_dataloader(), 0
    while True:
        for batch in loader:
            yield batch
            i += 1
            if i == n:
                return


def lightning_fit(cfg, args, out: Path, bare: bool = False) -> float:
    """``bare``: no callbacks and no logger (what the run's callbacks and logging cost)."""
    dm, lit = build(cfg, args)
    timer = StepTimer(args.warmup)
    callbacks = [] if bare else [c for c in instantiate_callbacks(cfg.callbacks) if not isinstance(c, Checkpoint)]
    trainer = L.Trainer(
        accelerator="gpu" if args.device == "cuda" else "cpu",
        devices=1,
        precision=args.precision,
        max_steps=args.warmup + args.steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False if bare else CSVLogger(out, name="bench"),
        log_every_n_steps=cfg.trainer.log_every_n_steps,
        callbacks=[*callbacks, timer],
        use_distributed_sampler=False,
    )
    trainer.fit(lit, train_dataloaders=dm.train_dataloader())
    return timer.images / (timer.t1 - timer.t0)


def _autocast(args):
    if args.precision.startswith(("bf16", "16")):
        dtype = torch.bfloat16 if args.precision.startswith("bf16") else torch.float16
        return torch.autocast(device_type=args.device, dtype=dtype)
    return torch.autocast(device_type=args.device, enabled=False)


def plain_loop(cfg, args) -> float:
    dm, lit = build(cfg, args)
    device = torch.device(args.device)
    lit = lit.to(device)
    lit.train()
    opt = lit.configure_optimizers()
    opt = opt["optimizer"] if isinstance(opt, dict) else opt
    scaler = torch.amp.GradScaler(enabled=args.precision.startswith("16"))
    images, t0 = 0, None
    for i, batch in enumerate(batches(dm, args.warmup + args.steps)):
        if i == args.warmup:
            _sync(device)
            t0 = time.perf_counter()
        x = batch["image"].to(device, non_blocking=True)
        y = batch["label"].to(device, non_blocking=True)
        with _autocast(args):
            loss = lit.loss(lit(x), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        if i >= args.warmup:
            images += len(y)
    _sync(device)
    return images / (time.perf_counter() - t0)


def data_only(cfg, args, workers: int) -> float:
    with open_dict(cfg):
        cfg.data.num_workers = workers
    dm, _ = build(cfg, args)
    images, t0 = 0, None
    for i, batch in enumerate(batches(dm, args.warmup + args.steps)):
        if i == args.warmup:
            t0 = time.perf_counter()
        if i >= args.warmup:
            images += len(batch["label"])
    return images / (time.perf_counter() - t0)


def model_only(cfg, args) -> float:
    dm, lit = build(cfg, args)
    device = torch.device(args.device)
    lit = lit.to(device).train()
    opt = lit.configure_optimizers()
    opt = opt["optimizer"] if isinstance(opt, dict) else opt
    batch = next(iter(dm.train_dataloader()))
    x, y = batch["image"].to(device), batch["label"].to(device)
    t0 = None
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            _sync(device)
            t0 = time.perf_counter()
        with _autocast(args):
            loss = lit.loss(lit(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _sync(device)
    return len(y) * args.steps / (time.perf_counter() - t0)


def _fmt(values: list[float]) -> str:
    return "/".join(f"{v:.1f}" for v in values)


def best_of(fn, repeats: int) -> float:
    return max(fn() for _ in range(repeats))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="resnet18")
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--batch", default="16x2", help="C x N: identities x images per identity")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the fit / plain loop")
    p.add_argument("--data-workers", default="0,2,4", help="worker counts for the data-only rows")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", default="32-true", help="32-true | bf16-mixed | 16-mixed")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (both loops)")
    p.add_argument("--data", default=None, help="a synthetic In-Shop dataset dir (generated if absent)")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = Path(args.data) if args.data else tmp / "inshop"
        ensure_synthetic(
            "deepfashion_inshop", root, num_items=160, images_per_item=4, image_size=args.image_size, seed=0
        )
        cfg = compose_cfg(args, root, tmp / "out")
        c, n = (int(v) for v in args.batch.split("x"))
        rows: list[tuple[str, float]] = []
        load = os.getloadavg()[0]
        # interleaved (fit, loop, fit, loop, ...): a change in the machine's load hits both alike
        lit_runs, bare_runs, plain_runs = [], [], []
        for _ in range(args.repeats):
            lit_runs.append(lightning_fit(cfg, args, tmp / "out"))
            plain_runs.append(plain_loop(cfg, args))
            bare_runs.append(lightning_fit(cfg, args, tmp / "out", bare=True))
        lit_ips, plain_ips = max(lit_runs), max(plain_runs)
        rows += [
            (f"lightning fit ({args.workers} workers; the run's callbacks, CSV logger)", lit_ips),
            (f"lightning fit, bare ({args.workers} workers; no callbacks, no logger)", max(bare_runs)),
            (f"plain loop ({args.workers} workers)", plain_ips),
        ]
        data = {}
        for w in (int(v) for v in args.data_workers.split(",")):
            data[w] = best_of(lambda w=w: data_only(cfg, args, w), args.repeats)
            rows.append((f"data only ({w} workers)", data[w]))
        model_ips = best_of(lambda: model_only(cfg, args), args.repeats)
        rows.append(("model only (batch in memory)", model_ips))

    threads = torch.get_num_threads()
    print(
        f"\n{args.backbone}, {args.image_size}x{args.image_size}, batch {c}x{n}={c * n}, {args.device} "
        f"({threads} threads), {args.precision}{', channels_last' if args.channels_last else ''}"
        f"{', torch.compile' if args.compile else ''}; {args.steps} steps after {args.warmup} warm-up, "
        f"best of {args.repeats}; 1-min load average at start {load:.1f}\n"
    )
    print("| measurement | images/s |\n|---|---:|")
    for name, ips in rows:
        print(f"| {name} | {ips:.1f} |")
    ratio_dm = data.get(args.workers, statistics.fmean(data.values())) / model_ips
    runs = f"fit {_fmt(lit_runs)}, bare {_fmt(bare_runs)}, loop {_fmt(plain_runs)}"
    print(f"\nLightning / plain: {lit_ips / plain_ips:.3f} (runs: {runs})")
    print(f"data only ({args.workers} workers) / model only: {ratio_dm:.2f}")


if __name__ == "__main__":
    main()
