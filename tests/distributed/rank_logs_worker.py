"""One epoch of the stand-in MMAR on each rank; dumps what every rank logged and drew.

Usage: python rank_logs_worker.py MMAR OUT_DIR

Writes OUT_DIR/rank{r}.npz: ``losses`` (the step losses the engine yields, i.e. what rank 0
would log), ``positions`` (this rank's items' positions in the full training list) and
``noise`` (the random transforms' output for this rank's first item in epoch 0).
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
    root, out = sys.argv[1], sys.argv[2]
    backend = get_backend()
    plan = TrainingPlan.build(Workspace.locate(root), TrainOptions(seed=4, progress=False),
                              backend)
    pipeline = plan.pipeline
    first = pipeline.process(0, 0)[0]["image"]
    losses = [logs["loss"] for logs in plan.engine().train_epoch(0)]
    positions = [pipeline.position(i) for i in range(len(pipeline.items()))]
    pipeline.close()
    np.savez(os.path.join(out, f"rank{backend.rank}.npz"), losses=np.array(losses),
             positions=np.array(positions), noise=first)
    return 0


if __name__ == "__main__":
    sys.exit(main())
