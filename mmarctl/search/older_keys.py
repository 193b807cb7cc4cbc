"""Search keys of older Clara AutoML configs that no verb reads, and what to write instead.

Some Clara 3.x training configs carry ``"learning_rate_search_space": [low, high]`` (one
public MMAR in the compatibility set does). Clara 4's AutoML, which ``mmarctl automl``
follows, reads only ``search`` annotations, so that key searches nothing: a config holding
only it is "no search annotations" to automl. ``check`` says so, with the ``search`` entry
that searches the same range, and automl's refusal gives the same entry.
"""

from __future__ import annotations

import json
from typing import Any

from mmarctl.problems import NOTE, Problem

LEARNING_RATE_RANGE = "learning_rate_search_space"


def learning_rate_entry(config: Any) -> str | None:
    """The top-level ``"search"`` entry searching the range of the config's
    ``learning_rate_search_space`` (as JSON text), or None when it has no usable one."""
    if not isinstance(config, dict):
        return None
    bounds = config.get(LEARNING_RATE_RANGE)
    if not (isinstance(bounds, list) and len(bounds) == 2
            and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)):
        return None
    entry = {"type": "float", "args": ["learning_rate"], "targets": sorted(bounds),
             "domain": "lr"}
    return f'"search": [{json.dumps(entry)}]'


def _searches_learning_rate(config: dict) -> bool:
    entries = config.get("search")
    return isinstance(entries, list) and any(
        isinstance(entry, dict) and "learning_rate" in (entry.get("args") or [])
        for entry in entries)


def older_key_notes(config: Any, shown: str) -> list[Problem]:
    """A note when a training config has ``learning_rate_search_space`` and no ``search``
    entry over ``learning_rate``: nothing reads it."""
    if not isinstance(config, dict) or LEARNING_RATE_RANGE not in config \
            or _searches_learning_rate(config):
        return []
    entry = learning_rate_entry(config)
    instead = (f"to search it, add {entry} at the top level" if entry else
               "to search learning_rate, add a top-level \"search\" entry over it "
               "(docs/automl.md#a-first-study)")
    return [Problem(shown, LEARNING_RATE_RANGE, "an older Clara AutoML key that nothing "
                    f"reads (mmarctl automl searches \"search\" annotations): {instead}",
                    NOTE)]
