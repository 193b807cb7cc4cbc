"""mmarctl's own checkpoints, read from their index without TensorFlow: one written for
another network (another num_classes, input channels or dimensions) or cut short is a
problem in ``check`` and in the pre-flight of validate, infer and export. ``check`` used to
note "finetune: yes", and the verbs failed after TensorFlow's start-up."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from broken_mmars import (NO_TENSORFLOW, edit_json, make_spleen, problem_lines, run_verb,
                          runner, save_network, without_tensorflow)

from mmarctl.cli import app
from mmarctl.model_files import scan_models
from mmarctl.model_files.inventory import CheckpointNetwork, checkpoint_network
from mmarctl.model_files.tf_table import checkpoint_entries

tf = pytest.importorskip("tensorflow")

OTHER = ("models/model.ckpt: written for another network: it takes 1-channel 3-D input and "
         "gives 2 classes, but config/config_train.json describes one that takes 1-channel "
         "3-D input and gives 3 classes (train again with this config, or set train.model and "
         "the pipeline back to what it was trained with)")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = make_spleen(tmp_path_factory.mktemp("fit") / "spleen")
    save_network(root, root / "models" / "model.ckpt")
    return root


@pytest.fixture
def mmar(trained, tmp_path) -> Path:
    root = tmp_path / "mmar"
    shutil.copytree(trained, root)
    return root


def _lines(root: Path) -> list[str]:
    return problem_lines(runner.invoke(app, ["check", str(root)]).output)


def _refused_before_tensorflow(root: Path, line: str, tmp_path: Path) -> None:
    env = without_tensorflow(tmp_path / "no-tf")
    for verb in ("validate", "infer", "export"):
        done = run_verb(verb, root, env=env)
        assert done.returncode == 1 and line in done.stderr, (verb, done.stderr)
        assert NO_TENSORFLOW not in done.stderr and "Traceback" not in done.stderr, verb


def test_the_checkpoint_of_this_config_fits(mmar):
    assert _lines(mmar) == []
    (item,) = scan_models(mmar / "models")
    assert item.network == CheckpointNetwork(3, 1, 2) and item.uses["finetune"] == "yes"


def test_a_checkpoint_of_another_num_classes(mmar, tmp_path):
    edit_json(mmar / "config" / "config_train.json",
              lambda c: c["train"]["model"]["args"].update(num_classes=3))
    assert _lines(mmar) == [OTHER]
    out = runner.invoke(app, ["check", str(mmar)]).output
    assert "finetune: no: written for another network" in out and "finetune: yes" not in out
    _refused_before_tensorflow(mmar, OTHER, tmp_path)


def test_a_checkpoint_of_other_input_channels(mmar):
    edit_json(mmar / "config" / "config_train.json",
              lambda c: c["train"]["image_pipeline"]["args"].update(output_image_channels=2))
    lines = [line for line in _lines(mmar) if line.startswith("models/")]
    assert lines == [OTHER.replace("one that takes 1-channel 3-D input and gives 3 classes",
                                   "one that takes 2-channel 3-D input and gives 2 classes")]


def test_a_truncated_data_file(mmar, tmp_path):
    data = mmar / "models" / "model.ckpt.data-00000-of-00001"
    size = data.stat().st_size
    data.write_bytes(data.read_bytes()[:size // 2])
    line = (f"models/model.ckpt: truncated: {data.name} has {size // 2} bytes but its index "
            f"lists tensors up to byte {size} (copy it again, or train again)")
    assert _lines(mmar) == [line]
    assert "finetune: no: the checkpoint is truncated" in runner.invoke(
        app, ["check", str(mmar)]).output
    _refused_before_tensorflow(mmar, line, tmp_path)


def test_a_truncated_index(mmar):
    index = mmar / "models" / "model.ckpt.index"
    index.write_bytes(index.read_bytes()[:100])
    assert _lines(mmar) == ["models/model.ckpt: damaged: the .index is not a TensorFlow "
                            "checkpoint table (copy it again, or train again)"]


def test_a_checkpoint_is_held_to_the_config_validate_is_given(mmar, tmp_path):
    """validate --config-train names the config the checkpoint was trained with: it fits."""
    other = mmar / "config" / "config_train_3.json"
    shutil.copy(mmar / "config" / "config_train.json", other)
    edit_json(other, lambda c: c["train"]["model"]["args"].update(num_classes=3))
    env = without_tensorflow(tmp_path / "no-tf")
    done = run_verb("validate", mmar, env=env)
    assert NO_TENSORFLOW in done.stderr, done.stderr
    done = run_verb("validate", mmar, "--config-train", other.name, env=env)
    assert "written for another network" in done.stderr and "config_train_3.json" in done.stderr


NETWORKS = [("Unet", {"num_classes": 3, "nf_enc": "8,16", "nf_dec": "16,8,8"}, 3, 2),
            ("Unet", {"num_classes": 2}, 2, 1),
            ("SegAhnet", {"num_classes": 3}, 3, 1),
            ("SegResnet", {"num_classes": 3, "init_filters": 4}, 3, 2),
            ("ResidualUnet", {"num_classes": 3, "channels": [4, 8], "strides": [2]}, 3, 2),
            ("DenseNet121", {"num_classes": 5}, 2, 3)]


@pytest.mark.parametrize("name, args, dims, channels", NETWORKS,
                         ids=[f"{n}-{d}d" for n, _, d, _ in NETWORKS])
def test_every_network_s_checkpoint_tells_its_input_and_classes(tmp_path, name, args, dims,
                                                                 channels):
    """What checkpoint_network reads off the tensor shapes is what each catalogued network
    was built with: no checkpoint of the right network is called another's."""
    from mmarctl.runtime import registry
    from mmarctl.runtime.checkpoint import save_checkpoint

    network = registry.instantiate(registry.lookup("networks", name), args, file="f",
                                   json_path="train.model", name=name)
    save_checkpoint(tmp_path / "model.ckpt", network.build(dims, channels))
    entries = checkpoint_entries(tmp_path / "model.ckpt.index")
    assert checkpoint_network(entries) == CheckpointNetwork(dims, channels, args["num_classes"])


