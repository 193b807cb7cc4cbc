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


# ---------------------------------------------------------------- NovoGrad

from mmarctl.runtime.optimizers.novograd import NovoGrad  # noqa: E402
from mmarctl.runtime.optimizers.novograd_keras import NovoGradOptimizer  # noqa: E402
from mmarctl.runtime.optimizers.sgd import SGD, Momentum  # noqa: E402


def test_novograd_is_a_keras_optimizer_and_first_steps_match_hand_computation():
    opt = NovoGrad(beta1=0.9, beta2=0.5, weight_decay=0.1).build(0.01)
    assert isinstance(opt, keras.optimizers.Optimizer)
    w = keras.Variable([3.0, 4.0])
    bias = keras.Variable([1.0])
    g1, b1 = np.array([3.0, 4.0]), np.array([2.0])
    opt.apply_gradients([(tf.constant(g1, tf.float32), w), (tf.constant(b1, tf.float32), bias)])
    # step 1: v = ||g||^2 = 25; m = g/5 + 0.1 * w = [0.6+0.3, 0.8+0.4]; w -= 0.01 * m
    m = g1 / 5 + 0.1 * np.array([3.0, 4.0])
    w_expected = np.array([3.0, 4.0]) - 0.01 * m
    np.testing.assert_allclose(w.numpy(), w_expected, rtol=1e-6)
    # the bias is its own layer: v = 4, m = 2/2 + 0.1 * 1
    np.testing.assert_allclose(bias.numpy(), [1.0 - 0.01 * 1.1], rtol=1e-6)
    # step 2: v = 0.5 * 25 + 0.5 * ||g2||^2 ; m = 0.9 m + g2 / sqrt(v) + 0.1 w
    g2 = np.array([0.0, 1.0])
    opt.apply_gradients([(tf.constant(g2, tf.float32), w), (tf.constant([0.0], tf.float32), bias)])
    v2 = 0.5 * 25 + 0.5 * 1.0
    m2 = 0.9 * m + g2 / (np.sqrt(v2) + 1e-8) + 0.1 * w_expected
    np.testing.assert_allclose(w.numpy(), w_expected - 0.01 * m2, rtol=1e-6)


def test_novograd_grad_averaging_scales_the_step():
    opt = NovoGrad(beta1=0.5, grad_averaging=True).build(1.0)
    w = keras.Variable([0.0, 0.0])
    opt.apply_gradients([(tf.constant([3.0, 4.0]), w)])
    np.testing.assert_allclose(w.numpy(), [-0.3, -0.4], rtol=1e-6)


def test_novograd_decreases_a_quadratic_in_tf_function():
    target = np.array([1.0, -2.0, 0.5], np.float32)
    w = keras.Variable(np.zeros(3, np.float32))
    opt = NovoGrad().build(0.1)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum((w - target) ** 2)
        opt.apply_gradients([(tape.gradient(loss, w), w)])
        return loss

    losses = [float(step()) for _ in range(60)]
    assert losses[-1] < 0.05 * losses[0]
    assert all(np.isfinite(losses))


def test_novograd_state_round_trips_through_checkpoint(tmp_path):
    w = keras.Variable([1.0, 2.0])
    opt = NovoGrad().build(0.1)
    opt.apply_gradients([(tf.constant([1.0, 1.0]), w)])
    ckpt = tf.train.Checkpoint(w=w, opt=opt)
    path = ckpt.write(str(tmp_path / "ckpt"))
    w2 = keras.Variable([0.0, 0.0])
    opt2 = NovoGrad().build(0.1)
    opt2.build([w2])
    tf.train.Checkpoint(w=w2, opt=opt2).read(path).assert_consumed()
    np.testing.assert_allclose(w2.numpy(), w.numpy())
    assert [v.numpy().tolist() for v in opt2.variables] == [v.numpy().tolist()
                                                            for v in opt.variables]


def test_novograd_keras_config_round_trip():
    opt = NovoGradOptimizer(learning_rate=0.5, beta_1=0.8, grad_averaging=True)
    again = NovoGradOptimizer.from_config(opt.get_config())
    assert again.beta_1 == 0.8 and again.grad_averaging is True


@pytest.mark.parametrize("args", [{"beta1": 1.2}, {"beta2": "x"}, {"epsilon": -1},
                                  {"weight_decay": -0.1}, {"grad_averaging": "sometimes"}])
def test_novograd_bad_args(args):
    with pytest.raises(ConfigError, match="Received:"):
        NovoGrad(**args)


# ---------------------------------------------------------------- SGD, Momentum

def test_sgd_and_momentum_steps():
    w = keras.Variable([1.0])
    opt = SGD().build(0.1)
    opt.apply_gradients([(tf.constant([2.0]), w)])
    np.testing.assert_allclose(w.numpy(), [0.8], rtol=1e-6)
    w = keras.Variable([1.0])
    opt = Momentum(momentum=0.5).build(0.1)
    for _ in range(2):
        opt.apply_gradients([(tf.constant([2.0]), w)])
    # v1 = -0.2 ; v2 = 0.5 * -0.2 - 0.2 = -0.3 -> w = 1 - 0.2 - 0.3
    np.testing.assert_allclose(w.numpy(), [0.5], rtol=1e-6)
    assert Momentum(use_nesterov=True).build(0.1).nesterov


@pytest.mark.parametrize("args", [{"momentum": 1.0}, {"momentum": -0.5},
                                  {"use_nesterov": "yes"}])
def test_momentum_bad_args(args):
    with pytest.raises(ConfigError, match="Received:"):
        Momentum(**args)


@pytest.mark.parametrize("opt", [Adam(), NovoGrad(beta1=0.9, grad_averaging=True), SGD(),
                                 Momentum(momentum=0.8)], ids=lambda o: type(o).__name__)
def test_optimizer_config_round_trips(opt):
    assert type(opt)(**opt.get_config()).get_config() == opt.get_config()
