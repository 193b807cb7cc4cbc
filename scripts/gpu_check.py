"""The GPU check behind ``scripts/gpu_check.sh`` (which runs it only where a GPU is listed).

Each step runs the product as a user would (``python -m mmarctl ...``) or the throughput
benchmark's measuring process, on one synthetic spleen workspace, and becomes rows of one
table: check, precision, throughput (patches/s), share of the GPU's peak (the step's counted
GFLOP/s over the best matmul in the same precision, ``benchmarks/roofline.py``), Dice, max
diff of an export against the checkpoint model, and status. A failed step is a row with its
last error line; the others still run. Exit 1 when any step failed.

Budget (under 8 minutes on one recent GPU with the defaults): workspace 10 s; throughput
2-3 x ~40 s; Dice 2 x (train + validate) ~2 x 60 s; export ~60 s; Horovod ~60 s. The
export is of the float16 run's checkpoint, built as a float32 model (exports are float32).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def mmarctl(*args: object, env: dict | None = None, timeout: float = 300) -> tuple[bool, str]:
    """``python -m mmarctl ARGS``: (succeeded, output)."""
    try:
        done = subprocess.run([sys.executable, "-m", "mmarctl", *map(str, args)],
                              capture_output=True, text=True, timeout=timeout,
                              env=env or ENV, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:.0f} s"
    return done.returncode == 0, done.stdout + done.stderr


def last_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1][:90] if lines else "?"


def gpus() -> list[tuple[str, tuple[int, int]]]:
    """(name, compute capability) of each GPU TensorFlow sees."""
    import tensorflow as tf

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        found.append((details.get("device_name", gpu.name),
                      tuple(details.get("compute_capability") or (0, 0))))
    return found


def throughput_rows(workspace: Path, precisions: list[str], epochs: int) -> list[dict]:
    """The throughput benchmark's measuring process, once per precision."""
    import training_throughput as tt

    rows = []
    for precision in precisions:
        args = argparse.Namespace(epochs=epochs, matmul=8192, jit=False)
        try:
            r = tt._child(workspace, precision, args)
        except SystemExit as failure:
            rows.append({"check": "train throughput", "precision": precision,
                         "status": f"failed: {last_line(str(failure))}"})
            continue
        rows.append({"check": "train throughput", "precision": r["used"].split(":")[0],
                     "throughput": r["patches_per_s"],
                     "share": r["step_gflops"] / r["matmul_gflops"],
                     "note": f"{r['step_gflops']:.0f} of {r['matmul_gflops']:.0f} GFLOP/s",
                     "status": "ok"})
    return rows


def dice_row(workspace: Path, amp: bool, epochs: int) -> dict:
    """Train with --amp/--no-amp, then validate in the same precision: the Dice reached."""
    flag = "--amp" if amp else "--no-amp"
    shutil.rmtree(workspace / "models", ignore_errors=True)
    row = {"check": "train + validate", "precision": "float16" if amp else "float32"}
    started = time.perf_counter()
    ok, output = mmarctl("train", workspace, "--seed", 0, "--epochs", epochs, flag)
    if not ok:
        return {**row, "status": f"failed: {last_line(output)}"}
    train_s = time.perf_counter() - started
    for line in output.splitlines():
        if "precision " in line:
            row["precision"] = line.split("precision ", 1)[1].split(":")[0]
            break
    ok, output = mmarctl("validate", workspace, flag)
    if not ok:
        return {**row, "status": f"failed: {last_line(output)}"}
    summary = json.loads((workspace / "eval" / "metrics.json").read_text())["summary"]
    return {**row, "dice": summary["mean_dice"]["value"], "note": f"{epochs} epochs in "
            f"{train_s:.0f} s", "status": "ok"}


def horovod_row(workspace: Path, count: int, epochs: int) -> dict:
    row = {"check": "horovod 2 workers", "precision": "float32"}
    if count < 2:
        return {**row, "status": f"skipped: {count} GPU"}
    try:
        import horovod.tensorflow as hvd
    except Exception as error:
        return {**row, "status": f"skipped: horovod does not import ({type(error).__name__}; "
                                 "python -m mmarctl.install_horovod)"}
    nccl = bool(getattr(hvd, "nccl_built", lambda: False)())
    shutil.rmtree(workspace / "models", ignore_errors=True)
    started = time.perf_counter()
    ok, output = mmarctl("train", workspace, "--gpus", 2, "--seed", 0, "--epochs", epochs,
                         "--no-amp", timeout=400)
    if not ok:
        return {**row, "status": f"failed: {last_line(output)}"}
    summary = json.loads((workspace / "models" / "training_summary.json").read_text())
    return {**row, "dice": summary.get("best_metric"),
            "note": f"{'NCCL' if nccl else 'no NCCL: host collectives'}, {epochs} epochs in "
                    f"{time.perf_counter() - started:.0f} s",
            "status": "ok" if nccl else "ok (without NCCL)"}


