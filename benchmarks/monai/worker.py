"""Child process entry point: run one tool's half of one speed figure, alone.

Speed and memory figures are measured in a fresh process per tool, so that neither sees the
other framework: TensorFlow's and PyTorch's thread pools spin for a while after each op,
and one framework's imported libraries would inflate the other's peak RSS. The parent
(:func:`.harness.run_isolated`) sends ``{"task": "<module>:<function>", ...}`` as JSON on
stdin; the function gets that dict and returns a JSON-able dict, printed as the last line,
with this process's peak RSS and peak private (anonymous) memory added.

A MONAI half runs as MONAI would in a venv of its own (torch and numpy are its only
required packages). This venv also holds mmarctl's runtime and extras, and MONAI imports
what it finds: ``torch.utils.tensorboard`` pulls in TensorFlow through
``tensorboard.compat`` (some 540 MiB resident, 160 MiB of it private), and MONAI's package
init imports MLflow, Optuna, pandas, pyarrow, scikit-learn and matplotlib through its
optional imports (about 110 MiB more private). :func:`monai_alone` sets TensorBoard's own
switch to its TensorFlow-free stub (``tensorboard.compat.notf``) and imports MONAI with
those packages absent (afterwards they are importable again), as mmarctl's runtime imports
Keras (mmarctl.runtime.memory). The worker reports ``tensorflow_loaded`` so that a later
change cannot bring TensorFlow back unnoticed.
"""

from __future__ import annotations

import importlib
import json
import sys
import types

from benchmarks.monai.harness import PrivatePeakSampler, peak_rss_mib

#: The functions a parent may ask for (module in this package : function).
TASKS = {
    "row_window:speed_mmarctl", "row_window:speed_monai",
    "row_pipeline:speed_mmarctl", "row_pipeline:speed_monai",
    "row_train:speed_mmarctl", "row_train:speed_monai",
    "row_quality:train_monai",
}


#: Packages in this venv only for mmarctl (its extras and their dependencies) that MONAI's
#: package init imports when they are present; none is a MONAI requirement.
NOT_MONAIS = ("mlflow", "optuna", "pandas", "pyarrow", "sklearn", "matplotlib")


def keep_tensorflow_out() -> None:
    """TensorBoard's switch to its TensorFlow-free stub (``//tensorboard/compat:no_tensorflow``):
    ``tensorboard.compat.tf`` imports ``tensorboard.compat.tensorflow_stub`` instead of
    TensorFlow when the module ``tensorboard.compat.notf`` can be imported."""
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))


def monai_alone() -> None:
    """Import MONAI as a venv with only MONAI's requirements would (see the module docstring)."""
    keep_tensorflow_out()
    hidden = [name for name in NOT_MONAIS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ModuleNotFoundError
    try:
        import monai  # noqa: F401  (its package init imports its submodules now)
    except ImportError:  # no MONAI here: the task reports that itself
        pass
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def main() -> int:
    """Read the task from stdin, run it, print its JSON result; exit 2 on an unknown task."""
    args = json.loads(sys.stdin.read())
    task = args.get("task", "")
    if task not in TASKS:
        print(f"unknown task {task!r}; known: {', '.join(sorted(TASKS))}", file=sys.stderr)
        return 2
    module_name, _, function = task.partition(":")
    if "monai" in function:
        monai_alone()
    module = importlib.import_module(f"benchmarks.monai.{module_name}")
    with PrivatePeakSampler() as private:
        result = getattr(module, function)(args)
    result["peak_rss_mib"] = peak_rss_mib()
    result["peak_private_mib"] = private.peak
    result["tensorflow_loaded"] = "tensorflow" in sys.modules
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
