"""Train an MMAR through mmarctl's TrainingPlan and dump what the multi-process tests compare.

Usage: python spleen_worker.py MMAR OUT_DIR SEED

Writes OUT_DIR/rank{r}.npz: ``curve`` (per-epoch training loss averaged over ranks),
``steps`` (steps per epoch on this rank) and every trainable weight (``w0``, ``w1`` ...).
Run alone or under horovodrun; the backend is picked from the environment.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from mmarctl.runtime.distributed import get_backend  # noqa: E402
from mmarctl.runtime.plan import TrainOptions, TrainingPlan  # noqa: E402
from mmarctl.workspace import Workspace  # noqa: E402


def main() -> int:
    root, out, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    backend = get_backend()
    backend.pin_gpu()
    plan = TrainingPlan.build(Workspace.locate(root), TrainOptions(seed=seed, progress=False),
                              backend)
    state = plan.run()
    curve = [backend.allreduce_mean(entry["loss"]) for entry in state.history]
    weights = {f"w{i}": np.asarray(v) for i, v in enumerate(plan.model.trainable_variables)}
    np.savez(os.path.join(out, f"rank{backend.rank}.npz"), curve=np.array(curve),
             steps=state.steps_per_epoch, **weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
