"""Child process entry point: run one tool's half of one speed figure, alone.

Speed and memory figures are measured in a fresh process per tool, so that neither sees the
other framework: TensorFlow's and PyTorch's thread pools spin for a while after each op,
and one framework's imported libraries would inflate the other's peak RSS. The parent
(:func:`.harness.run_isolated`) sends ``{"task": "<module>:<function>", ...}`` as JSON on
stdin; the function gets that dict and returns a JSON-able dict, printed as the last line,
with this process's peak RSS and peak private (anonymous) memory added.
"""

from __future__ import annotations

import importlib
import json
import sys

from benchmarks.monai.harness import PrivatePeakSampler, peak_rss_mib

#: The functions a parent may ask for (module in this package : function).
TASKS = {
    "row_window:speed_mmarctl", "row_window:speed_monai",
    "row_pipeline:speed_mmarctl", "row_pipeline:speed_monai",
    "row_train:speed_mmarctl", "row_train:speed_monai",
    "row_quality:train_monai",
}


def main() -> int:
    """Read the task from stdin, run it, print its JSON result; exit 2 on an unknown task."""
    args = json.loads(sys.stdin.read())
    task = args.get("task", "")
    if task not in TASKS:
        print(f"unknown task {task!r}; known: {', '.join(sorted(TASKS))}", file=sys.stderr)
        return 2
    module_name, _, function = task.partition(":")
    module = importlib.import_module(f"benchmarks.monai.{module_name}")
    with PrivatePeakSampler() as private:
        result = getattr(module, function)(args)
    result["peak_rss_mib"] = peak_rss_mib()
    result["peak_private_mib"] = private.peak
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
