"""Throughput benchmark: training patches/s, input-wait share, sliding-window voxels/s, memory.

Clones the spleen scaffold into a temporary folder, writes synthetic data with
``mmarctl data synth``, trains a warm-up epoch (tracing, cache filling) and then measures
``--epochs`` more, then times the validation inferer on one validation volume. Prints a
table; the input-wait share is the time the training loop waited for the next batch over
the whole step time (target < 10%: the pipeline keeps up with the compiled step).

Usage: python benchmarks/training_throughput.py [--cases 8] [--size 64] [--epochs 5] [--jit]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class Meter:
    """Training callback: resets the engine's counters after the warm-up epoch."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.started = None

    def on_epoch_end_hook(self, state, logs) -> None:
        if state.epoch == 0:
            self.engine.wait_s = self.engine.step_s = 0.0
            self.engine.samples_seen = 0
            self.started = time.perf_counter()


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5, help="measured epochs after warm-up")
    parser.add_argument("--jit", action="store_true", help="XLA-compile the training step")
    args = parser.parse_args()

    from mmarctl.runtime.plan import TrainingPlan, TrainOptions
    from mmarctl.runtime.training.contract import Callback
    from mmarctl.workspace import Workspace

    base = Path(tempfile.mkdtemp(prefix="mmarctl-throughput-"))
    try:
        workspace_dir = base / "spleen"
        for command in (["clone", "spleen", str(workspace_dir)],
                        ["data", "synth", str(workspace_dir / "data"), "--cases", str(args.cases),
                         "--size", str(args.size), "--seed", "0"]):
            subprocess.run([sys.executable, "-m", "mmarctl", *command], check=True,
                           stdout=subprocess.DEVNULL)
        workspace = Workspace(workspace_dir.resolve())
        overrides = {"epochs": args.epochs + 1, "num_training_epoch_per_valid": 10_000}
        plan = TrainingPlan.build(workspace, TrainOptions(seed=0, overrides=overrides,
                                                          jit=args.jit, progress=False))
        engine = plan.engine()
        plan.engine = lambda: engine
        meter = Meter(engine)

        class Hook(Callback):
            def on_epoch_end(self, state, logs):
                meter.on_epoch_end_hook(state, logs)

        plan.handlers = [Hook()]
        plan.validation = None  # measure training alone; inference is timed below
        engine.validator = None
        plan.run()
        wall = time.perf_counter() - meter.started
        patches_per_s = engine.samples_seen / wall
        wait_share = engine.wait_s / max(engine.wait_s + engine.step_s, 1e-9)
        patch = plan.shapes["image"][:-1]

        # Sliding-window inference on one validation volume with the config's inferer.
        import numpy as np

        from mmarctl.runtime.builder import ComponentBuilder
        from mmarctl.runtime.training.tf_engine import make_predict

        resolved = workspace.resolve("config_train.json")
        builder = ComponentBuilder(resolved.file, workspace.root)
        data = resolved.data
        builder.build_list("transforms", data["train"]["pre_transforms"],
                           "train.pre_transforms")  # defines what validate's refs name
        pipeline = builder.build("pipelines", data["validate"]["image_pipeline"],
                                 "validate.image_pipeline")
        inferer = builder.build("inferers", data["validate"]["inferer"], "validate.inferer")
        pipeline.setup(builder.build_list("transforms", data["validate"]["pre_transforms"],
                                          "validate.pre_transforms"), seed=0)
        sample = next(pipeline.samples(0))
        image = pipeline.batch_arrays(sample)["image"][None]
        predict = make_predict(plan.model)
        inferer(predict, image)  # warm-up: tracing
        started = time.perf_counter()
        inferer(predict, image)
        infer_s = time.perf_counter() - started
        voxels_per_s = float(np.prod(image.shape[1:-1])) / infer_s
        pipeline.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("training patches/s", f"{patches_per_s:.2f}", f"patch {'x'.join(map(str, patch))}"),
        ("input wait share", f"{100 * wait_share:.1f}%", "target < 10%"),
        ("inference voxels/s", f"{voxels_per_s:,.0f}", f"volume {'x'.join(map(str, image.shape[1:-1]))}"),
        ("peak memory", f"{peak_mib:,.0f} MiB", "max RSS of this process"),
    ]
    print()
    print(f"{'measure':<22} {'value':>14}  note")
    for name, value, note in rows:
        print(f"{name:<22} {value:>14}  {note}")
    print(f"({args.epochs} measured epochs, {os.cpu_count()} CPU(s), jit={'on' if args.jit else 'off'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
