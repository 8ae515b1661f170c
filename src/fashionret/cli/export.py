"""``fashionret-export``: a trained run's embedder as ONNX or TorchScript, checked against PyTorch."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

from fashionret.serve import EXPORT_FORMATS as FORMATS
from fashionret.serve import EXPORT_TOLERANCE as TOLERANCE

DESCRIPTION = """\
fashionret-export: export the embedder of a trained run (normalisation baked in, dynamic batch) as ONNX or
TorchScript, then check in the same command that the exported file gives the run's PyTorch embeddings
(onnxruntime for ONNX) within --tolerance. A JSON file beside the export says what input it takes and how
it was checked.

examples:
  fashionret-export --run logs/train/runs/<run> --format onnx
  fashionret-export --run logs/train/runs/<run>/checkpoints/epoch_005.ckpt --format torchscript --out embedder.pt
"""

SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fashionret-export", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--run", required=True, help="a fashionret-train run directory, or one of its checkpoints")
    p.add_argument("--format", required=True, choices=FORMATS, help="onnx (checked with onnxruntime) or torchscript")
    p.add_argument("--out", help="output file (default: <run>/export/embedder.onnx or .pt)")
    p.add_argument("--tolerance", type=float, default=TOLERANCE, help=f"max |export - PyTorch| (default {TOLERANCE})")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from fashionret.serve.export import export  # torch: only after the arguments are read
    from fashionret.serve.run import load_run
    from fashionret.utils.checkpoints import CheckpointError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Lightning's own deprecation notice about torch internals: nothing a user can act on
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    try:
        run = load_run(args.run)
    except (CheckpointError, FileNotFoundError) as err:
        print(f"fashionret-export: {err}", file=sys.stderr)
        return 2
    run_dir = run.info.path.parent.parent if run.info.path.parent.name == "checkpoints" else run.info.path.parent
    out = Path(args.out) if args.out else run_dir / "export" / f"embedder{SUFFIX[args.format]}"
    report = export(run, out, args.format, args.tolerance)
    h, w = run.image_size
    norm = run.normalization
    verb = "exported" if report.ok else "export FAILED for"
    print(
        f"{verb} {run.info.model_name()} ({run.describe()['backbone']}) as {args.format}: {report.path}\n"
        f"  input: images float32 [batch, 3, {h}, {w}] RGB in [0, 1], resized with {norm['interpolation']} "
        f"interpolation; normalisation inside (mean {norm['mean']}, std {norm['std']})\n"
        f"  check vs PyTorch predict_step at batch sizes {list(report.batch_sizes)}: max |diff| = "
        f"{report.max_abs_diff:.2e} (tolerance {args.tolerance:g}) -> {'OK' if report.ok else 'FAILED'}\n"
        f"  check inputs: {report.inputs}" + (f"\n  described in {report.sidecar}" if report.ok else "")
    )
    if not report.ok:
        kept = "left as it was" if report.path.exists() else "not created"
        print(
            f"fashionret-export: the exported embedder differs from the run's PyTorch embeddings by "
            f"{report.max_abs_diff:.2e} (more than --tolerance {args.tolerance:g}), so it was discarded: "
            f"{report.path} was {kept}",
            file=sys.stderr,
        )
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
