"""The base every Clara component shares: its constructor arguments, reported back."""

from __future__ import annotations

from typing import Any


class Component:
    """A configurable piece built from a ``{"name": ..., "args": {...}}`` entry.

    Subclasses call ``super().__init__(**args)`` with the Clara arguments they received
    (after validating them) so that :meth:`get_config` can report the resolved arguments,
    e.g. for export manifests and ``mmarctl`` reports.
    """

    #: The Clara component name this class implements (set by subclasses).
    clara_name: str = ""

    def __init__(self, **config: Any) -> None:
        self._config = dict(config)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, so that ``type(c)(**c.get_config())`` rebuilds it."""
        return dict(self._config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config.items())
        return f"{type(self).__name__}({args})"
