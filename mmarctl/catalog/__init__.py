"""The Clara 3.x component catalogue, as data: names, families and accepted arguments.

Read by ``mmarctl check`` without importing TensorFlow. One JSON file per family lives
beside this module (``transforms.json``, ``networks.json`` ...)::

    {"LoadNifti": {"summary": "...", "args": {"fields": {"type": ["string", "array"]}, ...},
                   "runtime": true}}

``runtime`` says whether mmarctl's TensorFlow runtime implements the component; a test holds
it in agreement with the runtime's name tables (``mmarctl.runtime.registry``).

Each argument has a JSON-Schema-style ``type`` (a name or a list of names), optionally a
``default`` and ``"required": true``. ``"open_args": true`` on an entry means its argument list
is not fully known (names seen only in AutoML files or in documentation without a
signature); ``mmarctl check`` then does not report its unknown arguments.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

#: Families of components, one catalogue file and one runtime name table each.
FAMILIES = ("transforms", "networks", "losses", "optimizers", "lr_policies", "pipelines",
            "inferers", "metrics", "aux_ops", "handlers", "writers", "model_loaders")

#: Which family a config section holds: (config kind, JSON path of the section) -> family.
#: A section holding a list is a list of components; otherwise one component (or a list in
#: AutoML files for loss/optimizer).
SECTION_FAMILIES: dict[tuple[str, str], str] = {
    ("train", "train.loss"): "losses",
    ("train", "train.optimizer"): "optimizers",
    ("train", "train.lr_policy"): "lr_policies",
    ("train", "train.model"): "networks",
    ("train", "train.pre_transforms"): "transforms",
    ("train", "train.batch_transforms"): "transforms",
    ("train", "train.image_pipeline"): "pipelines",
    ("train", "train.aux_ops"): "aux_ops",
    ("train", "train.handlers"): "handlers",
    ("train", "validate.metrics"): "metrics",
    ("train", "validate.pre_transforms"): "transforms",
    ("train", "validate.image_pipeline"): "pipelines",
    ("train", "validate.inferer"): "inferers",
    ("validation", "pre_transforms"): "transforms",
    ("validation", "label_transforms"): "transforms",
    ("validation", "post_transforms"): "transforms",
    ("validation", "val_metrics"): "metrics",
    ("validation", "inferer"): "inferers",
    ("validation", "writers"): "writers",
    ("validation", "model_loader"): "model_loaders",
}


@cache
def load(family: str) -> dict[str, dict[str, Any]]:
    """The catalogue entries of one family, keyed by Clara name."""
    if family not in FAMILIES:
        raise KeyError(f"unknown component family {family!r}")
    text = resources.files(__name__).joinpath(f"{family}.json").read_text(encoding="utf-8")
    return json.loads(text)


def find(name: str) -> tuple[str, dict[str, Any]] | None:
    """``(family, entry)`` for a Clara name in any family, or None."""
    for family in FAMILIES:
        entry = load(family).get(name)
        if entry is not None:
            return family, entry
    return None
