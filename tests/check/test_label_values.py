"""check reads the training list's label voxels: a 0/255 mask set passed check (it reads only
headers) and then stopped train in its first epoch; now check names the files first."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from mmarctl.check.label_values import keeps_label_values, label_value_finding, value_range
from mmarctl.cli import app
from mmarctl.synth_files import png_bytes

from tests.check.broken_mmars import edit_json, mmar, problem_lines, spleen  # noqa: F401

runner = CliRunner()


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test remembers ranges in a cache of its own."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MMARCTL_CACHE", str(cache))
    return cache


def _rescale_label(root: Path, key: str = "training", index: int = 0,
                   factor: int = 255) -> str:
    """Multiply one case's label by ``factor`` (a 0/255 mask); returns its datalist name."""
    name = json.loads((root / "data" / "dataset_0.json").read_text())[key][index]["label"]
    path = root / "data" / name
    image = nib.load(str(path))
    labels = np.asarray(image.dataobj).astype(np.int16) * factor
    nib.save(nib.Nifti1Image(labels, image.affine), str(path))
    return name


def test_a_0_255_mask_is_named_with_its_values(mmar: Path) -> None:
    name = _rescale_label(mmar)
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1, result.output
    [line] = problem_lines(result.output)
    assert line.startswith("data/dataset_0.json: training: 1 of 3 label files hold values "
                           "0..255, outside 0..1 (num_classes=2): "), line
    assert f"{name} (0..255)" in line and "255 -> 1" in line


def test_a_validation_label_is_held_too(mmar: Path) -> None:
    name = _rescale_label(mmar, "validation", factor=-1)
    [line] = problem_lines(runner.invoke(app, ["check", str(mmar)]).output)
    assert line.startswith("data/dataset_0.json: validation: 1 of 1 label files hold values "
                           "-1..0, outside 0..1"), line
    assert name in line


def test_more_classes_take_the_values(mmar: Path) -> None:
    _rescale_label(mmar, factor=2)
    assert problem_lines(runner.invoke(app, ["check", str(mmar)]).output)
    edit_json(mmar / "config" / "config_train.json",
              lambda data: data["train"]["model"]["args"].update(num_classes=3))
    result = runner.invoke(app, ["check", str(mmar)])
    assert not any("label files hold values" in line for line in problem_lines(result.output)), \
        result.output
    assert "outside 0..2" not in result.output


def test_a_transform_that_maps_labels_leaves_the_values_to_the_run(mmar: Path) -> None:
    # ThresholdValues turns 255 into 1 before the loss: the file's values are fine.
    _rescale_label(mmar)

    def threshold(data: dict) -> None:
        steps = data["train"]["pre_transforms"]
        steps.insert(1, {"name": "ThresholdValues",
                         "args": {"fields": ["label"], "threshold": 0.5}})
    edit_json(mmar / "config" / "config_train.json", threshold)
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 0, result.output


