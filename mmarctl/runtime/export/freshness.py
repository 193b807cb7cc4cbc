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
from mmarctl.runtime.export.manifest import (MANIFEST, MANIFEST_LOST, checkpoint_digest,
                                             manifest_problem, read_manifest)
from mmarctl.shell_words import shell_word

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
    if fmt is not None and manifest is None:
        problem = manifest_problem(folder, display)  # damaged: say what is not used
        if problem is not None:
            return (f"{problem}: {MANIFEST_LOST} (run `mmarctl export {shell_word(mmar)} --format {fmt}` "
                    "to write it again)")
    if fmt is None or manifest is None or not all(p.is_file() for p in files):
        return None
    entry = manifest.get("formats", {}).get(fmt)
    source = manifest.get("source") if isinstance(manifest.get("source"), dict) else {}
    recorded = (source.get("checkpoint_sha256")
                if isinstance(entry, dict) and not entry.get("skipped") else None)
    current = folder / CHECKPOINT
    # a Clara TF1 source's digest covers its .meta too (graph_export): compare like with like
    now = _source_digest(current, {"format": "tf1_checkpoint"}) \
        if source.get("format") == "tf1_checkpoint" else checkpoint_digest(files)
    if recorded is not None and recorded == now:
        return None
    if fmt in _came_with_mmar(manifest) and source.get("checkpoint_sha256") == now:
        # the MMAR's own file (Clara's model.fzn.pb), its checkpoint unchanged since: nothing
        # says it is older, as before mmarctl's first export
        return None
    chosen = _chosen_source(source, mmar, current) if recorded is not None else None
    if chosen is not None:
        # export --ckpt OTHER on purpose: name that source, and do not advise undoing it
        shown = display(chosen)
        if _source_digest(chosen, source) == recorded:
            return (f"{display(model_file)} was exported from {shown} (as "
                    f"{display(folder / MANIFEST)} records), not from {display(current)}")
        if not chosen.parent.is_dir() or not any(
                p.name.startswith(chosen.name) for p in chosen.parent.iterdir()):
            return (f"{display(model_file)} was exported from {shown}, which is no longer "
                    f"there, not from {display(current)}")
        return (f"{display(model_file)} was exported from an older {shown} (it changed since); "
                f"run `mmarctl export {shell_word(mmar)} --ckpt {shell_word(shown)} --format {fmt}` to export its "
                "current weights")
    redo = f"run `mmarctl export {shell_word(mmar)} --format {fmt}` to export the current one"
    if recorded is None:
        return (f"{display(model_file)} is not listed in {display(folder / MANIFEST)}: it may "
                f"be from an older checkpoint than {display(current)}; {redo}")
    return (f"{display(model_file)} was exported from an older checkpoint, not the current "
            f"{display(current)}; {redo}")


def _chosen_source(source: dict, mmar: Path, current: Path) -> Path | None:
    """The source export.json records when it is not ``current`` (``export --ckpt OTHER``,
    or a frozen graph), else None."""
    given = source.get("checkpoint")
    if not isinstance(given, str) or not given:
        return None
    path = Path(given)
    if not path.is_absolute():
        path = Path(mmar) / path
    try:
        same = path.resolve() == Path(current).resolve()
    except OSError:
        same = False
    return None if same else path


def _source_digest(path: Path, source: dict) -> str | None:
    """The digest export.json would record for the source at ``path`` now (None: gone)."""
    kind = source.get("format")
    if kind == "frozen_graph":
        files = [path]
    elif kind == "tf1_checkpoint":
        files = checkpoint_files(path) + [Path(f"{path}.meta")]
    else:
        files = checkpoint_files(path)
    if not all(p.is_file() for p in files):
        return None
    return checkpoint_digest(files)


def _came_with_mmar(manifest: dict) -> dict:
    found = manifest.get("came_with_mmar")
    return found if isinstance(found, dict) else {}


def came_with_mmar(out_dir: Path, previous: dict | None, source_sha256: str,
                   written: list[str], display: Callable[[Path], str] = str) -> dict[str, str]:
    """The artifacts in ``out_dir`` that came with the MMAR (format -> file shown): at the
    first mmarctl export there (no ``export.json`` yet), those on disk that this export does
    not write (``written``); afterwards, those an earlier manifest of the same source
    checkpoint recorded. They are not an older export's (Clara ships ``model.fzn.pb`` beside
    its checkpoint), so nothing advises replacing or removing them."""
    out_dir = Path(out_dir)
    if previous is not None:
        if (previous.get("source") or {}).get("checkpoint_sha256") != source_sha256:
            return {}  # another checkpoint's: what is left is older than this one
        return {fmt: path for fmt, path in _came_with_mmar(previous).items()
                if fmt not in written and (out_dir / ARTIFACTS.get(fmt, "")).exists()}
    if (out_dir / MANIFEST).exists():  # unreadable: what is there is not known to be the MMAR's
        return {}
    return {fmt: display(out_dir / name) for fmt, name in ARTIFACTS.items()
            if fmt not in written and fmt != "triton" and (out_dir / name).exists()}


def older_exports(out_dir: Path, manifest: dict, triton_name: str) -> list[Path]:
    """The artifacts in ``out_dir`` that ``manifest`` (the export.json just written) does not
    list: left by an earlier export, so from another checkpoint than the listed formats.

    Every format export.json lists was exported from its ``source`` checkpoint (entries of an
    earlier export are kept only for the same checkpoint), so "not listed" is the whole test.
    The files that came with the MMAR (``came_with_mmar``) are not an earlier export's.
    ``triton_name``: the Triton model this export would write. Other models in the Triton
    repository that look like an mmarctl export (``config.pbtxt`` and ``1/model.onnx``) are
    named too: after ``clone --with-models`` the source MMAR's ``triton/<its name>/`` stays,
    with its weights, and Triton would serve it.
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
        if not path.exists() or fmt in _came_with_mmar(manifest):
            continue
        skipped = entry.get("skipped") if isinstance(entry, dict) else "not listed"
        if skipped and skipped != SOURCE_ITSELF:  # a frozen-graph source is not older
            older.append(path)
    return older + _other_triton_models(out_dir, formats, triton_name)


def _other_triton_models(out_dir: Path, formats: dict, triton_name: str) -> list[Path]:
    """Models in ``out_dir/triton/`` other than the one export.json lists (or would write,
    ``triton_name``) that hold an ONNX export: left from another export, another name."""
    repository = out_dir / ARTIFACTS["triton"]
    entry = formats.get("triton")
    listed = entry.get("model_name") if isinstance(entry, dict) else None
    current = listed if isinstance(listed, str) and listed else triton_name
    if not repository.is_dir():
        return []
    return [model for model in sorted(repository.iterdir())
            if model.is_dir() and model.name != current
            and (model / "config.pbtxt").is_file() and (model / "1" / "model.onnx").is_file()]