def validate_row(workspace: Path, count: int) -> dict:
    """``validate --gpus 2`` against one process's validate of the same checkpoint: the
    gathered figures must be the same (docs/distributed.md, Validation and inference)."""
    row = {"check": "validate 2 workers", "precision": "float32"}
    if count < 2:
        return {**row, "status": f"skipped: {count} GPU"}
    summaries = []
    for name, extra in (("eval-1", ()), ("eval-2", ("--gpus", 2))):
        ok, output = mmarctl("validate", workspace, "-o", workspace / name, "--no-amp", *extra,
                             timeout=300)
        if not ok:
            return {**row, "status": f"failed: {last_line(output)}"}
        summaries.append(json.loads((workspace / name / "metrics.json").read_text())["summary"])
    dice = summaries[1].get("mean_dice", {}).get("value")
    same = summaries[0] == summaries[1]
    return {**row, "dice": dice, "note": "same metrics.json summary as 1 process" if same
            else f"differs from 1 process: {summaries[0]} vs {summaries[1]}",
            "status": "ok" if same else "failed: another summary than one process's"}


def export_rows(workspace: Path) -> list[dict]:
    """``mmarctl export --format all`` (trt included where it can be built), verified."""
    ok, output = mmarctl("export", workspace, "--format", "all", timeout=400)
    if not ok:
        return [{"check": "export", "status": f"failed: {last_line(output)}"}]
    manifest = json.loads((workspace / "models" / "export.json").read_text())
    rows = []
    for fmt, result in (manifest.get("formats") or {}).items():
        if "skipped" in result:
            rows.append({"check": f"export {fmt}", "status": f"skipped: {result['skipped']}"})
        else:
            rows.append({"check": f"export {fmt}", "precision": "float32",
                         "diff": result.get("max_abs_diff"),
                         "note": f"{result.get('seconds', 0):.1f} s", "status": "ok"})
    if "trt" not in (manifest.get("formats") or {}):
        rows.append({"check": "export trt", "status": "missing from export.json"})
    return rows


def print_table(rows: list[dict], title: str) -> None:
    print()
    print(title)
    header = (f"{'check':<20} {'precision':<10} {'patches/s':>9} {'% peak':>7} {'Dice':>7} "
              f"{'max diff':>9}  status / note")
    print(header)
    print("-" * len(header))
    fmt = lambda v, spec: format(v, spec) if isinstance(v, (int, float)) else "-"  # noqa: E731
    for r in rows:
        share = r.get("share")
        print(f"{r['check']:<20} {r.get('precision', '-'):<10} "
              f"{fmt(r.get('throughput'), '9.1f'):>9} "
              f"{fmt(100 * share if share is not None else None, '6.0f'):>7} "
              f"{fmt(r.get('dice'), '7.4f'):>7} {fmt(r.get('diff'), '9.2e'):>9}  "
              f"{r['status']}{'; ' + r['note'] if r.get('note') else ''}")


def main() -> int:
    parser = argparse.ArgumentParser(description="The GPU path end to end, one table.")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the Dice runs")
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--keep", type=Path, help="keep the workspace here")
    args = parser.parse_args()
    started = time.perf_counter()
    found = gpus()
    if not found:
        print("gpu_check: nvidia-smi lists a GPU but TensorFlow sees none: install the GPU "
              "build (pip install -e '.[gpu]' in the mmarctl checkout)")
        return 1
    lowest = min(cc for _, cc in found)
    base = args.keep or Path(tempfile.mkdtemp(prefix="mmarctl-gpu-check-"))
    workspace = base / "spleen"
    shutil.rmtree(workspace, ignore_errors=True)
    rows: list[dict] = []
    try:
        for step in (("clone", "spleen", workspace),
                     ("data", "synth", workspace / "data", "--cases", args.cases, "--size",
                      args.size, "--seed", 0)):
            ok, output = mmarctl(*step)
            if not ok:
                print(f"gpu_check: {' '.join(map(str, step[:2]))} failed: {last_line(output)}")
                return 1
        precisions = ["float32", "float16"] + (["bfloat16"] if lowest >= (8, 0) else [])
        rows += throughput_rows(workspace, precisions, epochs=3)
        rows += [dice_row(workspace, amp, args.epochs) for amp in (False, True)]
        # The float16 run's checkpoint (float32 variables) is exported from a float32 model.
        rows += export_rows(workspace)
        rows.append(horovod_row(workspace, len(found), epochs=3))
        rows.append(validate_row(workspace, len(found)))
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    names = "; ".join(f"{name} (cc {cc[0]}.{cc[1]})" for name, cc in found)
    print_table(rows, f"gpu_check: {len(found)} GPU(s): {names}; "
                      f"{time.perf_counter() - started:.0f} s")
    failed = [r for r in rows if str(r["status"]).startswith(("failed", "missing"))]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
