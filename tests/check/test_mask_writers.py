"""WritePng writes one channel of class indices: a validation config that hands it the
network's scores (no ArgmaxAcrossChannels, no ThresholdValues) is refused at
``writers[i].name`` by check and by infer's pre-flight, not at infer's first case."""

from __future__ import annotations

from types import SimpleNamespace

from tests.check.broken_mmars import edit_json, mmar, spleen  # noqa: F401 - fixtures

from mmarctl.check.metric_task import mask_writer_problems
from mmarctl.runtime.transforms.labels import (ArgmaxAcrossChannels, CopyProperties,
                                               ThresholdValues)
from mmarctl.runtime.writers.nifti import WriteNifti
from mmarctl.runtime.writers.png import WritePng

VALIDATION = "config/config_validation.json"
TRAIN = "config/config_train.json"


def _unet(classes: int, activation: str = "softmax") -> SimpleNamespace:
    return SimpleNamespace(clara_name="Unet", num_classes=classes, final_activation=activation)


def _lines(network, post_transforms, writers=None) -> list[str]:
    writers = writers or [WriteNifti(field="model", write_path="out"), WritePng(field="model")]
    return [str(p) for p in mask_writer_problems(writers, network, VALIDATION, TRAIN,
                                                 post_transforms)]


def test_softmax_scores_without_argmax_are_refused_at_the_png_writer():
    assert _lines(_unet(3), [CopyProperties(fields="model", from_field="image")]) == [
        f"{VALIDATION}: writers[1].name: WritePng writes one channel of class indices, but "
        f"field 'model' holds the network's 3 class scores (num_classes 3) (the network of "
        f'{TRAIN}); add {{"name": "ArgmaxAcrossChannels", "args": {{"fields": "model"}}}} '
        "to post_transforms"]


def test_one_sigmoid_channel_needs_a_threshold():
    lines = _lines(_unet(1, "sigmoid"), [])
    assert len(lines) == 1 and "holds the network's sigmoid score in [0, 1], not 0/1" in lines[0]
    assert '"ThresholdValues"' in lines[0]
    assert _lines(_unet(1, "sigmoid"), [ThresholdValues(fields="model")]) == []


def test_a_threshold_of_several_channels_is_still_several_channels():
    lines = _lines(_unet(3, "sigmoid"), [ThresholdValues(fields="model")])
    assert len(lines) == 1 and "holds 3 channels of 0/1 masks" in lines[0]


def test_argmax_makes_a_mask_and_unknowns_say_nothing():
    assert _lines(_unet(2), [ArgmaxAcrossChannels(fields="model"),
                             CopyProperties(fields="model", from_field="image")]) == []
    # A step not built (BYOC) may make the mask; a writer of another field writes that field.
    assert _lines(_unet(2), [None]) == []
    assert _lines(_unet(2), [], [WritePng(field="label")]) == []
    assert _lines(None, []) == []
    assert _lines(SimpleNamespace(clara_name="DenseNet121", num_classes=2,
                                  final_activation="softmax"), []) == []


def test_check_and_infer_preflight_refuse_it(mmar):  # noqa: F811
    from mmarctl.check.mmar import check_mmar
    from mmarctl.check.preflight import evaluation_problems
    from mmarctl.workspace import Workspace

    def scores_to_png(config):
        config["post_transforms"] = [step for step in config.get("post_transforms", [])
                                     if "Argmax" not in step["name"]]
        config["writers"] = [{"name": "WritePng", "args": {"field": "model"}}]

    edit_json(mmar / "config" / "config_validation.json", scores_to_png)
    expected = (f"{VALIDATION}: writers[0].name: WritePng writes one channel of class "
                "indices, but field 'model' holds the network's 2 class scores")
    problems = evaluation_problems(Workspace(mmar), {}, config="config_validation.json",
                                   train_config="config_train.json", labels=False)
    assert any(str(p).startswith(expected) for p in problems)
    assert any(str(p).startswith(expected) for p in check_mmar(Workspace(mmar)).problems)
