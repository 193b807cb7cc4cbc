"""The loss and the metrics held to the outputs of the network: how many, and what they are.

A loss sees the network's output only when the first training step is traced, after
TensorFlow has started and the data is loaded; a metric only at the first validation case,
after a whole epoch of training. What they refused there (Dice's ``skip_background`` with
a single-channel network, Focal's ``alpha`` with a weight per class of another network,
ComputeAUC's ``class_index`` beyond the classes), or took without a word (Dice on the
unbounded outputs of ``final_activation: "linear"``), is known from the config alone: the
components are built by ``check`` (:mod:`.constructors`), so each pair is compared here, at
the argument to change.
"""

from __future__ import annotations

from typing import Any

from mmarctl.problems import Problem

#: Where the loss and the network of a training config are.
LOSS, MODEL = "train.loss", "train.model"
#: mmarctl's losses whose labels are class indices unless ``is_onehot_targets`` is true.
CLASS_INDEX_LOSSES = frozenset({"Dice", "Focal"})
#: mmarctl's losses that take probabilities (they clip them into (0, 1) or sum them).
PROBABILITY_LOSSES = frozenset({"Dice", "Focal", "BinaryClassificationLoss"})


def loss_output_problems(built: dict[str, Any], file: str) -> list[Problem]:
    """The training loss's arguments against the network's ``num_classes`` and its output
    activation.

    Args:
        built: ``ConstructorChecker.built`` of the training config (either entry may be
            None: not built, nothing said).
        file: the training config, as shown.
    """
    loss, network = built.get(LOSS), built.get(MODEL)
    classes = getattr(network, "num_classes", None)
    name = getattr(loss, "clara_name", None)
    if name is None or not isinstance(classes, int):
        return []
    problems = []
    if getattr(loss, "skip_background", False) is True and classes < 2:
        # The loss's own words (its __call__ refuses the same at the first step).
        problems.append(Problem(file, f"{LOSS}.args.skip_background", (
            f"{name}: skip_background must be false for a single-channel prediction "
            f"({MODEL}.args.num_classes is {classes}: there is no background channel to "
            "leave out); Received: skip_background=True")))
    # One weight per class: Focal's sigmoid form (one channel) weighs background and
    # foreground, so it takes 2 (Focal._weights); BinaryClassificationLoss one per label.
    for arg, wanted in (("alpha", max(classes, 2) if name == "Focal" else None),
                        ("pos_weight", classes if name == "BinaryClassificationLoss" else None)):
        weights = getattr(loss, arg, None)
        if wanted is not None and isinstance(weights, list) and len(weights) != wanted:
            what = ("background and foreground of the single sigmoid channel" if classes == 1
                    and name == "Focal" else "one per class")
            problems.append(Problem(file, f"{LOSS}.args.{arg}", (
                f"{name}: {arg} must be {wanted} weight{'s' if wanted != 1 else ''} ({what}: {MODEL}.args.num_classes is "
                f"{classes}); Received: {arg}={weights}")))
    activation = getattr(network, "final_activation", None)
    if name in PROBABILITY_LOSSES and activation == "linear":
        fitting = "sigmoid" if classes == 1 or name == "BinaryClassificationLoss" else "softmax"
        problems.append(Problem(file, f"{MODEL}.args.final_activation", (
            f"{name} takes probabilities, but the network's final_activation 'linear' gives "
            f"unbounded values; use {fitting!r}; Received: final_activation='linear'")))
    return problems


