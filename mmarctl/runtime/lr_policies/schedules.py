"""The Keras learning-rate schedules the lr policies build (imports TensorFlow).

Kept apart from the policy components so that those load, and validate their arguments,
without TensorFlow (see :mod:`mmarctl.runtime.lazy`).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf


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


class PolySchedule(EpochSchedule):
    """The Keras schedule ReducePoly builds."""

    def __init__(self, initial_lr: float, steps_per_epoch: int, epochs: int,
                 poly_power: float) -> None:
        super().__init__(initial_lr, steps_per_epoch, epochs)
        self.poly_power = float(poly_power)

    def rate(self, epoch: tf.Tensor) -> tf.Tensor:
        remaining = 1.0 - epoch / float(self.epochs)
        return self.initial_lr * tf.pow(remaining, self.poly_power)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "poly_power": self.poly_power}


class CosineSchedule(EpochSchedule):
    """The Keras schedule ReduceCosine builds."""

    def __init__(self, initial_lr: float, steps_per_epoch: int, epochs: int,
                 reduction: float) -> None:
        super().__init__(initial_lr, steps_per_epoch, epochs)
        self.reduction = float(reduction)

    def rate(self, epoch: tf.Tensor) -> tf.Tensor:
        cosine = tf.cos(math.pi * epoch / float(self.epochs))
        return self.initial_lr * (1.0 - self.reduction * (1.0 - cosine) / 2.0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "reduction": self.reduction}
