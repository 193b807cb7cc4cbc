"""Whether an exported model still matches the checkpoint it was exported from.

``models/export.json`` records the SHA-256 of the checkpoint each export came from. After a
new training run, ``models/model.ckpt`` changes but ``model.onnx`` / ``model.fzn.pb`` stay:
validate and infer running such a file would score the old model without a word, so they
ask :func:`stale_export_warning` first. An export of some formats leaves the other formats'
files of an older checkpoint in place; :func:`older_exports` names them so that export can
say so. No TensorFlow here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from mmarctl.runtime.checkpoint import checkpoint_files
from mmarctl.runtime.export.exporter import ARTIFACTS, SOURCE_ITSELF
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


def older_exports(out_dir: Path, manifest: dict, triton_name: str) -> list[Path]:
    """The artifacts in ``out_dir`` that ``manifest`` (the export.json just written) does not
    list: left by an earlier export, so from another checkpoint than the listed formats.

    Every format export.json lists was exported from its ``source`` checkpoint (entries of an
    earlier export are kept only for the same checkpoint), so "not listed" is the whole test.
    ``triton_name``: the Triton model this export would write; other models in the Triton
    repository are not this MMAR's to judge.
    """
    out_dir = Path(out_dir)
    formats = manifest.get("formats") if isinstance(manifest.get("formats"), dict) else {}
    older = []
    for fmt, name in ARTIFACTS.items():
        entry = formats.get(fmt)
        path = out_dir / name
        if fmt == "triton":
            listed = entry.get("model_name") if isinstance(entry, dict) else None
            path = path / (listed if isinstance(listed, str) and listed else triton_name)
        if not path.exists():
            continue
        skipped = entry.get("skipped") if isinstance(entry, dict) else "not listed"
        if skipped and skipped != SOURCE_ITSELF:  # a frozen-graph source is not older
            older.append(path)
    return older
