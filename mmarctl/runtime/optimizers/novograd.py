"""NovoGrad: Clara's large-batch optimizer (layer-wise normalised gradients)."""

from __future__ import annotations

from typing import Any

from mmarctl.runtime.lazy import keras

from mmarctl.runtime import argcheck
from mmarctl.runtime.optimizers.adam import _decay
from mmarctl.runtime.optimizers.base import Optimizer


class NovoGrad(Optimizer):
    """NovoGrad, for the multi-GPU / AMP configs of Clara's performance notebooks.

    Implements Clara's ``NovoGrad`` (given no args in the corpus; the rate is the global
    ``learning_rate``). The algorithm is described in :class:`NovoGradOptimizer`.

    Args:
        beta1: first-moment decay, in [0, 1). Default 0.95.
        beta2: decay of the per-layer squared gradient norm, in [0, 1). Default 0.98.
        epsilon: added to the root of the second moment, > 0. Default 1e-8.
        weight_decay: L2 decay added to the normalised gradient, >= 0. Default 0.
        grad_averaging: scale the normalised gradient by ``1 - beta1``. Default false.
    """

    clara_name = "NovoGrad"

    def __init__(self, beta1: Any = 0.95, beta2: Any = 0.98, epsilon: Any = 1e-8,
                 weight_decay: Any = 0.0, grad_averaging: Any = False) -> None:
        name = self.clara_name
        self.beta1 = _decay(beta1, name, "beta1")
        self.beta2 = _decay(beta2, name, "beta2")
        self.epsilon = argcheck.as_float(epsilon, component=name, arg="epsilon", minimum=0,
                                         strict_min=True)
        self.weight_decay = argcheck.as_float(weight_decay, component=name, arg="weight_decay",
                                              minimum=0)
        self.grad_averaging = argcheck.as_bool(grad_averaging, component=name,
                                               arg="grad_averaging")
        super().__init__(beta1=beta1, beta2=beta2, epsilon=epsilon, weight_decay=weight_decay,
                         grad_averaging=grad_averaging)

    def _build(self, learning_rate: Any) -> keras.optimizers.Optimizer:
        from mmarctl.runtime.optimizers.novograd_keras import NovoGradOptimizer  # Keras subclass

        return NovoGradOptimizer(learning_rate=learning_rate, beta_1=self.beta1,
                                 beta_2=self.beta2, epsilon=self.epsilon,
                                 weight_decay_rate=self.weight_decay,
                                 grad_averaging=self.grad_averaging)
