"""A shared run runs nothing and leaks nothing through OmegaConf resolvers, and writes only where the user is
(SECURITY.md, issue 23 items 1-2): each attack is a run directory's checkpoint someone else edited, handed to the
commands as a user types them, from an empty directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fashionret.utils.checkpoints import find_run_checkpoint
from tests.serve.conftest import one_sentence, run_cli, tamper

SECRET_VAR, SECRET = "FR_PLANTED_SECRET", "s3cr3t-7d1c0ffee-planted"


def _torch_load_via(resolver: str, payload: Path) -> str:
    """A stored override whose value only becomes a ``torch.load`` node when OmegaConf resolves it."""
    if resolver == "oc.create":
        return f"lit.loss='${{oc.create:{{_target_:torch.load,f:{payload},weights_only:false}}}}'"
    return f"lit.loss=\"${{oc.decode:'{{_target_: torch.load, f: {payload}, weights_only: false}}'}}\""


def _shared_folder(tmp_path: Path) -> Path:
    """The folder a shared checkpoint sits in (its run folder: a stored run may write there)."""
    d = tmp_path / "shared"
    d.mkdir(exist_ok=True)
    return d


def _no_trace(root: Path, *texts: str) -> None:
    for f in root.rglob("*"):
        if f.is_file() and f.stat().st_size < 5_000_000:
            data = f.read_bytes()
            for t in texts:
                assert t.encode() not in data, f"{t!r} reached {f}"


@pytest.mark.slow
def test_eval_resolves_no_stored_override_into_code(trained_run, side_file, tmp_path):
    payload, marker = side_file
    bad = _torch_load_via("oc.create", payload)
    evil = tamper(find_run_checkpoint(trained_run), tmp_path / "shared.ckpt", lambda m: m["overrides"].append(bad))
    out = run_cli(["fashionret-eval", f"ckpt_path={evil}"], tmp_path)
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    one_sentence(out.stderr, str(evil), "lit.loss=", "holds an interpolation", "nothing from it was run")
    assert not marker.exists()
    assert not list(tmp_path.glob("logs/eval/runs/*/results.json"))


@pytest.mark.slow
def test_eval_leaks_no_environment_secret_a_stored_override_names(trained_run, tmp_path):
    evil = tamper(
        find_run_checkpoint(trained_run),
        tmp_path / "shared.ckpt",
        lambda m: m["overrides"].append(f"logger.csv.name=${{oc.env:{SECRET_VAR}}}"),
    )
    os.environ[SECRET_VAR] = SECRET  # run_cli passes the environment on
    try:
        out = run_cli(["fashionret-eval", f"ckpt_path={evil}"], tmp_path)
    finally:
        del os.environ[SECRET_VAR]
    assert out.returncode == 2
    one_sentence(out.stderr, str(evil), "logger.csv.name=", "holds an interpolation")
    assert SECRET not in out.stdout + out.stderr
    _no_trace(tmp_path, SECRET)  # no config_tree.log, hparams.yaml, W&B or CSV file holds it


@pytest.mark.parametrize(
    "override, needle",
    [
        ("oc.decode", "holds an interpolation"),
        ("backbone.pretrained_tag='${backbone_option_tag:../../../../../tmp/evil}'", "holds an interpolation"),
        ("data.root=${oc.env:HOME}", "holds an interpolation"),
    ],
)
def test_no_stored_interpolation_is_replayed(trained_run, side_file, tmp_path, override, needle):
    """The same rule in-process for the other resolver shapes (each refused before Hydra composes anything)."""
    from fashionret.utils.trust import UntrustedConfigError, check_stored_run

    payload, marker = side_file
    text = _torch_load_via("oc.decode", payload) if override == "oc.decode" else override
    with pytest.raises(UntrustedConfigError, match=needle):
        check_stored_run({"overrides": [text]}, "shared.ckpt (1 KB)")
    assert not marker.exists()


def test_a_resolved_value_that_spells_an_interpolation_is_refused(monkeypatch):
    """What is checked is what is instantiated: a resolver's output that would be resolved again on access."""
    from omegaconf import OmegaConf

    from fashionret.utils.trust import UntrustedConfigError, resolve_checked

    monkeypatch.setenv(SECRET_VAR, "${oc.create:{_target_: torch.load, f: x}}")
    cfg = OmegaConf.create({"lit": {"loss": f"${{oc.env:{SECRET_VAR}}}"}})
    with pytest.raises(UntrustedConfigError, match=r"lit\.loss holds the interpolation"):
        resolve_checked(cfg, "x.ckpt")
    ok = resolve_checked(OmegaConf.create({"a": 1, "b": "${a}"}), "x.ckpt")
    assert ok.b == 1


