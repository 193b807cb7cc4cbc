"""Validate MMAR JSON against the shipped schemas; each finding becomes a :class:`Problem`.

Messages are written for users of the config, not for schema authors: ``expected integer,
got string "ten"`` rather than jsonschema's wording, a schema's own ``x-errorMessage`` where
it has one, and ``unknown key "epoch" (did you mean "epochs"?)`` from ``x-didYouMean``.
jsonschema is imported here only, so importing :mod:`mmarctl.schemas` stays cheap.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from mmarctl.jsonio import format_json_path
from mmarctl.problems import Problem
from mmarctl.schemas import load_schema

#: How close an unknown key must be to a known one to be reported (difflib ratio).
SUGGEST_CUTOFF = 0.75

_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
               float: "number", type(None): "null"}


def validate(kind: str, data: Any, file: str, *,
             skip: Callable[[Any], bool] | None = None) -> list[Problem]:
    """Check ``data`` against schema ``kind`` (one of :data:`mmarctl.schemas.NAMES`).

    Args:
        kind: the schema name (``config_train``, ``config_validation``, ``environment``,
            ``datalist``).
        data: the parsed JSON.
        file: the file name to put in each problem.
        skip: a predicate on the offending value; errors whose value it accepts are dropped
            (the checker uses it for strings that still hold an unresolved ``{VAR}``, which
            are reported once, elsewhere).

    Returns:
        The problems, sorted by JSON path; empty when the data is valid.
    """
    validator = _validator_class()(load_schema(kind))
    problems: dict[tuple, Problem] = {}
    for error in _datalist_errors(validator, data) if kind == "datalist" else \
            validator.iter_errors(data):
        error = _most_specific(error)
        if skip is not None and error.validator != "required" and skip(error.instance):
            continue
        path = tuple(error.absolute_path)
        problem = Problem(file, format_json_path(list(path)), _message(error))
        problems.setdefault((_sort_key(path), problem.message), problem)
    return [problems[key] for key in sorted(problems)]


#: The datalist's lists of items, whose items are validated one per kind (:func:`_shape`).
ITEM_LISTS = ("training", "validation", "test", "testing")


def _datalist_errors(validator: Any, data: Any) -> Iterator[Any]:
    """A datalist's errors, as ``validator.iter_errors(data)`` gives them, with each list's
    items validated once per :func:`_shape`: whether an item is valid depends only on its
    keys and the types of its values (and whether a string is empty), so a 100 000-case
    list of one shape costs one item's validation. The items of a shape that fails are all
    validated, so each error names its own item and value."""
    if not isinstance(data, dict):
        yield from validator.iter_errors(data)
        return
    lists = {key: data[key] for key in ITEM_LISTS if isinstance(data.get(key), list)}
    samples: dict[str, list[int]] = {}
    for key, items in lists.items():
        first: dict[Any, int] = {}
        for index, item in enumerate(items):
            first.setdefault(_shape(item), index)
        samples[key] = sorted(first.values())
    reduced = {**data, **{key: [lists[key][i] for i in samples[key]] for key in lists}}
    failing: dict[str, set] = {key: set() for key in lists}
    for error in validator.iter_errors(reduced):
        path = list(error.absolute_path)
        if len(path) >= 2 and path[0] in lists and isinstance(path[1], int):
            failing[path[0]].add(_shape(lists[path[0]][samples[path[0]][path[1]]]))
        else:
            yield error  # not an item's: the datalist's own
    for key, shapes in failing.items():
        if not shapes:
            continue
        indexes = [i for i, item in enumerate(lists[key]) if _shape(item) in shapes]
        for error in validator.iter_errors({key: [lists[key][i] for i in indexes]}):
            path = error.absolute_path
            if len(path) >= 2 and path[0] == key and isinstance(path[1], int):
                path[1] = indexes[path[1]]  # back to the item's place in the whole list
                yield error


def _shape(value: Any) -> Any:
    """What of ``value`` the datalist schema looks at: the keys, the type of each value
    (bool apart from int, int apart from float) and whether a string is empty."""
    if isinstance(value, str):
        return ("", bool(value))
    if isinstance(value, dict):
        return tuple(sorted((str(k), _shape(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("[", tuple(_shape(v) for v in value))
    return type(value).__name__


@cache
def _validator_class() -> type:
    from jsonschema import Draft202012Validator, validators

    return validators.extend(Draft202012Validator, {"x-didYouMean": _did_you_mean},
                             version=None)


def _did_you_mean(validator: Any, enabled: Any, instance: Any, schema: dict) -> Iterator[Any]:
    """Keyword ``x-didYouMean``: report keys close to, but not among, ``properties``."""
    from jsonschema.exceptions import ValidationError

    if not enabled or not isinstance(instance, dict):
        return
    known = list(schema.get("properties", {}))
    for key in instance:
        # "_"-prefixed keys are how Clara users comment things out ("__model").
        if key in known or not isinstance(key, str) or key.startswith("_"):
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=SUGGEST_CUTOFF)
        if close:
            yield ValidationError(f"unknown key {json.dumps(key)} (did you mean "
                                  f"{json.dumps(close[0])}?)", path=[key],
                                  validator="x-didYouMean")


def _most_specific(error: Any) -> Any:
    """For a failed ``anyOf``/``oneOf`` without a message of its own, the branch error that
    best explains it (jsonschema's relevance heuristic)."""
    from jsonschema.exceptions import best_match

    while (error.validator in ("anyOf", "oneOf") and error.context
           and error.validator not in _own_messages(error)):
        error = best_match(error.context)
    return error


def _own_messages(error: Any) -> dict:
    schema = error.schema if isinstance(error.schema, dict) else {}
    return schema.get("x-errorMessage", {})


def _message(error: Any) -> str:
    own = _own_messages(error).get(error.validator)
    if own:
        return own
    kind, value, instance = error.validator, error.validator_value, error.instance
    if kind == "x-didYouMean":
        return error.message
    if kind == "type":
        wanted = value if isinstance(value, list) else [value]
        return f"expected {' or '.join(wanted)}, got {_describe(instance)}"
    if kind == "required":
        missing = [key for key in value if isinstance(instance, dict) and key not in instance]
        return f"missing required key {json.dumps(missing[0] if missing else value[0])}"
    if kind == "enum":
        return f"expected one of {', '.join(json.dumps(v) for v in value)}, got {_describe(instance)}"
    if kind in ("minimum", "exclusiveMinimum"):
        sign = ">=" if kind == "minimum" else ">"
        return f"must be {sign} {value}, got {_describe(instance)}"
    if kind in ("maximum", "exclusiveMaximum"):
        sign = "<=" if kind == "maximum" else "<"
        return f"must be {sign} {value}, got {_describe(instance)}"
    if kind in ("minItems", "minLength"):
        return "must not be empty" if value == 1 else f"needs at least {value} items"
    return error.message


def _describe(value: Any) -> str:
    """``string "ten"``, ``integer 5``, ``array``, ``object`` (long values shortened)."""
    name = _JSON_TYPES.get(type(value), type(value).__name__)
    if value is None or isinstance(value, (dict, list)):
        return name
    text = json.dumps(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{name} {text}"


def _sort_key(path: tuple) -> tuple:
    # Mixed str/int paths: order indexes numerically, keys alphabetically, within each level.
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in path)
