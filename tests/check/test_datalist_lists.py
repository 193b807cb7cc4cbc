"""check_data on the lists users write: an empty DATA_ROOT read as the pipeline reads it
(the datalist's folder), names with stray spaces or backslashes shown as they are, cases
listed twice or in training and validation told as notes, and an inference list without
labels a note naming validate (check) but still a problem for validate's pre-flight."""

from __future__ import annotations

import json

from tests.check.broken_mmars import spleen  # noqa: F401 - fixture

from mmarctl.check.data import DataUse, check_data

READS = (("image", "LoadNifti"), ("label", "LoadNifti"))
IMAGE = "imagesTr/spleen_1.nii.gz"
LABEL = "labelsTr/spleen_1.nii.gz"


def datalist(folder, spleen, **lists):  # noqa: F811
    """A datalist in ``folder`` beside links to the spleen fixture's image folders."""
    for name in ("imagesTr", "labelsTr"):
        (folder / name).symlink_to(spleen / "data" / name)
    path = folder / "ds.json"
    path.write_text(json.dumps(lists))
    return str(path)


def use(path, base, key, **more):
    return DataUse(path, base, key, ("config/config_train.json", "x"),
                   ("config/environment.json", "DATA_ROOT"), **more)


def messages(found):
    return [f"{p.json_path}: {p.message}" for p in found]


def test_an_empty_data_root_is_the_datalists_folder(tmp_path, spleen):  # noqa: F811
    path = datalist(tmp_path, spleen, training=[{"image": "imagesTr/nothere.nii.gz",
                                                 "label": LABEL}])
    problems, _ = check_data([use(path, "", "training", reads=READS)], str)
    assert messages(problems) == [f"training: 1 of 2 files are missing under DATA_ROOT "
                                  f"{tmp_path}: imagesTr/nothere.nii.gz"]


def test_stray_spaces_and_backslashes_are_shown(tmp_path, spleen):  # noqa: F811
    path = datalist(tmp_path, spleen, training=[
        {"image": IMAGE + " ", "label": " " + LABEL},
        {"image": IMAGE.replace("/", "\\"), "label": LABEL}])
    problems, _ = check_data([use(path, str(tmp_path), "training", reads=READS)], str)
    assert messages(problems)[0] == (
        f"training: 3 of 4 files are missing under DATA_ROOT {tmp_path}: "
        f"'{IMAGE} ' (leading/trailing whitespace; without it the file is there), "
        f"' {LABEL}' (leading/trailing whitespace; without it the file is there), "
        "'imagesTr\\\\spleen_1.nii.gz' (backslashes: paths take /; with / the file is there)")
