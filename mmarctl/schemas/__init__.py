"""JSON Schemas (draft 2020-12) of the MMAR files, shipped as package data.

``NAMES`` lists them; :func:`load_schema` returns one as a dict; :func:`schema_text` its JSON
text (what ``mmarctl schema NAME`` prints for editors). Validation lives in
:mod:`mmarctl.schemas.validator`, which imports jsonschema only when it is used.

Two keywords of our own ride along (JSON Schema ignores unknown keywords, so editors do too):

* ``x-didYouMean: true`` on an object schema: a key that is not among ``properties`` but is
  close to one of them ("epoch" for "epochs") is reported. Other unknown keys are accepted,
  because real Clara files carry extra keys and ``"__comment"``-style keys.
* ``x-errorMessage: {keyword: message}``: the message to show when that keyword fails.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from mmarctl.errors import UsageError

#: Schema names, as ``mmarctl schema NAME`` takes them; file ``<name>.schema.json``.
NAMES = ("config_train", "config_validation", "environment", "datalist")


def schema_text(name: str) -> str:
    """The schema file's JSON text.

    Raises:
        UsageError: ``name`` is not one of :data:`NAMES` (with the closest names).
    """
    if name not in NAMES:
        import difflib

        close = difflib.get_close_matches(name, NAMES, n=2)
        hint = f"did you mean {' or '.join(close)}?" if close else f"one of: {', '.join(NAMES)}"
        raise UsageError(f"unknown schema {name!r}", hint=hint)
    return resources.files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")


@cache
def _load(name: str) -> str:
    return schema_text(name)


def load_schema(name: str) -> dict[str, Any]:
    """The schema ``name`` as a fresh dict (callers may modify it)."""
    return json.loads(_load(name))
