"""Optimizers: Clara optimizer names -> ``module:Class``. Importing this imports no TensorFlow.

Contract (docs/architecture.md): ``Optimizer(**args).build(learning_rate)`` returns a
``keras.optimizers.Optimizer``; ``learning_rate`` is a float or a Keras schedule (an lr policy).
"""

NAMES = {
    "Adam": "adam:Adam",
    "NovoGrad": "novograd:NovoGrad",
    "SGD": "sgd:SGD",
    "Momentum": "sgd:Momentum",
}

__all__ = ["NAMES"]
