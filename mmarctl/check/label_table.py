"""The network's classes against the datalist's ``labels`` table (an MSD ``dataset.json``).

A segmentation network with more classes than the largest label value the datalist names
needs (``num_classes`` 3, copied from a liver-and-tumour config, for a 0/1 spleen list) trains a softmax channel
that no label ever holds (trained to be always empty, scored whenever it predicts); labels beyond
``num_classes`` are refused elsewhere (:mod:`.label_values`), a surplus class was silent.
It may be meant (a class to be labelled later), so it is a note.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmarctl.problems import Problem

#: Where the training network's classes are set.
CLASSES = "train.model.args.num_classes"


def label_table_notes(datalist: Any, shown: str, classes: int, file: str) -> list[Problem]:
    """A note when ``classes`` reaches past the largest label value the datalist's
    ``labels`` table names.

    The table is compared by its keys, not its length: label values 0..N need N + 1
    classes whatever gaps the table has (BraTS's 0/1/2/4 needs 5, class 3 is empty by
    design), and a table naming only the foreground (``{"1": "spleen"}``) still has
    background 0. A table whose keys are not all label values says nothing.

    Args:
        datalist: the parsed datalist (anything else: nothing said).
        shown: the datalist, as shown in messages.
        classes: the network's ``num_classes``, which the config writes.
        file: the training config, as shown.
    """
    labels = datalist.get("labels") if isinstance(datalist, dict) else None
    if not isinstance(labels, dict) or not labels:
        return []
    try:
        values = sorted(int(str(key).strip()) for key in labels)
    except ValueError:
        return []  # not a value -> name table: nothing this rule can tell
    needed = values[-1] + 1
    if values[0] < 0 or classes <= needed:
        return []
    named = ", ".join(f"{k} {v}" for k, v in list(labels.items())[:6])
    unused = (f"class {needed} never appears" if classes - needed == 1
              else f"classes {needed}..{classes - 1} never appear")
    return [Problem(file, CLASSES, (
        f"num_classes is {classes} but the labels table of {shown} names label values up to "
        f"{needed - 1} ({named}): {unused} in a label (a channel trained to be always "
        f"empty); set num_classes to {needed} unless that is meant")).as_note()]


def read_datalist(path: Path) -> Any:
    """The datalist parsed, or None when it cannot be read (reported by the data checks)."""
    from mmarctl.jsonio import load_json

    try:
        return load_json(path)
    except Exception:
        return None
