"""validate / infer: reports, writers, --input, model loading errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from standin_mmar import make_mmar, train_config  # noqa: E402

from mmarctl.errors import ConfigError, DataError  # noqa: E402
from mmarctl.runtime.evaluation import EvalOptions, evaluate, summarise  # noqa: E402
from mmarctl.runtime.plan import TrainingPlan, TrainOptions  # noqa: E402
from mmarctl.workspace import Workspace  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = make_mmar(tmp_path_factory.mktemp("eval") / "m", config=train_config(epochs=2))
    TrainingPlan.build(Workspace(root), TrainOptions(seed=0, progress=False)).run()
    return root


def run(root, mode, **options):
    options.setdefault("progress", False)
    return evaluate(Workspace(root), EvalOptions(**options), mode=mode)


def test_validate_writes_json_csv_and_summary(trained):
    report = run(trained, "validate")
    assert report.cases == 2
    eval_dir = trained / "eval"
    data = json.loads((eval_dir / "metrics.json").read_text())
    assert set(data["summary"]["mean_dice"]) == {"value", "min", "max", "mean", "count"}
    assert data["summary"]["mean_dice"]["count"] == 2
    assert data["summary"]["mean_dice"]["mean"] == pytest.approx(report.metrics["mean_dice"])
    rows = list(csv.reader((eval_dir / "metrics_per_case.csv").open()))
    assert rows[0] == ["case", "mean_dice"] and len(rows) == 3
    text = (eval_dir / "metrics_summary.txt").read_text()
    assert text.splitlines()[0].split() == ["metric", "value", "min", "max", "mean", "cases"]
    assert text.splitlines()[1].startswith("mean_dice")


def test_infer_runs_writers_on_datalist(trained, tmp_path):
    report = run(trained, "infer", output=str(tmp_path / "out"))
    assert report.cases == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "validation_0_img_seg.npy", "validation_1_img_seg.npy"]
    seg = np.load(tmp_path / "out" / "validation_0_img_seg.npy")
    assert seg.shape == (1, 8, 8, 8) and set(np.unique(seg)) <= {0.0, 1.0}


def test_infer_on_given_inputs(trained, tmp_path):
    image = trained / "data" / "training_0_img.npy"
    report = run(trained, "infer", inputs=[str(image)], output=str(tmp_path / "o"))
    assert report.cases == 1 and (tmp_path / "o" / "training_0_img_seg.npy").is_file()


def test_infer_missing_input(trained, tmp_path):
    with pytest.raises(DataError, match="input image not found"):
        run(trained, "infer", inputs=[str(tmp_path / "nope.npy")])


def test_one_input_of_several_files_is_one_case(tmp_path):
    """-i t1ce,t1,t2,flair: one case whose image is the list, in the order given (as a
    BraTS datalist lists its modalities); a file whose name holds a comma stays one file."""
    from mmarctl.runtime.evaluation import _items

    files = [tmp_path / f"case_{m}.nii.gz" for m in ("t1ce", "t1", "t2", "flair")]
    odd = tmp_path / "a,b.nii.gz"
    for path in (*files, odd):
        path.write_bytes(b"")
    options = EvalOptions(inputs=[",".join(map(str, files)), str(odd)])
    items = _items(Workspace.__new__(Workspace), {}, options)
    assert items == [{"image": [str(f.resolve()) for f in files]}, {"image": str(odd.resolve())}]
    with pytest.raises(DataError, match="input image not found") as info:
        _items(Workspace.__new__(Workspace), {},
               EvalOptions(inputs=[f"{files[0]},{tmp_path / 'gone.nii.gz'}"]))
    assert info.value.file == str(tmp_path / "gone.nii.gz")


def test_data_list_key_selects_items(trained):
    report = run(trained, "validate", overrides={"DATA_LIST_KEY": "training"})
    assert report.cases == 4


def test_unknown_data_list_key(trained):
    with pytest.raises((DataError, ConfigError), match="'testing'"):
        run(trained, "validate", overrides={"DATA_LIST_KEY": "testing"})


def test_no_checkpoint_names_the_path(tmp_path):
    root = make_mmar(tmp_path / "m")  # never trained: the pre-flight says so, naming it
    with pytest.raises(ConfigError, match=r"models/model.ckpt: no model checkpoint here"):
        run(root, "validate")


def test_missing_model_loader(trained, tmp_path):
    config = json.loads((trained / "config" / "config_validation.json").read_text())
    del config["model_loader"]
    (trained / "config" / "other.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="model_loader"):
        run(trained, "validate", config="other.json")


def test_summarise_ignores_nan():
    assert summarise([1.0, float("nan"), 3.0]) == {"min": 1.0, "max": 3.0, "mean": 2.0, "count": 2}
    assert summarise([])["count"] == 0


def test_infer_keeps_the_label_path_for_a_byoc_loader_reading_it(trained, tmp_path):
    """vertebra2d's pattern: a BYOC loader over ["image", "label"] in pre_transforms. infer
    gives it the datalist's label path, as Clara did (it died with KeyError 'label' (on ?));
    with --input, which has no label, the line names the case and says why."""
    from mmarctl.errors import RuntimeFailure

    config = json.loads((trained / "config" / "config_validation.json").read_text())
    config["pre_transforms"][0]["args"]["fields"] = ["image", "label"]
    del config["label_transforms"]
    (trained / "config" / "config_validation_both.json").write_text(json.dumps(config))
    report = run(trained, "infer", config="config_validation_both.json",
                 output=str(tmp_path / "out"))
    assert report.cases == 2
    image = trained / "data" / "training_0_img.npy"
    with pytest.raises(RuntimeFailure) as info:
        run(trained, "infer", config="config_validation_both.json", inputs=[str(image)],
            output=str(tmp_path / "out2"))
    assert f"KeyError: 'label' (on {image})" in info.value.message
    assert "this case has no 'label' field (it has: image)" in info.value.hint
