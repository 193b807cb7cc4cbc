"""Data-parallel scaling: training throughput of 1 vs 2 CPU workers, and mixed precision on GPU.

    .venv/bin/python benchmarks/scaling.py [--size 40] [--crop 32] [--epochs 4]

Both runs train the spleen scaffold (the scaffold's transforms, UNet, Dice loss, Adam; crops
shrunk to ``--crop``) on the same synthetic volumes with the same per-worker batch, so the
two-worker run does twice the work per step (weak scaling, as Horovod is used). Throughput is
training patches per second over the epochs after the first (which includes tracing) and
before the last (which validates). Scaling efficiency = throughput(2) / (2 x throughput(1)).
On an NVIDIA GPU it also times one GPU with ``use_amp`` false and true; without one it prints
"no GPU".

Each measurement is a fresh process (``--worker``): under Horovod's launcher for 2 workers,
alone for 1. Needs Horovod (python -m mmarctl.install_horovod) for the 2-worker run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "distributed"))


def worker(root: str, out: str) -> int:
    """Train ``root`` in this process (one rank) and write throughput figures to ``out``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mmarctl.runtime.distributed import get_backend
    from mmarctl.runtime.plan import TrainOptions, TrainingPlan
    from mmarctl.workspace import Workspace

    backend = get_backend()
    backend.pin_gpu()
    plan = TrainingPlan.build(Workspace.locate(root), TrainOptions(seed=0, progress=False),
                              backend)
    started = time.perf_counter()
    state = plan.run()
    wall = time.perf_counter() - started
    engine = plan.last_engine
    epochs = len(state.history)
    per_epoch = backend.allreduce_sum(engine.samples_seen / epochs)   # patches, all ranks
    timed = [h["time_s"] for h in state.history[1:-1]] or [h["time_s"] for h in state.history]
    epoch_s = backend.allreduce_mean(statistics.median(timed))
    if backend.is_chief:
        Path(out).write_text(json.dumps({
            "workers": backend.size, "patches_per_epoch": per_epoch, "epoch_s": epoch_s,
            "throughput": per_epoch / epoch_s, "wall_s": wall,
            "amp": plan.precision.policy != "float32",
            "steps_per_epoch": state.steps_per_epoch}))
    return 0


def _measure(workers: int, root: Path, work: Path, env: dict[str, str]) -> dict:
    out = work / f"result-{workers}-{time.monotonic_ns()}.json"
    script = [sys.executable, str(Path(__file__).resolve()), "--worker", str(root), str(out)]
    if workers == 1:
        cmd = script
    else:
        cmd = [sys.executable, "-m", "horovod.runner.launch", "--gloo", "-np", str(workers),
               "-H", f"localhost:{workers}", *script]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"{workers}-worker run failed:\n"
                         f"{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    return json.loads(out.read_text())


def _gpu_count() -> int:
    from mmarctl.launcher import count_gpus

    return count_gpus()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", nargs=2, metavar=("MMAR", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--cases", type=int, default=9, help="synthetic volumes (default 9)")
    parser.add_argument("--size", type=int, default=40, help="volume edge in voxels (40)")
    parser.add_argument("--crop", type=int, default=32,
                        help="training crop edge, a multiple of 16 for the UNet (32)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run (4)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.worker:
        return worker(*args.worker)
    if args.crop % 16 or args.crop > args.size:
        parser.error(f"--crop must be a multiple of 16 (the UNet halves it 4 times) and at most "
                     f"--size; Received: crop={args.crop}, size={args.size}")

    from tiny_spleen import make_spleen

    from mmarctl.launcher import horovod_status, worker_environment

    figures: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} logical CPUs, "
                   f"Python {platform.python_version()}",
        "setup": f"spleen scaffold, {args.cases} synthetic cases of {args.size}^3, "
                 f"crop {args.crop}^3 x 2 patches per image, 1 image per worker-step, "
                 f"{args.epochs} epochs"}
    with tempfile.TemporaryDirectory(prefix="mmarctl-scaling-") as tmp:
        work = Path(tmp)
        root = make_spleen(work / "exp", cases=args.cases, size=args.size, crop=args.crop,
                           patches=2, batch=2, epochs=args.epochs)
        config = json.loads((root / "config" / "config_train.json").read_text())
        config["num_training_epoch_per_valid"] = args.epochs   # validate only at the end
        (root / "config" / "config_train.json").write_text(json.dumps(config))

        if not horovod_status()["tensorflow"]:
            print("Horovod is not installed: python -m mmarctl.install_horovod")
            return 1
        cpu_env = worker_environment(2, cpu=True, local_procs=2)
        cpu_env.pop("TF_NUM_INTRAOP_THREADS")   # each run picks its own share below
        one_env = {**cpu_env, "TF_NUM_INTRAOP_THREADS": str(os.cpu_count() or 1)}
        one_env.pop("MMARCTL_WORKER")
        two_env = {**cpu_env, "TF_NUM_INTRAOP_THREADS": str(max(1, (os.cpu_count() or 1) // 2))}
        one = _measure(1, root, work, one_env)
        two = _measure(2, root, work, two_env)
        figures["cpu_1_worker_patches_per_s"] = round(one["throughput"], 3)
        figures["cpu_2_workers_patches_per_s"] = round(two["throughput"], 3)
        figures["scaling_efficiency"] = round(two["throughput"] / (2 * one["throughput"]), 3)
        figures["epoch_s"] = {"1": round(one["epoch_s"], 2), "2": round(two["epoch_s"], 2)}

        if _gpu_count() == 0:
            figures["gpu"] = "no GPU"
        else:
            gpu_env = {k: v for k, v in os.environ.items() if k != "MMARCTL_WORKER"}
            results = {}
            for amp in (False, True):
                config["use_amp"] = amp
                (root / "config" / "config_train.json").write_text(json.dumps(config))
                results[amp] = _measure(1, root, work, gpu_env)
            figures["gpu_fp32_patches_per_s"] = round(results[False]["throughput"], 3)
            figures["gpu_amp_patches_per_s"] = round(results[True]["throughput"], 3)
            figures["amp_speedup"] = round(results[True]["throughput"]
                                           / results[False]["throughput"], 3)
    for key, value in figures.items():
        print(f"{key}: {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
