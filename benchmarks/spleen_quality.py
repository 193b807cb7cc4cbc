"""Quality benchmark: the spleen scaffold trained on synthetic data reaches validation Dice >= 0.90.

Runs the product end to end, as a user would, in a temporary folder::

    mmarctl clone spleen WS
    mmarctl data synth WS/data --cases N --size S --seed 0
    mmarctl train WS [--epochs E] --seed 0
    mmarctl validate WS

and prints the validation mean Dice reached and the wall time of each stage. Exit status 0
when the Dice reaches the target (default 0.90), 1 otherwise.

Usage: python benchmarks/spleen_quality.py [--cases 12] [--size 64] [--epochs E] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def mmarctl(*args: str) -> float:
    """Run one mmarctl command; returns its wall time in seconds."""
    started = time.perf_counter()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-m", "mmarctl", *args], env=env)
    if result.returncode != 0:
        raise SystemExit(f"mmarctl {' '.join(args)} failed with exit code {result.returncode}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=12, help="synthetic cases (1/4 validation)")
    parser.add_argument("--size", type=int, default=64, help="voxels per axis of the volumes")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override the scaffold's epochs")
    parser.add_argument("--target", type=float, default=0.90, help="Dice to reach")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the workspace here instead of a temporary folder")
    args = parser.parse_args()

    base = args.keep or Path(tempfile.mkdtemp(prefix="mmarctl-spleen-"))
    workspace = base / "spleen"
    if workspace.exists():
        shutil.rmtree(workspace)
    base.mkdir(parents=True, exist_ok=True)
    times = {}
    try:
        times["clone"] = mmarctl("clone", "spleen", str(workspace))
        times["synth"] = mmarctl("data", "synth", str(workspace / "data"), "--cases",
                                 str(args.cases), "--size", str(args.size), "--seed", "0")
        train = ["train", str(workspace), "--seed", "0"]
        if args.epochs:
            train += ["--epochs", str(args.epochs)]
        times["train"] = mmarctl(*train)
        times["validate"] = mmarctl("validate", str(workspace))
        report = json.loads((workspace / "eval" / "metrics.json").read_text())
        dice = report["summary"]["mean_dice"]["value"]
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)

    print()
    print(f"{'stage':<10} {'wall s':>8}")
    for stage, seconds in times.items():
        print(f"{stage:<10} {seconds:>8.1f}")
    print(f"{'total':<10} {sum(times.values()):>8.1f}")
    print(f"validation mean Dice: {dice:.4f} (target {args.target:.2f}) on {os.cpu_count()} CPU(s)")
    return 0 if dice >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