def test_backbone_tag_resolver_takes_option_names_only():
    from fashionret.resolvers import _backbone_option_tag

    assert _backbone_option_tag("resnet50") is not None
    with pytest.raises(ValueError, match="not a backbone option name"):
        _backbone_option_tag("../../../../etc/evil")


def test_stored_hydra_group_overrides_are_never_replayed():
    from fashionret.utils.checkpoints import replayable_overrides

    stored = ["hydra/launcher=submitit_local", "hydra=evil", "+hydra/callbacks=x", "hydra.run.dir=/x", "model=sn"]
    assert replayable_overrides(stored) == ["model=sn"]


def test_allow_list_admits_classes_defined_in_the_package_only():
    from fashionret.utils.trust import target_allowed

    assert target_allowed("fashionret.lit.csv_logger.ResumableCSVLogger")  # defined there
    assert not target_allowed("fashionret.lit.csv_logger.CSVLogger")  # Lightning's, imported there
    assert not target_allowed("fashionret.cli.common.Path")  # pathlib's


@pytest.mark.slow
def test_export_refuses_a_package_writer_aimed_outside(trained_run, tmp_path):
    """A package class that writes where the stored config says (a CSV logger as the loss), aimed elsewhere."""
    outside = tmp_path / "elsewhere"
    user = tmp_path / "user"
    user.mkdir()
    # the imported class alone is checked in-process above (test_allow_list_...); one console run per case
    for target, needle in (("fashionret.lit.csv_logger.ResumableCSVLogger", f"names the folder {outside / 'w'}"),):

        def change(m, target=target):
            m["config"]["lit"]["loss"] = {"_target_": target, "save_dir": str(outside / "w"), "name": "x"}

        evil = tamper(find_run_checkpoint(trained_run), _shared_folder(tmp_path) / "shared.ckpt", change)
        out = run_cli(["fashionret-export", "--run", str(evil), "--format", "onnx", "--out", "e.onnx"], user)
        assert out.returncode == 2
        one_sentence(out.stderr, str(evil), "lit.loss", needle, "nothing from it was run")
        assert not outside.exists() and not (user / "e.onnx").exists()


@pytest.mark.slow
def test_eval_writes_nowhere_a_stored_run_points(trained_run, tmp_path):
    outside = tmp_path / "elsewhere"
    user = tmp_path / "user"
    user.mkdir()
    cases = [
        (["logger.csv.save_dir=" + str(outside / "csv")], "logger.csv.save_dir names the folder"),
        (["data=demo", "data.root=" + str(outside / "gen")], "would generate a synthetic dataset at"),
    ]
    for extra, needle in cases:

        def change(m, extra=extra):
            m["overrides"] = [o for o in m["overrides"] if not o.startswith("data=")] + extra

        evil = tamper(find_run_checkpoint(trained_run), _shared_folder(tmp_path) / "shared.ckpt", change)
        out = run_cli(["fashionret-eval", f"ckpt_path={evil}"], user)
        assert out.returncode == 2, out.stderr[-2000:]
        one_sentence(out.stderr, str(evil), needle, "pass ", "nothing from it was run")
        assert not outside.exists()


def _declare_huge(src: Path, dst: Path) -> None:
    """A copy of ``src`` whose central directory says its largest record holds 4 GB (the bytes are not there)."""
    import struct
    import zipfile

    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as z:
        name = max(z.infolist(), key=lambda i: i.file_size).filename.encode()
    at = data.rindex(b"PK\x05\x06") - 300_000 if len(data) > 300_000 else 0
    while True:  # the central directory entry of that record
        at = data.index(b"PK\x01\x02", at)
        n = struct.unpack_from("<H", data, at + 28)[0]
        if bytes(data[at + 46 : at + 46 + n]) == name:
            break
        at += 4
    struct.pack_into("<II", data, at + 20, 0xFFFFFF00, 0xFFFFFF00)  # compressed and uncompressed sizes
    dst.write_bytes(bytes(data))


