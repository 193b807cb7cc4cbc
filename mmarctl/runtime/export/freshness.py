"""Whether an exported model still matches the checkpoint it was exported from.

``models/export.json`` records the SHA-256 of the checkpoint each export came from. After a
new training run, ``models/model.ckpt`` changes but ``model.onnx`` / ``model.fzn.pb`` stay:
validate and infer running such a file would score the old model without a word, so they
ask :func:`stale_export_warning` first. No TensorFlow here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from mmarctl.runtime.checkpoint import checkpoint_files
from mmarctl.runtime.export.exporter import ARTIFACTS
from mmarctl.runtime.export.manifest import MANIFEST, checkpoint_digest, read_manifest

CHECKPOINT = "model.ckpt"


def stale_export_warning(model_file: Path, mmar: Path,
                         display: Callable[[Path], str] = str) -> str | None:
    """One warning line when ``model_file`` (an export in the checkpoint folder) was not
    exported from the folder's current ``model.ckpt``; None when it was, or when that cannot
    be told (no ``export.json``, no checkpoint, a file export does not write)."""
    model_file = Path(model_file)
    folder = model_file.parent
    fmt = next((f for f, name in ARTIFACTS.items() if name == model_file.name), None)
    manifest = read_manifest(folder)
    files = checkpoint_files(folder / CHECKPOINT)
    if fmt is None or manifest is None or not all(p.is_file() for p in files):
        return None
    entry = manifest.get("formats", {}).get(fmt)
    source = manifest.get("source") if isinstance(manifest.get("source"), dict) else {}
    recorded = (source.get("checkpoint_sha256")
                if isinstance(entry, dict) and not entry.get("skipped") else None)
    if recorded == checkpoint_digest(files):
        return None
    redo = f"run `mmarctl export {mmar} --format {fmt}` to export the current one"
    if recorded is None:
        return (f"{display(model_file)} is not listed in {display(folder / MANIFEST)}: it may "
                f"be from an older checkpoint than {display(folder / CHECKPOINT)}; {redo}")
    return (f"{display(model_file)} was exported from an older checkpoint, not the current "
            f"{display(folder / CHECKPOINT)}; {redo}")
