"""Check the NIfTI headers of the files a datalist names, without reading any voxel.

Only a file's first bytes are read (:func:`read_header`: through gzip for a ``.nii.gz``,
into nibabel's header class; no image object, no voxels), so every case of a large dataset
is cheap to look at. What would stop a run later is reported now, one line per kind of
problem with the first few files and a count:

* a file that cannot be opened (its reason: ``Permission denied``), or a header nibabel
  cannot read (its reason in words: not NIfTI, header truncated at N bytes);
* a shape with fewer than 2 axes or an empty axis;
* an affine with NaN/infinite entries, or a singular one (no voxel-to-world mapping, so
  resampling by resolution cannot work);
* an image whose channel count (a 4-D file's last axes, or the number of files of a
  multi-modal field) differs from the pipeline's ``output_image_channels``, when no
  transform of the chain changes channels;
* an RGB or complex datatype (LoadNifti gives grey values only);
* the files of one multi-file field (a case's modalities, stacked voxel by voxel) that are
  not on the first file's grid (:func:`stack_difference`).

Spacing and positions are the affine's (the sform's where there is one, as the loader's),
in mm after the header's ``xyzt_units``.

and, for each image and its label (:func:`pair_problems`, from the same header reads), a
pair that is not on one voxel grid as the loaders leave it (LoadNifti's
``as_closest_canonical`` reorients): another orientation, a rotated grid, another spacing or
origin beyond header rounding, another shape on one spacing, another field of view on
another spacing. PNG files (:func:`png_problems`) are held
to the same rules from their first 26 bytes: the PNG signature, and the IHDR colour type's
channels against ``output_image_channels``.

A truncated voxel block is not visible in the header: the training pipeline reports it
when it reads the case (see ``skip_bad_cases`` in docs/check.md).
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import struct
import zlib
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

#: How many files a problem line names before giving only the count.
SHOW = 5

#: From how many files a header pass shows its progress (a bar on a terminal, a log line
#: every few seconds otherwise): about a second of reading on local disk, far more on
#: network storage; below it, check says nothing until it is done.
PROGRESS_FROM = 2000

#: Transforms that change the number of image channels: with one in the chain, the files'
#: channels are not compared with output_image_channels (preflight checks the result).
CHANNEL_CHANGING = frozenset({"AddExtremePointsChannel", "RepeatChannel",
                              "SplitAcrossChannels"})


def header_problems(items: list, base: Path, fields: list[str],
                    expected_channels: int | None,
                    known: dict[Path, Geometry | None] | None = None,
                    kinds: dict[str, str] | None = None, *,
                    reoriented: frozenset[str] | None = None,
                    class_index_labels: bool = False,
                    onehot_label_channels: int | None = None) -> list[str]:
    """Messages (one per kind) for the NIfTI files of ``fields`` in ``items``.

    Args:
        items: datalist items as written.
        base: DATA_ROOT, which relative paths are under.
        fields: the fields LoadNifti reads.
        expected_channels: the pipeline's ``output_image_channels`` for the ``image`` field,
            or None not to compare.
        known: filled with the geometry of every readable header, by path (None for a
            file that is missing or unreadable), so that :func:`pair_problems` and the
            spatial-axes check read no header twice and retry no bad file.
        kinds: :func:`file_kind` of the paths already looked at (each file stat'ed once).
        reoriented: the fields whose LoadNifti has ``as_closest_canonical``: the files of
            one multi-file item (BraTS modalities) are compared as reoriented to RAS+.
            None (not known): files that differ only in how they are stored (what
            as_closest_canonical reconciles) are left to :func:`pair_problems`, which
            knows how each pipeline loads them.
        class_index_labels: the training loss takes class-index labels
            (``is_onehot_targets`` false): a ``label`` file with several channels (a
            one-hot label on the 4th axis) is reported.
        onehot_label_channels: the training loss takes one-hot labels
            (``is_onehot_targets`` true) of this many channels (the network's
            ``num_classes``), and no transform changes the label: a ``label`` file with
            another channel count (a class-index map) is reported.
    """
    from mmarctl.console import progress

    known = {} if known is None else known  # the modalities of an item are compared
    found: dict[str, list[str]] = defaultdict(list)
    checked = 0
    stacks = {field: [0] for field in fields}  # multi-file items compared, by field
    with progress(f"reading {'/'.join(fields)} NIfTI headers", total=len(items),
                  enabled=len(items) * len(fields) >= PROGRESS_FROM) as bar:
        for index, item in enumerate(items):
            bar.update(1)
            checked = _item_headers(item, base, fields, expected_channels, known, kinds,
                                    found, checked, class_index_labels,
                                    onehot_label_channels)
            for field in fields:
                _stack_difference(item, index, base, field,
                                  None if reoriented is None else field in reoriented, known,
                                  found, stacks[field])
    return [_stack_line(kind, files, stacks, reoriented or frozenset())
            if kind.startswith("stack:")
            else _line(kind, files, checked, expected_channels)
            for kind, files in found.items()]


def _stack_difference(item: Any, index: int, base: Path, field: str,
                      reoriented: bool | None, known: dict[Path, Geometry | None] | None,
                      found: dict[str, list[str]], compared: list[int], *,
                      only_stored: bool = False) -> None:
    """The files of one multi-file ``field`` of ``item`` (BraTS modalities) against its
    first file: LoadNifti stacks them voxel by voxel as channels, so a modality stored in
    another orientation, shifted, rotated or of another shape would be mirrored or
    misaligned against the others (or stop the run). The first differing file goes into
    ``found`` under ``stack:<kind>``; ``compared[0]`` counts the items compared.

    ``reoriented`` None (not known whether the loader reorients): a file stored in
    another orientation of the same grid, which ``as_closest_canonical`` reconciles, is
    left out; ``only_stored``: only such a file is told (the other differences were)."""
    names = _names(item.get(field)) if isinstance(item, dict) else []
    if len(names) < 2:
        return
    grids = [read_geometry(base / name, known) for name in names]
    if any(grid is None or not grid.usable() for grid in grids):
        return  # missing or unreadable: reported by the file and header checks
    compared[0] += 1
    first = grids[0]
    for name, grid in zip(names[1:], grids[1:]):
        if reoriented:
            kind, shown = stack_difference(first.reoriented(), grid.reoriented())
        else:
            kind, shown = stack_difference(first, grid)
            stored = kind == "orientation" and stack_difference(
                first.reoriented(), grid.reoriented())[0] is None
            if (reoriented is None and stored) or (only_stored and not stored):
                continue
        if kind:
            found[f"stack:{field}:{kind}"].append(
                f"item {index}: {_against(name, shown[1], names[0], shown[0])}")
            return


def stack_difference(first: Geometry, other: Geometry) -> tuple[str | None, tuple[str, str]]:
    """(kind of difference or None, how each is shown) of two files that are stacked voxel
    by voxel as channels (the modalities of one case): any other shape, orientation,
    rotation, spacing or origin. LoadNifti refuses the same at run time."""
    if first.shape != other.shape:
        return "shape", (_axes(first.shape), _axes(other.shape))
    return _pair_difference(first, other)


def _stack_line(kind: str, entries: list[str], stacks: dict[str, list[int]],
                reoriented: frozenset[str]) -> str:
    _, field, what = kind.split(":")
    words = {"shape": "another shape", "orientation": "another orientation",
             "rotation": "a rotated grid", "spacing": "another voxel spacing",
             "origin": "another origin (a shifted grid)"}[what]
    fix = "re-save every file of a case on one voxel grid"
    if what == "orientation" and field not in reoriented:
        fix += (", or set LoadNifti's as_closest_canonical to true when every header is "
                "right")
    return (f"{len(entries)} of {stacks[field][0]} multi-file {field!r} items hold a file "
            f"with {words} than their first file, and LoadNifti stacks them voxel by voxel "
            f"as channels: {listed(entries)} ({fix})")


def _against(name: str, shown: str, first: str, first_shown: str) -> str:
    """``label.nii.gz RPS against image.nii.gz LPS`` (an empty detail left out)."""
    return " ".join(part for part in (name, shown, "against", first, first_shown) if part)


def _axes(values) -> str:
    return "x".join(f"{v:g}" for v in values)


def _item_headers(item: Any, base: Path, fields: list[str], expected_channels: int | None,
                  known: dict[Path, Geometry | None] | None, kinds: dict[str, str] | None,
                  found: dict[str, list[str]], checked: int,
                  class_index_labels: bool = False,
                  onehot_label_channels: int | None = None) -> int:
    """:func:`header_problems` for one item: its findings go into ``found``; returns the
    number of files checked so far."""
    if isinstance(item, str):
        item = {"image": item}
    if isinstance(item, dict):
        for field in fields:
            names = _names(item.get(field))
            channels = 0
            for name in names:
                path = base / name
                if file_kind(path, kinds) != "file":
                    channels = None  # reported by the missing-files check
                    if known is not None:
                        known[path] = None
                    continue
                checked += 1
                kind, detail, count = _inspect(path, known)
                if kind:
                    found[kind].append(f"{name}{detail}")
                if channels is not None:
                    channels = None if count is None else channels + count
            if (field == "image" and expected_channels is not None and channels
                    and channels != expected_channels):
                found["channels"].append(f"{names[0]} ({channels})")
            if field == "label" and class_index_labels and channels and channels != 1:
                found["label_channels"].append(f"{names[0]} ({channels})")
            if (field == "label" and onehot_label_channels and channels
                    and channels != onehot_label_channels):
                found[f"onehot_channels:{onehot_label_channels}"].append(
                    f"{names[0]} ({channels})")
    return checked


#: What :func:`file_kind` calls a path that is not a regular file, by ``stat`` file type.
_NOT_REGULAR = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"),
                (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))


def file_kind(path: Path, kinds: dict[str, str] | None = None) -> str:
    """``"file"``, ``"missing"``, ``"folder"`` or what else ``path`` is (``"FIFO"``,
    ``"character device"`` ...), from one ``stat`` (links followed), kept in ``kinds``:
    on network storage every stat is a round trip, and a large list names many files."""
    key = os.fspath(path)  # a str key: a 100 000-case list keeps no Path objects alive
    if kinds is not None and key in kinds:
        return kinds[key]
    try:
        mode = os.stat(key).st_mode
    except (OSError, ValueError):  # a broken link, a name the OS refuses: not there
        kind = "missing"
    else:
        kind = ("file" if stat.S_ISREG(mode) else "folder" if stat.S_ISDIR(mode) else
                next((name for test, name in _NOT_REGULAR if test(mode)), "special file"))
    if kinds is not None:
        kinds[key] = kind
    return kind


#: ``sizeof_hdr``, the first field of a header, and the header's class: NIfTI-1, NIfTI-2.
_HEADER_SIZES = (348, 540)
#: A single-file NIfTI's magic (``n+1``/``n+2``) and where it sits, by header size.
_MAGIC = {348: (344, b"n+1\0"), 540: (4, b"n+2\0")}


class HeaderError(Exception):
    """Why a file has no readable NIfTI header, in words (the message)."""


def read_header(path: Path) -> Any:
    """The NIfTI-1/-2 header of ``path`` as nibabel reads it (its header class, with
    nibabel's own checks), from the file's first bytes, through gzip when the file is
    gzip-compressed: no image object is built and no voxel read, about 6x cheaper than
    ``nibabel.load``. Anything else (an Analyze pair, another format) goes through
    ``nibabel.load``, whose reason is kept.

    Raises:
        OSError: the file cannot be opened (``Permission denied``).
        HeaderError: no readable NIfTI header, and why.
    """
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        named_gz = path.name.lower().endswith(".gz")
        if not compressed and named_gz:
            head = raw.read(8)
            if _header_size(head) is not None:
                raise HeaderError("not a gzip file though named .gz: an uncompressed NIfTI "
                                  "(name it .nii, or gzip it)")
            other = _other_format(head + raw.read(132))
            raise HeaderError(f"not a gzip file though named .gz; {other}" if other else
                              f"not a gzip file though named .gz; it starts with "
                              f"{_start(head)}")
        if compressed and not named_gz:  # nibabel goes by the name: let it say what it sees
            return _load_header(path, raw.read(8))
        try:
            block = (gzip.GzipFile(fileobj=raw) if compressed else raw).read(max(_HEADER_SIZES))
        except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
            raise HeaderError(f"damaged gzip data ({error})") from error
    size = _header_size(block)
    if size is not None and len(block) < size:
        raise HeaderError(f"header truncated at {len(block)} of {size} bytes")
    if size is not None and block[slice(_MAGIC[size][0], _MAGIC[size][0] + 4)] == _MAGIC[size][1]:
        import nibabel as nib

        header_class = nib.Nifti1Header if size == 348 else nib.Nifti2Header
        try:
            return header_class.from_fileobj(io.BytesIO(block[:size]))
        except Exception as error:  # nibabel's HeaderDataError and kin
            raise HeaderError(_reason(error, path)) from error
    return _load_header(path, block)


def _load_header(path: Path, block: bytes) -> Any:
    """``nibabel.load``'s header of a file that is no single-file NIfTI (nibabel's reason,
    or what the file starts with, when it cannot)."""
    import nibabel as nib

    try:
        image = nib.load(str(path))
    except Exception as error:  # nibabel raises many types for a bad file
        reason = _reason(error, path)
        if block.startswith(b"\x1f\x8b"):
            reason = "gzip-compressed, but its name does not end in .gz (name it .nii.gz)"
        elif "Cannot work out file type" in reason or not reason:
            other = _other_format(block)
            reason = (other if other else f"not a NIfTI file (starts with {_start(block)})"
                      if block else "empty file")
        raise HeaderError(reason) from error
    header = image.header
    # An image object's affine may differ from its header's own (Analyze): keep it.
    header.mmarctl_affine = np.asarray(image.affine, np.float64)
    return header


def _header_size(block: bytes) -> int | None:
    """348 (NIfTI-1) or 540 (NIfTI-2) when ``block`` starts with that ``sizeof_hdr``."""
    return next((n for n in _HEADER_SIZES for order in ("little", "big")
                 if int.from_bytes(block[:4], order) == n), None)


#: Other medical image formats by how their files start, and how to convert them.
_CONVERT = "convert it to NIfTI (SimpleITK: sitk.WriteImage(sitk.ReadImage(f), 'f.nii.gz'))"
_FORMATS = ((b"ObjectType", "a MetaImage (.mha/.mhd) file"), (b"NDims", "a MetaImage "
            "(.mha/.mhd) file"), (b"NRRD000", "an NRRD file"))


def _other_format(block: bytes) -> str | None:
    """What other image format ``block`` (a file's first bytes) is, with how to convert
    it; None when not recognised."""
    for start, name in _FORMATS:
        if block.startswith(start):
            return f"{name}, not NIfTI: {_CONVERT}"
    if block[128:132] == b"DICM":
        return "a DICOM file, not NIfTI: convert the series to NIfTI (dcm2niix)"
    return None


def _start(block: bytes) -> str:
    """The first bytes of a file, quoted, for a message (``"not a ni"``)."""
    text = block[:8].decode("latin-1")
    return '"' + (text if text.isprintable() else repr(block[:8])[2:-1]) + '"'


def _reason(error: Exception, path: Path) -> str:
    """nibabel's short reason for ``error``, without the file name it repeats."""
    text = str(error)
    for name in (repr(str(path)), str(path)):
        text = text.replace(f"File {name} ", "").replace(name, "the file")
    return text.strip().rstrip(".") or type(error).__name__


def header_affine(header: Any) -> np.ndarray:
    """The voxel-to-world affine nibabel's image would have for ``header`` (sform, else
    qform, else its default)."""
    own = getattr(header, "mmarctl_affine", None)
    return own if own is not None else np.asarray(header.get_best_affine(), np.float64)


#: NIfTI spatial units (``xyzt_units``) -> millimetres per unit; ``unknown`` is taken as mm,
#: as every tool does.
UNIT_MM = {"meter": 1000.0, "mm": 1.0, "micron": 0.001}


def spatial_unit_mm(header: Any) -> float:
    """Millimetres per unit of ``header``'s affine and pixdim (its ``xyzt_units``; 1 for
    ``unknown`` and for headers without units, Analyze)."""
    try:
        unit = header.get_xyzt_units()[0]
    except Exception:  # Analyze and other formats: no units field
        return 1.0
    return UNIT_MM.get(unit, 1.0)


def voxel_sizes(affine: np.ndarray) -> np.ndarray:
    """The voxel size along each of the affine's three voxel axes (nibabel's
    ``affines.voxel_sizes`` of its spatial part)."""
    from nibabel.affines import voxel_sizes as sizes

    return sizes(np.asarray(affine, np.float64)[:4, :4])


#: The datatypes LoadNifti cannot give as grey values, by NIfTI datatype code: a
#: colour or complex value per voxel.
UNSUPPORTED_DATATYPES = {128: "RGB24, 3 colour values per voxel",
                         2304: "RGBA32, 4 colour values per voxel",
                         32: "COMPLEX64", 1792: "COMPLEX128", 2048: "COMPLEX256"}


def unsupported_datatype(header: Any) -> str | None:
    """Why LoadNifti cannot read the voxels of ``header``'s file (an RGB or complex
    datatype), in words, or None."""
    try:
        code = int(header["datatype"])
    except Exception:  # Analyze and other formats keep it elsewhere
        return None
    what = UNSUPPORTED_DATATYPES.get(code)
    if what is None:
        return None
    if code in (128, 2304):
        return (f"RGB NIfTI (datatype {what}) is not supported: store the channels on the "
                "4th axis, or convert it to grey")
    return f"complex NIfTI (datatype {what}) is not supported: save the magnitude"


#: The eight bytes every PNG file starts with.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


#: PNG colour type (IHDR) -> the channels LoadPng gives: grey, RGB, palette (expanded to
#: RGB), grey+alpha, RGBA.
PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}
#: The colour types' names, for messages.
PNG_COLOURS = {0: "grey", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}


def _png_header(path: Path) -> bytes | None:
    """A PNG file's first 26 bytes (signature, then IHDR: width, height, bit depth,
    colour type); None when the file cannot be read or is not a PNG."""
    try:
        if file_kind(path) != "file":  # never open a FIFO: it blocks
            return None
        with open(path, "rb") as file:
            head = file.read(len(PNG_SIGNATURE) + 18)
    except OSError:
        return None
    if head[:len(PNG_SIGNATURE)] != PNG_SIGNATURE or len(head) < 26 or head[12:16] != b"IHDR":
        return None
    return head


def png_bit_depth(path: Path) -> int | None:
    """A PNG file's bit depth from its IHDR chunk; None when it is not a readable PNG."""
    head = _png_header(path)
    return None if head is None else head[24]


def png_size(path: Path) -> tuple[int, int] | None:
    """A PNG file's ``(rows, cols)`` as LoadPng gives it, from its IHDR chunk; None when
    it is not a readable PNG."""
    head = _png_header(path)
    if head is None:
        return None
    cols, rows = struct.unpack(">II", head[16:24])
    return rows, cols


def png_problems(items: list, base: Path, fields: list[str],
                 expected_channels: int | None = None,
                 kinds: dict[str, str] | None = None, *,
                 class_index_labels: bool = False) -> list[str]:
    """Messages for the files of ``fields`` (which LoadPng reads) that are not PNG files,
    from their first eight bytes (a NIfTI data set under a 2-D PNG MMAR's loaders), and for
    the ``image`` files whose colour type (the IHDR chunk: 29 bytes in) gives another
    channel count than ``expected_channels`` (grey PNGs under an RGB MMAR), as
    :func:`header_problems` compares a NIfTI file's channels. With ``class_index_labels``
    (the loss's ``is_onehot_targets`` false), ``label`` masks must be grey: Kvasir-SEG
    ships RGB masks.
    """
    wrong, channels, unreadable, checked = [], [], defaultdict(list), 0
    colour_masks: list[str] = []
    depths: dict[bool, list[str]] = defaultdict(list)  # image PNGs by "16-bit?"
    for item in items:
        item = {"image": item} if isinstance(item, str) else item
        if not isinstance(item, dict):
            continue
        for field in fields:
            for name in _names(item.get(field)):
                path = base / name
                if file_kind(path, kinds) != "file":
                    continue  # reported by the missing-files check
                checked += 1
                try:
                    with open(path, "rb") as file:
                        head = file.read(len(PNG_SIGNATURE) + 18)
                except OSError as error:
                    unreadable[error.strerror or type(error).__name__].append(name)
                    continue
                if head[:len(PNG_SIGNATURE)] != PNG_SIGNATURE:
                    wrong.append(name)
                    continue
                colour = head[-1] if len(head) == 26 and head[12:16] == b"IHDR" else None
                if field == "image" and colour is not None:
                    depths[head[24] == 16].append(name)
                count = PNG_CHANNELS.get(colour)
                if (field == "image" and expected_channels is not None and count is not None
                        and count != expected_channels):
                    channels.append(f"{name} ({count}, {PNG_COLOURS[colour]})")
                if (field == "label" and class_index_labels and count is not None
                        and count != 1):
                    colour_masks.append(f"{name} ({PNG_COLOURS[colour]})")
    found = []
    if depths[True] and depths[False]:
        # LoadPng keeps stored values (0..255 against 0..65535): one intensity window
        # saturates or darkens the fewer kind.
        fewer = min(depths[True], depths[False], key=len)
        bits, other = ("16", "8") if fewer is depths[True] else ("8 (or fewer)", "16")
        found.append(f"{len(fewer)} of {len(depths[True]) + len(depths[False])} image PNGs "
                     f"are {bits}-bit while the others are {other}-bit, and LoadPng keeps the "
                     f"stored values (0..255 against 0..65535), so one intensity window fits "
                     f"only one kind: {listed(fewer)} (save every image at one bit depth)")
    if colour_masks:
        found.append(f"{len(colour_masks)} of {checked} label PNGs are not grey, but the loss "
                     f"takes one class-index channel (is_onehot_targets false): "
                     f"{listed(colour_masks)} (save masks as grey PNGs, e.g. "
                     f"Image.open(f).convert('L'))")
    if wrong:
        found.append(f"{len(wrong)} of {checked} files are not PNG files (LoadPng reads "
                     f"them): {listed(wrong)}")
    found.extend(f"{len(names)} of {checked} PNG files: cannot read: {reason} (check the "
                 f"files' owner and mode): {listed(names)}"
                 for reason, names in unreadable.items())
    if channels:
        found.append(_line("channels", channels, checked, expected_channels))
    return found


#: How far apart (relative) two voxel spacings may be and still count as one: pixdim is
#: float32, and tools round it differently (0.79296875 against 0.792969).
SPACING_RTOL = 1e-3
#: How far apart two origins may be, in voxels of the image: float32 sforms, and a qform
#: next to an sform, differ by far less; a real shift is a voxel or more.
ORIGIN_TOLERANCE = 0.1


@dataclass(frozen=True)
class Geometry:
    """A file's voxel grid as its header gives it (no voxel read), in mm.

    Attributes:
        shape: the spatial axes (the first three at most).
        spacing: the voxel size along each of them in mm (from the affine: the loader's).
        affine: voxel to world in mm (sform, else qform, else nibabel's default; scaled
            by the header's spatial unit, ``xyzt_units``).
        placed: whether the header sets a qform or sform (else its position is unknown).
    """

    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    affine: np.ndarray
    placed: bool

    @classmethod
    def of(cls, image: Any) -> "Geometry":
        """The geometry of a nibabel image (its header and affine)."""
        return cls.of_header(image.header, np.asarray(image.affine, np.float64))

    @classmethod
    def of_header(cls, header: Any, affine: np.ndarray) -> "Geometry":
        """The geometry of a nibabel header and the affine of its image."""
        shape = tuple(int(n) for n in header.get_data_shape()[:3])
        # The spacing of the affine the loader uses (the sform's when there is one), not
        # pixdim (the qform's): where the two disagree, the grid is the sform's. In mm.
        affine = np.array(affine, np.float64)
        affine[:3, :] *= spatial_unit_mm(header)
        spacing = tuple(float(z) for z in voxel_sizes(affine)[:len(shape)])
        try:
            placed = int(header["qform_code"]) > 0 or int(header["sform_code"]) > 0
        except (KeyError, ValueError, TypeError):  # Analyze and other formats: no codes
            placed = False
        return cls(shape, spacing, affine, placed)

    def usable(self) -> bool:
        """Whether the affine is finite and invertible (else header_problems reports it)."""
        linear = self.affine[:3, :3]
        return bool(np.isfinite(self.affine).all() and linear.shape == (3, 3)
                    and abs(np.linalg.det(linear)) >= 1e-12)

    def reoriented(self) -> "Geometry":
        """The grid LoadNifti's ``as_closest_canonical`` turns this one into (RAS+): the
        axes permuted and flipped, as ``nibabel.as_closest_canonical`` does."""
        from nibabel.orientations import inv_ornt_aff

        if len(self.shape) != 3:
            return self
        ornt = _orientation(*_affine_key(self.affine))
        shape, spacing = [0] * 3, [0.0] * 3
        for axis, (to, _) in enumerate(ornt.astype(int)):
            shape[to], spacing[to] = self.shape[axis], self.spacing[axis]
        affine = self.affine @ inv_ornt_aff(ornt, self.shape)
        return Geometry(tuple(shape), tuple(spacing), affine, self.placed)

    def axcodes(self) -> str:
        """The orientation, e.g. ``RAS`` or ``LPS`` (nibabel's ``aff2axcodes``)."""
        from nibabel.orientations import ornt2axcodes

        ornt = _orientation(*_affine_key(self.affine[:4, :4]))
        return "".join(str(code) for code in ornt2axcodes(ornt))


def _affine_key(affine: np.ndarray) -> tuple[bytes, tuple[int, ...]]:
    """An affine as a hashable key for :func:`_orientation`."""
    affine = np.ascontiguousarray(affine, dtype=np.float64)
    return affine.tobytes(), affine.shape


@lru_cache(maxsize=4096)
def _orientation(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """nibabel's ``io_orientation`` of an affine, once per distinct affine: it takes an SVD,
    and a data set has few distinct affines among thousands of files."""
    from nibabel.orientations import io_orientation

    ornt = io_orientation(np.frombuffer(data, np.float64).reshape(shape))
    ornt.flags.writeable = False  # shared between callers
    return ornt


def read_geometry(path: Path, known: dict[Path, Geometry | None] | None = None,
                  ) -> Geometry | None:
    """The header geometry of the NIfTI file at ``path`` (None when missing or unreadable),
    taken from ``known`` (the headers :func:`header_problems` read, and the files it found
    missing or unreadable: not tried again) when there."""
    if known is not None and path in known:
        return known[path]
    try:
        if file_kind(path) != "file":  # never open a FIFO: it blocks
            raise FileNotFoundError(path)
        header = read_header(path)
        geometry = Geometry.of_header(header, header_affine(header))
    except Exception:  # missing or unreadable: reported by header_problems
        geometry = None
    if known is not None:
        known[path] = geometry
    return geometry


def pair_problems(items: list, base: Path, fields: tuple[str, str], *,
                  reoriented: frozenset[str] = frozenset(),
                  known: dict[Path, Geometry | None] | None = None,
                  kinds: dict[str, str] | None = None) -> list[str]:
    """Messages (one per kind) for the items whose two NIfTI ``fields`` (image and label) do
    not lie on one voxel grid, from their headers. The pipeline pairs their voxels one to
    one, so a label in another orientation, on another spacing with the same shape, or
    shifted, is scored or trained against the wrong voxels without a word; a label of
    another shape on the same spacing stops the pipeline mid-epoch. (Of another shape on
    another spacing, a resampling transform may bring both to one grid, which only running
    it can tell.)

    Args:
        items: datalist items as written.
        base: DATA_ROOT.
        fields: ``(image field, label field)``.
        reoriented: the fields whose LoadNifti has ``as_closest_canonical``: they are
            compared as reoriented to RAS+, as the pipeline sees them.
        known: headers already read (:func:`header_problems`), by path.
        kinds: :func:`file_kind` of the paths already looked at.
    """
    found: dict[str, list[str]] = defaultdict(list)
    checked = 0
    stacks = {field: [0] for field in fields}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        # A case's modalities stored in other orientations of one grid (header_problems
        # leaves them here): fine when this pipeline reorients them, mirrored otherwise.
        for field in fields:
            if field not in reoriented:
                _stack_difference(item, index, base, field, False, known, found,
                                  stacks[field], only_stored=True)
        names = [item.get(field) for field in fields]
        if not all(isinstance(name, str) and file_kind(base / name, kinds) == "file"
                   for name in names):
            continue
        grids = [read_geometry(base / name, known) for name in names]
        if None in grids or not all(grid.usable() for grid in grids):
            continue  # reported by header_problems
        grids = [grid.reoriented() if field in reoriented else grid
                 for grid, field in zip(grids, fields)]
        checked += 1
        kind, shown = _pair_difference(*grids)
        if kind:
            found[kind].append(_against(names[1], shown[1], names[0], shown[0]))
    return [_stack_line(kind, pairs, stacks, reoriented) if kind.startswith("stack:")
            else _pair_line(kind, pairs, checked, fields, reoriented)
            for kind, pairs in found.items()]


def _pair_difference(image: Geometry, label: Geometry) -> tuple[str | None, tuple[str, str]]:
    """(kind of difference or None, how each of the two is shown) of an image/label pair."""
    # Without a qform or sform a file's orientation and origin are unknown: the loader
    # takes its voxels as they are, so only its spacing and shape can disagree.
    placed = image.placed and label.placed
    if placed and len(image.shape) == len(label.shape) and image.axcodes() != label.axcodes():
        return "orientation", (image.axcodes(), label.axcodes())
    angle = _rotation(image, label) if placed else 0.0
    if angle > ROTATION_TOLERANCE:  # same axis codes, yet the grids are turned
        return "rotation", ("", f"(rotated {np.degrees(angle):.3g} deg)")
    same_spacing = len(image.spacing) == len(label.spacing) and np.allclose(
        image.spacing, label.spacing, rtol=SPACING_RTOL, atol=0)
    if image.shape != label.shape:
        if same_spacing:
            return "shape", (_axes(image.shape), _axes(label.shape))
        # A resampling transform may bring both to one grid (from the corners of their
        # fields of view): only where both cover the same space.
        if placed and _other_field_of_view(image, label):
            return "field", (_field(image), _field(label))
        return None, ("", "")
    if not same_spacing:
        return "spacing", (f"{_axes(image.spacing)} mm", f"{_axes(label.spacing)} mm")
    shift = np.abs(image.affine[:3, 3] - label.affine[:3, 3])
    if placed and shift.max() > ORIGIN_TOLERANCE * min(image.spacing):
        def origin(grid: Geometry) -> str:
            return "(" + ", ".join(f"{v:g}" for v in np.round(grid.affine[:3, 3], 3)) + ")"
        return "origin", (origin(image), origin(label))
    return None, ("", "")


#: How far two grids' axes may turn against each other (radians) and count as one:
#: float32 sforms and a quaternion qform differ by ~1e-7; 1e-3 is 0.06 degrees.
ROTATION_TOLERANCE = 1e-3


def _rotation(one: Geometry, other: Geometry) -> float:
    """The largest angle (radians) between the matching voxel axes of two grids."""
    if one.affine.shape != other.affine.shape:
        return 0.0
    a, b = one.affine[:3, :3], other.affine[:3, :3]
    a = a / np.maximum(np.linalg.norm(a, axis=0), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=0), 1e-12)
    return float(np.arccos(np.clip((a * b).sum(axis=0), -1.0, 1.0)).max())


def _corners(grid: Geometry) -> np.ndarray:
    """World positions (mm) of the outer corners of a 3-D grid's first and last voxels."""
    low = np.array([-0.5, -0.5, -0.5, 1.0])
    high = np.append(np.asarray(grid.shape, np.float64) - 0.5, 1.0)
    return np.stack([grid.affine @ low, grid.affine @ high])[:, :3]


def _other_field_of_view(one: Geometry, other: Geometry) -> bool:
    """Whether two 3-D grids on other spacings do not cover the same space: their first
    corners more than half a voxel of the coarser grid apart, or their far corners more
    than one (resampling maps corner to corner, so the voxels would be paired shifted)."""
    if len(one.shape) != 3 or len(other.shape) != 3:
        return False
    coarse = max(max(one.spacing), max(other.spacing))
    start, end = np.abs(_corners(one) - _corners(other)).max(axis=1)
    return bool(start > 0.5 * coarse or end > coarse)


def _field(grid: Geometry) -> str:
    """A grid's field of view for a message: ``from (x, y, z) to (x, y, z) mm``."""
    low, high = (", ".join(f"{v:g}" for v in np.round(c, 1)) for c in _corners(grid))
    return f"from ({low}) to ({high}) mm"


def _pair_line(kind: str, pairs: list[str], checked: int, fields: tuple[str, str],
               reoriented: frozenset[str]) -> str:
    image, label = fields
    count = f"{len(pairs)} of {checked} {label}s"
    if kind == "shape":
        return f"{count} differ in shape from their {image}: {listed(pairs)}"
    if kind == "orientation":
        fix = ("re-save the label on its image's grid" if reoriented else
               "re-save the label on its image's grid, or set LoadNifti's "
               "as_closest_canonical to true when both headers are right")
        return (f"{count} differ in orientation from their {image}, and the pipeline "
                f"pairs their voxels one to one: {listed(pairs)} ({fix})")
    if kind == "rotation":
        return (f"{count} lie on a grid rotated against their {image}'s (same axis codes, "
                f"other direction cosines), and the pipeline pairs their voxels one to one: "
                f"{listed(pairs)} (re-save the label on its image's grid)")
    if kind == "field":
        return (f"{count} cover another field of view than their {image} (other shape and "
                f"spacing: resampling maps the corners of each grid onto each other, so the "
                f"{label} would be shifted or stretched): {listed(pairs)} (re-save the "
                f"{label} on its {image}'s grid)")
    what = {"spacing": "have another voxel spacing than their",
            "origin": "have another origin (a shifted grid) than their"}[kind]
    return (f"{count} {what} {image} of the same shape, and the pipeline pairs their voxels "
            f"one to one: {listed(pairs)} (re-save the label on its image's grid)")


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _inspect(path: Path, known: dict[Path, Geometry | None] | None = None,
             ) -> tuple[str | None, str, int | None]:
    """(problem kind or None, detail, channel count) of one file, from its header; its
    geometry (None when unreadable) goes into ``known``. A kind that carries its reason
    (``unreadable:<reason>``) gives one line per reason."""
    if known is not None:
        known[path] = None
    try:
        header = read_header(path)
        shape = tuple(int(n) for n in header.get_data_shape())
        affine = header_affine(header)
        geometry = Geometry.of_header(header, affine)
    except OSError as error:  # cannot be opened: permissions, not the header
        return f"cannot_read:{error.strerror or type(error).__name__}", "", None
    except HeaderError as error:
        return f"unreadable:{error}", "", None
    except Exception as error:  # nibabel raises many types for a bad header
        return f"unreadable:{_reason(error, path)}", "", None
    if known is not None:
        known[path] = geometry
    unsupported = unsupported_datatype(header)
    if unsupported:
        return f"datatype:{unsupported}", "", None
    if len(shape) < 2 or 0 in shape:
        return "shape", f" (shape {shape})", None
    channels = int(np.prod(shape[3:])) if len(shape) > 3 else 1
    if not np.isfinite(affine).all():
        return "affine_nan", "", channels
    if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        return "affine_singular", "", channels
    return None, "", channels


def listed(files: list[str]) -> str:
    """The first :data:`SHOW` of ``files``, then how many more."""
    more = f" and {len(files) - SHOW} more" if len(files) > SHOW else ""
    return ", ".join(files[:SHOW]) + more


def _line(kind: str, files: list[str], checked: int, expected: int | None) -> str:
    names = listed(files)
    kind, _, reason = kind.partition(":")
    if kind == "cannot_read":
        return (f"{len(files)} of {checked} NIfTI files: cannot read: {reason} (check the "
                f"files' owner and mode): {names}")
    if kind == "unreadable":
        return (f"{len(files)} of {checked} NIfTI files have no readable NIfTI header "
                f"({reason}): {names}")
    if kind == "datatype":
        return f"{len(files)} of {checked} NIfTI files: {reason}: {names}"
    if kind == "onehot_channels":
        have = "has" if len(files) == 1 else "have"
        return (f"{len(files)} label file{'' if len(files) == 1 else 's'} {have} another "
                f"channel count than the {reason} one-hot channels the loss takes "
                f"(is_onehot_targets true, num_classes={reason}): {names} (set the loss's "
                f"is_onehot_targets to false for class-index labels, or store {reason} "
                f"one-hot channels on the 4th axis)")
    if kind == "label_channels":
        return (f"{len(files)} label file{'' if len(files) == 1 else 's'} "
                f"{'has' if len(files) == 1 else 'have'} several channels (one-hot on the 4th "
                f"axis), but the loss takes class indices (is_onehot_targets false): {names} "
                f"(save each label as one class-index volume, or set the loss's "
                f"is_onehot_targets to true)")
    what = {
        "unreadable": "have no readable NIfTI header",
        "shape": "have fewer than 2 axes or an empty axis",
        "affine_nan": "have an affine with NaN or infinite entries",
        "affine_singular": "have a singular affine (no voxel-to-world mapping)",
        "channels": f"have a channel count other than output_image_channels={expected}",
    }[kind]
    if kind == "channels":
        what = what.replace("have", "has", 1) if len(files) == 1 else what
        return f"{len(files)} image{'' if len(files) == 1 else 's'} {what}: {names}"
    return f"{len(files)} of {checked} NIfTI files {what}: {names}"
