"""The network's classes against the datalist's ``labels`` table (an MSD ``dataset.json``).

A segmentation network with more classes than the datalist names (``num_classes`` 3,
copied from a liver-and-tumour config, for a 2-label spleen list) trains a softmax channel
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
    """A note when the datalist's ``labels`` table names fewer classes than ``classes``.

    Args:
        datalist: the parsed datalist (anything else: nothing said).
        shown: the datalist, as shown in messages.
        classes: the network's ``num_classes``, which the config writes.
        file: the training config, as shown.
    """
    labels = datalist.get("labels") if isinstance(datalist, dict) else None
    if not isinstance(labels, dict) or not labels or classes <= len(labels):
        return []
    named = ", ".join(f"{k} {v}" for k, v in list(labels.items())[:6])
    return [Problem(file, CLASSES, (
        f"num_classes is {classes} but the labels table of {shown} names {len(labels)} "
        f"({named}): the network's last {classes - len(labels)} class(es) never appear in "
        "a label (a channel trained to be always empty); set num_classes to "
        f"{len(labels)} unless that is meant")).as_note()]


def read_datalist(path: Path) -> Any:
    """The datalist parsed, or None when it cannot be read (reported by the data checks)."""
    from mmarctl.jsonio import load_json

    try:
        return load_json(path)
    except Exception:
        return None
