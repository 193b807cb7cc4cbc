"""Finetune's starting weights: mmarctl's checkpoint, or a TF1 checkpoint under strict rules.

mmarctl's networks are rebuilt from the papers, not from Clara's code, so a Clara TF1
checkpoint's variables need not correspond to them. Its weights are imported into the
config's network only when all of these hold (never by guesswork):

1. Candidates are the checkpoint's float tensors, less optimizer state: names ending in an
   optimizer slot (``/Adam``, ``/Adam_1``, ``/Momentum``, ``/RMSProp*``, ``/Novograd*``) or
   an ``ExponentialMovingAverage``, and ``global_step``, ``beta1_power``, ``beta2_power``.
2. A network weight (trainable or not: batch-norm moving statistics count too) matches the
   candidate whose name equals the weight's Keras path (``conv1/kernel``), or that path
   without the model's own name as its first part (``unet/conv1/kernel`` -> ``conv1/kernel``).
3. The shapes are identical.
4. The match is one to one: every network weight has exactly one candidate and every
   candidate is used.

Otherwise finetune stops in one line naming the first unmatched variable; nothing has been
assigned (all values are read and checked before any is written), so there is never a
half-loaded model. Validate, infer and export run the TF1 model as it is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from mmarctl.errors import RuntimeFailure

_SLOT = re.compile(r"/(Adam(_\d+)?|Momentum|RMSProp(_\d+)?|Novograd\w*|"
                   r"ExponentialMovingAverage)$")
_STATE = {"global_step", "beta1_power", "beta2_power"}
_HINT = ("validate, infer and export run the TF1 model as it is (CheckpointLoader, --model "
         "fzn); to train this config, start from scratch with `mmarctl train`")


def candidates(entries: list[Any]) -> dict[str, tuple[int, ...]]:
    """Rule 1: TF1 tensor name -> shape, optimizer state left out."""
    return {e.name: tuple(e.shape) for e in entries
            if e.dtype.startswith(("float", "bfloat")) and e.name not in _STATE
            and not _SLOT.search(e.name)}


def match(model: Any, tf1: dict[str, tuple[int, ...]]) -> list[tuple[Any, str]]:
    """Rules 2-4: ``[(weight, tf1 name)]`` for every network weight.

    Raises:
        RuntimeFailure: the first weight without a match, or the first unused TF1 variable.
    """
    pairs: list[tuple[Any, str]] = []
    used: set[str] = set()
    top = f"{model.name}/"
    for weight in model.weights:
        path = getattr(weight, "path", weight.name).split(":")[0]
        shape = tuple(int(d) for d in weight.shape)
        names = [path] + ([path[len(top):]] if path.startswith(top) else [])
        name = next((n for n in names if n in tf1), None)
        if name is None or tf1[name] != shape or name in used:
            why = ("has no TF1 variable of that name" if name is None else
                   f"is {list(tf1[name])} in the checkpoint" if tf1[name] != shape else
                   "is matched twice")
            raise RuntimeFailure(f"cannot finetune from a TF1 checkpoint: the network's "
                                 f"variable {path} {list(shape)} {why}", hint=_HINT)
        pairs.append((weight, name))
        used.add(name)
    extra = sorted(set(tf1) - used)
    if extra:
        raise RuntimeFailure(f"cannot finetune from a TF1 checkpoint: its variable {extra[0]} "
                             f"{list(tf1[extra[0]])} has no counterpart in the network",
                             hint=_HINT)
    return pairs


def import_tf1_weights(prefix: str | Path, model: Any,
                       log: Callable[[str], None] = lambda line: None) -> list[tuple[str, str]]:
    """Assign a TF1 checkpoint's weights to ``model`` (module docstring rules), all or none.

    Returns:
        the mapping ``[(network variable, TF1 variable)]`` (also logged, one line each).
    """
    import tensorflow as tf

    from mmarctl.model_files.tf_table import checkpoint_entries

    entries = checkpoint_entries(Path(f"{prefix}.index"))
    try:
        pairs = match(model, candidates(entries))
    except RuntimeFailure as error:
        raise RuntimeFailure(error.message, file=f"{prefix}.index", hint=error.hint) from None
    log(f"finetune: importing the TF1 checkpoint {prefix}, every variable matched by name "
        "and shape:")
    reader = tf.train.load_checkpoint(str(prefix))
    values = [reader.get_tensor(name) for _, name in pairs]  # all read before any is written
    for (weight, _), value in zip(pairs, values):
        weight.assign(value.astype(weight.dtype))
    mapping = [(getattr(w, "path", w.name), name) for w, name in pairs]
    for ours, theirs in mapping:
        log(f"  {ours} <- {theirs}")
    return mapping


def load_finetune_weights(prefix: str | Path, model: Any,
                          log: Callable[[str], None] = lambda line: None) -> str:
    """Finetune's start: mmarctl's checkpoint restored, or a TF1 one imported (``tf1``).

    Returns:
        ``"tf2_checkpoint"`` or ``"tf1_checkpoint"``.
    """
    from mmarctl.runtime import checkpoint
    from mmarctl.runtime.model_sources import checkpoint_kind

    found = checkpoint.checkpoint_prefix(prefix)
    if found is None:
        from mmarctl.runtime.model_sources.tf1_checkpoint import require_tf1_weights

        require_tf1_weights(Path(prefix))  # a Clara .meta whose weights files are gone
    if found is not None and checkpoint_kind(found) == "tf1_checkpoint":
        import_tf1_weights(found, model, log)
        return "tf1_checkpoint"
    checkpoint.restore_model(prefix, model)
    return "tf2_checkpoint"
