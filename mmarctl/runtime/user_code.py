"""Failures of an MMAR's own Python code (BYOC components named by ``"path"``), in one line.

A user's transform, loss, metric or network runs inside mmarctl's loops; when it raises, the
Python traceback mostly shows mmarctl's frames. What the user needs is the line of *their*
file that failed, what it raised, and which config entry built the component::

    custom/my_loss.py:9: NameError: name 'smoth' is not defined (loss my_loss.MyDice, config/config_train.json: train.loss)

The builder records where each BYOC component came from (:func:`remember`); the places that
call components ask :func:`failure` (or use :func:`calling`) to turn an exception whose
innermost MMAR frame lies in the MMAR's folder into that line. An exception with no frame
in the MMAR's code (TensorFlow's own shape errors, mmarctl's bugs) is left as it is.
"""

from __future__ import annotations

import re
import sys
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from mmarctl.errors import ConfigError, MmarError, RuntimeFailure
from mmarctl.runtime.component_contracts import CALLS, CLARA_METHODS, described

#: Where each family's contract is written down, for messages about broken contracts.
DOCS = "docs/components.md"

#: A frame as TensorFlow's autograph quotes it in an error's message ("in user code:").
_QUOTED_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


@dataclass(frozen=True)
class Origin:
    """Where a BYOC component came from.

    Args:
        path: the config's ``"path"`` (``my_loss.MyDice``).
        kind: the family member's word (``loss``, ``transform``).
        root: the MMAR root; frames under it are the user's.
        file: the config file, as shown in messages.
        json_path: the entry inside it (``train.loss``).
    """

    path: str
    kind: str
    root: Path
    file: str | None
    json_path: str

    def where(self) -> str:
        """``loss my_loss.MyDice, config/config_train.json: train.loss``."""
        place = ": ".join(p for p in (self.file, self.json_path) if p)
        return f"{self.kind} {self.path}, {place}" if place else f"{self.kind} {self.path}"


# id -> (component, origin); the component is kept so that its id is never reused.
_ORIGINS: dict[int, tuple[Any, Origin]] = {}


def remember(component: Any, origin: Origin) -> None:
    """Record that ``component`` is user code built from ``origin``'s config entry."""
    _ORIGINS[id(component)] = (component, origin)


def origin_of(component: Any) -> Origin | None:
    """The origin of a BYOC component, None for mmarctl's own components."""
    entry = _ORIGINS.get(id(component))
    return entry[1] if entry is not None and entry[0] is component else None


def _shown(file: str, root: Path) -> str:
    try:
        return Path(file).resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return file


def user_frame(error: BaseException, root: Path) -> tuple[str, int] | None:
    """``(file relative to root, line)`` of the innermost frame of ``error`` inside the MMAR.

    Looks at the traceback first, then at the frames TensorFlow quotes in the message of an
    error raised while tracing a ``tf.function`` (autograph runs converted copies of the
    user's code, so the real file appears only there), then at a SyntaxError's own file.
    """
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        if _inside(frame.filename, root):
            found = (_shown(frame.filename, root), frame.lineno or 0)
    if found is None:
        for file, line in _QUOTED_FRAME.findall(str(error)):
            if _inside(file, root):
                found = (_shown(file, root), int(line))
    if found is None and isinstance(error, SyntaxError) and error.filename \
            and _inside(error.filename, root):
        found = (_shown(error.filename, root), error.lineno or 0)
    return found


def cause_line(error: BaseException) -> str:
    """``Type: first telling line`` of the exception itself (autograph's framing dropped)."""
    from mmarctl.runtime.tf_errors import telling_line

    name = type(error).__name__
    text = str(error)
    if "in user code:" in text:
        # autograph's framing: the quoted frames, then "Type: message" as the last line
        text = text.strip().splitlines()[-1].strip()
        text = text[len(name) + 2:] if text.startswith(f"{name}: ") else text
    text = telling_line(Exception(text)) if text else ""
    return f"{name}: {text}" if text and text != name else name


