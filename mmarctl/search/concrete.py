"""A search point turned into a concrete Clara config (Clara's ``remove_search_augs``).

Every searched value is written where its dimension binds it, each list of alternatives
becomes the one component left enabled, and every ``search``/``apply`` key is removed, so
the result is an ordinary training config that ``train`` runs as it is.
"""

from __future__ import annotations

import copy
from typing import Any

from mmarctl.errors import ConfigError
from mmarctl.search.space import Place, SearchSpace, _alternative_lists, _get, read_space
from mmarctl.jsonio import format_json_path
from mmarctl.variables import is_disabled

ANNOTATION_KEYS = ("search", "apply")


def _put(config: dict, place: Place, value: Any) -> None:
    if place.kind == "global":
        config[place.name] = value
        return
    component = _get(config, place.path)
    if not isinstance(component, dict):
        return
    if place.kind == "disabled":
        component["disabled"] = bool(value)
    else:
        args = component.setdefault("args", {})
        if isinstance(args, dict):
            args[place.name] = value


def with_point(config: dict, space: SearchSpace, point: dict[str, Any]) -> dict:
    """A copy of ``config`` with the point's values written in place (lists still lists,
    annotations still there)."""
    result = copy.deepcopy(config)
    for dimension in space.dimensions:
        if dimension.key not in point:
            continue
        for places, value in zip(dimension.places, dimension.values(point[dimension.key])):
            for place in places:
                _put(result, place, copy.deepcopy(value))
    return result


def enabled_alternatives(config: dict, space: SearchSpace, point: dict[str, Any],
                         section: tuple) -> list[int]:
    """Indexes of the alternatives of ``section`` left enabled at ``point``."""
    members = _get(with_point(config, space, point), section) or []
    return [i for i, spec in enumerate(members)
            if isinstance(spec, dict) and not is_disabled(spec.get("disabled", False))]


def strip_annotations(value: Any) -> Any:
    """``value`` without any ``search``/``apply`` key, at any depth (iterative: a config
    nested thousands of levels deep must not overflow the stack)."""
    result = copy.deepcopy(value)
    stack = [result]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in ANNOTATION_KEYS:
                item.pop(key, None)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return result


def _collapse(config: dict, sections: list[tuple], file: str, *, searched: bool) -> None:
    for section in sections:
        members = _get(config, section)
        enabled = [spec for spec in members
                   if isinstance(spec, dict) and not is_disabled(spec.get("disabled", False))]
        if len(enabled) != 1:
            where = format_json_path(section)
            if searched:
                raise ConfigError(f"this point of the search enables {len(enabled)} of the "
                                  "alternatives; exactly one must be enabled", file=file,
                                  json_path=where)
            raise ConfigError(
                f"a list of {len(members)} alternatives with "
                f"{'none' if not enabled else len(enabled)} enabled: `mmarctl train` needs "
                "exactly one", file=file, json_path=where,
                hint="search them with `mmarctl automl`, or set \"disabled\": true on all "
                     "but one")
        chosen = dict(enabled[0])
        chosen.pop("disabled", None)
        parent = _get(config, section[:-1])
        parent[section[-1]] = chosen


def concrete_config(config: dict, space: SearchSpace, point: dict[str, Any],
                    file: str) -> dict:
    """The concrete config of one search point.

    Raises:
        ConfigError: the point leaves a list of alternatives with none or several enabled.
    """
    result = with_point(config, space, point)
    _collapse(result, space.alternatives, file, searched=True)
    return strip_annotations(result)


def written_values(config: dict, file: str) -> dict:
    """The config with the values written in it and the search ignored (what ``train``
    runs on an annotated config).

    Raises:
        ConfigError: a list of alternatives has no single default (names ``mmarctl automl``).
    """
    result = copy.deepcopy(config)
    _collapse(result, _alternative_lists(result), file, searched=False)
    return strip_annotations(result)


def read_valid_space(config: dict, file: str) -> SearchSpace:
    """:func:`read_space`, raising the first problem as a :class:`ConfigError`."""
    space = read_space(config, file)
    if space.problems:
        first = space.problems[0]
        raise ConfigError(first.message, file=first.file, json_path=first.json_path)
    return space
