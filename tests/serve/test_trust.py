"""Nothing executed from a file a user is handed, nothing corrupted evaluated (SECURITY.md), run as a user runs
the commands: each exploit shape is refused in one sentence naming the file and the key, and leaves no trace."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from fashionret.utils.checkpoints import find_run_checkpoint
from tests.serve.conftest import one_sentence as _one_sentence
from tests.serve.conftest import run_cli
from tests.serve.conftest import tamper as _tamper


def _torch_load_in_lit(meta: dict, payload: Path) -> None:
    meta["config"]["lit"]["loss"] = {"_target_": "torch.load", "f": str(payload), "weights_only": False}


@pytest.mark.slow
def test_export_refuses_torch_load_target_and_leaves_no_trace(trained_run, side_file, tmp_path):
    payload, marker = side_file
    evil = _tamper(find_run_checkpoint(trained_run), tmp_path / "shared.ckpt", lambda m: _torch_load_in_lit(m, payload))
    out = run_cli(["fashionret-export", "--run", str(evil), "--format", "onnx", "--out", "e.onnx"], tmp_path)
    assert out.returncode == 2
    _one_sentence(out.stderr, str(evil), "lit.loss._target_", "'torch.load'", "refused")
    assert not marker.exists() and not (tmp_path / "e.onnx").exists()


@pytest.mark.slow
def test_search_index_refuses_copyfile_target_and_leaves_no_trace(trained_run, tmp_path):
    secret, copy = tmp_path / "secret.txt", tmp_path / "stolen.txt"
    secret.write_text("api key")
    images = tmp_path / "imgs"
    images.mkdir()

    def change(meta):
        meta["config"]["data"]["transforms"]["eval"] = [
            {"_target_": "shutil.copyfile", "src": str(secret), "dst": str(copy)}
        ]

    evil = _tamper(find_run_checkpoint(trained_run), tmp_path / "shared.ckpt", change)
    out = run_cli(["fashionret-search", "index", "--run", str(evil), "--images", str(images), "--out", "x.idx"],
                  tmp_path)  # fmt: skip
    assert out.returncode == 2
    _one_sentence(out.stderr, str(evil), "data.transforms.eval[0]._target_", "'shutil.copyfile'")
    assert not copy.exists() and not (tmp_path / "x.idx").exists()


@pytest.mark.slow
def test_search_query_through_index_json_refuses_and_leaves_no_trace(trained_run, side_file, tmp_path):
    """An index (built by the CLI) whose index.json points at a shared checkpoint with a stored exploit."""
    payload, marker = side_file
    images = tmp_path / "gallery"
    images.mkdir()
    for i in range(3):
        Image.new("RGB", (40, 40), (40 * i, 90, 200 - 30 * i)).save(images / f"g{i}.png")
    idx = tmp_path / "cat.idx"
    out = run_cli(["fashionret-search", "index", "--run", str(trained_run), "--images", str(images),
                   "--out", str(idx)], tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    evil = _tamper(find_run_checkpoint(trained_run), tmp_path / "shared.ckpt", lambda m: _torch_load_in_lit(m, payload))
    meta = json.loads((idx / "index.json").read_text())
    meta["embedder"]["checkpoint"] = str(evil)
    (idx / "index.json").write_text(json.dumps(meta))
    res = tmp_path / "res"
    out = run_cli(["fashionret-search", "query", "--index", str(idx), str(images / "g0.png"), "--out", str(res)],
                  tmp_path)  # fmt: skip
    assert out.returncode == 2
    _one_sentence(out.stderr, str(evil), "lit.loss._target_")
    assert not marker.exists() and not res.exists()


@pytest.mark.slow
def test_eval_refuses_a_stored_target_override_and_leaves_no_trace(trained_run, side_file, tmp_path):
    payload, marker = side_file
    bad = ["+callbacks.x._target_=torch.load", f"+callbacks.x.f={payload}", "+callbacks.x.weights_only=false"]
    evil = _tamper(find_run_checkpoint(trained_run), tmp_path / "shared.ckpt", lambda m: m["overrides"].extend(bad))
    out = run_cli(["fashionret-eval", f"ckpt_path={evil}"], tmp_path)
    assert out.returncode == 2
    _one_sentence(out.stderr, str(evil), "+callbacks.x._target_=torch.load", "special key")
    assert not marker.exists()
    assert not list(tmp_path.glob("logs/eval/runs/*/results.json"))


@pytest.mark.parametrize(
    "change, needle",
    [
        (lambda m: m["overrides"].append("+trainer.foo=1"), "adds the key trainer.foo"),
        (lambda m: m["overrides"].append("model=../../../tmp/evil"), "which the config tree lacks"),
        (lambda m: m["choices"].update(model="evil"), "group choice model=evil"),
        (lambda m: m.update(config_name="evil"), "config name 'evil'"),
        (lambda m: m["config"]["lit"].update(similarity="${oc.env:HOME}"), "interpolation"),
        (lambda m: m["config"]["lit"].update(_target_="fashionret.serve.run.load_run"), "lit._target_"),
    ],
)
def test_stored_run_outside_the_tree_is_refused(trained_run, tmp_path, change, needle):
    """The same checks, in-process (each case above is one CLI test already): every kind of key is refused."""
    from fashionret.serve.run import load_run
    from fashionret.utils.trust import UntrustedConfigError

    evil = _tamper(find_run_checkpoint(trained_run), tmp_path / "x.ckpt", change)
    with pytest.raises(UntrustedConfigError, match=r"x\.ckpt .* is refused") as err:
        load_run(evil)
    assert needle in str(err.value)


def test_every_shipped_target_is_allowed():
    """Every ``_target_`` of every YAML file under conf/ and sweeps/ (outside Hydra's own node) is allow-listed,
    so a run of any shipped config can be evaluated, searched and exported."""
    import yaml

    from fashionret.cli import CONFIG_DIR, SWEEPS_DIR
    from fashionret.utils.trust import target_allowed

    def walk(node, key=""):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "hydra":
                    continue
                if k == "_target_":
                    yield key, v
                else:
                    yield from walk(v, f"{key}.{k}")
        elif isinstance(node, list):
            for v in node:
                yield from walk(v, key)

    seen = 0
    for root in (Path(CONFIG_DIR), Path(SWEEPS_DIR)):
        for file in sorted(root.rglob("*.yaml")):
            if file.relative_to(root).parts[0] == "hydra":  # Hydra's launcher / callbacks: never stored
                continue
            for key, target in walk(yaml.safe_load(file.read_text())):
                seen += 1
                assert target_allowed(target), f"{file}: {key}._target_={target} is not in the allow-list"
    assert seen > 40
    assert not target_allowed("torch.load") and not target_allowed("shutil.copyfile")
    assert not target_allowed("fashionret.serve.run.load_run")  # a function, not a class


def _flip_inside_largest_tensor(src: Path, dst: Path, nbytes: int = 4096) -> None:
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    mid = start + info.file_size // 2 - nbytes // 2
    data[mid : mid + nbytes] = bytes(b ^ 0xFF for b in data[mid : mid + nbytes])
    dst.write_bytes(bytes(data))


@pytest.mark.slow
def test_bit_flipped_checkpoint_is_refused_by_eval(trained_run, tmp_path):
    bad = tmp_path / "flipped.ckpt"
    _flip_inside_largest_tensor(find_run_checkpoint(trained_run), bad)
    out = run_cli(["fashionret-eval", f"ckpt_path={bad}"], tmp_path)
    assert out.returncode == 2
    _one_sentence(out.stderr, str(bad), "is corrupted", "CRC-32")
    assert not list(tmp_path.glob("logs/eval/runs/*/results.json"))


def test_bit_flipped_checkpoint_is_refused_by_search_export_and_resume(trained_run, tmp_path):
    from fashionret.serve.run import load_run
    from fashionret.utils.checkpoints import CheckpointError, inspect_checkpoint

    bad = tmp_path / "flipped.ckpt"
    _flip_inside_largest_tensor(find_run_checkpoint(trained_run), bad)
    with pytest.raises(CheckpointError, match="is corrupted"):
        load_run(bad)  # search index / query and export
    with pytest.raises(CheckpointError, match="is corrupted"):
        inspect_checkpoint(bad)  # resume (utils.resume.check_checkpoint_file) and eval
