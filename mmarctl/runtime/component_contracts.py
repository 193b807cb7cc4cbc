"""What mmarctl calls on a component of each family: one table for the runtime's refusal
when a BYOC component is built (:mod:`mmarctl.runtime.user_code`) and for ``check``'s
reading of its source (:mod:`mmarctl.check.byoc_contract`), so the two never disagree.
No TensorFlow here: ``check`` imports it.
"""

from __future__ import annotations

#: family -> the methods mmarctl calls on such a component -> how it calls each.
CALLS: dict[str, dict[str, str]] = {
    "losses": {"__call__": "loss(y_true, y_pred), returning a scalar tensor"},
    "transforms": {"__call__": "transform(sample, rng), returning the sample dict"},
    "aux_ops": {"__call__": "aux_op(y_true, y_pred, loss), returning {tag: tensor}"},
    "inferers": {"__call__": "inferer(predict, image)"},
    "networks": {"build": "network.build(spatial_dims, in_channels), returning a keras.Model"},
    # validate calls update and result; training's validation also reset, each round. Both
    # are asked of every metric, as a metric is written once for either.
    "metrics": {"update": "update(sample)", "result": "result()", "reset": "reset()"},
}

#: Clara 3.x's method for the same job: named in the message when a class has it instead.
CLARA_METHODS = {"losses": "compute", "networks": "get_predictions", "transforms": "transform"}


def described(family: str) -> str:
    """How mmarctl calls a component of ``family``, e.g. for a message's "it needs ..."."""
    return "; ".join(CALLS.get(family, {}).values())
