"""Throughput benchmark: training patches/s per precision, input wait, inference, roofline, memory.

Clones the spleen scaffold into a temporary folder and writes synthetic data with
``mmarctl data synth`` once. Then, for each precision (default float32 and bfloat16), a
fresh process trains a warm-up epoch (tracing, cache filling), measures ``--epochs`` more and
times the validation inferer (sliding window) on one validation volume. One more fresh
process then measures the machine's matmul rate in each precision the runs computed in
(``benchmarks/roofline.py``: never inside a training process, whose busy TensorFlow thread
pools slowed NumPy's 256^2 product 100x). One table puts the precisions side by side:

* training patches/s over the whole loop, and the speed-up of each precision over float32;
  then the same for the compiled step alone (the engine's time inside it): the loop also
  pays the pipeline's work (Smart Cache replacement, crops, augmentation) on the same cores,
  a cost that does not shrink with the precision;
* input-wait share: time the loop waited for the next batch over the whole step time
  (target < 10 %: the pipeline keeps up with the compiled step);
* sliding-window inference voxels/s (the model built under the same precision, the
  runtime's predict function): on one validation volume, and on a spleen-sized volume
  (``--infer-shape``, default 224 x 224 x 112: many windows, so throughput rather than one
  window's latency); best of a few passes after an untimed one;
* the roofline rows: the step's achieved GFLOP/s from the counted multiply-adds
  (``benchmarks/roofline.py``: forward conv MACs per patch x 3 for forward + backward,
  x 2 FLOPs), both as the network defines them (what a plain graph computes: an effective
  rate) and as the runtime computes them (decoder joins at low resolution do fewer), beside
  the best square matmul in the same precision (NumPy float32; TensorFlow bfloat16 via
  ``tf.linalg.matmul`` on bf16 tensors), and the computed rate's share of it (a share over
  100 % is marked ``?`` with a line saying the limit is suspect: a training step cannot beat
  the machine's matmul);
* peak memory (max RSS of each precision's process).

Precision ``bfloat16`` runs with ``--amp``; :mod:`mmarctl.runtime.precision` decides what
that means on the machine (bfloat16 on a CPU with AVX-512 BF16 / AMX, float16 on a GPU,
float32 otherwise); the table's last row says what each column ran in and why.

Usage (from the checkout's root, with the checkout's venv):
  .venv/bin/python benchmarks/training_throughput.py [--cases 8] [--size 64] [--epochs 5]
      [--precisions float32,bfloat16] [--matmul 2048] [--jit] [--infer-shape 224,224,112]
Smoke test (about a minute):
  .venv/bin/python benchmarks/training_throughput.py --cases 4 --size 24 --epochs 1 \
      --matmul 256 --infer-shape 32,32,32
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_meter import print_result, run_child, train_measured  # noqa: E402

#: float32 runs with --no-amp, the others with --amp; "bfloat16" also asks a GPU of cc >= 8.0
#: for bfloat16 (MMARCTL_GPU_AMP), "float16" leaves a GPU on float16 (on a CPU both mean
#: bfloat16 where the CPU has it). The table says what each column really ran.
PRECISIONS = ("float32", "bfloat16", "float16")
#: The large volume whose sliding-window inference is timed: a spleen CT at the scaffold's
#: spacing (MONAI row 2's volume too).
INFER_SHAPE = (224, 224, 112)


def measure(workspace_dir: Path, precision: str, epochs: int, jit: bool,
            infer_shape: tuple[int, ...] = INFER_SHAPE) -> dict:
    """Train and infer in ``precision``, in this process (the matmul limit is timed in a
    process of its own: :func:`matmul_limits`)."""
    from roofline import count_macs, step_gflops

    from mmarctl.workspace import Workspace

    workspace = Workspace(workspace_dir.resolve())
    # A warm-up epoch, then `epochs` measured; validation off (inference is timed below).
    run = train_measured(workspace_dir, epochs=epochs, amp=precision != "float32", jit=jit)
    plan = run.plan
    patches_per_s = run.samples / run.wall_s
    step_patches_per_s = run.samples / max(run.step_s, 1e-9)
    wait_share = run.wait_share
    patch = tuple(plan.shapes["image"][:-1])
    channels = plan.shapes["image"][-1]

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
    infer_s = best_inference_seconds(inferer, predict, image)
    # A spleen-sized volume (CT at the scaffold's spacing): many windows per volume, so the
    # figure is the inferer's throughput rather than one window's latency.
    big = np.random.default_rng(0).normal(size=(1, *infer_shape, channels)).astype(np.float32)
    big_s = best_inference_seconds(inferer, predict, big, repeats=2)
    pipeline.close()

    macs = count_macs(plan.model, (*patch, channels))
    computed_macs = count_macs(plan.model, (*patch, channels), as_computed=True)
    achieved = step_gflops(macs, patches_per_s)
    return {
        "precision": precision, "used": plan.precision.reason,
        "patches_per_s": patches_per_s, "wait_share": wait_share,
        "step_patches_per_s": step_patches_per_s,
        "voxels_per_s": float(np.prod(image.shape[1:-1])) / infer_s,
        "volume": list(image.shape[1:-1]), "patch": list(patch),
        "big_voxels_per_s": float(np.prod(infer_shape)) / big_s, "big_volume": list(infer_shape),
        "forward_macs": macs, "step_gflops": achieved, "compute": plan.precision.compute_dtype,
        "computed_forward_macs": computed_macs,
        "computed_step_gflops": step_gflops(computed_macs, patches_per_s),
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def best_inference_seconds(inferer, predict, volume, repeats: int = 3) -> float:
    """Best of ``repeats`` whole-volume passes, after one untimed pass (tracing, kernels)."""
    inferer(predict, volume)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        inferer(predict, volume)
        times.append(time.perf_counter() - started)
    return min(times)


def _child(workspace_dir: Path, precision: str, args: argparse.Namespace) -> dict:
    """:func:`measure` in a fresh process: Keras' policy and the memory peak are per process."""
    command = [sys.executable, __file__, "--one", precision, "--workspace", str(workspace_dir),
               "--epochs", str(args.epochs), "--infer-shape", args.infer_shape]
    if args.jit:
        command.append("--jit")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("MMARCTL_GPU_AMP", None)
    if precision == "bfloat16":
        env["MMARCTL_GPU_AMP"] = "bfloat16"
    return run_child(command, what=precision, env=env)


