"""SGD and Momentum: plain and momentum stochastic gradient descent."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import keras

from mmarctl.runtime import argcheck
from mmarctl.runtime.optimizers.adam import _decay
from mmarctl.runtime.optimizers.base import Optimizer


class SGD(Optimizer):
    """Plain gradient descent: ``w <- w - learning_rate * g``.

    Implements the ``SGD`` optimizer name (TensorFlow 1's GradientDescentOptimizer, which
    Clara's optimizer package wrapped). No args.
    """

    clara_name = "SGD"

    def __init__(self) -> None:
        super().__init__()

    def _build(self, learning_rate: Any) -> keras.optimizers.Optimizer:
        return keras.optimizers.SGD(learning_rate=learning_rate)


class Momentum(Optimizer):
    """Gradient descent with momentum (TensorFlow 1's MomentumOptimizer semantics).

    Implements the ``Momentum`` optimizer name: ``v <- momentum * v - lr * g``,
    ``w <- w + v`` (Keras' SGD with momentum; with ``use_nesterov`` the Nesterov variant).

    Args:
        momentum: in [0, 1). Default 0.9.
        use_nesterov: Nesterov momentum. Default false.
    """

    clara_name = "Momentum"

    def __init__(self, momentum: Any = 0.9, use_nesterov: Any = False) -> None:
        self.momentum = _decay(momentum, self.clara_name, "momentum")
        self.use_nesterov = argcheck.as_bool(use_nesterov, component=self.clara_name,
                                             arg="use_nesterov")
        super().__init__(momentum=momentum, use_nesterov=use_nesterov)

    def _build(self, learning_rate: Any) -> keras.optimizers.Optimizer:
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=self.momentum,
                                    nesterov=self.use_nesterov)