def test_finetune_refuses_it_before_tensorflow_and_train_starts_anew(mmar, tmp_path):
    edit_json(mmar / "config" / "config_train.json",
              lambda c: c["train"]["model"]["args"].update(num_classes=3))
    env = without_tensorflow(tmp_path / "no-tf")
    done = run_verb("finetune", mmar, "--epochs", "1", env=env)
    assert done.returncode == 1 and OTHER in done.stderr, done.stderr
    assert NO_TENSORFLOW not in done.stderr and "Traceback" not in done.stderr
    done = run_verb("train", mmar, "--epochs", "1", env=env)  # writes a new checkpoint
    assert NO_TENSORFLOW in done.stderr, done.stderr


def test_finetune_from_the_checkpoint_of_this_config_gets_past_the_preflight(mmar, tmp_path):
    done = run_verb("finetune", mmar, "--epochs", "1",
                    env=without_tensorflow(tmp_path / "no-tf"))
    assert NO_TENSORFLOW in done.stderr, done.stderr


def test_a_swap_marker_without_a_backup_beside_a_whole_pair_reads_the_pair(mmar):
    """A first save killed after its renames leaves model.ckpt.swapping and no backup: its
    pair is whole, and check and the verbs (mmarctl.runtime.checkpoint) read it."""
    from mmarctl.runtime.checkpoint import checkpoint_prefix

    (mmar / "models" / "model.ckpt.swapping").touch()
    assert _lines(mmar) == []
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 0 and "finetune: yes" in result.output, result.output
    assert checkpoint_prefix(mmar / "models" / "model.ckpt") == str(mmar / "models" / "model.ckpt")


def test_a_swap_marker_beside_a_half_written_first_pair_is_refused(mmar):
    (mmar / "models" / "model.ckpt.swapping").touch()
    (mmar / "models" / "model.ckpt.data-00000-of-00001").unlink()
    lines = _lines(mmar)
    assert len(lines) == 1 and "models/model.ckpt: no model checkpoint at model.ckpt" in lines[0]
    assert "interrupted (model.ckpt.swapping is left)" in lines[0]


def test_with_its_backup_the_verbs_read_the_backup_not_the_mixed_pair(mmar):
    models = mmar / "models"
    for name in ("model.ckpt.index", "model.ckpt.data-00000-of-00001"):
        shutil.copyfile(models / name, models / name.replace("model.ckpt", "model.ckpt.bak"))
    (models / "model.ckpt.swapping").touch()
    data = models / "model.ckpt.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])  # the main pair, half swapped
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 0, result.output
    assert "the verbs read the backup model.ckpt.bak instead" in result.output
