"""The training step is traced once per run, also when an epoch ends on a smaller batch
(30 images in batches of 8): that used to trace the whole forward and backward pass a
second time, for the open batch size, as long as the first trace again."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from mmarctl.runtime.distributed import SingleProcess  # noqa: E402
from mmarctl.runtime.training.tf_engine import TFEngine  # noqa: E402


class Pipeline:
    """``items`` 4x4 one-channel images with a label each, in batches of ``batch_size``."""

    patches_per_item = 1

    def __init__(self, items: int, batch_size: int) -> None:
        self.items, self.batch_size = items, batch_size

    def epoch_order(self, epoch: int) -> list[int]:
        return list(range(self.items))

    def dataset(self, epoch: int):
        rng = np.random.default_rng(epoch)
        for start in range(0, self.items, self.batch_size):
            size = min(self.batch_size, self.items - start)
            yield {"image": tf.constant(rng.normal(size=(size, 4, 4, 1)), tf.float32),
                   "label": tf.constant(rng.integers(0, 2, (size, 1)), tf.float32)}


def engine(pipeline) -> TFEngine:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 4, 1))
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    return TFEngine(model, keras.losses.BinaryCrossentropy(), optimizer, pipeline,
                    validator=None, backend=SingleProcess())


@pytest.mark.parametrize("items, batch_size, batches", [(30, 8, [8, 8, 8, 6]),
                                                        (32, 8, [8, 8, 8, 8])])
def test_one_trace_whatever_the_last_batch(items, batch_size, batches):
    trainer = engine(Pipeline(items, batch_size))
    for epoch in range(2):
        logs = list(trainer.train_epoch(epoch))
        assert len(logs) == len(batches) and all(np.isfinite(x["loss"]) for x in logs)
    assert trainer.samples_seen == 2 * items
    assert trainer._step.experimental_get_tracing_count() == 1
    [traced] = trainer._step._list_all_concrete_functions()
    batch_dim = traced.structured_input_signature[0][0].shape[0]
    # an open batch only where a short batch needs it; full batches keep the static shape
    assert batch_dim == (None if items % batch_size else batch_size)
