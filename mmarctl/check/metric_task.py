"""The components of a config held to the task of the network: masks or class scores.

A segmentation network (Unet, SegResnet ...) predicts a mask ``(*spatial, C)``; a
classification network (DenseNet121) one score per class. The pipeline, the loss, the
metrics and the writers are each made for one of the two. A mismatch failed late, in
TensorFlow's words (DenseNet121 under a Dice loss: "Dimensions must be equal" at the first
step), after a whole epoch (ComputeAverageDice scoring class scores), or not at all (a
BinaryClassificationLoss on a softmax mask trained on a broadcast target; WriteNifti wrote
each case's probability as a one-voxel uint8 image, rounded to 0). The components carry no
task of their own, so the ones made for one task are listed here.
"""

from __future__ import annotations

from typing import Any

from mmarctl.problems import Problem

#: The field a validation case holds the network's output in.
PREDICTION = "model"
#: Built-in networks that give one score per class (no spatial axes); the other built-in
#: networks give a mask.
CLASSIFICATION_NETWORKS = frozenset({"DenseNet121"})
SEGMENTATION_NETWORKS = frozenset({"Unet", "SegResnet", "SegAhnet", "ResidualUnet"})
#: Components made for one task, by family: task -> names.
LOSSES = {"segmentation": frozenset({"Dice"}),
          "classification": frozenset({"BinaryClassificationLoss"})}
SEGMENTATION_METRICS = frozenset({"ComputeAverageDice"})
WRITERS = {"segmentation": frozenset({"WriteNifti", "WritePng"}),
           "classification": frozenset({"WriteClassificationResult"})}
#: What to use instead, by the task of the network.
INSTEAD = {"loss": {"segmentation": "Dice", "classification": "BinaryClassificationLoss"},
           "writer": {"segmentation": "WriteNifti", "classification": "WriteClassificationResult"},
           "network": {"segmentation": "Unet", "classification": "DenseNet121"}}
#: How each task's output is said in messages.
OUTPUT = {"segmentation": "a mask", "classification": "one score per class"}


def network_task(network: Any) -> str | None:
    """``segmentation`` or ``classification`` for a built-in network; None otherwise."""
    name = getattr(network, "clara_name", None)
    if name in CLASSIFICATION_NETWORKS:
        return "classification"
    return "segmentation" if name in SEGMENTATION_NETWORKS else None


def _other(task: str) -> str:
    return "classification" if task == "segmentation" else "segmentation"


def network_pipeline_problems(built: dict[str, Any], file: str) -> list[Problem]:
    """The training network against the task of the training pipeline (and of the loss and
    metrics that go with it), reported once, at ``train.model.name``."""
    network = built.get("train.model")
    task, pipeline = network_task(network), built.get("train.image_pipeline")
    wanted = getattr(pipeline, "task", None)
    if task is None or wanted not in OUTPUT or wanted == task:
        return []
    return [Problem(file, "train.model.name", (
        f"{network.clara_name} is a {task} network ({OUTPUT[task]}), but "
        f"train.image_pipeline ({type(pipeline).clara_name}) is a {wanted} one, as are the "
        f"loss and metrics that go with it; use a {wanted} network such as "
        f"{INSTEAD['network'][wanted]}, or a {task} pipeline, loss and metrics"))]


def loss_task_problems(built: dict[str, Any], file: str) -> list[Problem]:
    """A loss made for the other task than the training network's, at ``train.loss.name``
    (not said when the network already disagrees with the pipeline: that line says it)."""
    network, loss = built.get("train.model"), built.get("train.loss")
    task = network_task(network)
    wanted = getattr(built.get("train.image_pipeline"), "task", task)
    name = getattr(loss, "clara_name", None)
    if task is None or wanted != task or name not in LOSSES[_other(task)]:
        return []
    if task == "segmentation" and not (
            getattr(network, "final_activation", None) == "softmax"
            and isinstance(getattr(network, "num_classes", None), int)
            and network.num_classes > 1):
        # Voxel-wise BCE on sigmoid channels (one channel, or BraTS's channel-split labels)
        # is a valid segmentation loss: the label has the prediction's shape. Only a
        # softmax mask of several classes against a class-index label cannot match.
        return []
    return [Problem(file, "train.loss.name", (
        f"{name} is a {_other(task)} loss, but {network.clara_name} is a {task} network "
        f"({OUTPUT[task]}): its targets would not match the prediction; use "
        f"{INSTEAD['loss'][task]}"))]


def metric_task_problems(metrics: Any, key: str, task: str | None, file: str,
                         network_from: str) -> list[Problem]:
    """One problem per segmentation metric scoring a classification network.

    Args:
        metrics: the built metrics of list ``key`` (``val_metrics``, ``validate.metrics``);
            an entry not built is None.
        task: the task of the network scored (None: unknown, nothing said).
        file: the config holding the metrics, as shown.
        network_from: the training config, for the message.
    """
    if task != "classification" or not isinstance(metrics, list):
        return []
    return [Problem(file, f"{key}[{index}].name", (
        f"{metric.clara_name} scores segmentation masks, but the network of {network_from} "
        "is a classification one (one score per class); use ComputeAUC"))
        for index, metric in enumerate(metrics)
        if metric is not None and getattr(metric, "clara_name", None) in SEGMENTATION_METRICS]


