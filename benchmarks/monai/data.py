"""The data both tools read: ``mmarctl data synth``'s spleen set, in a spleen workspace.

The benchmarks use mmarctl's own generator (:func:`mmarctl.synth.synthesize`): MSD-layout
CT-like volumes in Hounsfield units with spleen labels, anisotropic spacing that both tools
resample to the scaffold's 1.5 x 1.5 x 2 mm, and Clara's ``dataset_0.json``. MONAI reads the
very same files through :func:`read_datalist`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def make_workspace(root: Path, *, cases: int, size: int, seed: int = 0) -> Path:
    """``mmarctl clone spleen ROOT`` + ``mmarctl data synth ROOT/data``; returns ROOT.

    A quarter of the cases (at least one) form the validation list, as ``data synth`` does.
    """
    from mmarctl import clone
    from mmarctl.synth import synthesize

    clone.clone("spleen", str(root))
    synthesize(root / "data", task="segmentation", cases=cases, size=size, seed=seed,
               show_progress=False)
    return root


def datalist_path(workspace: Path) -> Path:
    """The datalist the spleen scaffold's environment.json points at."""
    return workspace / "data" / "dataset_0.json"


def read_datalist(path: Path, key: str) -> list[dict[str, Any]]:
    """The ``key`` list of a Clara datalist with absolute paths (MONAI's dictionaries)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    base = Path(path).parent
    return [{k: str(base / v) for k, v in item.items()} for item in data[key]]
