"""Optimizers: the Keras optimizers they build, hand-computed steps, config round-trips."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from mmarctl.errors import ConfigError  # noqa: E402
from mmarctl.runtime.optimizers.adam import Adam  # noqa: E402


def test_adam_builds_keras_adam_and_first_step():
    opt = Adam().build(0.1)
    assert isinstance(opt, keras.optimizers.Adam)
    var = keras.Variable([1.0, -2.0])
    opt.apply_gradients([(tf.constant([0.5, -4.0]), var)])
    # Adam's first step moves each weight by ~lr * sign(g) (m_hat / sqrt(v_hat) = sign(g)).
    np.testing.assert_allclose(var.numpy(), [0.9, -1.9], atol=1e-6)


def test_adam_accepts_schedule():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    assert Adam().build(schedule).learning_rate is not None


@pytest.mark.parametrize("args", [{"beta1": 1.0}, {"beta2": -0.1}, {"epsilon": 0}])
def test_adam_bad_args(args):
    with pytest.raises(ConfigError, match="Received:"):
        Adam(**args)


@pytest.mark.parametrize("rate", [0, -1e-3, "fast", float("nan")])
def test_bad_learning_rate(rate):
    with pytest.raises(ConfigError, match="Received: learning_rate="):
        Adam().build(rate)


def test_adam_config_round_trip():
    opt = Adam(beta1=0.8)
    assert Adam(**opt.get_config()).get_config() == opt.get_config()
