"""Training handlers: Clara handler names -> ``module:Class`` (no TensorFlow here).

A handler is a :class:`mmarctl.runtime.training.contract.Callback`.
"""

NAMES = {
    "StatsHandler": "stats:StatsHandler",
}

__all__ = ["NAMES"]
