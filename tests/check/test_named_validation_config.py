"""``check --config FILE`` asks whether ``validate --config FILE`` will run: what validate
refuses before compute is a problem then (a damaged model file the config's model_loader
reads, an eval/ it cannot write), not a note printed beside "OK". Also: no models/ note
about an MMAR_CKPT_DIR that is a file, and what --strict does."""

from __future__ import annotations

import os

from broken_mmars import mmar, problem_lines, runner, spleen, with_checkpoint  # noqa: F401

from mmarctl.check.preflight import evaluation_problems
from mmarctl.cli import app
from mmarctl.workspace import Workspace


def _truncate(path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def test_a_truncated_checkpoint_the_named_config_reads_is_a_problem(mmar):
    with_checkpoint(mmar)
    _truncate(mmar / "models" / "model.ckpt.data-00000-of-00001")
    named = runner.invoke(app, ["check", str(mmar), "--config", "config_validation.json"])
    assert named.exit_code == 1, named.output
    [line] = problem_lines(named.output)
    assert line.startswith("models/model.ckpt: truncated: "), named.output
    # train writes new checkpoints over it: naming only the training config, a note
    trained = runner.invoke(app, ["check", str(mmar), "-c", "config_train.json"])
    assert trained.exit_code == 0 and "truncated" in trained.output, trained.output


def test_no_model_yet_stays_a_note_with_a_named_config(mmar):
    named = runner.invoke(app, ["check", str(mmar), "--config", "config_validation.json"])
    assert named.exit_code == 0, named.output


def test_a_ckpt_dir_that_is_a_file_gets_no_models_note(mmar):
    result = runner.invoke(app, ["check", str(mmar), "--set",
                                 "MMAR_CKPT_DIR=config/environment.json"])
    assert result.exit_code == 1
    assert "is a file, not a folder" in result.output
    assert "no model in" not in result.output and "note:" not in result.output, result.output


def test_an_eval_folder_validate_cannot_write(mmar, monkeypatch):
    (mmar / "eval").mkdir()
    real = os.access
    folder = str(mmar / "eval")
    monkeypatch.setattr(os, "access", lambda path, mode, *args, **kwargs: (
        False if os.fspath(path) == folder else real(path, mode, *args, **kwargs)))
    whole = runner.invoke(app, ["check", str(mmar)])
    assert whole.exit_code == 0, whole.output  # train does not write there: a note
    line = ("eval: not writable (no permission): validate and infer write their results "
            "there, so they refuse to run")
    assert line.replace(": ", ": note: ", 1) in whole.output, whole.output
    named = runner.invoke(app, ["check", str(mmar), "--config", "config_validation.json"])
    assert named.exit_code == 1, named.output
    assert any(found.startswith(line) for found in problem_lines(named.output)), named.output
    # validate's and infer's pre-flight refuse with the same line, before TensorFlow
    problems = evaluation_problems(Workspace(mmar), {}, config="config_validation.json",
                                   train_config="config_train.json")
    assert any(str(p).startswith(line) for p in problems), problems


def test_an_eval_folder_that_cannot_be_created(mmar, monkeypatch):
    real = os.access
    root = str(mmar)
    monkeypatch.setattr(os, "access", lambda path, mode, *args, **kwargs: (
        False if os.fspath(path) == root else real(path, mode, *args, **kwargs)))
    problems = evaluation_problems(Workspace(mmar), {}, config="config_validation.json",
                                   train_config="config_train.json")
    assert any(str(p).startswith("eval: cannot be created: the MMAR folder is not writable")
               for p in problems), problems


def test_strict_fails_on_config_notes_not_on_output_folder_notes(mmar):
    (mmar / "config" / "config_validation.json").unlink()
    plain = runner.invoke(app, ["check", str(mmar)])
    assert plain.exit_code == 0, plain.output
    strict = runner.invoke(app, ["check", str(mmar), "--strict"])
    assert strict.exit_code == 1, strict.output
    assert any("config_validation" in line for line in problem_lines(strict.output))
    assert "note: no model in models/ yet" in strict.output, strict.output  # a run's state
    help_text = " ".join(runner.invoke(app, ["check", "--help"]).output.split())
    assert "Fail on notes too" in help_text and "not implement" not in help_text