def matmul_limits(results: list[dict], n: int) -> None:
    """Each result's matmul limit in the dtype it computed in, timed by ``roofline.py`` in
    one fresh process (float32 first, before TensorFlow starts a thread pool); adds
    ``matmul_gflops`` and ``matmul_source`` to each result."""
    dtypes = sorted({r["compute"] for r in results}, key=lambda d: d != "float32")
    roofline = str(Path(__file__).resolve().parent / "roofline.py")
    rates = run_child([sys.executable, roofline, "--n", str(n), "--dtypes", ",".join(dtypes),
                       "--result"], what="matmul limit")
    for r in results:
        r["matmul_gflops"] = rates[r["compute"]]["gflops"]
        r["matmul_source"] = rates[r["compute"]]["source"]


def share_cells(results: list[dict]) -> tuple[list[str], list[str]]:
    """The "share of the limit" cells (computed step GFLOP/s / matmul GFLOP/s) and a line for
    each share over 100 %: a step cannot beat the machine's matmul, so the limit is suspect."""
    cells, warnings = [], []
    for r in results:
        share = r["computed_step_gflops"] / r["matmul_gflops"] if r["matmul_gflops"] else math.inf
        if share <= 1:
            cells.append(f"{100 * share:.0f}%")
            continue
        cells.append(f"{100 * share:.0f}%?" if math.isfinite(share) else "?")
        warnings.append(
            f"{r['precision']}: the step's {r['computed_step_gflops']:.1f} GFLOP/s is over the "
            f"measured matmul limit ({r['matmul_gflops']:.1f} GFLOP/s): the limit is suspect "
            "(a loaded machine, or --matmul too small); time it alone with "
            "benchmarks/roofline.py")
    return cells, warnings