def metric_class_problems(metrics: Any, key: str, network: Any, file: str,
                          network_from: str, fields: Any = ("model",),
                          default: bool = False) -> list[Problem]:
    """A metric's ``class_index`` (ComputeAUC) beyond the network's classes, at
    ``<key>[i].args.class_index``, when it scores one column per class: the network's
    output (``field`` "model") or an aux op's per-class tag (CheXpert's ``binary_preds``,
    from ComputeBinaryPreds), as ``fields`` lists them.

    Args:
        metrics: the built metrics of list ``key`` (``val_metrics``, ``validate.metrics``);
            an entry not built is None.
        network: the built network scored (its ``num_classes``; None: nothing said).
        file: the config holding the metrics, as shown.
        network_from: where the network's ``num_classes`` is set, for the message.
        fields: the fields that hold one value per class of the network.
        default: the network's ``num_classes`` is its default (the config writes none).
    """
    classes = getattr(network, "num_classes", None)
    if not isinstance(metrics, list) or not isinstance(classes, int):
        return []
    where = (f"{classes} is the default of train.model.args.num_classes, which "
             f"{network_from} does not set" if default
             else f"train.model.args.num_classes in {network_from}")
    off = [index for index, metric in enumerate(metrics)
           if isinstance(getattr(metric, "class_index", None), int)
           and getattr(metric, "field", None) in fields and metric.class_index >= classes]
    problems = [Problem(file, f"{key}[{index}].args.class_index", (
        f"{metrics[index].clara_name}: class_index must be below the number of classes, "
        f"{classes} ({where}; class_index counts from 0); "
        f"Received: class_index={metrics[index].class_index}"))
        for index in off[:SHOW_CLASS_INDEX]]
    if len(off) > SHOW_CLASS_INDEX:
        # CheXpert's 14 per-class AUCs against 1 class: one line for the rest.
        rest = off[SHOW_CLASS_INDEX:]
        problems.append(Problem(file, key, (
            f"and {len(rest)} more metrics whose class_index is not below {classes}: "
            + (f"{key}[{rest[0]}]..[{rest[-1]}]" if rest[-1] - rest[0] == len(rest) - 1
               else ", ".join(f"{key}[{index}]" for index in rest)))))
    return problems


#: How many class_index lines are shown before the rest is counted.
SHOW_CLASS_INDEX = 3


#: The aux ops whose tags hold one column per class of the network, by argument.
PER_CLASS_TAGS = {"ComputeBinaryPreds": ("binary_preds_name", "binary_labels_name")}


def per_class_fields(aux_ops: Any) -> set[str]:
    """``model`` and the tags the built ``train.aux_ops`` give one value per class in."""
    fields = {"model"}
    for op in aux_ops if isinstance(aux_ops, list) else ():
        for arg in PER_CLASS_TAGS.get(getattr(op, "clara_name", None), ()):
            if isinstance(getattr(op, arg, None), str):
                fields.add(getattr(op, arg))
    return fields


def onehot_class_label_problems(built: dict[str, Any], labels: Any, shown_list: str,
                                file: str) -> list[Problem]:
    """Dice or Focal taking class indices (``is_onehot_targets`` false) in a classification
    config whose every training label is a list of ``num_classes`` values, one per class
    (Clara's label_format): the loss refuses that at its first step, for every case, after
    TensorFlow has started. One problem at ``train.loss.args.is_onehot_targets``.

    Args:
        built: ``ConstructorChecker.built`` of the training config.
        labels: the ``"label"`` values of the training list's items (anything else, or any
            label of another form: nothing said, the data checks hold their form).
        shown_list: the datalist and list, as shown in the message.
        file: the training config, as shown.
    """
    loss, network = built.get(LOSS), built.get(MODEL)
    classes = getattr(network, "num_classes", None)
    name = getattr(loss, "clara_name", None)
    if (name not in CLASS_INDEX_LOSSES or getattr(loss, "is_onehot_targets", None) is not False
            or getattr(built.get("train.image_pipeline"), "task", None) != "classification"
            or not isinstance(classes, int) or classes < 2
            or not isinstance(labels, list) or not labels
            or not all(isinstance(v, list) and len(v) == classes for v in labels)):
        return []
    return [Problem(file, f"{LOSS}.args.is_onehot_targets", (
        f"{name} takes one class index per case (is_onehot_targets false), but every label "
        f"of {shown_list} has {classes} values, one per class (the network's num_classes): "
        "set \"is_onehot_targets\": true in the loss's args"))]
