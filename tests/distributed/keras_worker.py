"""A tiny Keras 3 regression trained through the mmarctl backend, for the multi-process tests.

Usage: python keras_worker.py OUT_DIR [STEPS] [GLOBAL_BATCH] [KILL_RANK_AT_STEP]

Under horovodrun each rank trains on its shard of every global batch; alone, the one process
trains on the whole global batch. Rank 0's initial weights differ from the other ranks' on
purpose, so the broadcast is what makes them agree. Each rank writes OUT_DIR/rank{r}.npz with
its final weights and the (all-ranks mean) loss per step.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from mmarctl.runtime.distributed import get_backend  # noqa: E402


def main() -> int:
    out = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    global_batch = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    kill_at = int(sys.argv[4]) if len(sys.argv) > 4 else -1
    backend = get_backend()
    backend.pin_gpu()

    # The same data on every rank; each takes rows rank::size of every global batch.
    rng = np.random.default_rng(0)
    x_all = rng.normal(size=(steps * global_batch, 4)).astype("float32")
    y_all = (x_all @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32") + 0.1).astype("float32")

    keras.utils.set_random_seed(100 + backend.rank)  # ranks start different on purpose
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"),
                              keras.layers.Dense(1)])
    optimizer = keras.optimizers.Adam(0.05)
    backend.broadcast_variables(model.variables)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        grads = backend.allreduce_gradients(grads)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    losses = []
    for i in range(steps):
        if i == kill_at and backend.rank == backend.size - 1:
            os._exit(17)  # a worker dying mid-run
        batch = slice(i * global_batch, (i + 1) * global_batch)
        rows = backend.shard(list(range(global_batch)))
        x, y = x_all[batch][rows], y_all[batch][rows]
        losses.append(backend.allreduce_mean(float(step(x, y))))
    backend.barrier()
    weights = {f"w{i}": np.asarray(v) for i, v in enumerate(model.trainable_variables)}
    np.savez(os.path.join(out, f"rank{backend.rank}.npz"), losses=np.array(losses),
             size=backend.size, local_rank=backend.local_rank, **weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
