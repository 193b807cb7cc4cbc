"""FusedAdam steps exactly as keras.optimizers.Adam and keeps the same variables."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from mmarctl.runtime.optimizers.fused_adam import FusedAdam  # noqa: E402


def run(optimizer, steps: int = 5, graph: bool = False, dtype="float32"):
    """Variables after ``steps`` updates with fixed pseudo-random gradients."""
    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.normal(size=shape).astype(dtype)) for shape in
                 [(3, 3, 3, 2, 4), (4,), (7,)]]
    gradients = [[tf.constant(rng.normal(size=v.shape).astype(dtype)) for v in variables]
                 for _ in range(steps)]

    def apply(grads):
        optimizer.apply_gradients(zip(grads, variables))

    apply_fn = tf.function(apply) if graph else apply
    for grads in gradients:
        apply_fn(grads)
    return [v.numpy() for v in variables], [v.numpy() for v in optimizer.variables]


def assert_same_arithmetic(mine, theirs):
    """Equal up to float32 rounding: the kernel orders the same operations differently."""
    np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "tf.function"])
@pytest.mark.parametrize("args", [{}, {"beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}])
def test_steps_equal_keras_adam(graph, args):
    mine, mine_state = run(FusedAdam(1e-2, **args), graph=graph)
    theirs, their_state = run(keras.optimizers.Adam(1e-2, **args), graph=graph)
    for a, b in zip(mine + mine_state, theirs + their_state, strict=True):
        assert_same_arithmetic(a, b)


def test_learning_rate_schedule_is_followed():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 1, 0.5)
    mine, _ = run(FusedAdam(schedule))
    theirs, _ = run(keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(0.1, 1, 0.5)))
    for a, b in zip(mine, theirs, strict=True):
        assert_same_arithmetic(a, b)


def test_update_is_one_kernel_per_variable():
    variable = keras.Variable(np.ones((8, 8), np.float32))
    optimizer = FusedAdam(1e-3)
    optimizer.build([variable])

    @tf.function
    def apply(grad):
        optimizer.apply_gradients([(grad, variable)])

    ops = [op.type for op in apply.get_concrete_function(tf.zeros((8, 8))).graph.get_operations()]
    assert ops.count("ResourceApplyAdam") == 1
    assert "Sqrt" not in ops  # none of Keras' elementwise update


def test_amsgrad_takes_keras_update():
    mine, _ = run(FusedAdam(1e-2, amsgrad=True))
    theirs, _ = run(keras.optimizers.Adam(1e-2, amsgrad=True))
    for a, b in zip(mine, theirs, strict=True):
        assert_same_arithmetic(a, b)


@pytest.mark.parametrize("writer,reader", [(keras.optimizers.Adam, FusedAdam),
                                           (FusedAdam, keras.optimizers.Adam)],
                         ids=["keras-to-fused", "fused-to-keras"])
def test_resume_reads_checkpoints_of_either_optimizer(tmp_path, writer, reader):
    """--resume of a run saved before this optimizer existed, and the other way round."""
    from mmarctl.runtime import checkpoint

    def model(seed):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((4,))
        return keras.Model(inputs, keras.layers.Dense(3)(inputs))

    saved, saved_optimizer = model(1), writer(0.1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(saved(tf.ones((1, 4))))
    saved_optimizer.apply_gradients(zip(tape.gradient(loss, saved.trainable_variables),
                                        saved.trainable_variables))
    checkpoint.save_checkpoint(tmp_path / "model.ckpt", saved, saved_optimizer, epoch=1)

    resumed, resumed_optimizer = model(2), reader(0.1)
    checkpoint.restore_training_state(tmp_path / "model.ckpt", resumed, resumed_optimizer)
    assert int(resumed_optimizer.iterations.numpy()) == 1
    for a, b in zip(saved_optimizer.variables, resumed_optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_float64_variables_follow_the_textbook_update():
    """In float64 the kernel is within the float32 learning rate's rounding of Kingma & Ba."""
    lr, beta_1, beta_2, epsilon = 1e-2, 0.9, 0.999, 1e-7
    mine, _ = run(FusedAdam(lr, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon), dtype="float64")
    rng = np.random.default_rng(0)  # the same draws as run()
    variables = [rng.normal(size=shape) for shape in [(3, 3, 3, 2, 4), (4,), (7,)]]
    gradients = [[rng.normal(size=v.shape) for v in variables] for _ in range(5)]
    for index, expected in enumerate(variables):
        m = v = 0.0
        for step, grads in enumerate(gradients, start=1):
            g = grads[index]
            m = m + (g - m) * (1 - beta_1)
            v = v + (g * g - v) * (1 - beta_2)
            rate = lr * np.sqrt(1 - beta_2 ** step) / (1 - beta_1 ** step)
            expected = expected - rate * m / (np.sqrt(v) + epsilon)
        np.testing.assert_allclose(mine[index], expected, rtol=0, atol=1e-8)
