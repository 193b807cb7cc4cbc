"""Data checks at hospital scale and on odd files: one line per kind of problem (not per
item), headers read without building images, a reason in words for a file that cannot be
read, and no file opened that is not a regular file (a FIFO would block)."""

from __future__ import annotations

import collections
import gzip
import os
import shutil

from typer.testing import CliRunner

from tests.check.broken_mmars import datalist_file, edit_json, problem_lines
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


def test_unreadable_headers_are_told_by_reason(mmar):
    text = datalist_file(mmar, index=0)
    text.write_bytes(b"not a nifti file at all\n")
    truncated = datalist_file(mmar, index=1)
    truncated.write_bytes(gzip.compress(gzip.decompress(truncated.read_bytes())[:100]))
    lines = problem_lines(runner.invoke(app, ["check", str(mmar)]).output)
    name = lambda path: path.relative_to(mmar / "data").as_posix()  # noqa: E731
    assert ("data/dataset_0.json: training: 1 of 3 NIfTI files have no readable NIfTI header "
            f'(not a gzip file though named .gz; it starts with "not a ni"): {name(text)}'
            in lines), lines
    assert ("data/dataset_0.json: training: 1 of 3 NIfTI files have no readable NIfTI header "
            f"(header truncated at 100 of 348 bytes): {name(truncated)}" in lines), lines


def test_a_file_that_cannot_be_opened_is_not_called_a_bad_header(mmar, monkeypatch):
    # (root, who runs the tests, reads any file: the refusal is stood in for)
    from mmarctl.check import images

    refused = datalist_file(mmar, index=0)
    read_header = images.read_header

    def no_permission(path):
        if path == refused:
            raise PermissionError(13, "Permission denied", str(path))
        return read_header(path)
    monkeypatch.setattr(images, "read_header", no_permission)
    lines = problem_lines(runner.invoke(app, ["check", str(mmar)]).output)
    assert lines == ["data/dataset_0.json: training: 1 of 3 NIfTI files: cannot read: "
                     "Permission denied (check the files' owner and mode): "
                     f"{refused.relative_to(mmar / 'data').as_posix()}"], lines


def test_headers_match_what_nibabel_load_gives(spleen):
    import nibabel as nib
    import numpy as np

    from mmarctl.check.images import Geometry, header_affine, read_header

    for path in sorted((spleen / "data").rglob("*.nii.gz")):
        header = read_header(path)
        ours = Geometry.of_header(header, header_affine(header))
        theirs = Geometry.of(nib.load(path))
        assert (ours.shape, ours.spacing, ours.placed) == (theirs.shape, theirs.spacing,
                                                           theirs.placed)
        assert np.array_equal(ours.affine, theirs.affine)


def test_a_fifo_or_a_device_is_not_a_regular_file(mmar):
    fifo, device = datalist_file(mmar, index=0), datalist_file(mmar, index=1)
    fifo.unlink()
    os.mkfifo(fifo)  # opening it would block check for ever
    device.unlink()
    device.symlink_to("/dev/zero")
    lines = problem_lines(runner.invoke(app, ["check", str(mmar)]).output)
    name = lambda path: path.relative_to(mmar / "data").as_posix()  # noqa: E731
    assert lines == ["data/dataset_0.json: training: 2 of 6 files are not a regular file (the "
                     f"loaders read only files): {name(fifo)} (FIFO), {name(device)} "
                     "(character device)"], lines


def test_each_missing_file_is_stated_once(mmar, monkeypatch):
    data = mmar / "data"
    for folder in ("imagesTr", "labelsTr"):
        shutil.rmtree(data / folder)
    stats = collections.Counter()
    real_stat = os.stat

    def counted(path, *args, **kwargs):
        if str(path).startswith(str(data) + os.sep) and str(path).endswith(".nii.gz"):
            stats[str(path)] += 1
        return real_stat(path, *args, **kwargs)
    monkeypatch.setattr(os, "stat", counted)
    lines = problem_lines(runner.invoke(app, ["check", str(mmar)]).output)
    assert any("files are missing under DATA_ROOT" in line for line in lines), lines
    assert stats and max(stats.values()) == 1, stats


def test_png_colour_type_is_held_to_output_image_channels(tmp_path):
    import numpy as np
    from PIL import Image

    from mmarctl.check.images import png_problems

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "rgb.png")
    items = [{"image": "grey.png"}, {"image": "rgb.png"}]
    assert png_problems(items, tmp_path, ["image"], 3) == [
        "1 image has a channel count other than output_image_channels=3: grey.png (1, grey)"]
    assert png_problems(items, tmp_path, ["image"], 1) == [
        "1 image has a channel count other than output_image_channels=1: rgb.png (3, RGB)"]
    assert png_problems(items, tmp_path, ["image"], None) == []


def test_a_long_header_pass_shows_its_progress(mmar, monkeypatch, capsys):
    from mmarctl.check import images
    from mmarctl.check.data import DataUse, check_data

    monkeypatch.setattr(images, "PROGRESS_FROM", 3)  # 3 training cases (a log line: no tty)
    use = DataUse(str(mmar / "data" / "dataset_0.json"), str(mmar / "data"), "training",
                  ("config/config_train.json", "x"), ("config/environment.json", "DATA_ROOT"),
                  reads=(("image", "LoadNifti"),))
    assert check_data([use], str)[0] == []
    assert "reading image NIfTI headers: 3/3" in capsys.readouterr().err


def _long_datalist(count: int) -> dict:
    items = [{"image": f"i{n}.nii.gz", "label": f"l{n}.nii.gz", "patient_id": f"p{n}"}
             for n in range(count)]
    items[3]["image"], items[7]["image"], items[9]["imgae"] = 5, "", "x"
    items[11]["image"] = ["a", 3]
    return {"training": items, "validation": [["a"], *items[:2]], "trainig": []}


def test_a_long_datalist_is_validated_once_per_item_shape(monkeypatch):
    import mmarctl.schemas.validator as validator

    data = _long_datalist(2000)
    with monkeypatch.context() as patched:  # item by item, as jsonschema alone gives it
        patched.setattr(validator, "_datalist_errors",
                        lambda v, d: v.iter_errors(d))
        expected = validator.validate("datalist", data, "d.json")
    looked_up = []
    close = validator.difflib.get_close_matches
    monkeypatch.setattr(validator.difflib, "get_close_matches",
                        lambda *a, **k: looked_up.append(a[0]) or close(*a, **k))
    assert validator.validate("datalist", data, "d.json") == expected
    assert [p.json_path for p in expected] == [
        "trainig", "training[3].image", "training[7].image", "training[9].imgae",
        "training[11].image", "validation[0]"]
    # "patient_id" of 2000 items looked up once per item shape, not per item
    assert looked_up.count("patient_id") < 20, len(looked_up)


def test_a_file_named_against_its_compression_is_what_nibabel_refuses(spleen, tmp_path):
    """nibabel (and so the loader) goes by the name: check does not read past it."""
    import pytest

    from mmarctl.check.images import HeaderError, read_header

    source = next((spleen / "data" / "imagesTr").glob("*.nii.gz"))
    compressed = tmp_path / "image.nii"
    compressed.write_bytes(source.read_bytes())
    with pytest.raises(HeaderError, match="gzip-compressed, but its name does not end in .gz"):
        read_header(compressed)
    plain = tmp_path / "plain.nii.gz"
    plain.write_bytes(gzip.decompress(source.read_bytes()))
    with pytest.raises(HeaderError, match="not a gzip file though named .gz"):
        read_header(plain)
