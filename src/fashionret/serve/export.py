"""The embedder of a trained run as a standalone ONNX or TorchScript file, checked against PyTorch.

The exported graph is :class:`ServingEmbedder`: input normalisation baked in, then the model. Its input is what
any image library produces without fashionret: ``images`` float32 ``[B, 3, H, W]``, RGB, values in ``[0, 1]``,
resized to the run's ``image_size`` with its ``normalization.interpolation`` (both written to the sidecar
JSON); the batch dimension is dynamic. Attribute-conditioned models take a second input ``attr`` (int64
``[B]``). The output is ``embedding`` float32 ``[B, D]``, ranked by the run's similarity (cosine: normalise
it first, or use the dot product of normalised vectors).

The check runs the exported file (onnxruntime, or the loaded TorchScript module) and the run's own
``predict_step`` on the same inputs -- at two batch sizes, so the dynamic batch is exercised -- and reports the
largest absolute difference; above the tolerance (1e-4) the export fails. The inputs are images of the run's own
evaluation data where it is readable (noise otherwise, said so in the sidecar and the printout). The file is
written under a temporary name and moved over ``--out`` only once the check passes: a failed export never
replaces a good one.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fashionret.serve import EXPORT_FORMATS, EXPORT_TOLERANCE
from fashionret.serve.run import TrainedRun

log = logging.getLogger(__name__)

FORMATS = EXPORT_FORMATS
TOLERANCE = EXPORT_TOLERANCE


class ServingEmbedder(nn.Module):
    """``(images in [0, 1]) -> (images - mean) / std -> model -> embedding``: the run's eval normalisation
    (albumentations ``Normalize`` with ``max_pixel_value=255`` on 0-255 pixels is the same map on 0-1 pixels)."""

    def __init__(self, model: nn.Module, mean: list[float], std: list[float], attribute_conditioned: bool = False):
        super().__init__()
        self.model = model
        self.attribute_conditioned = attribute_conditioned
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor, attr: torch.Tensor | None = None) -> torch.Tensor:
        x = (images - self.mean) / self.std
        return self.model(x, attr) if self.attribute_conditioned else self.model(x)


@dataclass
class ExportReport:
    path: Path
    sidecar: Path
    max_abs_diff: float
    batch_sizes: tuple[int, ...]
    ok: bool
    inputs: str = ""


def _sample_inputs(run: TrainedRun, batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    h, w = run.image_size
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, h, w, generator=g)
    attr = torch.randint(0, run.num_attributes, (batch,), generator=g) if run.attribute_conditioned else None
    return images, attr


def eval_images(run: TrainedRun, n: int) -> tuple[torch.Tensor | None, str]:
    """Up to ``n`` images of the run's own evaluation data (``test_query`` first; cropped as the run crops
    them, resized to its input size, in ``[0, 1]``) and where they came from; ``(None, reason)`` when the run's
    data is not readable here (the check then uses noise)."""
    import cv2
    import hydra
    from omegaconf import OmegaConf

    h, w = run.image_size
    try:
        # the stored data config was checked by load_run (fashionret.utils.trust); no pre-flight scan of
        # every evaluation image: the check needs a handful
        data_cfg = OmegaConf.create(run.config["data"])
        params = inspect.signature(hydra.utils.get_class(data_cfg._target_)).parameters
        dm = hydra.utils.instantiate(data_cfg, **({"preflight": False} if "preflight" in params else {}))
        dm.setup("test")
        split = next(s for s in ("test_query", "test_gallery", "val_query", "test") if s in dm.datasets)
        ds = dm.datasets[split]
        count = min(n, len(ds))
        if count == 0:
            return None, f"the run's {split} split is empty"
        imgs = [cv2.resize(ds.load_image(i), (w, h), interpolation=cv2.INTER_AREA) for i in range(count)]
    except Exception as err:  # no data here (another machine), or a family without single images
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        return None, f"the run's data is not readable here ({first})"
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255.0
    return x, f"{count} images of {split} of the run's data ({run.config['data'].get('root')})"


def reference_embeddings(run: TrainedRun, images: torch.Tensor, attr: torch.Tensor | None) -> torch.Tensor:
    """The run's ``predict_step`` on ``images`` in ``[0, 1]`` (normalised as its eval transforms do)."""
    norm = run.normalization
    mean = torch.tensor(norm["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(norm["std"], dtype=torch.float32).view(1, -1, 1, 1)
    batch: dict[str, Any] = {"image": (images - mean) / std, "index": torch.arange(images.shape[0])}
    if attr is not None:
        batch["attr"] = attr
    with torch.inference_mode():
        return run.module.predict_step(batch, 0)["embedding"].float()


def export(run: TrainedRun, out: str | Path, fmt: str, tolerance: float = TOLERANCE) -> ExportReport:
    """Write the embedder as ``fmt`` to ``out``, plus ``<out>.json`` describing its input, once it is checked.

    The file is written to a temporary name beside ``out`` and checked there: only a file that passes replaces
    ``out`` (and its sidecar); a failed check removes it and leaves an earlier good export in place."""
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {FORMATS}, got {fmt!r}")
    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp{out.suffix}")
    try:
        return _export_checked(run, out, tmp, fmt, tolerance)
    finally:
        tmp.unlink(missing_ok=True)


def _export_checked(run: TrainedRun, out: Path, tmp: Path, fmt: str, tolerance: float) -> ExportReport:
    norm = run.normalization
    embedder = ServingEmbedder(run.model, norm["mean"], norm["std"], run.attribute_conditioned).eval()
    images, attr = _sample_inputs(run, 2, seed=0)
    args = (images,) if attr is None else (images, attr)
    names = ["images"] if attr is None else ["images", "attr"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about data-dependent checks in the models
        if fmt == "onnx":
            dynamic = {n: {0: "batch"} for n in [*names, "embedding"]}
            torch.onnx.export(
                embedder,
                args,
                str(tmp),
                input_names=names,
                output_names=["embedding"],
                dynamic_axes=dynamic,
                opset_version=17,
                dynamo=False,  # the TorchScript-based exporter: no onnxscript dependency
            )
        else:
            with torch.no_grad():
                traced = torch.jit.trace(embedder, args)
            traced.save(str(tmp))

    sizes = (3, 5)
    real, source = eval_images(run, sum(sizes))
    diffs, start = [], 0
    for b, seed in zip(sizes, (1, 2)):
        x, a = _sample_inputs(run, b, seed)
        if real is not None:
            x = real[(torch.arange(start, start + b) % real.shape[0])]
            start += b
        ref = reference_embeddings(run, x, a)
        got = run_exported(tmp, fmt, x, a)
        diffs.append(float((got - ref).abs().max()))
    max_diff = max(diffs)
    ok = max_diff <= tolerance
    inputs = source if real is not None else f"uniform noise in [0, 1] ({source})"
    sidecar = out.with_name(out.name + ".json")
    if not ok:
        return ExportReport(out, sidecar, max_diff, sizes, False, inputs)
    info = {
        "format": fmt,
        "file": str(out),
        **run.describe(),
        "input": {
            "images": "float32 [batch, 3, height, width], RGB, values in [0, 1], resized to image_size with "
            "normalization.interpolation; normalisation (x - mean) / std is inside the graph",
            "attr": "int64 [batch] attribute ids" if run.attribute_conditioned else None,
        },
        "output": "embedding float32 [batch, D]; rank by the run's similarity",
        "check": {
            "max_abs_diff_vs_pytorch": max_diff,
            "tolerance": tolerance,
            "batch_sizes": list(sizes),
            "inputs": inputs,
        },
    }
    os.replace(tmp, out)  # only a checked file replaces an earlier export
    sidecar.write_text(json.dumps(info, indent=2))
    return ExportReport(out, sidecar, max_diff, sizes, True, inputs)


def run_exported(path: Path, fmt: str, images: torch.Tensor, attr: torch.Tensor | None = None) -> torch.Tensor:
    """Run an exported file: onnxruntime (CPU) for ONNX, ``torch.jit.load`` for TorchScript."""
    if fmt == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {"images": images.numpy().astype(np.float32)}
        if attr is not None:
            feed["attr"] = attr.numpy().astype(np.int64)
        return torch.from_numpy(sess.run(["embedding"], feed)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated in favour of torch.export
        module = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return (module(images) if attr is None else module(images, attr)).float()
