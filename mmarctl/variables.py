"""``{VAR}`` placeholders and ``--set KEY=VALUE`` overrides, with Clara's precedence.

Clara 3.x lets a config name variables in string values (``"{DATA_ROOT}"``). Their values
come, later ones winning, from: the config's own global (top-level scalar) keys, then
``config/environment.json``, then ``--set KEY=VALUE`` on the command line.

A placeholder that is the whole string keeps the value's JSON type (``"{epochs}"`` -> 5);
one inside a longer string is substituted as text (``"{MMAR_CKPT_DIR}/model.pb"``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from mmarctl.errors import ConfigError, UsageError
from mmarctl.jsonio import format_json_path

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def parse_set_items(items: list[str] | None) -> dict[str, Any]:
    """Parse ``--set`` items; VALUE is read as JSON when it parses, else kept as a string.

    >>> parse_set_items(["epochs=5", "multi_gpu=false", "DATA_ROOT=/data", "X="])
    {'epochs': 5, 'multi_gpu': False, 'DATA_ROOT': '/data', 'X': ''}
    """
    values: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values


def is_disabled(value: Any) -> bool:
    """A component's ``disabled`` as every layer reads it: a bool, or (from a placeholder)
    the strings "true", "1" or "yes"."""
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def global_values(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config's globals: its top-level keys whose values are not objects or lists."""
    return {k: v for k, v in config.items() if not isinstance(v, (dict, list))}


def iter_placeholders(obj: Any, path: tuple = ()) -> Iterator[tuple[str, str]]:
    """Yield ``(json_path, VAR)`` for every placeholder in ``obj``."""
    if isinstance(obj, str):
        for match in PLACEHOLDER.finditer(obj):
            yield format_json_path(path), match.group(1)
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from iter_placeholders(value, path + (key,))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield from iter_placeholders(value, path + (index,))


def substitute(obj: Any, variables: Mapping[str, Any], *, file: str | None = None,
               path: tuple = ()) -> Any:
    """Return a copy of ``obj`` with every placeholder replaced.

    Raises:
        ConfigError: naming the file and JSON path of the first unresolved placeholder.
    """
    if isinstance(obj, str):
        whole = PLACEHOLDER.fullmatch(obj)
        if whole:
            return _lookup(whole.group(1), variables, file, path)
        return PLACEHOLDER.sub(
            lambda m: _as_text(_lookup(m.group(1), variables, file, path)), obj)
    if isinstance(obj, Mapping):
        return {k: substitute(v, variables, file=file, path=path + (k,)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [substitute(v, variables, file=file, path=path + (i,)) for i, v in enumerate(obj)]
    return obj


def _lookup(name: str, variables: Mapping[str, Any], file: str | None, path: tuple) -> Any:
    if name not in variables:
        raise ConfigError(f"unresolved placeholder {{{name}}}", file=file,
                          json_path=format_json_path(path),
                          hint=f"define {name} in config/environment.json or pass --set {name}=...")
    return variables[name]


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)
