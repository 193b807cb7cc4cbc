"""Reading Clara's nvmidl.apps.* command lines, and mapping them onto mmarctl's verbs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmarctl.errors import ConfigError, UsageError
from mmarctl.nvmidl_shim.arguments import parse
from mmarctl.nvmidl_shim.mapping import PLANNERS
from tests.conftest import write_json

TRAIN = ["-m", "{root}", "-c", "config/config_train.json", "-e", "config/environment.json",
         "--set", "DATASET_JSON={root}/config/dataset_0.json", "epochs=1260",
         "learning_rate=0.0001", "num_training_epoch_per_valid=20", "multi_gpu=false"]


@pytest.fixture
def mmar(tmp_path: Path) -> Path:
    root = tmp_path / "mmar"
    write_json(root / "config" / "config_train.json", {"epochs": 2, "learning_rate": 1e-3})
    write_json(root / "config" / "config_validation.json", {"batch_size": 1})
    write_json(root / "config" / "environment.json", {"DATA_ROOT": "data"})
    return root


def plan(app: str, argv: list[str], root: Path):
    return PLANNERS[app](parse(app, [a.replace("{root}", str(root)) for a in argv]))


def test_train_sh_maps_onto_train_with_every_set_item(mmar):
    result = plan("train", TRAIN, mmar)
    assert result.runs == [[
        "train", str(mmar), "--config-train", "config/config_train.json",
        "--set", f"DATASET_JSON={mmar}/config/dataset_0.json", "--set", "epochs=1260",
        "--set", "learning_rate=0.0001", "--set", "num_training_epoch_per_valid=20",
        "--set", "multi_gpu=false"]]
    assert not result.multi_gpu and not result.notes


def test_additional_options_join_set_and_the_last_value_wins(mmar):
    # ./train.sh epochs=3 appends "epochs=3" after Clara's own --set list.
    result = plan("train", [*TRAIN, "epochs=3", "multi_gpu=True"], mmar)
    argv = result.runs[0]
    assert "epochs=3" in argv and "epochs=1260" not in argv
    assert "multi_gpu=true" in argv and result.multi_gpu


def test_finetune_when_mmar_ckpt_is_set(mmar):
    result = plan("train", [*TRAIN, "MMAR_CKPT={root}/models/model.ckpt",
                            "PRETRAIN_WEIGHTS_FILE=", "--write_train_stats"], mmar)
    argv = result.runs[0]
    assert argv[0] == "finetune"
    assert f"MMAR_CKPT={mmar}/models/model.ckpt" in argv and "PRETRAIN_WEIGHTS_FILE=" in argv
    assert "--write_train_stats: nothing to do" in result.notes[0]


def test_other_environment_file_becomes_set_items_before_the_scripts(mmar):
    write_json(mmar / "config" / "config_train.json", {"epochs": 2, "NUM": 1, "TXT": "a"})
    write_json(mmar / "sites" / "env_site.json", {"DATA_ROOT": "/data", "NUM": 3,
                                                  "TXT": "5", "epochs": 7, "SITE": "x"})
    result = plan("train", ["-m", "{root}", "-e", "sites/env_site.json", "--set", "epochs=1"],
                  mmar)
    argv = result.runs[0]
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    assert sets == ["DATA_ROOT=/data", "NUM=3", 'TXT="5"', "epochs=1"]
    # The -e file stands for environment.json: a key no config reads is no mistake there.
    assert result.notes == ["sites/env_site.json: SITE: read by no config, so left out (as "
                            "unread keys of environment.json are)"]


def test_clara_runtime_set_keys_are_left_out_with_a_note(mmar):
    """Clara's validate.sh passes dont_load_ts_model/dont_load_ckpt_model, its train.sh
    num_interval_per_valid: no config reads them; they stopped Clara's scripts in one line
    per run, with a hint at `mmarctl check`, which cannot see them."""
    result = plan("evaluate", ["-m", "{root}", "-c", "config/config_validation.json", "--set",
                               "print_conf=True", "dont_load_ts_model=false",
                               "dont_load_ckpt_model=true"], mmar)
    assert not any("dont_load" in word for word in result.runs[0])
    assert "print_conf=true" in result.runs[0]
    assert [note.split(":")[0] for note in result.notes] == ["--set dont_load_ts_model",
                                                             "--set dont_load_ckpt_model"]
    assert "left out as Clara ignored it" in result.notes[0]
    result = plan("train", [*TRAIN, "cross_validation=false", "num_interval_per_valid=20"],
                  mmar)
    assert not any("cross_validation" in w or "num_interval" in w for w in result.runs[0])
    assert "num_training_epoch_per_valid" in result.notes[1]


def test_every_set_key_no_config_reads_is_named_with_where_to_fix_it(mmar, capsys):
    with pytest.raises(ConfigError) as raised:
        plan("train", [*TRAIN, "epoch=3", "cross_valdation=1"], mmar)
    printed = capsys.readouterr().err
    assert printed.startswith("error: --set: epoch: epoch is read by no config")
    error = raised.value
    assert (error.file, error.json_path) == ("--set", "cross_valdation")
    assert "the script's --set line" in error.hint and "`mmarctl check` does not see them" in \
        error.hint
    assert "run `mmarctl check`" not in str(error) + printed


def test_a_bad_value_in_another_environment_file_is_said_of_that_file(mmar):
    """-e values become --set items: `--set: epochs: expected integer` named neither the
    file nor the key the user wrote, and sent the user to `mmarctl check`."""
    write_json(mmar / "config" / "env_bad.json", {"epochs": "x"})
    with pytest.raises(ConfigError) as raised:
        plan("train", ["-m", "{root}", "-c", "config/config_train.json",
                       "-e", "config/env_bad.json"], mmar)
    error = raised.value
    assert (error.file, error.json_path) == ("config/env_bad.json", "epochs")
    assert "expected integer" in error.message
    assert error.hint == ("fix or remove it in config/env_bad.json, the -e file; `mmarctl "
                          "check` does not see it")


def test_missing_environment_file_is_one_line(mmar):
    with pytest.raises(ConfigError, match="environment file not found"):
        plan("train", ["-m", "{root}", "-e", "config/nope.json"], mmar)


@pytest.mark.parametrize("sets, verbs", [
    (["do_validation=true", "output_infer_result=false"], ["validate"]),
    (["do_validation=false", "output_infer_result=true", "DATA_LIST_KEY=test"], ["infer"]),
    (["do_validation=True", "output_infer_result=True"], ["validate", "infer"]),
    ([], ["validate"]),
])
def test_evaluate_picks_validate_and_or_infer(mmar, sets, verbs):
    result = plan("evaluate", ["-m", "{root}", "-c", "config/config_validation.json",
                               "--set", *sets], mmar)
    assert [run[0] for run in result.runs] == verbs
    for run in result.runs:
        assert run[2:4] == ["--config", "config/config_validation.json"]
        assert not any(a.startswith(("do_validation", "output_infer_result")) for a in run)
    if "DATA_LIST_KEY=test" in sets:
        assert "DATA_LIST_KEY=test" in result.runs[0]


def test_evaluate_with_nothing_to_do_is_a_usage_error(mmar):
    with pytest.raises(UsageError, match="both false: nothing to run"):
        plan("evaluate", ["-m", "{root}", "--set", "do_validation=false",
                          "output_infer_result=no"], mmar)
    with pytest.raises(UsageError, match="do_validation=maybe: expected true or false"):
        plan("evaluate", ["-m", "{root}", "--set", "do_validation=maybe"], mmar)


def test_export_sh_maps_onto_export_with_clara_names(mmar, monkeypatch):
    monkeypatch.setenv("MMAR_ROOT", str(mmar / "commands" / ".."))
    (mmar / "commands").mkdir()
    result = plan("export", [
        "--model_file_format", "CKPT", "--model_file_path", "{root}/models", "--model_name",
        "model", "--input_node_names", "NV_MODEL_INPUT", "--output_node_names",
        "NV_MODEL_OUTPUT", "--trt_min_seg_size", "50"], mmar)
    assert result.runs == [[
        "export", str(mmar), "--format", "fzn", "--input-node", "NV_MODEL_INPUT",
        "--output-node", "NV_MODEL_OUTPUT", "--ckpt", str(mmar / "models" / "model.ckpt"),
        "--set", f"MMAR_CKPT_DIR={mmar / 'models'}"]]
    assert len(result.notes) == 1 and "--trt_min_seg_size ignored" in result.notes[0]


def test_export_without_mmar_root_finds_the_mmar_from_the_model_path(mmar, monkeypatch):
    monkeypatch.delenv("MMAR_ROOT", raising=False)
    (mmar / "models").mkdir()
    result = plan("export", ["--model_file_path", "{root}/models", "--trtis_export",
                             "--trtis_model_name", "spleen", "--trtis_input_shape", "1 96"],
                  mmar)
    argv = result.runs[0]
    assert argv[1] == str(mmar)
    assert argv[2:6] == ["--format", "fzn", "--format", "triton"]
    assert argv[argv.index("--triton-name") + 1] == "spleen"
    assert any("--trtis_input_shape ignored" in n for n in result.notes)


def test_export_from_another_format_is_refused(mmar):
    with pytest.raises(UsageError, match="--model_file_format PB: the shim exports from a "
                                         "checkpoint"):
        plan("export", ["-m", "{root}", "--model_file_format", "PB"], mmar)


@pytest.mark.parametrize("argv, message", [
    (["-m", "x", "--gpus", "2", "--foo"],
     "nvmidl.apps.train: unknown flag(s) --gpus 2, --foo (mmarctl's shim reads -m, --mmar, -c"),
    (["-m", "x", "stray"], "nvmidl.apps.train: unknown argument(s) stray"),
    (["-m"], "nvmidl.apps.train: -m needs a value"),
])
def test_bad_command_lines_are_one_usage_line(argv, message):
    with pytest.raises(UsageError) as caught:
        parse("train", argv)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_an_empty_mmar_root_is_said_as_such(mmar):
    """`-m $MMAR_ROOT` with MMAR_ROOT empty: -m took `-c` as the MMAR, and the config file
    was then an "unknown argument"."""
    with pytest.raises(UsageError) as caught:
        parse("evaluate", ["-m", "-c", "config/config_validation.json"])
    assert str(caught.value).startswith("nvmidl.apps.evaluate: -m needs a value, but -c "
                                        "follows it (MMAR_ROOT is empty?")


def test_an_unquoted_mmar_path_with_a_space_is_said_as_such(tmp_path):
    spaced = tmp_path / "cl sp"
    (spaced / "commands").mkdir(parents=True)
    with pytest.raises(UsageError) as caught:
        parse("evaluate", ["-m", *f"{spaced}/commands/..".split(" "), "-c", "config/c.json"])
    assert str(caught.value).startswith(f"nvmidl.apps.evaluate: -m {tmp_path}/cl: the path "
                                        f"has a space ({spaced}/commands/..)")
    assert "mmarctl commands MMAR --force" in caught.value.hint


def test_flag_equals_value_and_set_item_errors():
    call = parse("export", ["--model_name=net", "--set", "A=1"])
    assert call.values["model_name"] == "net" and call.sets == ["A=1"]
    with pytest.raises(UsageError, match="--set '=1': expected KEY=VALUE"):
        parse("train", ["--set", "=1"]).set_values()


@pytest.mark.parametrize("app, verb", [("train", "train"), ("evaluate", "validate"),
                                       ("export", "export")])
def test_help_prints_the_flags_read_and_exits_0(capsys, app, verb):
    """`python3 -m nvmidl.apps.<app> --help`, as Clara printed usage (it was 'unknown flag')."""
    from mmarctl.nvmidl_shim.entry import run

    assert run(app, ["--help"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"usage: python3 -m nvmidl.apps.{app} [-m VALUE]")
    assert out[0].endswith("[--set KEY=VALUE ...]")
    assert f"runs `mmarctl {verb}`" in out[1]
