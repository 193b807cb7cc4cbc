"""Quality at equal epochs: the spleen scaffold trained in float32 and in bfloat16, two seeds each.

Runs the product as a user would, in a temporary folder: one ``mmarctl clone spleen`` and one
``mmarctl data synth`` set, then for each seed and each precision::

    mmarctl train WS --seed S --epochs E --no-amp | --amp
    mmarctl validate WS --no-amp | --amp

(``--amp`` means bfloat16 on a CPU with AVX-512 BF16 or AMX; see
``mmarctl.runtime.precision``; each run prints the precision it used.) It prints, per run,
the best validation mean Dice seen during training (validated in the run's own precision),
the final model's ``mmarctl validate`` Dice (on the input grid, same precision) and the
training time; then, per seed, the bfloat16 minus float32 differences and whether each is
within ``--tolerance`` (default 0.01). Exit status 0 when every difference is within it.

Usage (from the checkout's root, with the checkout's venv):
  .venv/bin/python benchmarks/precision_quality.py [--cases 12] [--size 64] [--epochs 40]
      [--seeds 0,1] [--tolerance 0.01]
Smoke test (4 cases of 24^3, 1 epoch, 1 seed):
  .venv/bin/python benchmarks/precision_quality.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The log line a run opens with (mmarctl.runtime.precision.for_run).
PRECISION_LINE = re.compile(r"precision (.+)$", re.MULTILINE)


def mmarctl(*args: str) -> tuple[float, str]:
    """Run one mmarctl command; (wall seconds, its output). Stops the benchmark on failure."""
    started = time.perf_counter()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-m", "mmarctl", *args], env=env,
                          capture_output=True, text=True)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise SystemExit(f"mmarctl {' '.join(args)} failed ({done.returncode}):\n"
                         + "\n".join(output.strip().splitlines()[-5:]))
    return time.perf_counter() - started, output


def run_one(workspace: Path, seed: int, amp: bool, epochs: int | None) -> dict:
    """Train and validate once; the Dice figures and what precision was used."""
    flag = "--amp" if amp else "--no-amp"
    shutil.rmtree(workspace / "models", ignore_errors=True)
    train = ["train", str(workspace), "--seed", str(seed), flag]
    if epochs:
        train += ["--epochs", str(epochs)]
    train_s, output = mmarctl(*train)
    used = PRECISION_LINE.search(output)
    summary = json.loads((workspace / "models" / "training_summary.json").read_text())
    mmarctl("validate", str(workspace), flag)
    metrics = json.loads((workspace / "eval" / "metrics.json").read_text())["summary"]
    return {"seed": seed, "precision": "bfloat16" if amp else "float32",
            "used": used.group(1) if used else "?", "best_val_dice": summary["best_metric"],
            "best_epoch": summary["best_epoch"], "validate_dice": metrics["mean_dice"]["value"],
            "train_s": train_s}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=12, help="synthetic cases (1/4 validation)")
    parser.add_argument("--size", type=int, default=64, help="voxels per axis of the volumes")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of every run (default: the scaffold's)")
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds")
    parser.add_argument("--tolerance", type=float, default=0.01,
                        help="largest |bfloat16 - float32| Dice difference that passes")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 4 cases of 24^3, 1 epoch, seed 0")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.size, args.epochs, args.seeds = 4, 24, 1, "0"
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]

    base = Path(tempfile.mkdtemp(prefix="mmarctl-precision-"))
    workspace = base / "spleen"
    results = []
    try:
        mmarctl("clone", "spleen", str(workspace))
        mmarctl("data", "synth", str(workspace / "data"), "--cases", str(args.cases),
                "--size", str(args.size), "--seed", "0")
        for seed in seeds:
            for amp in (False, True):  # alternate, so a load change hits both alike
                results.append(run_one(workspace, seed, amp, args.epochs))
                r = results[-1]
                print(f"seed {seed} {r['precision']:<8} best val Dice {r['best_val_dice']:.4f} "
                      f"validate {r['validate_dice']:.4f} train {r['train_s']:.0f} s "
                      f"({r['used']})", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    print()
    print(f"{'seed':>4} {'precision':<9} {'best val Dice':>13} {'epoch':>5} "
          f"{'validate Dice':>13} {'train s':>8}")
    for r in results:
        print(f"{r['seed']:>4} {r['precision']:<9} {r['best_val_dice']:>13.4f} "
              f"{r['best_epoch']:>5} {r['validate_dice']:>13.4f} {r['train_s']:>8.1f}")
    ok = True
    print()
    for seed in seeds:
        fp32, bf16 = (next(r for r in results if r["seed"] == seed and r["precision"] == p)
                      for p in ("float32", "bfloat16"))
        for key, label in (("best_val_dice", "best val Dice"), ("validate_dice", "validate Dice")):
            diff = bf16[key] - fp32[key]
            within = abs(diff) <= args.tolerance
            ok &= within
            print(f"seed {seed}: {label} bfloat16 - float32 = {diff:+.4f} "
                  f"({'within' if within else 'OUTSIDE'} {args.tolerance})")
    print(f"bfloat16 runs used: {next(r['used'] for r in results if r['precision'] == 'bfloat16')}")
    print(f"({args.cases} cases of {args.size}^3, epochs {args.epochs or 'of the scaffold'}, "
          f"{os.cpu_count()} CPU(s))")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
