"""What lr policies share: argument checks for ``build`` and the per-epoch step counter."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mmarctl.runtime import argcheck
from mmarctl.runtime.component import Component


class LrPolicy(Component):
    """Base class: ``build(initial_lr, steps_per_epoch, epochs)`` returns a Keras schedule."""

    def build(self, initial_lr: Any, steps_per_epoch: Any,
              epochs: Any) -> keras.optimizers.schedules.LearningRateSchedule:
        """The schedule for a run of ``epochs`` epochs of ``steps_per_epoch`` steps."""
        name = self.clara_name
        lr = argcheck.as_float(initial_lr, component=name, arg="learning_rate", minimum=0,
                               strict_min=True)
        steps = argcheck.as_int(steps_per_epoch, component=name, arg="steps_per_epoch",
                                minimum=1)
        total = argcheck.as_int(epochs, component=name, arg="epochs", minimum=1)
        return self._build(lr, steps, total)

    def _build(self, initial_lr: float, steps_per_epoch: int,
               epochs: int) -> keras.optimizers.schedules.LearningRateSchedule:
        raise NotImplementedError


class EpochSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A schedule constant within an epoch: ``rate(epoch)`` with ``epoch = step // steps``.

    Clara's policies changed the rate once per epoch; subclasses give ``rate`` as TF ops
    on a float32 epoch index clipped to ``[0, epochs]``.
    """

    def __init__(self, initial_lr: float, steps_per_epoch: int, epochs: int) -> None:
        self.initial_lr = float(initial_lr)
        self.steps_per_epoch = int(steps_per_epoch)
        self.epochs = int(epochs)

    def __call__(self, step):
        step = tf.cast(step, tf.int64)
        epoch = tf.cast(step // self.steps_per_epoch, tf.float32)
        epoch = tf.minimum(epoch, float(self.epochs))
        return self.rate(epoch)

    def rate(self, epoch: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"initial_lr": self.initial_lr, "steps_per_epoch": self.steps_per_epoch,
                "epochs": self.epochs}
