"""Class labels written in a datalist (classification): what an item's ``"label"`` may be.

A classification pipeline loads no label file: the datalist item carries the label itself,
as Clara's ``label_format`` says: a list of ``num_classes`` values in 0..1, one per class
(0/1, or soft labels), which the loss and AUC take as they are. With ``num_classes`` 1 (one
sigmoid output) a bare number works too.

Anything else trains on garbage without an error (a ``[7]`` gives a negative loss), or
stops mid-epoch with a message that names no item. ``mmarctl check``
(:mod:`mmarctl.check.data`) and the pipelines (:mod:`.base`) both call
:func:`class_label_problem`, so they refuse the same items with the same words.
"""

from __future__ import annotations

import json
import math
from typing import Any

#: Stands for an item that has no ``"label"`` key.
MISSING = object()


def expected_label(num_classes: int | None) -> str:
    """What a class label must be, in words, for messages."""
    if num_classes is None:
        return "a list of values in 0..1, one per class (Clara's label_format)"
    if num_classes == 1:
        return "one value in 0..1 (num_classes=1), e.g. [1] or [0]"
    return f"a list of {num_classes} values in 0..1, one per class (num_classes={num_classes})"


def class_label_problem(value: Any, num_classes: int | None) -> str | None:
    """Why ``value`` (an item's ``"label"`` as written, or :data:`MISSING`) is not a class
    label for a network of ``num_classes`` outputs (None: not known); None when it is."""
    expected = expected_label(num_classes)
    if value is MISSING:
        return (f"no \"label\" (a classification pipeline reads it from the datalist): "
                f"expected {expected}")
    values = value if isinstance(value, list) else [value]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                  and math.isfinite(v) for v in values)
    if not values or not numbers:
        return f"expected {expected}; Received: {_shown(value)}"
    if num_classes is not None and len(values) != num_classes:
        return f"expected {expected}; Received: {len(values)} value(s) {_shown(value)}"
    if any(not 0 <= v <= 1 for v in values):
        return f"expected {expected}; Received: {_shown(value)} (values outside 0..1)"
    return None


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
