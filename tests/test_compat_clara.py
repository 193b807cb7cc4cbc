"""Real Clara MMARs (../shared/compat/clara, skipped when absent) pass the schemas and the
catalogue; the invalid one fails with file:line:col; Clara 4.x MMARs are recognised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmarctl.check import CLARA4_MESSAGE, check_mmar
from mmarctl.cli import app
from mmarctl.schemas.validator import validate
from mmarctl.workspace import Workspace

CLARA = Path(__file__).resolve().parents[1].parent / "shared" / "compat" / "clara"
INVALID_JSON = {"trn1_AMP.json"}


def _mmars() -> list[Path]:
    return sorted(p for p in CLARA.iterdir() if (p / "config").is_dir()) if CLARA.is_dir() else []


def _is_clara4(mmar: Path) -> bool:
    return Workspace(mmar).clara_major_version() == 4


def _kind(path: Path, data: object) -> str | None:
    """Which schema a corpus file is for (None: a file the schemas do not cover)."""
    if not isinstance(data, dict):
        return None
    if "train" in data and "validate" in data:
        return "config_train"
    if "model_loader" in data:
        return "config_validation"
    if path.name.startswith("environment"):
        return "environment"
    if {"training", "validation", "test", "testing"} & set(data):
        return "datalist"
    return None  # config_aiaa.json, FL server/client configs


def _corpus() -> list:
    files = []
    for mmar in _mmars():
        if _is_clara4(mmar):
            continue
        for path in sorted(mmar.glob("config*/*.json")):
            if path.name in INVALID_JSON:
                continue
            kind = _kind(path, json.loads(path.read_text(encoding="utf-8")))
            if kind:
                files.append(pytest.param(path, kind, id=f"{mmar.name[:40]}/{path.name}"))
    return files or [pytest.param(None, None, marks=pytest.mark.skip(reason="no corpus"))]


@pytest.fixture
def clara() -> Path:
    if not CLARA.is_dir():
        pytest.skip("../shared/compat/clara is not present")
    return CLARA


@pytest.mark.parametrize("path,kind", _corpus())
def test_every_3x_file_passes_its_schema(path, kind):
    data = json.loads(path.read_text(encoding="utf-8"))
    assert validate(kind, data, path.name) == []


def test_corpus_covers_every_schema(clara):
    kinds = {p.values[1] for p in _corpus()}
    assert kinds == {"config_train", "config_validation", "environment", "datalist"}


#: Problems a real MMAR may have here: its data and its BYOC code are not in the corpus.
_EXPECTED_ELSEWHERE = ("data-split list not found", "DATA_ROOT is not a folder",
                       "cannot find module", "a path from Clara's container")


def _training_configs(mmar: Path) -> list[str]:
    names = [p for p in sorted(mmar.glob("config*/*.json"))
             if p.name not in INVALID_JSON and _kind(p, json.loads(p.read_text())) == "config_train"]
    return [str(p.relative_to(mmar)) for p in names]


def _params() -> list:
    params = [pytest.param(m, c, id=f"{m.name[:40]}/{c}") for m in _mmars()
              if not _is_clara4(m) for c in _training_configs(m)]
    return params or [pytest.param(None, None, marks=pytest.mark.skip(reason="no corpus"))]


@pytest.mark.parametrize("mmar,config", _params())
def test_every_3x_training_config_checks_against_the_catalogue(mmar, config):
    """Every component name, argument and ref in real configs is known to mmarctl."""
    validation = [str(p.relative_to(mmar)) for p in sorted(mmar.glob("config/config_validation*.json"))]
    report = check_mmar(Workspace(mmar), train_config=config, validation_configs=validation)
    unexpected = [str(p) for p in report.problems
                  if not any(text in p.message for text in _EXPECTED_ELSEWHERE)]
    assert unexpected == []


def test_invalid_json_is_reported_with_line_and_column(clara):
    mmar = clara / "NVIDIA__clara-train-examples__TF_Performance"
    result = CliRunner().invoke(app, ["check", str(mmar), "--config-train",
                                      "configDemo/trn1_AMP.json"])
    assert result.exit_code == 1
    assert "configDemo/trn1_AMP.json:7:14: invalid JSON: Expecting value" in result.stdout


def test_clara4_mmars_are_recognised(clara):
    clara4 = [m for m in _mmars() if _is_clara4(m)]
    assert clara4, "the corpus holds at least one Clara 4.x MMAR"
    for mmar in clara4:
        result = CliRunner().invoke(app, ["check", str(mmar)])
        assert result.exit_code == 1
        assert result.stdout.splitlines() == [f"{mmar}: {CLARA4_MESSAGE}"]


def test_byoc_mmar_reports_its_missing_custom_module(clara):
    # vertebra2d names CustomTransformations.* but the repository did not ship the file.
    report = check_mmar(Workspace(clara / "trainingdata__nvidiaclara__vertebra2d"))
    assert any(p.json_path == "train.pre_transforms[0].path"
               and "cannot find module 'CustomTransformations'" in p.message
               for p in report.problems)
