"""Data checks at hospital scale and on odd files: one line per kind of problem (not per
item), headers read without building images, a reason in words for a file that cannot be
read, and no file opened that is not a regular file (a FIFO would block)."""

from __future__ import annotations

from typer.testing import CliRunner

from tests.check.broken_mmars import edit_json, problem_lines
from tests.check.broken_mmars import mmar, spleen  # noqa: F401 - fixtures

from mmarctl.cli import app

runner = CliRunner()


def test_a_schema_mistake_in_every_item_is_one_line_per_list(mmar):
    def typo(d):
        for name in ("training", "validation"):
            for item in d[name]:
                item["lable"] = item.pop("label")
    edit_json(mmar / "data" / "dataset_0.json", typo)
    lines = problem_lines(runner.invoke(app, ["check", str(mmar)]).output)
    unknown = [line for line in lines if 'unknown key "lable"' in line]
    assert unknown[0] == (
        'data/dataset_0.json: training: 3 of 3 items: unknown key "lable" (did you mean '
        '"label"?): training[0].lable, training[1].lable, training[2].lable'), lines
    # One item alone keeps its own line.
    assert unknown[1].startswith('data/dataset_0.json: validation[0].lable: unknown key'), lines
    assert len(unknown) == 2, lines
