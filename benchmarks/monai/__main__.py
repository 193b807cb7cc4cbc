"""``python -m benchmarks.monai``: run the rows, print the table (and optionally JSON).

Run from the repository root after ``scripts/setup_bench.sh``. Defaults finish in about ten
minutes on 2 CPU cores; ``--quick`` shrinks every row for a smoke run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.monai.harness import Figure, machine, table, to_json

ROWS = {"1": "row_dice", "2": "row_window", "3": "row_pipeline", "4": "row_train",
        "5": "row_quality"}


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.monai",
        description="mmarctl against MONAI on the same synthetic data: Dice, sliding window, "
                    "input pipeline, training step, time to quality.")
    parser.add_argument("--rows", default="1,2,3,4,5",
                        help="comma-separated row numbers to run (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and few repeats: a smoke run of a minute or two")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed repeats inside a worker; the best counts (default 3)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternating worker launches per tool for speed rows (default 1)")
    parser.add_argument("--quality-budget", type=float, default=300.0,
                        help="row 5: seconds each tool may train before it is stopped "
                             "(default 300)")
    parser.add_argument("--quality-uncapped", action="store_true",
                        help="row 5: let MONAI train to the target or --quality-budget even "
                             "after mmarctl reached it (default: stop MONAI at mmarctl's time)")
    parser.add_argument("--quality-epochs", type=int, default=40,
                        help="row 5: epoch cap (default 40, the scaffold's)")
    parser.add_argument("--precisions", default="float32,bfloat16",
                        help="rows 2 and 4: inference and training-step precisions, each a "
                             "set of rows (default float32,bfloat16: Keras mixed_bfloat16 "
                             "against torch.autocast bfloat16)")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write the figures and machine description here")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the synthetic workspace goes (default: a temp folder, "
                             "removed afterwards)")
    args = parser.parse_args(argv)
    unknown = [r for r in args.rows.split(",") if r.strip() not in ROWS]
    if unknown:
        parser.error(f"unknown row(s) {', '.join(unknown)}; rows are 1-5")
    return args


def config_from(args: argparse.Namespace, workdir: Path) -> dict:
    """Row settings; ``--quick`` shrinks sizes so that every row runs in seconds."""
    config = {"repeats": args.repeats, "rounds": args.rounds, "seed": 0,
              "quality_budget_s": args.quality_budget, "quality_epochs": args.quality_epochs,
              "quality_uncapped": args.quality_uncapped,
              "train_precisions": [p.strip() for p in args.precisions.split(",") if p.strip()]}
    config["precisions"] = config["train_precisions"]  # row 2 (sliding window) as well
    if args.quick:
        config.update(repeats=1, window_shape=(96, 96, 64), pipeline_epochs=2,
                      train_steps=2, train_patch=(32, 32, 32), quality_budget_s=30,
                      quality_epochs=2)
    config["workspace"] = config["quality_workspace"] = workdir / "spleen"
    return config


def main(argv: list[str] | None = None) -> int:
    """Run the chosen rows; print the table; 0 when every correctness check passed."""
    args = parse(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    rows = [r.strip() for r in args.rows.split(",")]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mmarctl-bench-"))
    config = config_from(args, workdir)
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores; load average at start "
          f"{os.getloadavg()[0]:.2f}", file=sys.stderr)
    figures: list[Figure] = []
    try:
        if {"3", "5"} & set(rows):
            from benchmarks.monai.data import make_workspace

            if not (workdir / "spleen").exists():
                make_workspace(workdir / "spleen", cases=12, size=64)
        for row in rows:
            started = time.perf_counter()
            module = importlib.import_module(f"benchmarks.monai.{ROWS[row]}")
            try:
                figures.extend(module.run(config))
            except Exception as error:  # one broken row must not hide the others' figures
                lines = [line for line in str(error).splitlines() if line.strip()]
                reason = next((line.strip() for line in reversed(lines)
                               if "Error" in line and "raise" not in line),
                              lines[-1] if lines else "")
                figures.append(Figure(f"{row} {ROWS[row][4:]}", "row failed", "", "check",
                                      None, note=f"{type(error).__name__}: {reason[:300]}"))
            # Other processes on the cores skew the tools unequally (PyTorch's OpenMP
            # threads wait at barriers for a descheduled peer), so record the load.
            info[f"load_after_row_{row}"] = os.getloadavg()[0]
            print(f"row {row} took {time.perf_counter() - started:.0f} s; load average "
                  f"{os.getloadavg()[0]:.2f}", file=sys.stderr)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    info["load_average_end"] = os.getloadavg()[0]
    print(table(figures))
    print(f"\n{info['cpu']}, {info['cores']} cores; TensorFlow {info['tensorflow']}, "
          f"torch {info['torch']}, MONAI {info['monai']}; load average at end "
          f"{info['load_average_end']:.2f}. advantage >= 1.00x: mmarctl at or ahead.")
    if args.json:
        args.json.write_text(to_json(figures, info), encoding="utf-8")
    return 1 if any(f.verdict() in ("FAIL", "n/a") and f.kind == "check" for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
