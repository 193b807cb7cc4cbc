"""The fields a search point's transforms read, held to the data list as the first point's are.

``check`` checks an AutoML config's concrete configs at a few search points, but the data
lists are checked once, with the reads of the config as written (the first point): a point
whose values make a transform read another field (an enum over ``fields`` with a typo in
one target) would pass, and the trial writing that value would stop on its first case.
:func:`search_point_field_problems` holds those extra reads to the list's items, in the
words the data check uses, each blamed on the search target that wrote it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from mmarctl.check.case_fields import metric_field_problems
from mmarctl.check.data import DataUse
from mmarctl.errors import MmarError
from mmarctl.jsonio import load_json
from mmarctl.problems import Problem
from mmarctl.search.space import SearchSpace, at_search_target


def search_point_field_problems(base: Iterable[DataUse], found: Iterable[DataUse],
                                space: SearchSpace, point: dict[str, Any]) -> list[Problem]:
    """The problems of the fields ``found`` (a search point's data uses) reads that ``base``
    (the first point's) does not, against the items of the lists they read."""
    known = {(use.datalist, use.key, read.field) for use in base
             for read in (*use.field_reads, *use.metric_reads)}
    problems: list[Problem] = []
    for use in found:
        extra = tuple(read for read in use.field_reads
                      if (use.datalist, use.key, read.field) not in known)
        items = _items(use) if extra else None
        if items is not None:
            problems.extend(metric_field_problems(extra, use.made_fields, items, use.key,
                                                  use.origin[0]))
    return [at_search_target(space, point, problem) for problem in problems]


def _items(use: DataUse) -> list | None:
    """The items of the list ``use`` reads (None when the file cannot be read: the data
    check says why)."""
    if not use.datalist:
        return None
    try:
        data = load_json(Path(use.datalist))
    except (MmarError, OSError):
        return None
    items = data.get(use.key) if isinstance(data, dict) else None
    return items if isinstance(items, list) else None
