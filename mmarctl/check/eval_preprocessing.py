"""A validation config's image preprocessing against the training config's validation one.

The network is trained and validated on images that ``config_train.json``'s
``validate.pre_transforms`` prepare; validate and infer prepare them with a validation
config's own ``pre_transforms``. Clara users edit one file and not the other (a voxel size,
an intensity window), and validate then scores a network fed images it never saw, without a
word. The two lists are written differently (refs, other fields), so the transforms that
read ``image`` are paired by name, in order, and each argument that differs is a note: a
different value may be meant (a test-time window), so it is not a problem.
"""

from __future__ import annotations

from typing import Any, Iterable

from mmarctl.problems import Problem

#: Arguments that name fields rather than say how the image is prepared.
FIELD_ARGS = frozenset({"fields", "field", "image_field", "label_field", "src_field",
                        "from_field", "dst_field"})


def image_steps(file: str, key: str, steps: Any) -> list[tuple[str, Any]]:
    """``(JSON path, built transform)`` of each built step of list ``key`` that reads
    ``image``, in order; empty when a step was not built (BYOC code: unknown)."""
    if not isinstance(steps, list) or any(step is None for step in steps):
        return []
    return [(f"{key}[{index}]", step) for index, step in enumerate(steps)
            if "image" in _fields(step)]


def preprocessing_notes(trained: Iterable[tuple[str, Any]], train_file: str,
                        evaluated: Iterable[tuple[str, Any]], file: str) -> list[Problem]:
    """One note per argument of a validation config's image transform whose value differs
    from the same transform's in the training config's ``validate.pre_transforms``.

    Args:
        trained: :func:`image_steps` of the training config's ``validate.pre_transforms``.
        train_file: the training config, as shown.
        evaluated: :func:`image_steps` of the validation config's ``pre_transforms``.
        file: the validation config, as shown.
    """
    by_name: dict[str, list[Any]] = {}
    for _, step in trained:
        by_name.setdefault(step.clara_name, []).append(step)
    seen: dict[str, int] = {}
    notes = []
    for where, step in evaluated:
        name = step.clara_name
        index = seen[name] = seen.get(name, -1) + 1
        if index >= len(by_name.get(name, ())):
            continue  # a transform only validate runs: nothing to compare it with
        ours, theirs = _args(step), _args(by_name[name][index])
        for arg in sorted(ours.keys() & theirs.keys()):
            if ours[arg] != theirs[arg]:
                notes.append(Problem(file, f"{where}.args.{arg}", (
                    f"{name}: {arg} is {ours[arg]!r} here but {theirs[arg]!r} in "
                    f"{train_file}'s validate.pre_transforms: the network is trained and "
                    "validated on images prepared the other way")).as_note())
    return notes


def _fields(step: Any) -> tuple[str, ...]:
    fields = getattr(step, "fields", None) or ()
    return (fields,) if isinstance(fields, str) else tuple(f for f in fields if isinstance(f, str))


def _args(step: Any) -> dict[str, Any]:
    config = step.get_config() if hasattr(step, "get_config") else {}
    return {k: v for k, v in config.items() if k not in FIELD_ARGS and not k.startswith("_")}
