"""Checks for Clara constructor arguments, each raising ``ConfigError("...; Received: x=...")``.

Clara configs carry loosely typed values: list arguments may be comma strings
(``"nf_enc": "32,64,64,64"``) and booleans sometimes arrive as ``"true"`` after ``--set``.
These helpers accept those spellings, reject everything else with a message that names the
component, the argument and the value received, and never import TensorFlow.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from mmarctl.errors import ConfigError


def fail(component: str, arg: str, expected: str, value: Any) -> ConfigError:
    """The ConfigError for ``arg`` of ``component`` (returned, so callers ``raise`` it)."""
    return ConfigError(f"{component}: {arg} must be {expected}; Received: {arg}={value!r}")


def as_bool(value: Any, *, component: str, arg: str) -> bool:
    """A boolean; the strings ``"true"``/``"false"`` (any case) are accepted too."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise fail(component, arg, "true or false", value)


def as_int(value: Any, *, component: str, arg: str, minimum: int | None = None) -> int:
    """An integer (a float with no fraction is accepted), at least ``minimum`` if given."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    if isinstance(value, float) and value.is_integer():
        value, ok = int(value), True
    if not ok or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise fail(component, arg, f"an integer{bound}", value)
    return int(value)


def as_float(value: Any, *, component: str, arg: str, minimum: float | None = None,
             maximum: float | None = None, strict_min: bool = False) -> float:
    """A finite number within ``[minimum, maximum]`` (``(minimum, ...`` when ``strict_min``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise fail(component, arg, "a finite number", value)
    low_bad = minimum is not None and (value <= minimum if strict_min else value < minimum)
    high_bad = maximum is not None and value > maximum
    if low_bad or high_bad:
        low = "" if minimum is None else (f"> {minimum}" if strict_min else f">= {minimum}")
        high = "" if maximum is None else f"<= {maximum}"
        raise fail(component, arg, "a number " + " and ".join(p for p in (low, high) if p), value)
    return float(value)


def as_int_list(value: Any, *, component: str, arg: str, minimum: int = 1,
                length: int | None = None) -> list[int]:
    """A non-empty list of integers, given as a JSON list or a comma string ``"32,64"``."""
    items: Iterable[Any]
    if isinstance(value, str):
        try:
            items = [int(part) for part in value.replace(" ", "").split(",") if part != ""]
        except ValueError:
            raise fail(component, arg, "a list of integers or a comma string like \"32,64\"",
                       value) from None
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise fail(component, arg, "a list of integers or a comma string like \"32,64\"", value)
    result = []
    for item in items:
        if isinstance(item, float) and item.is_integer():
            item = int(item)
        if isinstance(item, bool) or not isinstance(item, int) or item < minimum:
            raise fail(component, arg, f"a list of integers >= {minimum}", value)
        result.append(item)
    if not result or (length is not None and len(result) != length):
        what = f"a list of {length} integers" if length else "a non-empty list of integers"
        raise fail(component, arg, what, value)
    return result


def as_choice(value: Any, choices: Iterable[str], *, component: str, arg: str) -> str:
    """One of ``choices`` (compared exactly)."""
    options = list(choices)
    if value not in options:
        raise fail(component, arg, "one of " + ", ".join(repr(c) for c in options), value)
    return value


def as_name(value: Any, *, component: str, arg: str) -> str:
    """A non-empty string (field names, tags, metric names)."""
    if not isinstance(value, str) or not value.strip():
        raise fail(component, arg, "a non-empty string", value)
    return value