def raised_in_user_code(error: BaseException, components: Iterable[Any]) -> bool:
    """Whether the innermost frame of ``error`` lies in the MMAR of one of ``components``:
    the user's own line raised it (a bug there), rather than a library the user's code
    called, such as NumPy refusing a corrupt file (bad data)."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and any(_inside(frames[-1].filename, origin.root)
                                for origin in (origin_of(c) for c in components)
                                if origin is not None)


def _inside(file: str, root: Path) -> bool:
    """Whether ``file`` lies in the MMAR at ``root``."""
    try:
        return Path(file).resolve().is_relative_to(Path(root).resolve())
    except (OSError, ValueError):
        return False


def failure(error: BaseException, components: Iterable[Any]) -> MmarError | None:
    """The one-line error for ``error`` raised while running BYOC ``components``, or None
    when none of them is user code or no frame of the traceback lies in the MMAR."""
    origins = [o for o in (origin_of(c) for c in components) if o is not None]
    if not origins or isinstance(error, MmarError):
        return None
    for origin in origins:
        frame = user_frame(error, origin.root)
        if frame is None:
            continue
        # The component whose module is the failing file, else the first user component.
        chosen = next((o for o in origins if _module_file(o) == frame[0]), origin)
        file, line = frame
        return RuntimeFailure(f"{file}:{line}: {cause_line(error)}", hint=chosen.where())
    return None


def _module_file(origin: Origin) -> str | None:
    """The file of the module that holds ``origin``'s class, relative to the MMAR root."""
    module = sys.modules.get(origin.path.rpartition(".")[0])
    file = getattr(module, "__file__", None)
    return _shown(file, origin.root) if file else None


@contextmanager
def calling(*components: Any) -> Iterator[None]:
    """Run a call of user components; an exception from their code becomes one line."""
    try:
        yield
    except MmarError:
        raise
    except Exception as error:
        found = failure(error, components)
        if found is None:
            raise
        raise found from error


def check_contract(family: str, component: Any, origin: Origin) -> None:
    """Refuse, when it is built, a BYOC component that cannot play its family's part.

    Raises:
        ConfigError: naming the class, what it lacks and the contract.
    """
    who = origin.path
    problem = None
    calls = CALLS.get(family, {})
    clara = CLARA_METHODS.get(family)
    instead = (f" (Clara's {clara}() is not called by mmarctl)"
               if clara and callable(getattr(component, clara, None)) else "")
    if family == "networks" and _is_keras_layer(component):
        problem = (f"network {who} is a Keras {type(component).__name__} object; mmarctl calls "
                   f"a network as {described(family)} (wrap the model in such a class)")
    elif "__call__" in calls and not callable(component):
        problem = (f"the {origin.kind} object {who} is not callable{instead}; mmarctl calls it "
                   f"as {described(family)}")
    else:
        missing = [m for m in calls if m != "__call__"
                   and not callable(getattr(component, m, None))]
        if missing:
            problem = (f"{origin.kind} {who} has no {', '.join(m + '()' for m in missing)}"
                       f"{instead}; mmarctl calls it as {described(family)}")
    if problem is not None:
        raise ConfigError(problem, file=origin.file, json_path=origin.json_path,
                          hint=f"see {DOCS}")


def _is_keras_layer(component: Any) -> bool:
    keras = sys.modules.get("keras")  # loaded whenever the user's module built a Keras object
    return keras is not None and isinstance(component, keras.layers.Layer)


def not_a_sample(transform: Any, result: Any) -> MmarError | None:
    """The error for a transform that returned something other than a sample or a list of
    samples (a ``__call__`` that forgot ``return sample`` gives None), else None."""
    if isinstance(result, dict) or (isinstance(result, list)
                                     and all(isinstance(s, dict) for s in result)):
        return None
    origin = origin_of(transform)
    got = "None" if result is None else f"a {type(result).__name__}"
    if origin is None:
        return RuntimeFailure(f"transform {type(transform).__name__} returned {got}; a "
                              f"transform returns the sample (dict) or a list of samples")
    return RuntimeFailure(f"{_class_file(transform, origin)}: {origin.path} returned {got}; a "
                          f"transform returns the sample (dict) or a list of samples",
                          hint=origin.where())


def not_a_scalar(loss: Any, shape: Any) -> MmarError:
    """The error for a loss whose value is not a scalar (a missing reduction)."""
    origin = origin_of(loss)
    who = f"loss {origin.path}" if origin else f"loss {type(loss).__name__}"
    received = tuple(shape) if shape.rank is not None else "unknown"
    place = ": ".join(p for p in (origin.file, origin.json_path) if p) if origin else None
    return RuntimeFailure(f"{who} must return a scalar; Received shape {received}",
                          hint=place or None)


def _class_file(component: Any, origin: Origin) -> str:
    module = sys.modules.get(type(component).__module__)
    file = getattr(module, "__file__", None)
    return _shown(file, origin.root) if file else origin.path