def print_table(results: list[dict], args: argparse.Namespace) -> None:
    """The precisions side by side, one row per measure, then what each column ran in."""
    first = results[0]
    shares, suspect = share_cells(results)
    base = next((r for r in results if r["precision"] == "float32"), first)
    patch = "x".join(map(str, first["patch"]))
    rows = [
        ("training patches/s", [f"{r['patches_per_s']:.2f}" for r in results],
         f"patch {patch}"),
        ("vs float32", [f"{r['patches_per_s'] / base['patches_per_s']:.2f}x" for r in results],
         "speed-up of the training step"),
        ("step alone patches/s", [f"{r['step_patches_per_s']:.2f}" for r in results],
         "time inside the compiled step only (the loop's pipeline threads still run beside it)"),
        ("step vs float32",
         [f"{r['step_patches_per_s'] / base['step_patches_per_s']:.2f}x" for r in results],
         "the target's measure: the Clara Unet training step"),
        ("input wait share", [f"{100 * r['wait_share']:.1f}%" for r in results], "target < 10%"),
        ("inference voxels/s", [f"{r['voxels_per_s']:,.0f}" for r in results],
         f"validation volume {'x'.join(map(str, first['volume']))}, sliding window, best of 3"),
        ("inference vs float32",
         [f"{r['voxels_per_s'] / base['voxels_per_s']:.2f}x" for r in results], ""),
        ("big volume voxels/s", [f"{r['big_voxels_per_s']:,.0f}" for r in results],
         f"volume {'x'.join(map(str, first['big_volume']))}, sliding window, best of 2"),
        ("big volume vs float32",
         [f"{r['big_voxels_per_s'] / base['big_voxels_per_s']:.2f}x" for r in results], ""),
        ("step GFLOP/s, network", [f"{r['step_gflops']:.1f}" for r in results],
         f"counted as defined: 3 x {first['forward_macs'] / 1e9:.2f} GMAC fwd per patch"
         " x 2 FLOP"),
        ("step GFLOP/s, computed", [f"{r['computed_step_gflops']:.1f}" for r in results],
         f"as the runtime computes it: 3 x {first['computed_forward_macs'] / 1e9:.2f} GMAC"
         " (low-resolution decoder joins)"),
        ("matmul GFLOP/s", [f"{r['matmul_gflops']:.1f}" for r in results],
         f"best {args.matmul}^2 matmul: " + ", ".join(r["matmul_source"] for r in results)),
        ("share of the limit", shares, "step GFLOP/s, computed / matmul, same precision"),
        ("peak memory", [f"{r['peak_mib']:,.0f} MiB" for r in results], "max RSS per process"),
    ]
    width = max(14, *(len(r["precision"]) for r in results))
    print()
    print(f"{'measure':<22} " + " ".join(f"{r['precision']:>{width}}" for r in results)
          + "  note")
    for name, values, note in rows:
        print(f"{name:<22} " + " ".join(f"{v:>{width}}" for v in values) + f"  {note}")
    for line in suspect:
        print(line)
    for r in results:
        print(f"{r['precision']}: ran {r['used']}")
    print(f"({args.epochs} measured epochs, {args.cases} cases of {args.size}^3, "
          f"{os.cpu_count()} CPU(s), jit={'on' if args.jit else 'off'})")


def parse_shape(text: str) -> tuple[int, ...]:
    """``"224,224,112"`` -> ``(224, 224, 112)``."""
    return tuple(int(v) for v in text.split(","))


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5, help="measured epochs after warm-up")
    parser.add_argument("--precisions", default="float32,bfloat16",
                        help="comma-separated, from float32,bfloat16,float16 (the last two "
                             "run with --amp)")
    parser.add_argument("--matmul", type=int, default=2048,
                        help="square matrix size of the matmul limit")
    parser.add_argument("--jit", action="store_true", help="XLA-compile the training step")
    parser.add_argument("--infer-shape", default=",".join(map(str, INFER_SHAPE)),
                        help="X,Y,Z of the volume whose sliding-window inference is timed "
                             "(besides one validation volume)")
    parser.add_argument("--one", choices=PRECISIONS, help=argparse.SUPPRESS)
    parser.add_argument("--workspace", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # a measuring process
        print_result(measure(args.workspace, args.one, args.epochs, args.jit,
                             parse_shape(args.infer_shape)))
        return 0
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    unknown = sorted(set(precisions) - set(PRECISIONS))
    if unknown or not precisions:
        parser.error(f"--precisions takes {','.join(PRECISIONS)}; Received: {args.precisions}")

    base = Path(tempfile.mkdtemp(prefix="mmarctl-throughput-"))
    try:
        workspace_dir = base / "spleen"
        for command in (["clone", "spleen", str(workspace_dir)],
                        ["data", "synth", str(workspace_dir / "data"), "--cases", str(args.cases),
                         "--size", str(args.size), "--seed", "0"]):
            subprocess.run([sys.executable, "-m", "mmarctl", *command], check=True,
                           stdout=subprocess.DEVNULL)
        results = [_child(workspace_dir, p, args) for p in precisions]
        matmul_limits(results, args.matmul)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print_table(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