def prediction_fields(post_transforms: Any) -> set[str] | None:
    """The fields of a validation case that hold the network's prediction: ``model`` and
    the fields the ``post_transforms`` make from it (in order). None when a step is not
    built (it may make any field: nothing can be told)."""
    from mmarctl.check.case_fields import made_by
    from mmarctl.check.field_flow import reads_of

    predicted = {PREDICTION}
    for step in post_transforms if isinstance(post_transforms, list) else ():
        if step is None:
            return None
        if any(field in predicted for _, field in reads_of(step)):
            predicted |= made_by(step)
    return predicted


def writer_task_problems(writers: Any, task: str | None, file: str,
                         network_from: str, post_transforms: Any = None) -> list[Problem]:
    """One problem per writer made for the other task than the network's that writes the
    prediction, at ``writers[i].name``: WriteNifti of one score per class writes a
    one-voxel image. A writer of another field (the preprocessed ``image`` of a
    classification MMAR) writes what that field holds and is left alone.

    Args:
        writers: the built ``writers`` of a validation config; an entry not built is None.
        task: the task of the network (None: unknown, nothing said).
        file: the validation config, as shown.
        network_from: the training config, for the message.
        post_transforms: the built ``post_transforms`` (which fields hold the prediction).
    """
    predicted = prediction_fields(post_transforms)
    if task not in OUTPUT or not isinstance(writers, list) or predicted is None:
        return []
    return [Problem(file, f"writers[{index}].name", (
        f"{writer.clara_name} writes {OUTPUT[_other(task)]}, but the network of "
        f"{network_from} gives {OUTPUT[task]}; use {INSTEAD['writer'][task]}"))
        for index, writer in enumerate(writers)
        if getattr(writer, "clara_name", None) in WRITERS[_other(task)]
        and getattr(writer, "field", PREDICTION) in predicted]


def inferer_task_notes(inferer: Any, key: str, task: str | None, file: str) -> list[Problem]:
    """A note when a sliding window is set for a classification network: the network is
    run once on the whole image (tf_engine.run_inferer), the window is never used."""
    if task != "classification" or getattr(inferer, "roi_size", None) is None:
        return []
    return [Problem(file, f"{key}.name", (
        f"a classification network is run once on the whole image: "
        f"{type(inferer).clara_name} and its roi_size are not used (TFSimpleInferer says "
        "what runs)")).as_note()]


#: Writers that write one channel of class indices (writers/png.py refuses scores).
MASK_WRITERS = frozenset({"WritePng"})
#: Post transforms that make class indices of the fields they name, and the channels left
#: (None: as many as before).
MASK_MAKERS = {"ArgmaxAcrossChannels": 1, "ThresholdValues": None}
#: Post transforms that keep a field's values and channels (metadata, geometry).
VALUE_KEEPERS = frozenset({"CopyProperties", "RestoreOriginalShape", "SaveAsNifti"})


def mask_writer_problems(writers: Any, network: Any, file: str, network_from: str,
                         post_transforms: Any = None) -> list[Problem]:
    """A writer of class-index masks (WritePng) given the network's scores, at
    ``writers[i].name``: with no ArgmaxAcrossChannels (softmax) or ThresholdValues (one
    sigmoid channel) in ``post_transforms``, infer refused it at its first case, after the
    model was loaded and run.

    Args:
        writers: the built ``writers`` of a validation config; an entry not built is None.
        network: the built segmentation network (its ``num_classes``); None: nothing said.
        file: the validation config, as shown; ``network_from``: the training config.
        post_transforms: the built ``post_transforms``; a step not built, or an unknown one
            reading the prediction, may make a mask: nothing is said then.
    """
    from mmarctl.check.field_flow import reads_of

    classes = getattr(network, "num_classes", None)
    if network_task(network) != "segmentation" or not isinstance(classes, int) or \
            not isinstance(writers, list):
        return []
    channels, mask = classes, False
    for step in post_transforms if isinstance(post_transforms, list) else ():
        if step is None:
            return []
        name = getattr(step, "clara_name", None)
        if PREDICTION not in {field for _, field in reads_of(step)}:
            continue
        if name in MASK_MAKERS:
            channels, mask = MASK_MAKERS[name] or channels, True
        elif name not in VALUE_KEEPERS:
            return []
    if mask and channels == 1:
        return []
    if channels > 1:
        fix = ('add {"name": "ArgmaxAcrossChannels", "args": {"fields": "model"}} to '
               "post_transforms")
        holds = (f"{channels} channels of 0/1 masks" if mask else
                 f"the network's {channels} class scores (num_classes {channels})")
    else:
        fix = ('add {"name": "ThresholdValues", "args": {"fields": "model"}} to '
               "post_transforms")
        holds = f"the network's {network.final_activation} score in [0, 1], not 0/1"
    return [Problem(file, f"writers[{index}].name", (
        f"{writer.clara_name} writes one channel of class indices, but field {PREDICTION!r} "
        f"holds {holds} (the network of {network_from}); {fix}"))
        for index, writer in enumerate(writers)
        if getattr(writer, "clara_name", None) in MASK_WRITERS
        and getattr(writer, "field", PREDICTION) == PREDICTION]
