"""Query embedding for search and the service: the run's eval transforms, then the run's ONNX export through
onnxruntime when the run has one that matches it, else the LightningModule's ``predict_step`` (eager).

The export (``fashionret-export --run RUN --format onnx``: ``RUN/export/embedder.onnx`` and its ``.json``)
is used only when its recorded fingerprint is the run's and its own parity check passed. It takes RGB in
[0, 1] and normalises inside the graph, so the eval transforms' normalised output is mapped back to [0, 1]
(``x * std + mean``) first: both paths see the same resized pixels, and their embeddings agree within the
export's tolerance (:data:`fashionret.serve.export.TOLERANCE`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from fashionret.serve.embed import read_rgb
from fashionret.serve.run import TrainedRun

log = logging.getLogger(__name__)

ENGINES = ("auto", "onnx", "torch")


def export_of(run: TrainedRun) -> Path | None:
    """The run's checked ONNX export for this very model, or ``None``."""
    ckpt = Path(run.info.path)
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    onnx = run_dir / "export" / "embedder.onnx"
    side = onnx.with_name(onnx.name + ".json")
    if not (onnx.is_file() and side.is_file()):
        return None
    try:
        info = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    check = info.get("check") or {}
    ok = float(check.get("max_abs_diff_vs_pytorch", float("inf"))) <= float(check.get("tolerance", -1))
    return onnx if info.get("fingerprint") == run.fingerprint and ok else None


class QueryEmbedder:
    """``embed_images([HxWx3 uint8 arrays]) -> [N, D]`` through ONNX or eager PyTorch (``engine``)."""

    def __init__(self, run: TrainedRun, engine: str = "auto", batch_size: int = 32):
        if engine not in ENGINES:
            raise ValueError(f"--embedder must be one of {', '.join(ENGINES)}, got {engine!r}")
        self.run, self.batch_size = run, batch_size
        self.onnx_path = export_of(run) if engine in ("auto", "onnx") else None
        if engine == "onnx" and self.onnx_path is None:
            raise ValueError(
                f"--embedder onnx: the run of {run.info.path} has no checked ONNX export of this model: run "
                "fashionret-export --run <run> --format onnx first"
            )
        self.engine = "onnx" if self.onnx_path is not None else "torch"
        norm = run.normalization
        self._mean = torch.tensor(norm["mean"], dtype=torch.float32).view(1, -1, 1, 1)
        self._std = torch.tensor(norm["std"], dtype=torch.float32).view(1, -1, 1, 1)
        self._session = None
        if self.engine == "onnx":
            import onnxruntime as ort

            self._session = ort.InferenceSession(str(self.onnx_path), providers=["CPUExecutionProvider"])

    def prepare(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """The run's eval transforms (resize, normalise, ...): ``[N, 3, H, W]``."""
        return torch.stack([self.run.transform(image=im)["image"] for im in images])

    def forward(self, x: torch.Tensor, attr: int | None = None) -> torch.Tensor:
        a = None if attr is None else torch.full((x.shape[0],), int(attr), dtype=torch.long)
        if self._session is not None:
            feed = {"images": (x * self._std + self._mean).numpy().astype(np.float32)}
            if a is not None:
                feed["attr"] = a.numpy()
            return torch.from_numpy(self._session.run(["embedding"], feed)[0]).float()
        batch = {"image": x, "index": torch.arange(x.shape[0])}
        if a is not None:
            batch["attr"] = a
        with torch.inference_mode():
            return self.run.module.predict_step(batch, 0)["embedding"].float().clone()

    def embed_images(self, images: Sequence[np.ndarray], attr: int | None = None) -> torch.Tensor:
        out = [
            self.forward(self.prepare(images[i : i + self.batch_size]), attr)
            for i in range(0, len(images), self.batch_size)
        ]
        return torch.cat(out)

    def embed_paths(self, paths: Sequence[str | Path], attr: int | None = None) -> torch.Tensor:
        return self.embed_images([read_rgb(p) for p in paths], attr)
