"""Cost of ``models/learning_curves.png``: draw time beside the epoch time of the same run.

Clones the spleen scaffold into a temporary folder, writes synthetic data with
``mmarctl data synth``, and trains ``--epochs`` epochs validating after each one with the
real callback list, so :class:`~mmarctl.runtime.training.curves.LearningCurvesWriter`
decides when to redraw as in any run (at most 1 % of the time; always at the end). Every
draw it makes is timed (the first includes importing matplotlib, paid once a run). Then
one draw of that run's history is timed five times on its own, and the same for a
synthetic 500-epoch history with four metrics, to show the cost as a run grows.

Usage: python benchmarks/learning_curves.py [--cases 6] [--size 64] [--epochs 4]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def _long_history(models_dir: Path, epochs: int = 500) -> None:
    """A synthetic history: ``epochs`` records, validation every 5, four metrics."""
    models_dir.mkdir(parents=True, exist_ok=True)
    with open(models_dir / "metrics_history.jsonl", "w", encoding="utf-8") as stream:
        for epoch in range(1, epochs + 1):
            metrics = ({f"dice_{k}": 0.9 - 0.5 / epoch - 0.01 * k for k in range(4)}
                       if epoch % 5 == 0 else {})
            stream.write(json.dumps({
                "epoch": epoch, "epochs": epochs, "phase": "train", "loss": 1 / epoch,
                "learning_rate": 1e-3 * 0.99 ** epoch, "metrics": metrics,
                "key_metric": "dice_0", "best_metric": 0.9 - 0.5 / epoch,
                "best_epoch": epoch - epoch % 5 or None, "seconds": epoch * 10.0}) + "\n")


def _timed(draw, repeat: int = 5) -> float:
    """Median seconds of ``repeat`` calls of ``draw``."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        draw()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=6)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()

    from mmarctl.report.curves import write_learning_curves
    from mmarctl.runtime.plan import TrainingPlan, TrainOptions
    from mmarctl.runtime.training.curves import LearningCurvesWriter
    from mmarctl.workspace import Workspace

    draws: list[float] = []
    original = LearningCurvesWriter.draw

    def timed_draw(self: LearningCurvesWriter) -> None:
        started = time.perf_counter()
        original(self)
        draws.append(time.perf_counter() - started)

    LearningCurvesWriter.draw = timed_draw  # type: ignore[method-assign]
    base = Path(tempfile.mkdtemp(prefix="mmarctl-curves-"))
    try:
        root = base / "spleen"
        for command in (["clone", "spleen", str(root)],
                        ["data", "synth", str(root / "data"), "--cases", str(args.cases),
                         "--size", str(args.size), "--seed", "0"]):
            subprocess.run([sys.executable, "-m", "mmarctl", *command], check=True,
                           stdout=subprocess.DEVNULL)
        workspace = Workspace(root.resolve())
        overrides = {"epochs": args.epochs, "num_training_epoch_per_valid": 1}
        plan = TrainingPlan.build(workspace, TrainOptions(seed=0, overrides=overrides,
                                                          progress=False))
        started = time.perf_counter()
        state = plan.run()
        train_s = time.perf_counter() - started
        epoch_s = [record["time_s"] for record in state.history]
        assert (workspace.models_dir / "learning_curves.png").is_file()
        run_s = _timed(lambda: write_learning_curves(workspace.models_dir))

        long_dir = base / "long" / "models"
        _long_history(long_dir)
        long_s = _timed(lambda: write_learning_curves(long_dir))
    finally:
        LearningCurvesWriter.draw = original  # type: ignore[method-assign]
        shutil.rmtree(base, ignore_errors=True)

    # epoch 1 traces the step: the later epochs are the representative ones
    epoch = statistics.median(epoch_s[1:] or epoch_s)
    rows = [
        ("epoch (train + validation)", f"{epoch:.2f} s",
         f"median of epochs 2..{len(epoch_s)}; epoch 1 {epoch_s[0]:.2f} s"),
        ("one draw, this run", f"{1000 * run_s:.0f} ms",
         f"{100 * run_s / epoch:.2f}% of an epoch (median of 5)"),
        ("one draw, 500 epochs", f"{1000 * long_s:.0f} ms",
         f"{100 * long_s / epoch:.2f}% of the epoch above (4 metrics, median of 5)"),
        ("draws in training", f"{len(draws)}",
         f"of {len(epoch_s)} validations + the end; first {1000 * draws[0]:.0f} ms "
         "with the matplotlib import"),
        ("drawing share of training", f"{100 * sum(draws) / train_s:.2f}%",
         f"{sum(draws):.2f} s of {train_s:.1f} s, import included; target < 1%"),
    ]
    print()
    print(f"{'measure':<28} {'value':>9}  note")
    for name, value, note in rows:
        print(f"{name:<28} {value:>9}  {note}")
    print(f"(spleen scaffold, {args.cases} synthetic cases of {args.size}^3, "
          f"{len(epoch_s)} epochs validating every epoch; {os.cpu_count()} CPU(s): "
          f"{_cpu_name()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
