"""``models/export.json``: what an export wrote and how well each artifact matched.

Shape (version 1)::

    {"manifest_version": 1, "mmarctl_version": "0.1.0", "created": "2026-...Z",
     "source": {"checkpoint": "models/model.ckpt", "checkpoint_sha256": "...",
                "config": "config/config_train.json", "network": "Unet", "network_args": {...}},
     "layout": "channels_last", "dynamic_input_shape": false,
     "input":  {"name": "NV_MODEL_INPUT",  "shape": [null, 96, 96, 96, 1], "dtype": "float32",
                "axes": "N,X,Y,Z,C", "size_divisor": 16},
     "output": {"name": "NV_MODEL_OUTPUT", "shape": [null, 96, 96, 96, 2], "dtype": "float32"},
     "verification": {"seed": 0, "sample_shape": [1, 96, 96, 96, 1], "tolerance": 0.0001,
                      "metric": "max_abs_diff"},
     "formats": {"fzn": {"path": "models/model.fzn.pb", "max_abs_diff": 0.0, "seconds": 1.2},
                 "trt": {"skipped": "no NVIDIA GPU"}}}

Shapes put the batch axis first and ``null`` for an open size. ``input.size_divisor`` is the
network's size divisor: every spatial size given to the model must be a multiple of it (16
for the spleen Unet's four poolings; 1: any size), else the model fails inside (Concat,
MaxPool); absent when the export does not know it (a Clara TF1 graph). An export of a Clara TF1
graph keeps that graph's layout (``"layout": "channels_first"``, axes ``N,C,X,Y,Z``) and
records ``source.format`` (``tf1_checkpoint`` or ``frozen_graph``). An export of some formats
keeps the entries of other formats from an earlier export of the *same* checkpoint
(``checkpoint_sha256`` of its index and data files); otherwise the manifest starts afresh.

``"came_with_mmar": {"fzn": "models/model.fzn.pb"}`` names the artifacts that were in the folder
before mmarctl's first export there (Clara's own ``model.fzn.pb`` beside its checkpoint): not
exported by mmarctl, not an older export either; kept while the source checkpoint is the same.
"""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path
from typing import Any

import mmarctl
from mmarctl.jsonio import load_json, write_json_atomic

MANIFEST = "export.json"
VERSION = 1


def checkpoint_digest(files: list[Path]) -> str:
    """SHA-256 over the checkpoint's files, so a manifest knows which weights it describes."""
    digest = hashlib.sha256()
    for path in files:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def build_manifest(*, source: dict[str, Any], spec: Any, sample_shape: tuple[int, ...],
                   seed: int, tolerance: float, formats: dict[str, dict[str, Any]],
                   previous: dict[str, Any] | None = None,
                   size_divisor: int | None = None,
                   came_with_mmar: dict[str, str] | None = None) -> dict[str, Any]:
    """The manifest dict; ``previous`` entries of other formats are kept for the same weights.

    ``size_divisor``: the network's (recorded in ``input``); None when unknown.
    ``came_with_mmar``: format -> file of the artifacts that were in the folder before
    mmarctl's first export there (:func:`.freshness.came_with_mmar`), recorded as
    ``"came_with_mmar"`` when any.
    """
    divisor = {"size_divisor": int(size_divisor)} if size_divisor else {}
    kept: dict[str, Any] = {}
    if previous and previous.get("source", {}).get("checkpoint_sha256") == source.get(
            "checkpoint_sha256"):
        kept = {k: v for k, v in previous.get("formats", {}).items() if k not in formats}
    return {
        "manifest_version": VERSION,
        "mmarctl_version": mmarctl.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "source": source,
        "layout": getattr(spec, "layout", "channels_last"),
        "dynamic_input_shape": spec.dynamic,
        "input": {"name": spec.input_name, "shape": list(spec.input_shape), "dtype": "float32",
                  "axes": _axes(spec.spatial_dims, "C", _first(spec)), **divisor},
        "output": {"name": spec.output_name, "shape": list(spec.output_shape),
                   "dtype": "float32",
                   "axes": _axes(spec.spatial_dims if spec.spatial_output else 0, "K",
                                 _first(spec)),
                   "meaning": "probabilities after the network's final activation"},
        "verification": {"seed": seed, "sample_shape": list(sample_shape),
                         "tolerance": tolerance, "metric": "max_abs_diff"},
        "formats": {**kept, **formats},
        **({"came_with_mmar": dict(came_with_mmar)} if came_with_mmar else {}),
    }


def _first(spec: Any) -> bool:
    return getattr(spec, "layout", "channels_last") == "channels_first"


def _axes(spatial_dims: int, last: str, channels_first: bool = False) -> str:
    if channels_first:
        return ",".join(["N", last, *"XYZ"[:spatial_dims]])
    return ",".join(["N", *"XYZ"[:spatial_dims], last])


def read_manifest(models_dir: Path) -> dict[str, Any] | None:
    """The existing manifest, or None (also when it is unreadable: it is rewritten anyway)."""
    path = Path(models_dir) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = load_json(path)
    except Exception:  # a damaged manifest is replaced, not fatal
        return None
    return data if isinstance(data, dict) else None


#: What is lost when export.json cannot be read (said after :func:`manifest_problem`'s line).
MANIFEST_LOST = ("the exports' node names and layout it records, and the check that they are "
                 "from the current checkpoint, are not used")


def manifest_problem(models_dir: Path, display: Any = str) -> str | None:
    """Why ``models_dir/export.json`` cannot be read (``models/export.json:1:13: invalid
    JSON: Expecting value``, or not a JSON object), else None (readable, or not there).
    :func:`read_manifest` reads such a file as no manifest at all; this says so."""
    from mmarctl.errors import MmarError

    path = Path(models_dir) / MANIFEST
    if not path.exists():
        return None
    shown = display(path)
    try:
        data = load_json(path, shown_as=shown)
    except MmarError as error:
        text = str(error)
        return text if text.startswith(shown) else f"{shown}: {text}"
    except (OSError, ValueError) as error:
        return f"{shown}: unreadable ({getattr(error, 'strerror', None) or error})"
    if not isinstance(data, dict):
        return f"{shown}: not a JSON object"
    return None


def write_manifest(models_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write ``models/export.json`` atomically."""
    path = Path(models_dir) / MANIFEST
    write_json_atomic(path, manifest)
    return path
