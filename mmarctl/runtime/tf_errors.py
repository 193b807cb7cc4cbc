"""The one line of a TensorFlow or Keras error that says what went wrong.

Their errors span many lines: Keras frames the message ("Exception encountered when
calling ...", the call's arguments as bullets) and wraps it in ANSI bold; a TF1 session
error reads "Graph execution error:", the node and its stack, then the cause. mmarctl's
one-line failures quote only the line that states the cause.
"""

from __future__ import annotations

import re

#: Lines that frame the cause rather than state it (Keras calls, TF1 sessions).
FRAMING = ("Exception encountered when calling", "Arguments received by", "•",
           "Graph execution error", "Detected at node", "Node:", "File ", "[[",
           "Original stack")
#: Words of the lines that state a mismatch, preferred over the first line left.
TELLING = ("expected", "Incompatible", "must")

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FUNCTION_NODE = re.compile(r"\{\{function_node [^}]*\}\}\s*")


def telling_line(error: BaseException, limit: int = 300) -> str:
    """The line of ``error`` that states the cause, at most ``limit`` characters: one naming
    what was expected, else the first that is not framing, else the error's type."""
    text = str(getattr(error, "message", "") or error)
    text = _FUNCTION_NODE.sub("", _ANSI.sub("", text))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    causes = [line for line in lines if not line.startswith(FRAMING)]
    chosen = next((line for line in causes if any(word in line for word in TELLING)),
                  causes[0] if causes else (lines[0] if lines else type(error).__name__))
    return chosen[:limit]
