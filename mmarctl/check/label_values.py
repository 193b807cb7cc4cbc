"""Hold a segmentation data set's label voxels to the network's classes, before any compute.

train and validate refuse a label map whose values lie outside ``0..num_classes-1``
(:func:`mmarctl.runtime.pipelines.base.check_label_values`), but only when the pipeline
reaches that case: a 0/255 mask set (a PNG export, a thresholded segmentation) stopped a
run in its first epoch, after the cache had filled. A header does not say which values a
file holds, so this is the one pass of ``check`` that reads voxels: each label file once,
its minimum and maximum remembered in the user cache (:mod:`mmarctl.cache`), one small
file per label file's path holding its size, modification time and range, so a second
``check`` of an unchanged data set reads nothing, and a data set regenerated in place
replaces its entries instead of adding to them. Entries not used for :data:`KEEP_DAYS`
days, those of files that are gone, and the oldest beyond :data:`MAX_ENTRIES`, are removed
(:func:`prune`, at most once a day), so the cache stays within a few tens of MiB.

The values are only held where the training chain passes them to the loss unchanged
(:func:`keeps_label_values`): a transform that maps labels (ThresholdValues, BraTS's
channels, BYOC code) makes the file's values another question, which the run answers.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any, Iterable

from mmarctl.check.images import listed

#: Transforms that leave a label's values as loaded (or add background 0): loaders, channel
#: layout, flips, rotations, zooms, crops, pads and resampling (nearest neighbour for a
#: label; interpolation stays within the values it starts from).
VALUE_KEEPING = frozenset({
    "LoadNifti", "LoadPng", "ConvertToChannelsFirst", "ConvertToChannelsLast",
    "RandomSpatialFlip", "RandomAxisFlip", "RandomRotate2D", "RandomRotate3D", "RandomZoom",
    "CropSubVolumeCenter", "PadCropWithFixedSize", "CropFixedSizeRandomCenter",
    "CropRandomSizeWithDisplacement", "SymmetricPadderDiv", "FastCropByPosNegRatio",
    "FastPosNegRatioCropROI", "CropByPosNegRatio", "ScaleByResolution", "ScaleByFactor",
    "ScaleToShape", "RestoreOriginalShape", "CopyProperties", "MergeBatchDims", "SaveAsNifti",
})
#: The loaders whose files' voxels this pass can read, by Clara name.
READABLE = ("LoadNifti", "LoadPng")
#: From how many label files the pass shows its progress (each is a whole volume to read).
PROGRESS_FROM = 20
#: The field whose values the loss takes as class indices.
LABEL = "label"
#: The cache folder's name under :func:`mmarctl.cache.cache_dir`.
CACHE = "label-ranges"
#: An entry not used for this many days is removed; so are the oldest beyond MAX_ENTRIES
#: (each takes a file system block, 4 KiB: 10,000 entries are 40 MiB).
KEEP_DAYS = 30
MAX_ENTRIES = 10_000
#: Entry names start with this; older mmarctl's entries (bare digests, one per file
#: version) are removed by the next prune.
PREFIX = "r-"
_DAY_S = 86_400


def keeps_label_values(chain: Iterable[Any]) -> bool:
    """Whether every transform of a built chain that reads the ``label`` field leaves its
    values as loaded (:data:`VALUE_KEEPING`); False when a step was not built (BYOC code,
    a component with a problem of its own): it may do anything to the label."""
    from mmarctl.check.field_flow import reads_of
    from mmarctl.runtime.transforms.loaders import FILE_LOADERS

    for step in chain:
        if step is None:
            return False
        reads_label = (LABEL in getattr(step, "fields", ()) if isinstance(step, FILE_LOADERS)
                       else any(field == LABEL for _, field in reads_of(step)))
        if reads_label and getattr(type(step), "clara_name", "") not in VALUE_KEEPING:
            return False
    return True


def _written_label_steps(specs: Any, section: str) -> list[tuple[str, str]] | None:
    """``(JSON path, Clara name)`` of each step of a chain as written that reads ``label``;
    None when the chain is not a list."""
    from mmarctl.check.field_flow import READ_ATTRS
    from mmarctl.variables import is_disabled

    if specs is None:
        return []
    if not isinstance(specs, list):
        return None
    found = []
    for index, spec in enumerate(specs):
        if not isinstance(spec, dict) or is_disabled(spec.get("disabled", False)):
            continue
        name = str(spec.get("name") or spec.get("ref") or "").split("#")[0]
        args = spec.get("args") if isinstance(spec.get("args"), dict) else {}
        named = [args.get(attr) for attr in READ_ATTRS]
        if any(value == LABEL or (isinstance(value, list) and LABEL in value)
               for value in named):
            found.append((f"{section}[{index}]", name))
    return found


def validation_label_values(validation: dict, file: str, train: dict, train_file: str,
                            num_classes: Any, task: Any) -> dict[str, Any] | None:
    """What a validation config's data use needs for its label files to be held to the
    training network's classes, as validate holds them (``DataUse`` fields), or None when
    they are not held: the network is no segmentation one, or a step of the validation
    config's ``pre_transforms`` / ``label_transforms`` maps the label's values.

    validate refused every case of a 0/255 mask set that config_train.json maps with
    ThresholdValues and config_validation.json's label_transforms does not; the line then
    stands at ``label_transforms`` and names the training config's mapping steps.

    Args:
        validation: the validation config as written; ``file``: as shown.
        train: the training config as written; ``train_file``: as shown.
        num_classes: the training network's ``num_classes``; ``task``: its task.
    """
    if (task != "segmentation" or isinstance(num_classes, bool)
            or not isinstance(num_classes, int) or num_classes < 1):
        return None
    steps = []
    for section in ("pre_transforms", "label_transforms"):
        found = _written_label_steps(validation.get(section), section)
        if found is None:
            return None
        steps.extend(found)
    if any(name not in VALUE_KEEPING for _, name in steps):
        return None  # mapped (or BYOC code): the run answers
    mapped = []
    for section in ("train.pre_transforms", "validate.pre_transforms"):
        group, _, key = section.partition(".")
        chain = train[group].get(key) if isinstance(train.get(group), dict) else None
        mapped.extend(f"{where} {name}" for where, name in
                      _written_label_steps(chain, section) or () if name not in VALUE_KEEPING)
    fix = (f"{train_file} maps the labels ({', '.join(mapped)}) and this config's "
           "label_transforms do not; add the same mapping there" if mapped else "")
    return {"label_value_classes": num_classes, "label_value_origin": (file, "label_transforms"),
            "label_value_fix": fix}


def label_value_finding(items: list, base: Path, loader: str, num_classes: int,
                        kinds: dict[str, str] | None = None, *,
                        skip_bad_cases: bool = False, fix: str = "",
                        verbs: str = "train and validate") -> tuple[str, bool] | None:
    """One line naming the label files whose values lie outside the network's classes, and
    whether it is only a note; None when every file read is within them.

    Args:
        items: datalist items as written; their string ``label`` values name the files.
        base: DATA_ROOT, which relative paths are under.
        loader: the Clara name of the loader that reads them (:data:`READABLE`).
        num_classes: the training network's ``num_classes``; a 1-class (sigmoid) network
            takes 0/1 labels, as the runtime's own check allows.
        kinds: :func:`.images.file_kind` of paths already looked at: only plain files are
            read (a missing or unreadable one is reported by the header pass).
        skip_bad_cases: the run leaves such cases out (``skip_bad_cases`` on): the line is
            a note, unless every label file is outside (the run then stops).
        fix: the advice, when the config rather than the files is to change (empty: fix
            the label files or num_classes); ``verbs``: which runs refuse them.
    """
    from mmarctl.console import progress
    from mmarctl.runtime.pipelines.base import labels_outside, top_label

    top = top_label(num_classes)
    files = dict(_label_files(items, base, kinds))  # each path once, named as written
    prune()
    outside: list[tuple[str, float, float]] = []
    with progress("reading label values", total=len(files),
                  enabled=len(files) >= PROGRESS_FROM) as bar:
        for path, name in files.items():
            bar.update(1)
            found = value_range(path, loader)
            if found is not None and labels_outside(*found, num_classes):
                outside.append((name, *found))
    if not outside:
        return None
    low = min(entry[1] for entry in outside)
    high = max(entry[2] for entry in outside)
    names = listed([f"{name} ({lo:g}..{hi:g})" for name, lo, hi in outside])
    note = skip_bad_cases and len(outside) < len(files)
    one = "" if " and " in verbs else "s"  # "validate refuses", "train and validate refuse"
    consequence = (f"skip_bad_cases is on: {verbs} leave{one} those cases out" if note
                   else f"{verbs} refuse{one} them")
    fix = fix or ("fix the label files, e.g. 255 -> 1 for a 0/255 mask, or num_classes in "
                  "train.model")
    return (f"{len(outside)} of {len(files)} label files hold values {low:g}..{high:g}, "
            f"outside 0..{top} (num_classes={num_classes}): {names} ({consequence}; {fix})",
            note)


def value_range(path: Path, loader: str) -> tuple[float, float] | None:
    """The smallest and largest voxel of a label file as ``loader`` reads it (NIfTI scaling
    applied), from the cache when the file is unchanged; None when it cannot be read (the
    header pass and the run say why)."""
    entry = _marker(path)
    if entry is not None:
        marker, version = entry
        try:
            size, mtime, low, high = marker.read_text().split(" ", 4)[:4]
            if f"{size}:{mtime}" == version:
                _touch(marker)
                return float(low), float(high)
        except (OSError, ValueError):
            pass
    found = _read_range(path, loader)
    if found is not None and entry is not None:
        marker, version = entry
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            temporary = marker.with_name(f".{marker.name}.{os.getpid()}")
            # The file's path last, so that prune() can drop the entry of a file gone
            temporary.write_text(f"{version.replace(':', ' ')} {found[0]!r} {found[1]!r} "
                                 f"{path.resolve()}\n")
            os.replace(temporary, marker)
        except OSError:  # an unwritable cache only costs the next check the reading again
            pass
    return found


def _touch(marker: Path) -> None:
    """Mark an entry as used (its modification time), at most once a day: :func:`prune`
    keeps entries used recently."""
    try:
        if time.time() - marker.stat().st_mtime > _DAY_S:
            os.utime(marker)
    except OSError:
        pass


def prune(now: float | None = None) -> int:
    """Remove the label-ranges entries not used for :data:`KEEP_DAYS` days, older mmarctl's
    entries, and the oldest beyond :data:`MAX_ENTRIES`; the number removed. Runs at most
    once a day (a ``.pruned`` stamp; a day's checks otherwise cost one ``stat``), and never
    fails: an entry that cannot be removed stays."""
    from mmarctl.cache import cache_dir

    folder = cache_dir(CACHE)
    stamp = folder / ".pruned"
    now = time.time() if now is None else now
    try:
        if now - stamp.stat().st_mtime < _DAY_S:
            return 0
    except FileNotFoundError:
        pass
    except OSError:
        return 0
    try:
        if not folder.is_dir():
            return 0
        stamp.touch()
        entries = []
        for item in os.scandir(folder):
            if item.name.startswith("."):
                continue
            try:
                entries.append((item.stat().st_mtime, item.name))
            except OSError:
                continue
    except OSError:
        return 0
    fresh = sorted(((mtime, name) for mtime, name in entries
                    if name.startswith(PREFIX) and now - mtime <= KEEP_DAYS * _DAY_S
                    and not _file_gone(folder / name)),
                   reverse=True)  # newest first
    kept = {name for _, name in fresh[:MAX_ENTRIES]}
    doomed = [name for _, name in entries if name not in kept]
    removed = 0
    for name in doomed:
        try:
            (folder / name).unlink()
            removed += 1
        except OSError:
            pass
    return removed


def _file_gone(entry: Path) -> bool:
    """Whether the label file an entry remembers is gone (a data set deleted or moved: its
    entries would otherwise wait KEEP_DAYS). Entries that name no file (older mmarctl's)
    are kept."""
    try:
        parts = entry.read_text().rstrip("\n").split(" ", 4)
    except OSError:
        return False
    return len(parts) == 5 and not os.path.exists(parts[4])


def _read_range(path: Path, loader: str) -> tuple[float, float] | None:
    import numpy as np

    try:
        if loader == "LoadPng":
            from mmarctl.runtime.transforms import _png

            data = _png.read_png(str(path))
        else:
            import nibabel as nib

            data = np.asanyarray(nib.load(str(path)).dataobj)
    except Exception:  # noqa: BLE001 - any unreadable file is the header pass's to report
        return None
    if not data.size or not np.isfinite(data).all():
        return None  # NaN voxels are the run's line (it names the case and the epoch)
    return float(data.min()), float(data.max())


def _marker(path: Path) -> tuple[Path, str] | None:
    """Where the range of this file's path is remembered, and the version (``size:mtime``)
    it must have been read at; None when the file cannot be stat'ed."""
    from mmarctl.cache import cache_dir

    try:
        info = path.stat()
        resolved = path.resolve()
    except OSError:
        return None
    key = hashlib.sha256(str(resolved).encode()).hexdigest()
    return cache_dir(CACHE) / f"{PREFIX}{key}", f"{info.st_size}:{info.st_mtime_ns}"


def _label_files(items: list, base: Path,
                 kinds: dict[str, str] | None) -> Iterable[tuple[Path, str]]:
    """``(path, name as the datalist writes it)`` of every label file that is there (each
    path stat'ed once across check's passes: :func:`.images.file_kind` keeps it)."""
    from mmarctl.check.images import file_kind

    for item in items:
        value = item.get(LABEL) if isinstance(item, dict) else None
        if isinstance(value, str) and value and file_kind(base / value, kinds) == "file":
            yield base / value, value
