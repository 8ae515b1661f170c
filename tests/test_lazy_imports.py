"""Every command imports only what it uses (issue 25, item 2): ``--help`` loads no torch, ``search verify`` and
``data validate`` load neither Lightning nor timm nor torchmetrics. Each check runs in a fresh interpreter and
reads ``sys.modules`` after the command's own code ran, so a heavy import added at the top of a module that
these commands read (``fashionret.serve.index``, ``fashionret.eval``'s ``__init__``, ...) fails here."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fashionret.data.synth import synthesize

HEAVY = ("torch", "lightning", "timm", "torchmetrics", "torchvision", "albumentations", "wandb", "pytorch_grad_cam")

SCRIPT = """
import json, sys
from {module} import main
try:
    main({argv!r})
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def loaded(module: str, argv: list[str], cwd) -> list[str]:
    """The heavy packages in ``sys.modules`` after ``module.main(argv)`` ran in a fresh interpreter."""
    code = SCRIPT.format(module=module, argv=argv, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "module", ["fashionret.cli.search", "fashionret.cli.data", "fashionret.cli.export", "fashionret.cli.tables"]
)
def test_help_loads_no_torch(module, tmp_path):
    assert loaded(module, ["--help"], tmp_path) == []


def test_search_verify_needs_no_lightning_timm_or_torchmetrics(tmp_path):
    # a folder that is not an index: verify still reads the index code (and its imports) before it refuses
    got = loaded("fashionret.cli.search", ["verify", "--index", str(tmp_path / "none.idx")], tmp_path)
    assert not {"lightning", "timm", "torchmetrics", "torchvision", "albumentations"} & set(got), got


def test_data_validate_needs_no_torch(tmp_path):
    root = synthesize("deepfashion_inshop", tmp_path / "inshop", num_items=4, images_per_item=2, image_size=32, seed=0)
    got = loaded("fashionret.cli.data", ["validate", "--format", "deepfashion_inshop", "--root", str(root)], tmp_path)
    assert not {"lightning", "timm", "torchmetrics", "torchvision"} & set(got), got
