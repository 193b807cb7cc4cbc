"""ReducePoly: polynomial decay of the learning rate, once per epoch."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import keras

from mmarctl.runtime import argcheck
from mmarctl.runtime.lr_policies.base import LrPolicy


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
        from mmarctl.runtime.lr_policies.schedules import PolySchedule

        return PolySchedule(initial_lr, steps_per_epoch, epochs, self.poly_power)