def test_the_range_is_read_once_per_unchanged_file(tmp_path: Path, own_cache: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "label.nii.gz"
    nib.save(nib.Nifti1Image(np.array([[[0, 3]]], np.uint8), np.eye(4)), str(path))
    assert value_range(path, "LoadNifti") == (0.0, 3.0)
    [marker] = (own_cache / "label-ranges").iterdir()

    def no_reading(*args):
        raise AssertionError("read again")
    monkeypatch.setattr("mmarctl.check.label_values._read_range", no_reading)
    assert value_range(path, "LoadNifti") == (0.0, 3.0)
    monkeypatch.undo()
    monkeypatch.setenv("MMARCTL_CACHE", str(own_cache))
    # A rewritten file (another size) is read again, not taken from the cache.
    nib.save(nib.Nifti1Image(np.array([[[0, 1, 1, 1]]], np.uint8), np.eye(4)), str(path))
    assert value_range(path, "LoadNifti") == (0.0, 1.0)
    # ... and its entry replaced: a data set regenerated daily does not grow the cache
    assert list(marker.parent.iterdir()) == [marker]


def test_the_cache_is_pruned_once_a_day(tmp_path: Path, own_cache: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """One entry per label file version, never removed, filled a home folder (49 MiB of
    4 KiB files in a day of runs): stale, old-format and surplus entries go."""
    import os
    import time

    from mmarctl.check import label_values

    paths = []
    for index in range(4):
        paths.append(tmp_path / f"label{index}.nii.gz")
        nib.save(nib.Nifti1Image(np.array([[[0, index]]], np.uint8), np.eye(4)), str(paths[-1]))
        value_range(paths[-1], "LoadNifti")
    folder = own_cache / "label-ranges"
    entries = sorted(folder.iterdir())
    old = time.time() - (label_values.KEEP_DAYS + 1) * 86_400
    os.utime(entries[0], (old, old))  # not used for a month
    (folder / ("0" * 64)).write_text("0.0 1.0\n")  # an older mmarctl's entry
    monkeypatch.setattr(label_values, "MAX_ENTRIES", 2)
    assert label_values.prune() == 3
    assert len([p for p in folder.iterdir() if not p.name.startswith(".")]) == 2
    assert label_values.prune() == 0  # once a day: the stamp is fresh
    # a used entry is kept, its file still read from the cache
    monkeypatch.setattr(label_values, "_read_range", lambda *a: (_ for _ in ()).throw(
        AssertionError("read again")))
    kept = [p for p in paths if label_values._marker(p)[0].exists()]
    assert kept and value_range(kept[0], "LoadNifti") is not None


def test_the_entries_of_files_gone_are_pruned(tmp_path: Path, own_cache: Path) -> None:
    """A data set deleted or moved: its entries go at the next prune, not after KEEP_DAYS."""
    from mmarctl.check import label_values

    kept, gone = tmp_path / "kept.nii.gz", tmp_path / "gone.nii.gz"
    for path in (kept, gone):
        nib.save(nib.Nifti1Image(np.array([[[0, 1]]], np.uint8), np.eye(4)), str(path))
        value_range(path, "LoadNifti")
    gone_entry = label_values._marker(gone)[0]
    gone.unlink()
    assert label_values.prune() == 1
    assert not gone_entry.exists() and label_values._marker(kept)[0].exists()
    assert value_range(kept, "LoadNifti") == (0.0, 1.0)


def test_png_masks_are_read_as_the_loader_reads_them(tmp_path: Path) -> None:
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 2:5] = 255
    (tmp_path / "mask.png").write_bytes(png_bytes(mask))
    (tmp_path / "ok.png").write_bytes(png_bytes((mask > 0).astype(np.uint8)))
    items = [{"image": "x.png", "label": "mask.png"}, {"image": "y.png", "label": "ok.png"},
             {"image": "z.png", "label": "missing.png"}]
    line, only_a_note = label_value_finding(items, tmp_path, "LoadPng", 2)
    assert line.startswith("1 of 2 label files hold values 0..255, outside 0..1 "
                           "(num_classes=2): mask.png (0..255)"), line
    assert not only_a_note
    # A one-class (sigmoid) network takes 0/1 labels, as the run's own check does.
    assert label_value_finding(items[1:], tmp_path, "LoadPng", 1) is None


def test_an_unreadable_label_is_left_to_the_header_pass(tmp_path: Path) -> None:
    (tmp_path / "text.nii.gz").write_text("not an image")
    assert value_range(tmp_path / "text.nii.gz", "LoadNifti") is None
    assert label_value_finding([{"label": "text.nii.gz"}], tmp_path, "LoadNifti", 2) is None


def test_an_unbuilt_step_may_change_labels() -> None:
    assert keeps_label_values([]) is True
    assert keeps_label_values([None]) is False


def test_skip_bad_cases_makes_it_a_note_unless_every_label_is_outside(mmar: Path) -> None:
    name = _rescale_label(mmar)
    edit_json(mmar / "config" / "config_train.json", lambda data: data.update(skip_bad_cases=True))
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 0, result.output
    assert ("data/dataset_0.json: training: note: 1 of 3 label files hold values 0..255, "
            in result.output), result.output
    assert name in result.output and "skip_bad_cases is on" in result.output
    for index in (1, 2):
        _rescale_label(mmar, index=index)
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 1, result.output  # every case bad: the run stops
    assert "3 of 3 label files hold values" in result.output
