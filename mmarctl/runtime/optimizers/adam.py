"""Adam: Clara's default optimizer, backed by ``keras.optimizers.Adam`` (its fused form)."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import keras

from mmarctl.runtime import argcheck
from mmarctl.runtime.optimizers.base import Optimizer


class Adam(Optimizer):
    """Adam (Kingma & Ba) with Keras' implementation, each variable updated by one kernel.

    Implements Clara's ``Adam``. Clara configs give it no args (the rate is the global
    ``learning_rate``); the TF1 argument names ``beta1``, ``beta2`` and ``epsilon`` are
    accepted for configs that set them.

    Args:
        beta1: decay of the first moment, in [0, 1). Default 0.9.
        beta2: decay of the second moment, in [0, 1). Default 0.999.
        epsilon: added to the root of the second moment, > 0. Default 1e-8 (TF1's value;
            Keras' own default is 1e-7).
    """

    clara_name = "Adam"

    def __init__(self, beta1: Any = 0.9, beta2: Any = 0.999, epsilon: Any = 1e-8) -> None:
        name = self.clara_name
        self.beta1 = _decay(beta1, name, "beta1")
        self.beta2 = _decay(beta2, name, "beta2")
        self.epsilon = argcheck.as_float(epsilon, component=name, arg="epsilon", minimum=0,
                                         strict_min=True)
        super().__init__(beta1=beta1, beta2=beta2, epsilon=epsilon)

    def _build(self, learning_rate: Any) -> keras.optimizers.Optimizer:
        from mmarctl.runtime.optimizers.fused_adam import FusedAdam  # a Keras optimizer

        return FusedAdam(learning_rate=learning_rate, beta_1=self.beta1, beta_2=self.beta2,
                         epsilon=self.epsilon)


def _decay(value: Any, component: str, arg: str) -> float:
    """A moment decay rate in [0, 1)."""
    rate = argcheck.as_float(value, component=component, arg=arg, minimum=0)
    if rate >= 1:
        raise argcheck.fail(component, arg, "a number in [0, 1)", value)
    return rate
