"""The NovoGrad algorithm as a Keras 3 optimizer (used by the NovoGrad component)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


class NovoGradOptimizer(keras.optimizers.Optimizer):
    """NovoGrad (Ginsburg et al., 2019): Adam-like momentum with layer-wise second moments.

    For each variable (a "layer" in the paper) with gradient ``g``, step ``t``::

        v_t = ||g||^2                                    (t = 1)
        v_t = beta_2 * v_{t-1} + (1 - beta_2) * ||g||^2  (t > 1)
        m_t = beta_1 * m_{t-1} + c * (g / (sqrt(v_t) + epsilon) + weight_decay_rate * w)
        w  <- w - learning_rate * m_t

    with ``c = 1 - beta_1`` when ``grad_averaging`` else 1, and ``m_0 = 0``. The second
    moment is a single scalar per variable, so the optimizer state is about half Adam's.
    There is no bias correction, as in the paper.

    Args:
        learning_rate: float or schedule.
        beta_1: first-moment decay. Default 0.95.
        beta_2: second-moment decay. Default 0.98.
        epsilon: added to ``sqrt(v)``. Default 1e-8.
        weight_decay_rate: L2 decay folded into the normalised gradient (the paper's
            ``d``); distinct from Keras' decoupled ``weight_decay``. Default 0.
        grad_averaging: scale the normalised gradient by ``1 - beta_1``. Default False.
    """

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.95, beta_2: float = 0.98,
                 epsilon: float = 1e-8, weight_decay_rate: float = 0.0,
                 grad_averaging: bool = False, name: str = "novograd", **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.weight_decay_rate = weight_decay_rate
        self.grad_averaging = grad_averaging

    def build(self, var_list):
        """One first moment per weight, one scalar second moment per variable."""
        if self.built:
            return
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(var_list, "momentum")
        self._norms = [
            self.add_variable(shape=(), dtype=var.dtype, name=f"{var.name}_norm_moment")
            for var in var_list
        ]

    def update_step(self, gradient, variable, learning_rate):
        """Apply one NovoGrad step to ``variable``."""
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._norms[index]

        norm_sq = ops.sum(ops.square(gradient))
        first = ops.equal(self.iterations, 0)
        v_new = ops.where(first, norm_sq, self.beta_2 * v + (1.0 - self.beta_2) * norm_sq)
        self.assign(v, v_new)

        step = gradient / (ops.sqrt(v_new) + self.epsilon)
        if self.weight_decay_rate:
            step = step + self.weight_decay_rate * variable
        if self.grad_averaging:
            step = step * (1.0 - self.beta_1)
        self.assign(m, self.beta_1 * m + step)
        self.assign_sub(variable, lr * m)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                       "weight_decay_rate": self.weight_decay_rate,
                       "grad_averaging": self.grad_averaging})
        return config
