"""A datalist that is not JSON (or not UTF-8) is refused by train with check's line, naming
it once (not after the training config's name); a warning about a file read under two
names (relative by check, absolute by the runtime) is printed once."""

from __future__ import annotations

import logging

from tests.check.broken_mmars import problem_lines, run_verb, runner, without_tensorflow
from tests.check.broken_mmars import mmar, spleen  # noqa: F401 - fixtures

from mmarctl import jsonio
from mmarctl.cli import app


def test_a_broken_datalist_is_named_once(mmar, tmp_path):
    (mmar / "data" / "dataset_0.json").write_text("")
    line, = problem_lines(runner.invoke(app, ["check", str(mmar)]).output)
    assert line == "data/dataset_0.json: the file is empty, expected a JSON object", line
    done = run_verb("train", mmar, "--epochs", "1", env=without_tensorflow(tmp_path / "no-tf"))
    assert done.returncode == 1 and f"error: {line}" in done.stderr, done.stderr


def test_a_warning_is_given_once_per_file(tmp_path, caplog, monkeypatch):
    path = tmp_path / "config_bom.json"
    path.write_bytes(b"\xef\xbb\xbf{}")
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.WARNING):
        jsonio.load_json(path, shown_as="config_bom.json")
        jsonio.load_json(path.resolve())
    assert [r.getMessage() for r in caplog.records if "byte-order" in r.getMessage()] == [
        "warning: config_bom.json: starts with a UTF-8 byte-order mark; read without it"]


def test_split_location():
    assert jsonio.split_location("a/b.json:2:17: not UTF-8") == ("a/b.json:2:17", "not UTF-8")
    assert jsonio.split_location("no location") == ("", "no location")
