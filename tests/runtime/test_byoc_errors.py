"""Failures of an MMAR's own code (BYOC "path" components) are one line naming its file and line."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("tensorflow")

from standin_mmar import make_mmar, train_config  # noqa: E402

from mmarctl.errors import ConfigError, MmarError  # noqa: E402
from mmarctl.runtime.builder import ComponentBuilder  # noqa: E402
from mmarctl.runtime.plan import TrainingPlan, TrainOptions  # noqa: E402
from mmarctl.workspace import Workspace  # noqa: E402

USER = textwrap.dedent('''
    import numpy as np
    import tensorflow as tf


    class ForgetsReturn:
        def __call__(self, sample, rng):
            sample["image"] = sample["image"] * 1.0


    class RaisesMidRun:
        calls = 0

        def __call__(self, sample, rng):
            RaisesMidRun.calls += 1
            if RaisesMidRun.calls >= 3:
                return sample["image"][10000]
            return sample


    class Misspelt:
        def __call__(self, y_true, y_pred):
            return tf.reduce_mean(y_pred) + smoth


    class PerCase:
        def __call__(self, y_true, y_pred):
            return tf.reduce_mean(y_pred, axis=[1, 2, 3, 4])


    class ClaraLoss:
        def compute(self, predictions, targets, build_ctx=None):
            return tf.reduce_mean(predictions)


    class Exploding:
        name = "boom"
        is_key_metric = True

        def update(self, sample):
            raise RuntimeError("metric exploded")

        def result(self):
            return 0.0

        def reset(self):
            pass


    class PlainNet:
        def __init__(self, num_classes=2):
            self.num_classes = num_classes

        def build(self, spatial_dims, in_channels):
            import keras
            inputs = keras.Input((None,) * spatial_dims + (in_channels,))
            x = keras.layers.Conv3D(self.num_classes, 1)(inputs)
            return keras.Model(inputs, keras.layers.Activation("softmax")(x))
''')


def _line(code: str) -> int:
    """The line number of ``code`` in custom/user.py."""
    return next(i for i, line in enumerate(USER.splitlines(), 1) if code in line)


def _mmar(tmp_path, **train):
    config = train_config(epochs=1)
    for key, entry in train.items():
        if key == "metrics":
            config["validate"]["metrics"] = entry
        elif key == "transform":
            config["train"]["pre_transforms"].append(entry)
        else:
            config["train"][key] = entry
    root = make_mmar(tmp_path / "m", config=config)
    (root / "custom" / "user.py").write_text(USER)
    return root


def _fails(root) -> str:
    with pytest.raises(MmarError) as info:
        TrainingPlan.build(Workspace(root), TrainOptions(progress=False, seed=0)).run()
    text = str(info.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmarctl", *map(str, args)],
                          capture_output=True, text=True, timeout=600)


def _one_error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def test_transform_returning_none_is_one_line_with_its_file(tmp_path):
    root = _mmar(tmp_path, transform={"path": "user.ForgetsReturn"})
    line = _one_error_line(_cli("train", root, "--set", "epochs=1"))
    assert "custom/user.py: user.ForgetsReturn returned None; a transform returns the sample" \
        in line


def test_transform_raising_mid_run_names_file_and_line_not_skip_bad_cases(tmp_path):
    root = _mmar(tmp_path, transform={"path": "user.RaisesMidRun"})
    text = _fails(root)
    assert text.startswith(f"custom/user.py:{_line('[10000]')}: IndexError: index 10000")
    assert "user.RaisesMidRun" in text and "skip_bad_cases" not in text


def test_loss_failing_in_the_step_names_file_and_line(tmp_path):
    text = _fails(_mmar(tmp_path, loss={"name": "Dice", "path": "user.Misspelt"}))
    assert text.startswith(f"custom/user.py:{_line('smoth')}: NameError: name 'smoth' is not defined")
    assert "loss user.Misspelt" in text


def test_loss_returning_a_vector_must_be_scalar(tmp_path):
    text = _fails(_mmar(tmp_path, loss={"path": "user.PerCase"}))
    assert text.startswith("loss user.PerCase must return a scalar; Received shape (2,)")


def test_metric_raising_names_file_and_line(tmp_path):
    root = _mmar(tmp_path, metrics=[{"path": "user.Exploding"}])
    text = _fails(root)
    assert text.startswith(f"custom/user.py:{_line('exploded')}: RuntimeError: metric exploded")
    assert "metric user.Exploding" in text and "validate.metrics[0]" in text


def _builder(tmp_path, source: str) -> ComponentBuilder:
    root = tmp_path / "mmar"
    (root / "custom").mkdir(parents=True)
    (root / "custom" / "mine.py").write_text(textwrap.dedent(source))
    return ComponentBuilder("config/config_train.json", root)


def test_import_time_error_names_file_and_line_not_custom_folder(tmp_path):
    builder = _builder(tmp_path, "import numpy\n\nX = undefined_constant\n")
    with pytest.raises(ConfigError) as info:
        builder.build("transforms", {"path": "mine.AddNoise"}, "train.pre_transforms[0]")
    text = str(info.value)
    assert "custom/mine.py:3: NameError: name 'undefined_constant' is not defined" in text
    assert "custom/ folder" not in text and "\n" not in text


def test_missing_module_suggests_custom_folder_and_ai4med_points_at_porting(tmp_path):
    builder = _builder(tmp_path, "from ai4med.components.losses.loss import Loss\n")
    with pytest.raises(ConfigError, match="Clara's closed library.*docs/components.md"):
        builder.build("losses", {"path": "mine.L"}, "train.loss")
    with pytest.raises(ConfigError, match="no module named 'absent'.*custom/ folder"):
        builder.build("losses", {"path": "absent.L"}, "train.loss")


def test_clara_loss_with_compute_is_not_callable(tmp_path):
    builder = _builder(tmp_path, USER)
    with pytest.raises(ConfigError, match=r"loss object mine.ClaraLoss is not callable "
                                          r"\(Clara's compute\(\) is not called by mmarctl\); "
                                          r"mmarctl calls it as loss\(y_true, y_pred\)"):
        builder.build("losses", {"path": "mine.ClaraLoss"}, "train.loss")


def test_keras_model_subclass_network_states_the_build_contract(tmp_path):
    builder = _builder(tmp_path, '''
        import keras

        class Net(keras.Model):
            def call(self, x):
                return x
    ''')
    with pytest.raises(ConfigError, match=r"network mine.Net is a Keras Net object; mmarctl "
                                          r"calls a network as network.build\(spatial_dims, "
                                          r"in_channels\), returning a keras.Model"):
        builder.build("networks", {"path": "mine.Net"}, "train.model")


def test_component_with_name_and_path_is_named_by_its_class_path(tmp_path):
    builder = _builder(tmp_path, USER)
    with pytest.raises(ConfigError) as info:
        builder.build("losses", {"name": "Dice", "path": "mine.Misspelt", "args": {"x": 1}},
                      "train.loss")
    assert "train.loss: mine.Misspelt: " in str(info.value)


def test_export_of_a_plain_class_network_writes_its_args_and_leaves_nothing_on_failure(
        tmp_path):
    root = _mmar(tmp_path, model={"path": "user.PlainNet", "args": {"num_classes": 2}})
    assert _cli("train", root, "--set", "epochs=1").returncode == 0
    done = _cli("export", root, "--format", "fzn")
    assert done.returncode == 0, done.stderr
    manifest = json.loads((root / "models" / "export.json").read_text())
    assert manifest["source"]["network"] == "user.PlainNet"
    assert manifest["source"]["network_args"] == {"num_classes": 2}
