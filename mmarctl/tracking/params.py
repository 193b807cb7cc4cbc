"""A resolved config as MLflow params, tags and metric names, within MLflow's limits.

Params are flat ``key -> text``: the config's globals as they are (``epochs``,
``learning_rate``), and its components by section path, lists by index
(``train.loss.name = Dice``, ``train.pre_transforms.0.args.fields = ["image", "label"]``).
A list or dict value that holds no component is one JSON value. MLflow allows keys of 250
characters (letters, digits, ``_ - . / : `` and space) and param values of 6000: a longer
key keeps its start plus a short hash, a longer value is cut with ``...``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any, Iterator, Mapping

MAX_KEY = 250
MAX_VALUE = 6000
MAX_TAG_VALUE = 8000
#: Keys of a config that are not run settings.
SKIPPED = ("search",)

_BAD_KEY_CHARS = re.compile(r"[^\w\-./: ]")


def safe_key(key: str) -> str:
    """``key`` with characters MLflow rejects replaced by ``_``, at most 250 characters."""
    key = _BAD_KEY_CHARS.sub("_", key) or "_"
    if len(key) > MAX_KEY:
        digest = hashlib.sha1(key.encode()).hexdigest()[:8]
        key = f"{key[:MAX_KEY - 9]}~{digest}"
    return key


def safe_value(value: Any, limit: int = MAX_VALUE) -> str:
    """``value`` as text (JSON for non-strings), cut to ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_component_list(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(item, Mapping) for item in value)


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), item)
    elif _is_component_list(value):
        for index, item in enumerate(value):
            yield from _flatten(f"{prefix}.{index}", item)
    else:
        yield prefix, value


def config_params(config: Mapping[str, Any]) -> dict[str, str]:
    """The resolved config ``config`` as flat MLflow params (see the module docstring)."""
    params: dict[str, str] = {}
    for key, value in config.items():
        if key in SKIPPED:
            continue
        for name, item in _flatten(str(key), value):
            params[safe_key(name)] = safe_value(item)
    return params


def config_hash(config: Mapping[str, Any]) -> str:
    """A short, stable hash of a resolved config (the same run settings, the same hash)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def finite_metrics(values: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric, finite entries of ``values`` under MLflow-safe names (NaN/inf are dropped:
    MLflow stores them, but they break every plot)."""
    metrics = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(float(value)):
            metrics[safe_key(prefix + str(name))] = float(value)
    return metrics
