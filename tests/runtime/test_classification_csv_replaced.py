"""A classification run into a folder that holds an earlier run's preds_model.csv: the file
is replaced (one per run), and a warning says how many predictions it held (it used to be
replaced without a word, while segmentation masks beside it stay)."""

from __future__ import annotations

import logging

import numpy as np

from mmarctl.runtime.writers.classification import WriteClassificationResult


def _sample(name, probabilities):
    return {"image": np.zeros((4, 4)), "model": np.array(probabilities, np.float32),
            "meta": {"image": {"filename": name}}}


def test_replacing_an_earlier_run_s_csv_is_warned_of(tmp_path, caplog):
    WriteClassificationResult("model", str(tmp_path)).write(_sample("x/a.nii.gz", [0.2, 0.8]))
    with caplog.at_level(logging.WARNING, logger="mmarctl.writers"):
        writer = WriteClassificationResult("model", str(tmp_path))
        writer.write(_sample("x/b.nii.gz", [0.5, 0.5]))
        writer.write(_sample("x/c.nii.gz", [0.5, 0.5]))  # same run: no second warning
    (record,) = caplog.records
    assert "preds_model.csv held 1 earlier prediction(s) (a.nii.gz): replaced by this " \
           "run's" in record.getMessage()


def test_a_fresh_folder_is_not_warned_of(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="mmarctl.writers"):
        WriteClassificationResult("model", str(tmp_path)).write(_sample("a.nii.gz", [1.0]))
    assert not caplog.records


def test_infer_without_writers_warns_alike_and_names_the_column_alike(tmp_path, caplog):
    """infer's own classification_results.csv (a config without writers) is replaced with
    the writer's warning, and its first column is the writer's ``image``: a script reads
    either file."""
    import csv

    from mmarctl.runtime.evaluation import CLASSIFICATION_RESULTS
    from mmarctl.runtime.writers.classification import write_table

    table = tmp_path / CLASSIFICATION_RESULTS
    write_table(table, [("/d/a.nii.gz", [0.2, 0.8]), ("/d/b.nii.gz", [0.4, 0.6])])
    with caplog.at_level(logging.WARNING, logger="mmarctl.writers"):
        path = write_table(table, [("/d/c.nii.gz", [0.5, 0.5])])
    (record,) = caplog.records
    assert "classification_results.csv held 2 earlier prediction(s) (a.nii.gz, b.nii.gz): " \
           "replaced by this run's" in record.getMessage()
    with path.open(newline="") as handle:
        ours = list(csv.reader(handle))
    WriteClassificationResult("model", str(tmp_path)).write(_sample("/d/c.nii.gz", [0.5, 0.5]))
    with (tmp_path / "preds_model.csv").open(newline="") as handle:
        assert list(csv.reader(handle))[0] == ours[0] == ["image", "class_0", "class_1"]


def test_cases_of_one_file_name_are_named_apart(tmp_path, caplog):
    writer = WriteClassificationResult("model", str(tmp_path))
    writer.write(_sample("p1/ct.nii.gz", [0.2, 0.8]))
    writer.write(_sample("p2/ct.nii.gz", [0.2, 0.8]))
    with caplog.at_level(logging.WARNING, logger="mmarctl.writers"):
        WriteClassificationResult("model", str(tmp_path)).write(_sample("p3/ct.nii.gz", [1, 0]))
    (record,) = caplog.records
    assert "(p1/ct.nii.gz, p2/ct.nii.gz)" in record.getMessage()
