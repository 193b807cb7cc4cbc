"""Names of the cases of one validate/infer run, decided once before any case is computed.

A case is named after its image file: ``spleen_3`` for ``imagesTs/spleen_3.nii.gz`` (for a
multi-file image, the files' common prefix, as :func:`transforms.base.case_name` gives it).
When two cases of one run would get the same name (one folder per patient holding
``ct.nii.gz``), each of the colliding cases is named with as many of its parent folders as
tell them apart: ``p1/ct`` and ``p2/ct``; the writers then write
``<output>/p1/ct/ct_model.nii.gz``. Cases whose names do not collide keep the plain name, so
Clara's layout (``<output>/spleen_3/spleen_3_model.nii.gz``) is unchanged. A file listed twice
(nothing tells the two apart) gets ``~2``, ``~3`` ... after its second and later names.

The evaluation loop puts each case's :class:`CaseName` on its sample under :data:`CASE_KEY`
(after the post transforms); WriteNifti, WriteClassificationResult, the metrics tables and the
report read it from there. No TensorFlow here.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from mmarctl.runtime.transforms.base import case_name

#: Sample key holding the case's :class:`CaseName` during validate/infer.
CASE_KEY = "_case_name"


@dataclass(frozen=True)
class CaseName:
    """How one case is named in a run's outputs.

    Attributes:
        key: the case in ``metrics_per_case.csv``, ``metrics.json``, the report's rows and the
            classification CSVs: its image file as the run read it (``~N`` added for a file
            listed more than once).
        output: the name output files are made of: ``spleen_3``, or ``p1/ct`` when names
            collide (a relative path: the writers make its folders).
        shown: the name the report shows: the image's file name, with the same parent folders
            as ``output`` (``spleen_3.nii.gz``, ``p1/ct.nii.gz``).
    """

    key: str
    output: str
    shown: str

    @property
    def stem(self) -> str:
        """The last part of ``output`` (``ct`` for ``p1/ct``): what file names start with."""
        return self.output.rsplit("/", 1)[-1]


def _files(item: Mapping[str, Any]) -> list[str]:
    """The image file(s) a datalist / --input item names, normalised."""
    image = item.get("image")
    files = image if isinstance(image, list) else [image]
    return [os.path.normpath(str(f)).replace("\\", "/") for f in files
            if isinstance(f, (str, Path))]


def _raw_first(item: Mapping[str, Any]) -> str:
    """The item's (first) image path as given, as the tables have always named the case."""
    image = item.get("image")
    image = image[0] if isinstance(image, list) and image else image
    return str(image) if isinstance(image, (str, Path)) else ""


def _plain(files: list[str]) -> str:
    """Today's case name of these files (file name without extension, or common prefix)."""
    if not files:
        return "case"
    return case_name({"meta": {"image": {"filename": files[0], "filenames": files}}})


def _folders(path: str) -> list[str]:
    """The parent folders of ``path``, nearest last (no root, drive, ``.`` or ``..``)."""
    # "." / ".." never name a case, and must not lead an output name out of its folder
    return [p for p in path.split("/")[:-1] if p not in ("", ".", "..") and not p.endswith(":")]


def _prefixed(name: str, folders: list[str], depth: int) -> str:
    return "/".join([*folders[max(0, len(folders) - depth):], name]) if depth else name


def case_names(items: Sequence[Mapping[str, Any]]) -> list[CaseName]:
    """One :class:`CaseName` per item, in order, all ``output`` names distinct.

    Colliding plain names are prefixed with the fewest parent folders (the same number for
    the whole group) that make them distinct; what no folder separates (one file listed
    twice) gets ``~N``.
    """
    files = [_files(item) for item in items]
    plain = [_plain(f) for f in files]
    first = [f[0] if f else "" for f in files]
    folders = [_folders(f) for f in first]
    file_names = [f.rsplit("/", 1)[-1] if f else "case" for f in first]
    depth = [0] * len(items)
    groups: dict[str, list[int]] = defaultdict(list)
    for index, name in enumerate(plain):
        groups[name].append(index)
    for name, members in groups.items():
        if len(members) < 2:
            continue
        deepest = max(len(folders[i]) for i in members)
        distinct = {d: len({_prefixed(name, folders[i], d) for i in members})
                    for d in range(1, deepest + 1)}
        best = max(distinct.values(), default=1)
        # the fewest folders that separate the most; none when they are all one file
        chosen = min(d for d, n in distinct.items() if n == best) if best > 1 else 0
        for i in members:
            depth[i] = chosen
    outputs = [_prefixed(plain[i], folders[i], depth[i]) for i in range(len(items))]
    shown = [_prefixed(file_names[i], folders[i], depth[i]) for i in range(len(items))]
    keys = [_raw_first(item) or f"case {i + 1}" for i, item in enumerate(items)]
    # Same file (or same folders and name) more than once: number the repeats.
    taken = set(outputs)
    seen: Counter[str] = Counter()
    for i, name in enumerate(list(outputs)):
        seen[name] += 1
        if seen[name] == 1:
            continue
        n = seen[name]
        while f"{name}~{n}" in taken:
            n += 1
        taken.add(f"{name}~{n}")
        outputs[i], shown[i], keys[i] = f"{name}~{n}", f"{shown[i]}~{n}", f"{keys[i]}~{n}"
    return [CaseName(key=keys[i], output=outputs[i], shown=shown[i]) for i in range(len(items))]


def case_of(sample: Mapping[str, Any]) -> CaseName | None:
    """The :class:`CaseName` the evaluation loop put on ``sample`` (None outside one)."""
    name = sample.get(CASE_KEY)
    return name if isinstance(name, CaseName) else None
