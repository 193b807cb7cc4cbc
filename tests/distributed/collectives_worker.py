"""Every HorovodBackend collective once, with values that differ by rank; writes the results.

Usage: python collectives_worker.py OUT_DIR   (under horovodrun -np 2)
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from mmarctl.runtime.distributed import get_backend  # noqa: E402


class _Cases:
    """A stand-in validation pipeline: rank r's share of three one-value images."""

    task = "segmentation"

    def __init__(self, values: list[float]) -> None:
        self.values = values

    def items(self) -> list[float]:
        return self.values

    def samples(self, epoch: int, order):
        for index in order:
            value = self.values[index]
            yield {"image": np.full((4, 4, 1), value, np.float32),
                   "meta": {"image": {"filename": f"case_{value:g}"}}}

    def batch_arrays(self, sample):
        return {"image": sample["image"]}


class _OwnMean:
    """A metric of one's own (Clara's update/result API)."""

    name = "own"

    def __init__(self) -> None:
        self.values: list[float] = []

    def reset(self) -> None:
        self.values = []

    def update(self, sample) -> None:
        self.values.append(float(np.mean(sample["model"])))

    def result(self) -> float:
        return float(np.mean(self.values)) if self.values else float("nan")


def validated(backend) -> dict[str, float]:
    """Training's validation over an uneven list: 1 and 6 on rank 0, 2 on rank 1. The job's
    mean is 3, where a mean of the ranks' means would be 2.75."""
    from mmarctl.runtime.metrics.average import ComputeAverage
    from mmarctl.runtime.training.tf_engine import Validator

    pipeline = _Cases(backend.share([1.0, 2.0, 6.0]))
    validator = Validator(pipeline, lambda predict, image: image,
                          [ComputeAverage(name="mean", field="model"), _OwnMean()], None,
                          backend)
    return validator.run(predict=None)


def main() -> int:
    backend = get_backend()
    r = backend.rank
    variable = keras.Variable(np.full((2,), float(r + 1), "float32"))
    backend.broadcast_variables([variable], root_rank=1)          # everyone takes rank 1's

    @tf.function
    def reduce(g):
        return backend.allreduce_gradients([None, g, tf.IndexedSlices(
            tf.fill([1, 2], g), tf.constant([0]), tf.constant([2, 2]))])

    none, dense, sliced = reduce(tf.constant(float(r)))
    backend.barrier()
    result = {
        "name": backend.name, "rank": r, "size": backend.size, "chief": backend.is_chief,
        "broadcast": np.asarray(variable).tolist(),
        "grad_none": none is None, "grad_dense": float(dense),
        "grad_sliced": np.asarray(sliced).tolist(),
        "mean_dict": backend.allreduce_mean({"dice": float(r), "loss": 2.0 * r}),
        "mean_float": backend.allreduce_mean(float(r)),
        "sum_array": backend.allreduce_sum(np.array([r, 1.0])).tolist(),
        "shard": backend.shard(list("abcde")),
        "share": backend.share(list("abcde")),
        "gathered": backend.gather_objects({"rank": r, "cases": ["x"] * (r + 1)}),
        "validated": validated(backend),
    }
    with open(os.path.join(sys.argv[1], f"rank{r}.json"), "w") as file:
        json.dump(result, file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
