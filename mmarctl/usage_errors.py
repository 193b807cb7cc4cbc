"""Click/Typer usage errors in plain words, as one sentence naming the option.

Typer reports a bad option value in pydantic's words ("Input should be greater than or
equal to 1"); :func:`usage_message` says ``--epochs must be at least 1 (got 0)``.
"""

from __future__ import annotations

import os
import re
from typing import Iterable, Sequence

from typer._click.exceptions import (BadOptionUsage, BadParameter, MissingParameter,
                                     NoSuchOption, UsageError)


def usage_message(error: UsageError) -> str:
    """One plain sentence for a Click/Typer usage error, naming the option or argument."""
    if isinstance(error, BadParameter):
        name = _param_name(error)
        if isinstance(error, MissingParameter):
            kind = error.param.param_type_name if error.param is not None else "value"
            return f"missing {kind} {name}"
        value = _bad_value(error)
        return f"{name}{'' if value.startswith(':') else ' '}{value}"
    if isinstance(error, NoSuchOption):
        # An option another verb takes says more than a close spelling (--hosts ~ --set)
        close = _elsewhere(error) or (
            f" (did you mean {' or '.join(sorted(error.possibilities))}?)"
            if error.possibilities else "")
        return f"no such option: {error.option_name}{close}"
    message = error.message.strip()
    if isinstance(error, BadOptionUsage):
        message = (message.replace(f"Option '{error.option_name}' requires an argument",
                                   f"{error.option_name} needs a value")
                   .replace(f"Option '{error.option_name}' does not take a value",
                            f"{error.option_name} takes no value"))
    extra = re.fullmatch(r"Got unexpected extra argument(?:s|\(s\))? \((.*)\)", message)
    if extra:
        words = extra.group(1)
        return f"unexpected extra argument(s): {words}{_set_items_hint(error, words.split())}"
    close = re.fullmatch(r"(.*)\. Did you mean (.*)\?", message)
    if close:  # Typer's "No such command 'x'. Did you mean 'a', 'b'?"
        names = close.group(2).split(", ")
        either = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        message = f"{close.group(1)} (did you mean {either}?)"
    return (message[:1].lower() + message[1:]).rstrip(".")


def _elsewhere(error: NoSuchOption) -> str:
    """`` (finetune and train take --epochs; validate does not)`` when other verbs take the
    option this one does not; else empty."""
    context = error.ctx
    parent = getattr(context, "parent", None)
    group = getattr(parent, "command", None)
    here = getattr(getattr(context, "command", None), "name", None)
    verbs = getattr(group, "commands", None) or {}
    takers = sorted(name for name, verb in verbs.items() if name != here and any(
        error.option_name in getattr(param, "opts", ()) for param in getattr(verb, "params", ())))
    if not takers or not here:
        return ""
    named = takers[0] if len(takers) == 1 else f"{', '.join(takers[:-1])} and {takers[-1]}"
    return f" ({named} take{'s' if len(takers) == 1 else ''} {error.option_name}; {here} " \
           "does not)"


def _set_items_hint(error: UsageError, words: list[str]) -> str:
    """`` (did you mean --set epochs=1?)`` when the extra words are Clara's ``KEY=VALUE``
    items (``train.sh epochs=5``) and the verb takes ``--set``; else empty."""
    command = getattr(error.ctx, "command", None)
    takes_set = any("--set" in getattr(param, "opts", ()) for param in
                    getattr(command, "params", ()))
    items = [word for word in words if re.fullmatch(r"[A-Za-z_][\w.]*=.*", word)]
    if not takes_set or not items:
        return ""
    return f" (did you mean --set {' '.join(items)}?)"


def _param_name(error: BadParameter) -> str:
    """``--epochs`` for an option (its first long name), ``MMAR`` for an argument."""
    param = error.param
    if param is None:
        hint = error.param_hint
        return hint if isinstance(hint, str) or hint is None else str(hint[0]) or "value"
    if param.param_type_name == "argument":
        return (param.metavar or param.name or "argument").upper()
    longs = [opt for opt in param.opts if opt.startswith("--")]
    return (longs or param.opts)[0]


def _bad_value(error: BadParameter) -> str:
    """What was wrong with the value, in plain words, e.g. ``must be at least 1 (got 0)``."""
    cause = error.__cause__
    details = cause.errors() if cause is not None and hasattr(cause, "errors") else []
    if not details:  # Typer's own or a callback's message
        message = error.message.strip().rstrip(".")
        if message.startswith("must "):  # a callback's "must be ...": reads on from the name
            return message
        return f": {message[:1].lower() + message[1:]}"
    detail = details[0]
    kind, bounds, got = detail.get("type", ""), detail.get("ctx") or {}, detail.get("input")
    got_text = f" (got {got})" if isinstance(got, str) and got else ""
    param = error.param
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        if low is not None and high is not None:
            return f"must be in {low}..{high}{got_text}"
        for key, words in (("ge", "at least"), ("le", "at most"), ("gt", "greater than"),
                           ("lt", "less than")):
            if key in bounds:
                return f"must be {words} {bounds[key]}{got_text}"
    if kind.startswith("int_"):
        return f"must be a whole number{got_text}"
    if kind.startswith("float_"):
        return f"must be a number{got_text}"
    if kind.startswith("bool_"):
        return f"must be true or false{got_text}"
    descriptor = getattr(param, "type_descriptor", None)
    choices = getattr(descriptor, "choices", None) if descriptor is not None else None
    if choices:
        names = [getattr(choice, "value", choice) for choice in choices]
        return f"must be {', '.join(map(str, names[:-1]))} or {names[-1]}{got_text}" \
            if len(names) > 1 else f"must be {names[0]}{got_text}"
    message = str(detail.get("msg", "")).removeprefix("Value error, ")
    message = message.replace("Input should be", "must be").rstrip(".")
    return f"{message}{got_text}"


def single_dash_word(error: NoSuchOption, args: Sequence[str],
                     options: Iterable[str] = ()) -> str | None:
    """The line for an unknown short option that is part of a longer word the user typed
    (``-dash``, ``-help``): click names the first letter it could not take (``-d``), a
    letter the user never typed alone. None when no such word was typed.

    Args:
        error: click's error.
        args: the command line's words (after the program name).
        options: the options of the command that was parsed (to suggest ``--help``).
    """
    name = error.option_name or ""
    if not re.fullmatch(r"-[^-]", name):
        return None
    end = list(args).index("--") if "--" in args else len(args)
    word = next((w for w in args[:end] if w.startswith("-") and not w.startswith("--")
                 and len(w) > 2 and name[1] in w[1:]), None)
    if word is None:
        return None
    if f"-{word}" in set(options):
        return f"no such option: {word} (did you mean -{word}?)"
    if os.path.lexists(word):
        return (f"no such option: {word}; for the path that starts with '-', write ./{word} "
                f"or -- {word}")
    return (f"no such option: {word} (options with one dash are one letter; for a path that "
            f"starts with '-', write ./{word} or -- {word})")
