"""Hostile JSON in an MMAR: every verb answers in one line (error or warning), never a
traceback. The limits live in :mod:`mmarctl.jsonio`; the CLI maps what escapes them."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmarctl import jsonio
from mmarctl.cli import app
from mmarctl.errors import ConfigError
from mmarctl.jsonio import MAX_JSON_DEPTH, load_json

runner = CliRunner()


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# -- load_json ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, message, json_path", [
    ('{"lr": NaN}', "NaN is not valid JSON", "lr"),
    ('{"a": {"b": [1, -Infinity]}}', "-Infinity is not valid JSON", "a.b[1]"),
    ("Infinity", "Infinity is not valid JSON", "$"),
    (_nested(5000), f"nested deeper than {MAX_JSON_DEPTH} levels", None),
    ('{"a": ' + _nested(MAX_JSON_DEPTH + 1) + "}", "nested deeper", "a[0][0][0][0][0][0][0]..."),
])
def test_refused_with_the_json_path(tmp_path: Path, text, message, json_path):
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_json(path, shown_as="config/c.json")
    assert message in info.value.message
    assert info.value.file == "config/c.json"
    assert info.value.json_path == json_path


def test_depth_up_to_the_limit_is_fine(tmp_path: Path):
    path = tmp_path / "c.json"
    path.write_text(_nested(MAX_JSON_DEPTH))
    value = load_json(path)
    for _ in range(MAX_JSON_DEPTH - 1):
        value = value[0]
    assert value == []


def test_non_utf8_bytes_are_named_by_line_and_column(tmp_path: Path):
    path = tmp_path / "c.json"
    path.write_bytes(b'{\n  "train":\n    "ab\xffc"\n}')
    with pytest.raises(ConfigError, match=r"c.json:3:8: not UTF-8 text \(byte 0xff\)"):
        load_json(path, shown_as="c.json")


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path, monkeypatch):
    path = tmp_path / "c.json"
    path.write_text('{"a": "' + "x" * 4096 + '"}')
    monkeypatch.setattr(jsonio, "MAX_JSON_BYTES", 1024)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read a huge file"))
    with pytest.raises(ConfigError, match="too large for an MMAR JSON file"):
        load_json(path)


def test_a_folder_is_not_a_json_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="is a folder"):
        load_json(tmp_path)


def test_bom_and_duplicate_keys_are_warnings_and_the_last_value_wins(tmp_path: Path):
    path = tmp_path / "c.json"
    path.write_bytes(b'\xef\xbb\xbf{"epochs": 1, "train": {"loss": 1, "loss": 2}, "epochs": 3}')
    warnings: list[tuple[str, str, str]] = []
    data = load_json(path, shown_as="c.json", warn=lambda *w: warnings.append(w))
    assert data == {"epochs": 3, "train": {"loss": 2}}
    assert type(data) is dict and type(data["train"]) is dict  # no marker types leak out
    assert ("c.json", "", "starts with a UTF-8 byte-order mark; read without it") in warnings
    paths = sorted(w[1] for w in warnings if "more than once" in w[2])
    assert paths == ["epochs", "train.loss"]


def test_default_warnings_are_logged_once_per_process(tmp_path: Path, caplog):
    path = tmp_path / "dup.json"
    path.write_text('{"a": 1, "a": 2}')
    with caplog.at_level("WARNING", logger="mmarctl.config"):
        load_json(path)
        load_json(path)
    assert [r.getMessage() for r in caplog.records].count(
        f"warning: {path}: a: key 'a' is given more than once; the last value is used") == 1


# -- every verb, through the CLI -----------------------------------------------------------

@pytest.fixture(scope="module")
def spleen(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile") / "spleen"
    assert runner.invoke(app, ["clone", "spleen", str(root)]).exit_code == 0
    assert runner.invoke(app, ["data", "synth", str(root / "data"), "--cases", "4",
                               "--size", "24"]).exit_code == 0
    return root


HOSTILE = {
    "deep-array": lambda text: _nested(20000),
    "deep-object": lambda text: text.rstrip()[:-1] + ', "x": ' + '{"a": ' * 500 + "1" +
                                "}" * 500 + "}",
    "nan": lambda text: text.replace("{", '{"bad": NaN, ', 1),
    "infinity": lambda text: text.replace("{", '{"bad": Infinity, ', 1),
    "not-utf8": lambda text: text.replace("{", '{"b\udcffd": 1, ', 1),
    "a-string": lambda text: '"config"',
    "a-number": lambda text: "42",
    "truncated": lambda text: text[: len(text) // 2],
}
EXPECTED = {"deep-array": "nested deeper", "deep-object": "nested deeper", "nan": "NaN is not",
            "infinity": "Infinity is not", "not-utf8": "not UTF-8 text",
            "a-string": "expected", "a-number": "expected", "truncated": "invalid JSON"}
VERBS = [["check"], ["train", "--epochs", "1"], ["finetune", "--epochs", "1"], ["validate"],
         ["infer"], ["export"], ["automl", "--rounds", "1"], ["commands"]]


def _broken_copy(spleen: Path, tmp_path: Path, file: str, case: str) -> Path:
    mmar = tmp_path / "m"
    shutil.copytree(spleen, mmar, symlinks=True)
    target = mmar / file
    text = HOSTILE[case](target.read_text(encoding="utf-8"))
    target.write_bytes(text.encode("utf-8", "surrogateescape"))
    return mmar


def _assert_one_line(result, expected: str | None) -> None:
    output = result.output
    assert result.exit_code == 1, output
    assert "Traceback" not in output and "RecursionError" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and (expected is None or expected in errors[0]), output


def _answer(verb: list[str], mmar: Path, expected: str):
    result = runner.invoke(app, [verb[0], str(mmar), *verb[1:]])
    if verb[0] == "commands":
        # Regenerating scripts needs no config: a broken one is a note, and the scripts
        # are still written (check is where it is reported).
        assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    elif verb[0] == "automl":
        # automl refuses the scaffold first for having no search annotations.
        _assert_one_line(result, None)
    else:
        _assert_one_line(result, expected)


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("file", ["config/config_train.json", "config/environment.json",
                                  "config/config_validation.json", "data/dataset_0.json"])
def test_check_names_each_hostile_file(spleen, tmp_path, case, file):
    mmar = _broken_copy(spleen, tmp_path, file, case)
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert any(line.startswith(file) and EXPECTED[case] in line
               for line in result.output.splitlines()), result.output


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: v[0])
@pytest.mark.parametrize("case", ["deep-array", "deep-object", "nan", "not-utf8", "a-string"])
def test_every_verb_answers_a_hostile_training_config_in_one_line(spleen, tmp_path, verb,
                                                                  case):
    mmar = _broken_copy(spleen, tmp_path, "config/config_train.json", case)
    if verb[0] == "check":
        result = runner.invoke(app, ["check", str(mmar)])
        assert result.exit_code == 1 and EXPECTED[case] in result.output, result.output
    elif verb[0] == "automl":
        _assert_one_line(runner.invoke(app, ["automl", str(mmar), *verb[1:]]), EXPECTED[case])
    else:
        _answer(verb, mmar, EXPECTED[case])


@pytest.mark.parametrize("verb", VERBS[1:], ids=lambda v: v[0])
def test_every_verb_answers_a_hostile_environment_in_one_line(spleen, tmp_path, verb):
    mmar = _broken_copy(spleen, tmp_path, "config/environment.json", "deep-array")
    _answer(verb, mmar, "nested deeper")


def test_duplicate_keys_warn_and_check_passes(spleen, tmp_path):
    mmar = tmp_path / "m"
    shutil.copytree(spleen, mmar, symlinks=True)
    config = mmar / "config" / "config_train.json"
    config.write_text(config.read_text().replace("{", '{"epochs": 99, ', 1))
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 0, result.output
    assert json.loads(config.read_text())["epochs"] != 99  # the written value later wins


def test_a_recursion_error_that_escapes_is_one_line(monkeypatch, spleen):
    def explode(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("mmarctl.check.check_mmar", explode)
    result = runner.invoke(app, ["check", str(spleen)])
    assert result.exit_code == 1
    assert "nested too deeply to process" in result.output
    assert "Traceback" not in result.output


def test_a_fifo_is_refused_without_opening_it(tmp_path: Path):
    # open() of a FIFO waits for a writer forever: the kind is told from stat alone
    path = tmp_path / "environment.json"
    os.mkfifo(path)
    with pytest.raises(ConfigError) as info:
        load_json(path, shown_as="config/environment.json")
    assert str(info.value) == ("config/environment.json: not a regular file (a FIFO), "
                               "expected a JSON file")


def test_a_device_is_refused_before_it_is_read(tmp_path: Path):
    # /dev/zero has size 0 to stat and never ends: reading it would fill memory
    path = tmp_path / "config_validation.json"
    path.symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match=r"not a regular file \(a character device\)"):
        load_json(path)


def test_special_files_in_config_are_named_there_and_never_read(spleen, tmp_path: Path):
    # a config linked to /dev/zero was named by its absolute path (the link resolved), and
    # a FIFO among config/*.json hung the search for the MMAR's other configs
    mmar = tmp_path / "mmar"
    shutil.copytree(spleen, mmar)
    (mmar / "config" / "config_validation.json").unlink()
    (mmar / "config" / "config_validation.json").symlink_to("/dev/zero")
    os.mkfifo(mmar / "config" / "notes.json")
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1
    assert ("config/config_validation.json: not a regular file (a character device), "
            "expected a JSON file") in result.output.splitlines()
    (mmar / "config" / "config_validation.json").unlink()
    result = runner.invoke(app, ["validate", str(mmar)])  # lists the configs config/ has
    assert result.exit_code == 1
    assert "config/config_validation.json: file not found" in result.output


def test_a_file_that_outgrows_its_stat_size_is_cut_off(tmp_path: Path, monkeypatch):
    path = tmp_path / "c.json"
    path.write_text('{"a": "' + "x" * 4096 + '"}')
    real_stat = os.stat
    monkeypatch.setattr(jsonio, "MAX_JSON_BYTES", 1024)
    monkeypatch.setattr(jsonio.os, "stat", lambda p, *a, **k: os.stat_result(
        (*real_stat(p)[:6], 0, *real_stat(p)[7:])))
    with pytest.raises(ConfigError, match="too large for an MMAR JSON file"):
        load_json(path)


# -- write_json_atomic ---------------------------------------------------------------------

def test_a_folder_where_the_json_file_goes_is_named_as_the_target(tmp_path: Path):
    from mmarctl.errors import write_failed
    from mmarctl.jsonio import write_json_atomic

    (tmp_path / "metrics.json").mkdir()
    with pytest.raises(IsADirectoryError) as info:
        write_json_atomic(tmp_path / "metrics.json", {"a": 1})
    assert str(write_failed(info.value)) == (
        f"{tmp_path / 'metrics.json'}: cannot write: is a folder, expected a file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # no temporary


def test_a_full_disk_while_writing_json_names_the_file_not_its_temporary(tmp_path: Path,
                                                                         monkeypatch):
    from mmarctl.errors import disk_full
    from mmarctl.jsonio import write_json_atomic

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")  # what a write() says: no file name

    monkeypatch.setattr(json, "dump", full)
    with pytest.raises(OSError) as info:
        write_json_atomic(tmp_path / "training_summary.json", {"a": 1})
    assert str(disk_full(info.value)).startswith(
        f"no space left on the device writing {tmp_path / 'training_summary.json'} (")


@pytest.mark.parametrize("content", [b"", b"  \n\n", b"\xef\xbb\xbf\n"])
def test_an_empty_file_is_called_empty_not_invalid_json(tmp_path: Path, content):
    path = tmp_path / "environment.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_json(path, shown_as="config/environment.json", warn=lambda *w: None)
    assert str(info.value) == "config/environment.json: the file is empty, expected a JSON object"
