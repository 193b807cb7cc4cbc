"""Bad-input lines that pointed to the wrong fix: a text file given as an image was called
corrupt or truncated, an output "folder" that is a file gave "Not a directory" from the
lock, and the NaN line said "set skip_bad_cases" without saying where."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from mmarctl.cli import app
from mmarctl.errors import DataError, WorkspaceError
from mmarctl.locks import lock_folder
from mmarctl.runtime.transforms.loaders import load_nifti


def test_a_text_file_is_not_a_nifti_image(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("a.nii.gz\nb.nii.gz\n")
    with pytest.raises(DataError) as info:
        load_nifti(str(listing))
    assert info.value.message == ("not a NIfTI image: its name ends in .txt and it looks "
                                  "like text")
    assert "one --input per image" in info.value.hint and "corrupt" not in info.value.hint


def test_a_damaged_nifti_is_still_corrupt_or_truncated(tmp_path):
    path = tmp_path / "x.nii"
    path.write_bytes(b"\0" * 100)
    with pytest.raises(DataError) as info:
        load_nifti(str(path))
    assert "corrupt or truncated" in info.value.hint


def test_the_nan_hint_leaves_where_to_skip_to_the_verb(tmp_path):
    data = np.zeros((4, 4, 4), np.float32)
    data[0, 0, 0] = np.nan
    path = tmp_path / "nan.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    with pytest.raises(DataError) as info:
        load_nifti(str(path))
    # validate/infer and train each add where skip_bad_cases is set; a bare
    # "set skip_bad_cases" would say it twice, and nowhere where
    assert info.value.hint == "fix or re-export the image"


def test_output_naming_a_file_is_refused_as_a_file(tmp_path):
    (tmp_path / "afile").write_text("")
    result = CliRunner().invoke(app, ["infer", str(tmp_path), "-o", str(tmp_path / "afile")])
    assert result.exit_code == 2
    assert "afile is a file; pass a folder" in result.output


def test_the_lock_in_a_file_says_it_is_a_file(tmp_path):
    (tmp_path / "afile").write_text("")
    with pytest.raises(WorkspaceError, match="afile is a file, not a folder"):
        with lock_folder(tmp_path / "afile", display="afile"):
            pass
