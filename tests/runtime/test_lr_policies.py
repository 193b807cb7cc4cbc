"""Learning-rate policies: the schedule's value at chosen steps, config round-trips, bad args."""

from __future__ import annotations

import pytest

tf = pytest.importorskip("tensorflow")

from mmarctl.errors import ConfigError  # noqa: E402
from mmarctl.runtime.lr_policies.reduce_poly import ReducePoly  # noqa: E402


def test_reduce_poly_per_epoch_values():
    schedule = ReducePoly(poly_power=2.0).build(1e-2, steps_per_epoch=10, epochs=4)
    # step 0..9 -> epoch 0; step 25 -> epoch 2; beyond the end -> 0
    expected = {0: 1e-2, 9: 1e-2, 10: 1e-2 * 0.75 ** 2, 25: 1e-2 * 0.5 ** 2, 40: 0.0, 99: 0.0}
    for step, value in expected.items():
        assert float(schedule(step)) == pytest.approx(value, abs=1e-9), step


def test_reduce_poly_in_tf_function_with_int64_step():
    schedule = ReducePoly().build(1.0, 1, 10)
    value = tf.function(lambda s: schedule(s))(tf.constant(5, tf.int64))
    assert float(value) == pytest.approx(0.5 ** 0.9, rel=1e-6)


@pytest.mark.parametrize("args", [{"poly_power": 0}, {"poly_power": "x"}])
def test_reduce_poly_bad_args(args):
    with pytest.raises(ConfigError, match="Received:"):
        ReducePoly(**args)


@pytest.mark.parametrize("build", [(0.0, 1, 1), (1e-3, 0, 1), (1e-3, 1, 0)])
def test_reduce_poly_bad_build(build):
    with pytest.raises(ConfigError, match="Received:"):
        ReducePoly().build(*build)


def test_reduce_poly_config_round_trips():
    policy = ReducePoly(poly_power=0.95)
    assert ReducePoly(**policy.get_config()).get_config() == policy.get_config()
    schedule = policy.build(1e-3, 5, 7)
    assert type(schedule).from_config(schedule.get_config()).get_config() == schedule.get_config()


# ---------------------------------------------------------------- ReduceCosine

from mmarctl.runtime.lr_policies.reduce_cosine import ReduceCosine  # noqa: E402


def test_reduce_cosine_values():
    schedule = ReduceCosine(rate=0.3).build(1.0, steps_per_epoch=2, epochs=4)
    # epoch e: 1 - 0.3 * (1 - cos(pi e / 4)) / 2
    expected = {0: 1.0, 1: 1.0, 2: 1 - 0.3 * (1 - 2 ** -0.5) / 2, 4: 0.85,
                6: 1 - 0.3 * (1 + 2 ** -0.5) / 2, 8: 0.7, 50: 0.7}
    for step, value in expected.items():
        assert float(schedule(step)) == pytest.approx(value, rel=1e-6), step


def test_reduce_cosine_full_rate_anneals_to_zero():
    schedule = ReduceCosine(rate=1).build(0.5, 1, 10)
    assert float(schedule(10)) == pytest.approx(0.0, abs=1e-8)
    assert float(schedule(5)) == pytest.approx(0.25, rel=1e-6)


@pytest.mark.parametrize("args", [{"rate": -0.1}, {"rate": 1.5}, {"rate": None}])
def test_reduce_cosine_bad_args(args):
    with pytest.raises(ConfigError, match="Received:"):
        ReduceCosine(**args)


def test_reduce_cosine_config_round_trips():
    policy = ReduceCosine(rate=0.3)
    assert ReduceCosine(**policy.get_config()).get_config() == policy.get_config()
    schedule = policy.build(1e-3, 5, 7)
    assert type(schedule).from_config(schedule.get_config()).get_config() == schedule.get_config()


def test_schedule_drives_a_keras_optimizer():
    keras = pytest.importorskip("keras")
    opt = keras.optimizers.SGD(learning_rate=ReducePoly(poly_power=1).build(1.0, 1, 2))
    var = keras.Variable([0.0])
    for _ in range(2):
        opt.apply_gradients([(tf.constant([1.0]), var)])
    # step 0 at lr 1, step 1 at lr 0.5
    assert float(var.numpy()[0]) == pytest.approx(-1.5)
