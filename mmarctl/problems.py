"""A problem found in an MMAR file, reported as one line: ``file: json.path: message``.

Kept free of TensorFlow and jsonschema so every layer (schemas, checker, commands) can use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmarctl.errors import MmarError

#: Severities: an ``error`` fails ``mmarctl check``; a ``note`` is information only
#: (it becomes an error under ``--strict``).
ERROR = "error"
NOTE = "note"


@dataclass(frozen=True, order=True)
class Problem:
    """One finding about one place in one file.

    Attributes:
        file: the file, as the user would name it (relative to the MMAR root when inside it);
            empty when the message already names it (``file:line:col`` of malformed JSON).
        json_path: where inside the file (``train.pre_transforms[2].args``); empty for the file.
        message: what is wrong and, where known, what to do.
        severity: :data:`ERROR` or :data:`NOTE`.
    """

    file: str
    json_path: str
    message: str
    severity: str = ERROR

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.json_path) if p]
        text = self.message if self.severity == ERROR else f"note: {self.message}"
        return ": ".join([*parts, text])

    @classmethod
    def from_error(cls, error: MmarError, *, file: str = "") -> "Problem":
        """A problem from a raised :class:`MmarError` (its file, JSON path, message and hint)."""
        message = error.message + (f" ({error.hint})" if error.hint else "")
        return cls(error.file or file, error.json_path or "", message)

    def as_note(self) -> "Problem":
        """The same finding with severity :data:`NOTE`."""
        return Problem(self.file, self.json_path, self.message, NOTE)


def more_problems(problems: list[Problem]) -> str:
    """What a verb's refusal adds after its first problem: `` (and 2 more; run `mmarctl
    check`)``; with the same ``--set`` items when one of the others is about a ``--set`` key
    (check without them would not show it). Empty for one problem."""
    rest = problems[1:]
    if not rest:
        return ""
    sets = [p.json_path for p in rest if p.file == "--set" and p.json_path]
    if sets:
        return (f" (and {len(rest)} more, --set {', '.join(sets)} among them; run "
                "`mmarctl check` with the same --set items)")
    return f" (and {len(rest)} more; run `mmarctl check`)"