@pytest.mark.slow
def test_eval_refuses_an_archive_declaring_absurd_sizes(trained_run, tmp_path):
    bad = tmp_path / "huge.ckpt"
    _declare_huge(find_run_checkpoint(trained_run), bad)
    out = run_cli(["fashionret-eval", f"ckpt_path={bad}"], tmp_path)
    assert out.returncode == 2
    one_sentence(out.stderr, str(bad), "is refused: its archive record", "declares 4.0 GB", "torch.save never writes")
    assert not list(tmp_path.glob("logs/eval/runs/*/results.json"))


@pytest.mark.slow
def test_train_says_in_one_line_when_an_override_makes_the_run_unshareable(tmp_path):
    """A `+key` the tree lacks trains, but eval/search/export would refuse the run: said before training."""
    cmd = ["fashionret-train", "data=deepfashion_inshop", f"data.root={tmp_path / 'none'}", "+note=x"]
    out = run_cli(cmd, tmp_path)
    notice = [ln for ln in out.stdout.splitlines() if "will refuse this run" in ln]
    assert notice == [
        "fashionret-train: note: fashionret-eval, -search and -export will refuse this run (its override '+note=x' "
        "adds the key note, which the config tree does not define): give the value with a key of the config tree "
        "instead, or accept that the run cannot be shared"
    ], out.stdout[-2000:]


def test_documented_knobs_need_no_plus_and_keep_a_run_shareable():
    """The catalogue's manifest / image_root options are in the tree: set without `+`, no notice, and every parser
    option of every data family is a key of its data config."""
    import yaml

    from fashionret.cli import CONFIG_DIR
    from fashionret.data.parsers import get_parser
    from fashionret.utils.trust import unshareable_notice
    from tests.conftest import compose_cfg

    overrides = ["data=catalogue", "data.parser_options.manifest=my.csv", "data.parser_options.image_root=/photos"]
    assert unshareable_notice(overrides, Path(CONFIG_DIR)) is None
    assert unshareable_notice(["+trainer.not_a_key=1"], Path(CONFIG_DIR)) is not None
    cfg = compose_cfg("train", overrides, Path("/tmp/unused"))
    assert cfg.data.parser_options == {"manifest": "my.csv", "image_root": "/photos"}
    # street2shop's categories is data.categories (the datamodule's own key), handed to its parser
    own_key = {("street2shop", "categories")}
    for file in sorted((Path(CONFIG_DIR) / "data").glob("*.yaml")):
        conf = yaml.safe_load(file.read_text())
        if "family" not in conf:  # demo.yaml: a bundle of other groups
            continue
        options = getattr(get_parser(conf["family"]), "OPTIONS", {})
        missing = {o for o in options if (conf["family"], o) not in own_key} - set(conf.get("parser_options") or {})
        assert not missing, f"{file.name}: parser options {sorted(missing)} are not in the config tree"


@pytest.mark.slow
def test_search_data_never_generates_or_caches_where_a_stored_run_points(trained_run, tmp_path):
    outside = tmp_path / "elsewhere"
    user = tmp_path / "user"
    user.mkdir()

    def change(m):
        data = m["config"]["data"]
        data["synthetic"] = {"format": "deepfashion_inshop", "params": {"num_items": 4, "images_per_item": 2}}
        data["root"], data["cache_dir"] = str(outside / "gen"), str(outside / "cache")

    evil = tamper(find_run_checkpoint(trained_run), _shared_folder(tmp_path) / "shared.ckpt", change)
    out = run_cli(["fashionret-search", "index", "--run", str(evil), "--data", "test_gallery", "--out", "x.idx"], user)
    assert out.returncode == 2
    one_sentence(out.stderr, "fashionret-search index:", str(outside / "gen"))
    assert not outside.exists() and not (user / "x.idx").exists()
