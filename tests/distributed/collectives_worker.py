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
    }
    with open(os.path.join(sys.argv[1], f"rank{r}.json"), "w") as file:
        json.dump(result, file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
