"""A full disk while infer writes its predictions: mmarctl's disk-full line naming the
file, the count of the cases written, no empty case folder, and advice that fits infer.
(The disk is made full by raising ENOSPC where the file is written, as the operating
system does.)"""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from standin_mmar import make_mmar, train_config  # noqa: E402

from mmarctl.errors import DataError, RuntimeFailure, write_failed  # noqa: E402
from mmarctl.runtime.writers import nifti, png  # noqa: E402


def no_space(path):
    return OSError(errno.ENOSPC, "No space left on device", str(path))


def test_a_full_disk_leaves_no_empty_case_folder_and_names_the_file(tmp_path, monkeypatch):
    def full(image, path):
        raise no_space(path.with_name(".partial-1-" + path.name))

    monkeypatch.setattr(nifti, "save_nifti_file", full)
    target = tmp_path / "out" / "spleen_3" / "spleen_3_model.nii.gz"
    (tmp_path / "out").mkdir()
    with pytest.raises(DataError) as info:
        nifti.save_nifti(np.zeros((4, 4, 4), np.uint8), None, None, None, target, "uint8")
    assert list((tmp_path / "out").iterdir()) == []  # the case folder made for it is gone
    line = str(write_failed(info.value, absolute=True))
    assert line.startswith(f"no space left on the device writing {target}")


def test_a_png_writer_on_a_full_disk_leaves_no_empty_case_folder(tmp_path, monkeypatch):
    def full(self, data):
        raise no_space(self)

    monkeypatch.setattr(Path, "write_bytes", full)
    writer = png.WritePng(field="model", write_path=str(tmp_path / "out"))
    (tmp_path / "out").mkdir()
    sample = {"model": np.zeros((1, 6, 5), np.float32),
              "meta": {"image": {"filename": str(tmp_path / "case_1.png")}}}
    with pytest.raises(DataError):
        writer.write(sample)
    assert list((tmp_path / "out").iterdir()) == []


def test_infer_on_a_full_disk_says_how_many_cases_were_written(tmp_path, monkeypatch):
    from mmarctl.runtime.evaluation import EvalOptions, evaluate
    from mmarctl.runtime.plan import TrainingPlan, TrainOptions
    from mmarctl.workspace import Workspace

    root = make_mmar(tmp_path / "m", n_val=3, config=train_config(epochs=1))
    TrainingPlan.build(Workspace(root), TrainOptions(seed=0, progress=False)).run()
    real_save, calls = np.save, []

    def save(path, array, *args, **kwargs):  # the stand-in writer's np.save
        calls.append(path)
        if len(calls) == 2:
            raise no_space(path)
        return real_save(path, array, *args, **kwargs)

    monkeypatch.setattr(np, "save", save)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeFailure) as info:
        evaluate(Workspace(root), EvalOptions(progress=False, output=str(tmp_path / "out")),
                 mode="infer")
    assert str(info.value).startswith(
        "no space left on the device writing out/validation_1_img_seg.npy; 1 of 3 case(s) "
        "written to out")
    assert "--output" in info.value.hint and "MMAR_CKPT_DIR" not in info.value.hint
