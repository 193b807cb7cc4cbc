"""Whole images given to a network that takes only some sizes (``TFSimpleInferer``).

``TFSimpleInferer`` runs the network once on the whole image. A U-Net (and every network
with a ``size_divisor``) takes only spatial sizes that are multiples of it, so validate and
infer stop at the first image of another size (:mod:`mmarctl.runtime.inferers.base`), and
train, whose validation runs the same inferer, stops there after a round of training.
``check`` holds the images' header sizes to the divisor before any compute, where the size
the network gets is the header's: every built step of the chain loads, or keeps the spatial
shape (:data:`KEEP_SHAPE`). A chain that resamples, crops or pads (``ScaleByResolution``,
``SymmetricPadderDiv``) decides the size itself, and nothing is said of it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from mmarctl.check.crop_size import KEEP_SHAPE as _KEEPS
from mmarctl.check.images import png_size
from mmarctl.problems import Problem

#: Steps after which the spatial shape is still the file's: the loaders and the steps
#: that keep the shape of what they are given.
KEEP_SHAPE = _KEEPS | {"LoadNifti", "LoadPng"}
#: How many images a line names before it counts the rest.
SHOWN = 3


@dataclass(frozen=True)
class WholeImageRule:
    """The network a pipeline's images reach whole, and where that is set.

    Attributes:
        divisor: the network's size divisor (every spatial size a multiple of it).
        dims: the network's spatial axes (2 or 3): the header axes compared.
        inferer: ``(file, json_path)`` of the ``TFSimpleInferer`` that gives the whole image.
        network_file: the training config whose network it is, for the message.
    """

    divisor: int
    dims: int
    inferer: tuple[str, str]
    network_file: str


def whole_image_rule(inferer: Any, chain: Any, network: Any, dims: Any,
                     inferer_at: tuple[str, str], network_file: str) -> WholeImageRule | None:
    """The rule for a pipeline whose ``inferer`` gives ``network`` each image whole, through
    a ``chain`` that keeps the files' sizes; None when any of that is not so (a sliding
    window, a network taking any size, a step that may resize, a step not built)."""
    if getattr(type(inferer), "clara_name", None) != "TFSimpleInferer":
        return None
    divisor = getattr(network, "size_divisor", None)
    if not isinstance(divisor, int) or divisor <= 1 or dims not in (2, 3):
        return None
    if not isinstance(chain, list) or any(
            step is None or getattr(type(step), "clara_name", None) not in KEEP_SHAPE
            for step in chain):
        return None
    return WholeImageRule(divisor, dims, inferer_at, network_file)


def whole_image_problem(items: Sequence[Any], base: Path, rule: WholeImageRule,
                        geometries: dict[Path, Any], key: str,
                        datalist: str) -> Problem | None:
    """A problem at the rule's inferer naming the images of ``items`` (their ``image``
    files: NIfTI headers the header pass read into ``geometries``, PNG files' IHDR) whose
    spatial sizes are not multiples of the rule's divisor; None when every readable one
    fits.

    Args:
        key: the datalist's list the items are (``validation``), for the message.
        datalist: the datalist as shown, for the message.
    """
    off: list[str] = []
    for item in items:
        name = item if isinstance(item, str) else item.get("image") if isinstance(
            item, dict) else None
        if isinstance(name, list):  # the modalities of one case share a grid (checked apart)
            name = name[0] if name else None
        if not isinstance(name, str):
            continue
        shape = _spatial_size(base / name, geometries)[:rule.dims]
        if len(shape) == rule.dims and any(size % rule.divisor for size in shape):
            off.append(f"{name} ({' x '.join(str(size) for size in shape)})")
    if not off:
        return None
    named = ", ".join(off[:SHOWN]) + (f" and {len(off) - SHOWN} more" if len(off) > SHOWN
                                      else "")
    file, json_path = rule.inferer
    return Problem(file, json_path, (
        f"TFSimpleInferer gives the network each image whole, and the network of "
        f"{rule.network_file} takes only spatial sizes that are multiples of {rule.divisor}; "
        f"{len(off)} of the {len(items)} {key!r} images of {datalist} are not: {named} "
        f"(use TFScanWindowInferer with a roi_size of multiples of {rule.divisor})"))


def _spatial_size(path: Path, geometries: dict[Path, Any]) -> tuple[int, ...]:
    """An image's size as its loader gives it: a NIfTI header's shape (read by the header
    pass), a PNG's ``(rows, cols)`` from its IHDR; empty when neither was read."""
    geometry = geometries.get(path)
    if geometry is not None:
        return tuple(getattr(geometry, "shape", ()))
    if path.suffix.lower() == ".png":
        return png_size(path) or ()
    return ()
