"""What lr policies share: argument checks for ``build`` and the per-epoch step counter."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import keras

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
