"""The loss held to the number of channels the network predicts.

A loss sees the network's output only when the first training step is traced, after
TensorFlow has started and the data is loaded: Dice's ``skip_background`` with a
single-channel network (``num_classes`` 1) failed there, in TensorFlow's words. Both are
built by ``check`` (:mod:`.constructors`), so the pair is compared here, at the loss's
argument.
"""

from __future__ import annotations

from typing import Any

from mmarctl.problems import Problem

#: Where the loss and the network of a training config are.
LOSS, MODEL = "train.loss", "train.model"


def loss_output_problems(built: dict[str, Any], file: str) -> list[Problem]:
    """Dice-like losses told to leave out the background channel
    (``skip_background: true``) of a network that predicts one channel only.

    Args:
        built: ``ConstructorChecker.built`` of the training config (either entry may be
            None: not built, nothing said).
        file: the training config, as shown.
    """
    loss, network = built.get(LOSS), built.get(MODEL)
    classes = getattr(network, "num_classes", None)
    if getattr(loss, "skip_background", False) is not True or not isinstance(classes, int):
        return []
    if classes >= 2:
        return []
    # The loss's own words (its __call__ refuses the same at the first step).
    return [Problem(file, f"{LOSS}.args.skip_background", (
        f"{type(loss).clara_name}: skip_background must be false for a single-channel "
        f"prediction ({MODEL}.args.num_classes is {classes}: there is no background channel "
        "to leave out); Received: skip_background=True"))]
