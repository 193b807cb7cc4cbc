"""Wall time of one AutoML study with 1 and with 2 trial processes, measured in one run.

The study is an enum-only search of 4 combinations (the loss as Dice or Focal alternatives x
RandomSpatialFlip on or off) on the spleen scaffold with synthetic data, so both runs train
exactly the same 4 trials (same seed, same values); only ``--workers`` differs. On CPU the
cores are shared out between trial processes (``cores // workers`` TensorFlow threads each),
so the gain comes from overlapping each trial's start-up, data loading and validation with
another trial's compute, not from more arithmetic.

    python benchmarks/automl_workers.py                 # 4 trials, 1 epoch each
    python benchmarks/automl_workers.py --epochs 3 --size 48
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def mmarctl(*args: object) -> str:
    done = subprocess.run([sys.executable, "-m", "mmarctl", *map(str, args)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"mmarctl {' '.join(map(str, args))} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def make_study_mmar(root: Path, cases: int, size: int) -> None:
    mmarctl("clone", "spleen", root)
    mmarctl("data", "synth", root / "data", "--cases", cases, "--size", size, "--seed", 0)
    path = root / "config" / "config_train.json"
    config = json.loads(path.read_text())
    config["search"] = [{"domain": "transform", "type": "enum",
                         "args": ["lossDice", "lossFocal"],
                         "targets": [[False, True], [True, False]]}]
    config["train"]["loss"] = [dict(config["train"]["loss"], apply={"@disabled": "lossDice"}),
                               {"name": "Focal", "disabled": True,
                                "apply": {"@disabled": "lossFocal"}}]
    flip = next(t for t in config["train"]["pre_transforms"] if t["name"] == "RandomSpatialFlip")
    flip["search"] = [{"type": "enum", "args": ["@disabled"], "targets": [[True], [False]]}]
    path.write_text(json.dumps(config, indent=2))


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--cases", type=int, default=4)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "spleen"
        make_study_mmar(source, args.cases, args.size)
        rows = []
        for workers in (1, 2):
            started = time.monotonic()
            mmarctl("automl", source, "--workers", workers, "--run-id", f"w{workers}",
                    "--seed", 0, "--set", f"epochs={args.epochs}",
                    "--set", "num_training_epoch_per_valid=1")
            seconds = time.monotonic() - started
            results = json.loads((source / "automl" / f"w{workers}" / "results.json").read_text())
            statuses = [t["status"] for t in results["trials"]]
            rows.append((workers, seconds, len(statuses), statuses.count("complete")))
    print(f"automl study, 4 trials (enum grid), spleen scaffold, {args.cases} cases of "
          f"{args.size}^3, {args.epochs} epoch(s) per trial")
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores")
    print(f"{'workers':>8} {'wall s':>8} {'trials':>7} {'complete':>9} {'vs 1 worker':>12}")
    baseline = rows[0][1]
    for workers, seconds, trials, complete in rows:
        print(f"{workers:>8} {seconds:>8.1f} {trials:>7} {complete:>9} "
              f"{baseline / seconds:>11.2f}x")


if __name__ == "__main__":
    main()
