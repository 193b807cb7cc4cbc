"""Learning-rate policies: Clara names -> ``module:Class``. Importing this imports no TensorFlow.

Contract (docs/architecture.md): ``LrPolicy(**args).build(initial_lr, steps_per_epoch, epochs)``
returns a ``keras.optimizers.schedules.LearningRateSchedule`` evaluated at the global step.
"""

NAMES = {
    "ReducePoly": "reduce_poly:ReducePoly",
    "ReduceCosine": "reduce_cosine:ReduceCosine",
}

__all__ = ["NAMES"]
