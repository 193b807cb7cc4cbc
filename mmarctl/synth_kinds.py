"""The kinds of synthetic data set ``mmarctl data synth`` writes, and the options each takes.

A *kind* is one data shape that real Clara MMARs load: CT volumes with one organ label,
multi-modal brain MRI with BraTS tumour labels, 2-D slices with a mask, 2-D images with
class labels. Each names the module function that draws and writes one case and the one
that gives the datalist's metadata, so :func:`mmarctl.synth.synthesize` stays one loop and
each kind lives in its own module. Option combinations a kind cannot honour are refused
here, in one line, before anything is written.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from mmarctl.errors import UsageError

TASKS = ("segmentation", "classification")


@dataclass(frozen=True)
class Kind:
    """One kind of synthetic data set.

    Attributes:
        name: the ``--kind`` value.
        task: the ``PROCESSING_TASK`` it serves (segmentation or classification).
        dims: 2 (images) or 3 (volumes).
        summary: one line for ``--help`` and the docs.
        writer: ``"module:function"`` that draws and writes one case (see :func:`writer_of`).
        head: ``"module:function"`` giving the datalist's metadata for :class:`Options`.
        formats: the ``--format`` values it can write, the default first.
        layouts: the ``--layout`` values, the default first (empty: the option is refused).
        default_cases: ``--cases`` when not given.
        least_cases: the fewest cases that still leave training and validation items.
        mask_value: whether ``--label-value`` applies (a one-structure mask).
    """

    name: str
    task: str
    dims: int
    summary: str
    writer: str
    head: str
    formats: tuple[str, ...] = ("nifti",)
    layouts: tuple[str, ...] = ()
    default_cases: int = 12
    least_cases: int = 2
    mask_value: bool = False


#: Every kind by name, the defaults first (``--help`` lists them in this order).
KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("spleen", "segmentation", 3,
         "3D CT-like abdominal volumes (HU) with a spleen label 0/1, MSD layout",
         "mmarctl.synth:write_spleen_case", "mmarctl.synth:spleen_head"),
    Kind("brats", "segmentation", 3,
         "3D brain MRI in four modalities (T1ce, T1, T2, FLAIR) with BraTS tumour labels "
         "0/1/2/4",
         "mmarctl.synth_brats:write_case", "mmarctl.synth_brats:datalist_head",
         layouts=("files", "4d"), default_cases=8),
    Kind("spine2d", "segmentation", 2,
         "2D sagittal spine MRI slices with a vertebral-body mask",
         "mmarctl.synth_spine:write_case", "mmarctl.synth_spine:datalist_head",
         formats=("nifti", "png", "npy"), default_cases=20, mask_value=True),
    Kind("nodule", "classification", 2,
         "2D chest-film-like images, label [1] with a nodule and [0] without",
         "mmarctl.synth:write_nodule_case", "mmarctl.synth:nodule_head",
         formats=("nifti", "png"), default_cases=40, least_cases=4),
)}

#: Every ``--format`` and ``--layout`` value some kind takes, in first-seen order.
FORMATS = tuple(dict.fromkeys(f for kind in KINDS.values() for f in kind.formats))
LAYOUTS = tuple(dict.fromkeys(l for kind in KINDS.values() for l in kind.layouts))

#: The kind a task gets when ``--kind`` is not given (the built-in scaffolds' data).
DEFAULT_KINDS = {"segmentation": "spleen", "classification": "nodule"}


@dataclass(frozen=True)
class Options:
    """What every case of one set is drawn and written with.

    Attributes:
        size: voxels per axis (3-D kinds draw from ``size..1.25*size`` where they vary).
        shape: an exact 3-D shape instead of ``size`` (3-D kinds only), else None.
        file_format: ``nifti``, ``png`` or ``npy``.
        compress: NIfTI as ``.nii.gz`` (True) or ``.nii``.
        layout: the kind's layout (``files`` or ``4d`` for brats), else None.
        label_value: the value a one-structure mask stores for the structure.
    """

    size: int
    shape: tuple[int, ...] | None = None
    file_format: str = "nifti"
    compress: bool = True
    layout: str | None = None
    label_value: int = 1

    @property
    def suffix(self) -> str:
        """The suffix of every image and label file."""
        from mmarctl.synth_files import suffix  # NumPy: not at import, the CLI's help lists kinds

        return suffix(self.file_format, self.compress)


def choose(task: str | None, kind: str | None) -> Kind:
    """The kind for ``--task`` and ``--kind`` as given (either may be None).

    Raises:
        UsageError: an unknown task or kind, or a kind of another task than ``task``.
    """
    if task is not None and task not in TASKS:
        raise UsageError(f"unknown task {task!r}", hint=f"choose one of: {', '.join(TASKS)}")
    if kind is None:
        return KINDS[DEFAULT_KINDS[task or "segmentation"]]
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}", hint=f"choose one of: {', '.join(KINDS)}")
    chosen = KINDS[kind]
    if task is not None and task != chosen.task:
        raise UsageError(f"--kind {kind} is {chosen.task} data and does not go with "
                         f"--task {task}; Received: task={task!r}, kind={kind!r}")
    return chosen


def options(kind: Kind, *, size: int, shape: tuple[int, ...] | None = None,
            file_format: str | None = None, compress: bool | None = None,
            layout: str | None = None, label_value: int | None = None) -> Options:
    """Check the options given for ``kind`` and fill in its defaults.

    ``None`` means "not given". ``shape`` must already be parsed.

    Raises:
        UsageError: an option the kind does not take, or a value it cannot write.
    """
    if shape is not None and kind.dims != 3:
        volumes = ", ".join(k.name for k in KINDS.values() if k.dims == 3)
        raise UsageError(f"--shape is for 3-D volumes ({volumes}); {kind.name} images are "
                         f"SIZE x SIZE (--size); Received: shape={shape!r}")
    file_format = kind.formats[0] if file_format is None else file_format
    if file_format not in kind.formats:
        raise UsageError(f"--format {file_format} is not available for {kind.name}, which "
                         f"writes {' or '.join(kind.formats)}; Received: format={file_format!r}")
    if compress is not None and file_format != "nifti":
        raise UsageError(f"--compress/--no-compress is for NIfTI files, not {file_format}; "
                         f"Received: format={file_format!r}")
    if layout is not None and layout not in kind.layouts:
        if not kind.layouts:
            takers = ", ".join(k.name for k in KINDS.values() if k.layouts)
            raise UsageError(f"--layout is for {takers}, not {kind.name}; "
                             f"Received: layout={layout!r}")
        raise UsageError(f"--layout for {kind.name} is {' or '.join(kind.layouts)}; "
                         f"Received: layout={layout!r}")
    if label_value is not None:
        if not kind.mask_value:
            takers = ", ".join(k.name for k in KINDS.values() if k.mask_value)
            raise UsageError(f"--label-value is for one-structure masks ({takers}), not "
                             f"{kind.name}; Received: label_value={label_value}")
        if not 1 <= label_value <= 255:
            raise UsageError(f"--label-value must be in 1..255 (8-bit masks); "
                             f"Received: label_value={label_value}")
    return Options(size=size, shape=shape, file_format=file_format,
                   compress=True if compress is None else compress,
                   layout=layout or (kind.layouts[0] if kind.layouts else None),
                   label_value=1 if label_value is None else label_value)


def _function(reference: str) -> Callable[..., Any]:
    module, name = reference.split(":")
    return getattr(importlib.import_module(module), name)


def writer_of(kind: Kind) -> Callable[..., dict]:
    """``write(rng, index, root, options) -> datalist item`` of ``kind``.

    The function draws case ``index`` (1-based) from ``rng``, writes its files under
    ``root`` and returns the item with paths relative to ``root``.
    """
    return _function(kind.writer)


def head_of(kind: Kind) -> Callable[[Options], dict]:
    """``head(options) -> dict``: the datalist's metadata keys for ``kind``."""
    return _function(kind.head)
