"""case_names: a run's case names stay today's unless they collide, then parent folders
(or ~N for one file listed twice) keep them apart; the writers use them."""

from __future__ import annotations

import csv

import numpy as np

from mmarctl.runtime.writers.case_names import CASE_KEY, CaseName, case_names
from mmarctl.runtime.writers.classification import WriteClassificationResult
from mmarctl.runtime.writers.nifti import WriteNifti


def outputs(*images):
    return [n.output for n in case_names([{"image": i} for i in images])]


def test_no_collision_keeps_clara_names():
    assert outputs("/d/imagesTs/spleen_3.nii.gz", "/d/imagesTs/spleen_8.nii") == [
        "spleen_3", "spleen_8"]
    multi = case_names([{"image": ["/d/BraTS_7_t1.nii.gz", "/d/BraTS_7_t2.nii.gz"]}])[0]
    assert (multi.output, multi.shown) == ("BraTS_7", "BraTS_7_t1.nii.gz")


def test_colliding_names_get_the_folders_that_separate_them():
    names = case_names([{"image": "/d/p1/ct.nii.gz"}, {"image": "/d/p2/ct.nii.gz"},
                        {"image": "/d/other.nii.gz"}])
    assert [n.output for n in names] == ["p1/ct", "p2/ct", "other"]
    assert [n.shown for n in names] == ["p1/ct.nii.gz", "p2/ct.nii.gz", "other.nii.gz"]
    assert [n.key for n in names] == ["/d/p1/ct.nii.gz", "/d/p2/ct.nii.gz", "/d/other.nii.gz"]
    # one folder is not enough: two are used for the whole group
    assert outputs("/d/a/x/s.nii", "/d/b/x/s.nii.gz") == ["a/x/s", "b/x/s"]


def test_one_file_twice_is_numbered_and_never_leaves_the_output_folder():
    names = case_names([{"image": "/d/q.nii"}, {"image": "/d/q.nii"}])
    assert [(n.key, n.output) for n in names] == [("/d/q.nii", "q"), ("/d/q.nii~2", "q~2")]
    assert outputs("../x/ct.nii", "../y/ct.nii") == ["x/ct", "y/ct"]


def test_writers_use_the_run_names(tmp_path):
    named = CaseName(key="/d/p1/ct.nii.gz", output="p1/ct", shown="p1/ct.nii.gz")
    sample = {"model": np.zeros((1, 4, 4, 4), np.float32), CASE_KEY: named,
              "meta": {"image": {"filename": "/d/p1/ct.nii.gz"}}}
    path = WriteNifti().write(sample, tmp_path)
    assert path == tmp_path / "p1" / "ct" / "ct_model.nii.gz" and path.is_file()
    # without a run's name: today's layout
    del sample[CASE_KEY]
    assert WriteNifti().path_for(sample, tmp_path) == tmp_path / "ct" / "ct_model.nii.gz"

    writer = WriteClassificationResult()
    for name in case_names([{"image": "/d/x.png"}, {"image": "/d/x.png"}]):
        writer.write({"model": np.array([0.2, 0.8]), CASE_KEY: name,
                      "meta": {"image": {"filename": "/d/x.png"}}}, tmp_path)
    rows = list(csv.reader((tmp_path / "preds_model.csv").open()))
    assert [r[0] for r in rows[1:]] == ["/d/x.png", "/d/x.png~2"]
