"""ReduceCosine: cosine annealing of the learning rate, once per epoch."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import keras

from mmarctl.runtime import argcheck
from mmarctl.runtime.lr_policies.base import LrPolicy


class ReduceCosine(LrPolicy):
    """Cosine-shaped decay that removes the fraction ``rate`` of the rate over the run.

    Implements Clara's ``ReduceCosine``. Accepted args: ``rate``. Clara documents it only
    as reducing "the LR based on initial LR, current epoch and total number of epochs"
    with ``rate`` the "rate of reduction" (default 0.5); mmarctl defines it as::

        lr(epoch) = learning_rate * (1 - rate * (1 - cos(pi * epoch / epochs)) / 2)

    so it starts at the global ``learning_rate``, follows a half cosine and ends at
    ``learning_rate * (1 - rate)`` (``rate = 1``: standard cosine annealing to 0). ``epoch``
    counts completed epochs; beyond ``epochs`` the rate stays at its final value.

    Args:
        rate: fraction of the learning rate removed by the end, in [0, 1]. Default 0.5.
    """

    clara_name = "ReduceCosine"

    def __init__(self, rate: Any = 0.5) -> None:
        self.rate = argcheck.as_float(rate, component=self.clara_name, arg="rate", minimum=0,
                                      maximum=1)
        super().__init__(rate=rate)

    def _build(self, initial_lr: float, steps_per_epoch: int,
               epochs: int) -> keras.optimizers.schedules.LearningRateSchedule:
        from mmarctl.runtime.lr_policies.schedules import CosineSchedule

        return CosineSchedule(initial_lr, steps_per_epoch, epochs, self.rate)
