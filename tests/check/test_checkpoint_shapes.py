"""A checkpoint whose variables no longer fit the config's network although its input,
channels and classes still do (another ``nf_enc``, another norm layer): ``check`` used to
pass it, and validate, infer, export and finetune then failed with TensorFlow's text (and
its "unrestored values" warnings after the error line)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from broken_mmars import edit_json, make_spleen, problem_lines, runner, save_network

from mmarctl.cli import app

tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = make_spleen(tmp_path_factory.mktemp("shapes") / "spleen")
    save_network(root, root / "models" / "model.ckpt")
    return root


@pytest.fixture
def mmar(trained, tmp_path) -> Path:
    root = tmp_path / "mmar"
    shutil.copytree(trained, root)
    return root


def _model_args(root: Path) -> dict:
    import json

    return json.loads((root / "config" / "config_train.json").read_text())["train"]["model"]["args"]


def _lines(root: Path) -> list[str]:
    return problem_lines(runner.invoke(app, ["check", str(root)]).output)


def test_the_checkpoint_records_its_network(mmar):
    from mmarctl.runtime.checkpoint import network_record

    record = network_record(mmar / "models" / "model.ckpt")
    assert record and record["network"].endswith(".Unet") and record["dims"] == 3
    assert record["args"]["nf_enc"] == _model_args(mmar)["nf_enc"]


def test_a_record_of_another_index_is_ignored(mmar):
    from mmarctl.runtime.checkpoint import network_record

    index = mmar / "models" / "model.ckpt.index"
    index.write_bytes(index.read_bytes() + b"\0")
    assert network_record(mmar / "models" / "model.ckpt") is None


def test_unchanged_check_builds_no_network(mmar):
    """The record says it is this config's network: check stays without TensorFlow."""
    code = ("import sys; from typer.testing import CliRunner; from mmarctl.cli import app; "
            f"r = CliRunner().invoke(app, ['check', {str(mmar)!r}]); "
            "assert r.exit_code == 0, r.output; assert 'finetune: yes' in r.output; "
            "assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_another_width_is_a_problem_naming_the_variable_and_the_arg(mmar):
    before = _model_args(mmar)["nf_enc"]
    first = int(str(before).split(",")[0])
    narrower = ",".join(str(int(v) // 2) for v in str(before).split(","))
    edit_json(mmar / "config" / "config_train.json",
              lambda c: c["train"]["model"]["args"].update(nf_enc=narrower))
    (line,) = _lines(mmar)
    assert line.startswith("models/model.ckpt: written for another network: enc0_conv/kernel "
                           f"is (3, 3, 3, 1, {first}) in the checkpoint but "
                           f"(3, 3, 3, 1, {first // 2}) in the network "
                           "config/config_train.json describes"), line
    assert f'train.model.args.nf_enc was "{before}" when it was trained' in line
    out = runner.invoke(app, ["check", str(mmar)]).output
    assert "finetune: no: written for another network" in out


def test_another_norm_layer_is_a_problem(mmar):
    edit_json(mmar / "config" / "config_train.json",
              lambda c: c["train"]["model"]["args"].update(use_group_norm=False,
                                                           use_batch_norm=True))
    (line,) = _lines(mmar)
    assert "written for another network: the network config/config_train.json describes " \
           "has" in line and "variable(s) the checkpoint lacks" in line, line
    assert "moving_" in line


def test_without_a_record_the_network_is_built_and_compared(mmar):
    (mmar / "models" / "model.ckpt.network.json").unlink()
    assert _lines(mmar) == []
    edit_json(mmar / "config" / "config_train.json",
              lambda c: c["train"]["model"]["args"].update(nf_enc="4,8,8,16"))
    (line,) = _lines(mmar)
    assert "enc0_conv/kernel is" in line and "nf_enc was" not in line, line


def test_a_fit_found_without_a_record_is_remembered(mmar, tmp_path, monkeypatch):
    """A checkpoint from before the records (an older mmarctl) costs one build: the next
    check knows it fits from the user's cache and imports no TensorFlow."""
    monkeypatch.setenv("MMARCTL_CACHE", str(tmp_path / "cache"))
    (mmar / "models" / "model.ckpt.network.json").unlink()
    assert _lines(mmar) == []  # built and compared once
    assert list((tmp_path / "cache" / "network-fits").iterdir())
    code = ("import sys; from typer.testing import CliRunner; from mmarctl.cli import app; "
            f"r = CliRunner().invoke(app, ['check', {str(mmar)!r}]); "
            "assert r.exit_code == 0, r.output; assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300,
                   env={**os.environ, "MMARCTL_CACHE": str(tmp_path / "cache")})
    assert not (mmar / "models" / "model.ckpt.network.json").exists()  # workspace untouched


CHANGES = {"norm": ({"use_group_norm": False, "use_batch_norm": True},
                    "variable(s) the checkpoint lacks"),
           "width": ({"nf_enc": "4,8,8,16"}, "enc0_conv/kernel is (3, 3, 3, 1, ")}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_the_runtime_refusal_is_one_line_in_mmarctl_s_words(mmar, change):
    """Loading the checkpoint into the changed network (past the pre-flight): mmarctl's
    line, and none of TensorFlow's warnings about the abandoned restore."""
    args, said = CHANGES[change]
    edit_json(mmar / "config" / "config_train.json",
              lambda c: c["train"]["model"]["args"].update(args))
    code = (
        "from pathlib import Path\n"
        "from mmarctl.errors import RuntimeFailure\n"
        "from mmarctl.workspace import Workspace\n"
        "from mmarctl.runtime.model_io import build_network\n"
        "from mmarctl.runtime.checkpoint import restore_model\n"
        f"root = Path({str(mmar)!r})\n"
        "model = build_network(Workspace(root).resolve('config_train.json', {}), root,\n"
        "                      checkpoint_follows=True)[1]\n"
        "try:\n"
        "    restore_model(root / 'models' / 'model.ckpt', model)\n"
        "except RuntimeFailure as error:\n"
        "    print('ERROR', error.message)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert "ERROR" in done.stdout and said in done.stdout, done.stdout
    assert "value=" not in done.stdout, done.stdout
    assert "unrestored values" not in done.stderr and "could not be found" not in done.stderr
