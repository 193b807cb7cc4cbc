"""A classification datalist mixing bare-number labels (accepted with num_classes 1) and
one-value lists: the pipeline reads both as the vector [n], so they batch together (before,
step 1 failed with "samples of one batch differ in shape", naming the image's shape)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mmarctl.cli import app
from mmarctl.errors import DataError
from mmarctl.runtime.pipelines.base import _stack
from mmarctl.runtime.pipelines.classification import ClassificationImagePipeline
from mmarctl.runtime.transforms.loaders import LoadNifti

runner = CliRunner()


@pytest.fixture(scope="module")
def classification(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mixed_labels") / "c"
    assert runner.invoke(app, ["init", str(root), "--task", "classification"]).exit_code == 0
    done = runner.invoke(app, ["data", "synth", str(root), "--task", "classification",
                               "--cases", "4", "--size", "16"])
    assert done.exit_code == 0, done.output
    return root


def test_a_bare_number_reads_as_a_one_value_vector(classification):
    datalist = classification / "data" / "dataset_0.json"
    lists = json.loads(datalist.read_text())
    lists["training"][0]["label"] = 1
    mixed = classification.parent / "mixed.json"
    mixed.write_text(json.dumps(lists))
    pipeline = ClassificationImagePipeline(
        data_list_file_path=str(mixed), data_file_base_dir=str(classification / "data"),
        output_crop_size=[64, 64])
    pipeline.setup([LoadNifti(fields="image")], num_classes=1)
    assert {item["label"].shape for item in pipeline.items()} == {(1,)}


def test_a_batch_whose_shapes_differ_names_the_field():
    group = [{"image": np.zeros((2, 2)), "label": np.zeros(())},
             {"image": np.zeros((2, 2)), "label": np.zeros((1,))}]
    with pytest.raises(DataError) as raised:
        _stack(group)
    assert "in field 'label'" in raised.value.message and "(1,)" in raised.value.message
