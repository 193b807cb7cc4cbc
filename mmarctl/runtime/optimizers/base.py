"""What optimizer components share: checking the learning rate handed to ``build``."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import keras

from mmarctl.runtime import argcheck
from mmarctl.runtime.component import Component


class Optimizer(Component):
    """Base class: ``build(learning_rate)`` returns a fresh ``keras.optimizers.Optimizer``.

    The learning rate is not a constructor argument because Clara takes it from the
    config's global ``learning_rate`` (or from an lr policy built on it).
    """

    def build(self, learning_rate: Any) -> keras.optimizers.Optimizer:
        """A new Keras optimizer stepping with ``learning_rate`` (float or schedule)."""
        if not isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            learning_rate = argcheck.as_float(learning_rate, component=self.clara_name,
                                              arg="learning_rate", minimum=0, strict_min=True)
        return self._build(learning_rate)

    def _build(self, learning_rate: Any) -> keras.optimizers.Optimizer:
        raise NotImplementedError
