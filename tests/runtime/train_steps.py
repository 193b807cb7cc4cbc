"""A compiled training step for network tests (rootdir-relative import, like standin_mmar)."""

from __future__ import annotations


def compiled_step(model, loss_fn, optimizer):
    """``step(x, y) -> loss``: one ``tf.function`` forward, backward and update of ``model``."""
    import tensorflow as tf

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step
