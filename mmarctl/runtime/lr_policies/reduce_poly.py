"""ReducePoly: polynomial decay of the learning rate, once per epoch."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mmarctl.runtime import argcheck
from mmarctl.runtime.lr_policies.base import EpochSchedule, LrPolicy


class ReducePoly(LrPolicy):
    """``lr(epoch) = learning_rate * (1 - epoch / epochs) ** poly_power``.

    Implements Clara's ``ReducePoly``. Accepted args: ``poly_power``. ``epoch`` counts
    completed epochs (``global_step // steps_per_epoch``), so epoch 0 uses the full global
    ``learning_rate``; beyond ``epochs`` (e.g. when a run is extended) the rate stays 0.

    Args:
        poly_power: exponent of the decay, > 0. Default 0.9.
    """

    clara_name = "ReducePoly"

    def __init__(self, poly_power: Any = 0.9) -> None:
        self.poly_power = argcheck.as_float(poly_power, component=self.clara_name,
                                            arg="poly_power", minimum=0, strict_min=True)
        super().__init__(poly_power=poly_power)

    def _build(self, initial_lr: float, steps_per_epoch: int,
               epochs: int) -> keras.optimizers.schedules.LearningRateSchedule:
        return PolySchedule(initial_lr, steps_per_epoch, epochs, self.poly_power)


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
