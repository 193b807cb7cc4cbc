"""``evaluate`` itself as two ranks, in this process: rank 1 runs first and its gathered
results are handed to rank 0, as Horovod's allgather would; rank 0's files must be those of
a one-process run over the same cases (validate's tables and report page, infer's
classification CSV). The real two-process jobs are in tests/test_distributed_evaluation.py.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmarctl.runtime import distributed
from mmarctl.runtime.distributed import SingleProcess

sys.path.insert(0, str(Path(__file__).parents[1] / "check"))
sys.path.insert(0, str(Path(__file__).parents[1] / "distributed"))
from broken_mmars import edit_json, save_network  # noqa: E402
from tiny_spleen import make_spleen  # noqa: E402

pytest.importorskip("tensorflow")


class _Rank(SingleProcess):
    """Rank ``rank`` of 2 whose gather returns ``others`` around its own value."""

    def __init__(self, rank: int, others: list | None = None) -> None:
        self._rank, self.others, self.sent = rank, others or [], []

    @property
    def rank(self) -> int:
        return self._rank

    @property
    def size(self) -> int:
        return 2

    def gather_objects(self, value):
        self.sent.append(value)
        return [value, *self.others] if self._rank == 0 else [*self.others, value]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    """The classification scaffold, 5 training images, an untrained network's checkpoint
    (any scores will do), its WriteClassificationResult writer (preds_model.csv)."""
    from mmarctl.cli import app

    root = tmp_path_factory.mktemp("cls") / "cls"
    runner = CliRunner()
    for args in (["clone", "classification", str(root)],
                 ["data", "synth", str(root / "data"), "--cases", "7", "--size", "32"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    save_network(root, root / "models" / "model.ckpt")
    return root


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory) -> Path:
    """The spleen scaffold, 3 small training volumes, a checkpoint (report pictures)."""
    root = make_spleen(tmp_path_factory.mktemp("seg") / "spleen")
    save_network(root, root / "models" / "model.ckpt")
    return root


def _run(root: Path, mode: str, output: Path, monkeypatch, backend=None):
    from mmarctl.runtime.evaluation import EvalOptions, evaluate
    from mmarctl.workspace import Workspace

    monkeypatch.setattr(distributed, "get_backend",
                        lambda *args, **kwargs: backend or SingleProcess())
    return evaluate(Workspace(root), EvalOptions(overrides={"DATA_LIST_KEY": "training"},
                                                 output=str(output), progress=False),
                    mode=mode)


def _files(folder: Path) -> dict[str, str]:
    files = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name != ".mmarctl.lock":
            text = path.read_text()
            if path.name == "metrics.json":  # the time it was written differs
                data = json.loads(text)
                data.pop("validated_at")
                text = json.dumps(data)
            if path.name == "report.html":
                text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", "DATE", text)
            files[path.name] = text
    return files


@pytest.mark.parametrize("mode, mmar, shared", [
    ("validate", "segmenter", "metrics_per_case.csv"),  # tables, report rows and pictures
    ("infer", "classifier", "preds_model.csv"),         # the writer's rows, held for rank 0
])
def test_rank_0_writes_what_one_process_writes(request, tmp_path, monkeypatch, mode, mmar,
                                               shared):
    root = request.getfixturevalue(mmar)
    alone = _run(root, mode, tmp_path / "one", monkeypatch)
    rank_1 = _Rank(1)
    second = _run(root, mode, tmp_path / "two", monkeypatch, rank_1)
    assert not second.chief and not (tmp_path / "two" / shared).exists()  # rank 1 writes none
    first = _run(root, mode, tmp_path / "two", monkeypatch, _Rank(0, rank_1.sent))

    assert first.chief and first.cases == alone.cases > 2
    assert first.metrics == alone.metrics
    ones, twos = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert shared in ones and sorted(twos) == sorted(ones)
    for name, text in ones.items():
        assert twos[name] == text, name
    sent, = rank_1.sent  # rank 1 evaluated cases 1, 3, ... of the list; rank 0 the others
    assert sent.cases == alone.cases // 2
    assert sum(len(rows) for rows in sent.tables.values()) == (
        sent.cases if mode == "infer" else 0)


def test_infer_without_a_writer_writes_the_writer_s_table(classifier, tmp_path, monkeypatch):
    """No writer configured: infer's own classification_results.csv, written whole at the
    end (by rank 0 in a job, from the same rows), with WriteClassificationResult's columns."""
    root = Path(shutil.copytree(classifier, tmp_path / "cls"))
    edit_json(root / "config" / "config_validation.json",
              lambda config: config.update(writers=[]))
    report = _run(root, "infer", tmp_path / "out", monkeypatch)
    table = tmp_path / "out" / "classification_results.csv"
    assert table in report.files and not (tmp_path / "out" / "preds_model.csv").exists()
    with table.open(newline="") as handle:
        rows = list(csv.reader(handle))
    datalist = json.loads((root / "data" / "dataset_0.json").read_text())["training"]
    assert rows[0] == ["image", "class_0"]  # one sigmoid score per image
    assert [Path(row[0]).name for row in rows[1:]] == [Path(item["image"]).name
                                                       for item in datalist]
    assert all(0.0 <= float(value) <= 1.0 for row in rows[1:] for value in row[1:])
