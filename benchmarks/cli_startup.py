"""Startup time of the light verbs: ``mmarctl --help`` and ``mmarctl check`` beside a bare
``python -c pass``, measured in the same run so the numbers compare on this machine.

The MMAR checked is the built-in spleen scaffold (copied to a temporary folder, with a small
datalist and empty placeholder files so every check runs), or a generated one when the
scaffold is not there. Each command runs in a fresh interpreter; the table shows the median
of ``--runs`` runs, the fastest and the slowest, and the median minus bare Python's.

    python benchmarks/cli_startup.py --runs 15
    python benchmarks/cli_startup.py --with-tensorflow   # adds `import tensorflow`, for scale,
                                                         # the runtime's import and ml_dtypes
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPLEEN = REPO / "scaffolds" / "spleen"


def make_mmar(where: Path, cases: int) -> tuple[Path, str]:
    """A checkable MMAR: the spleen scaffold with data placeholders, else a generated one."""
    root = where / "mmar"
    if (SPLEEN / "config").is_dir():
        shutil.copytree(SPLEEN, root)
        source = "scaffolds/spleen"
    else:
        (root / "config").mkdir(parents=True)
        pipeline = {"name": "SegmentationImagePipeline",
                    "args": {"data_list_file_path": "{DATASET_JSON}",
                             "data_file_base_dir": "{DATA_ROOT}", "data_list_key": "training"}}
        (root / "config" / "config_train.json").write_text(json.dumps({
            "epochs": 1, "learning_rate": 1e-4,
            "train": {"model": {"name": "Unet", "args": {"num_classes": 2}},
                      "loss": {"name": "Dice"}, "optimizer": {"name": "Adam"},
                      "pre_transforms": [{"name": "LoadNifti", "args": {"fields": "image"}}],
                      "image_pipeline": pipeline},
            "validate": {"metrics": [], "image_pipeline": {
                **pipeline, "args": {**pipeline["args"], "data_list_key": "validation"}}},
        }))
        (root / "config" / "environment.json").write_text(json.dumps(
            {"DATA_ROOT": "data", "DATASET_JSON": "data/dataset_0.json"}))
        source = "generated"
    items = [{"image": f"images/case{i}.nii.gz", "label": f"labels/case{i}.nii.gz"}
             for i in range(cases)]
    data = root / "data"
    for item in items:
        for name in item.values():
            (data / name).parent.mkdir(parents=True, exist_ok=True)
            (data / name).touch()
    split = max(1, cases // 5)
    (data / "dataset_0.json").write_text(json.dumps(
        {"training": items[split:], "validation": items[:split]}))
    return root, source


def time_command(argv: list[str], runs: int) -> list[float]:
    """Wall seconds of ``runs`` executions (one untimed warm-up fills the OS file cache)."""
    subprocess.run(argv, capture_output=True, check=False)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr.decode()}")
    return times


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (median)")
    parser.add_argument("--cases", type=int, default=40, help="cases in the generated datalist")
    parser.add_argument("--with-tensorflow", action="store_true",
                        help="also time `python -c 'import tensorflow'` for scale")
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        mmar, source = make_mmar(Path(tmp), args.cases)
        commands = {
            "python -c pass": [python, "-c", "pass"],
            "mmarctl --help": [python, "-m", "mmarctl", "--help"],
            "mmarctl check MMAR": [python, "-m", "mmarctl", "check", str(mmar)],
        }
        if args.with_tensorflow:
            commands["python -c 'import tensorflow'"] = [python, "-c", "import tensorflow"]
            # what every verb that computes pays first (Keras' optional imports left out)
            commands["runtime's TensorFlow import"] = [
                python, "-c", "from mmarctl.runtime.logs import quiet_tensorflow; "
                              "quiet_tensorflow()"]
            commands["python -c 'import ml_dtypes'"] = [python, "-c", "import ml_dtypes"]
        results = {label: time_command(argv, args.runs) for label, argv in commands.items()}
    base = statistics.median(results["python -c pass"])
    print(f"MMAR: {source}, {args.cases} cases; {args.runs} runs each; Python {sys.version.split()[0]}")
    if args.with_tensorflow:
        from importlib.metadata import PackageNotFoundError, version

        found = []
        for name in ("tensorflow-cpu", "tensorflow", "keras", "ml_dtypes", "numpy"):
            try:
                found.append(f"{name} {version(name)}")
            except PackageNotFoundError:
                pass
        print("; ".join(found))
    print(f"{'command':<32}{'median ms':>11}{'min ms':>9}{'max ms':>9}{'over python ms':>16}")
    for label, times in results.items():
        median = statistics.median(times)
        print(f"{label:<32}{median * 1e3:>11.0f}{min(times) * 1e3:>9.0f}{max(times) * 1e3:>9.0f}"
              f"{(median - base) * 1e3:>16.0f}")


if __name__ == "__main__":
    main()
