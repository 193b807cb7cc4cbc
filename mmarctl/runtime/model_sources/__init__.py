"""Model sources: every form a trained model takes in ``models/``, behind one interface.

One module per kind, each a :class:`~.base.ModelSource` (kind, layout, names, shape,
``predict`` / ``native_predict`` / ``graph_def``):

* :mod:`.tf2_checkpoint`: mmarctl's ``tf.train.Checkpoint`` of the config's Keras network;
* :mod:`.tf1_checkpoint`: a TF1 Saver checkpoint run as its own meta graph (Clara 3.x);
* :mod:`.frozen_graph`: a frozen GraphDef (Clara's or mmarctl's ``model.fzn.pb``);
* :mod:`.saved_model`, :mod:`.onnx_model`: mmarctl's exports;
* :mod:`.weight_import`: a TF1 checkpoint's weights into the config's network (finetune),
  only under a complete one-to-one mapping.

What a file *is* is decided without TensorFlow by :mod:`mmarctl.model_files`; this package
table imports nothing heavy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: kind -> ``module:Class``
KINDS = {"tf2_checkpoint": "tf2_checkpoint:Tf2Checkpoint",
         "tf1_checkpoint": "tf1_checkpoint:Tf1Checkpoint",
         "frozen_graph": "frozen_graph:FrozenGraph",
         "saved_model": "saved_model:SavedModel",
         "onnx": "onnx_model:OnnxModel"}


def open_source(kind: str, path: Path, *, input_name: str | None = None,
                output_name: str | None = None, **extra: Any) -> Any:
    """The :class:`~.base.ModelSource` of ``kind`` at ``path``.

    Args:
        kind: a key of :data:`KINDS`.
        input_name, output_name: node names (default ``NV_MODEL_INPUT`` / ``NV_MODEL_OUTPUT``;
            a frozen graph without ``NV_MODEL_INPUT`` uses its only placeholder, an ONNX
            model its only input and output).
        extra: per kind: ``model`` (tf2), ``data_format`` (layout tie-breaker), ``layout``
            (from export.json), ``providers`` (onnx).
    """
    import importlib

    module, _, name = KINDS[kind].partition(":")
    cls = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    default_input = "" if kind in ("frozen_graph", "onnx") else "NV_MODEL_INPUT"
    default_output = "" if kind == "onnx" else "NV_MODEL_OUTPUT"
    return cls(kind=kind, path=Path(path), input_name=input_name or default_input,
               output_name=output_name or default_output, extra=dict(extra))


def checkpoint_kind(prefix: str | Path) -> str:
    """``tf2_checkpoint`` / ``tf1_checkpoint`` (``unreadable``) of the checkpoint at ``prefix``."""
    from mmarctl.model_files.inventory import checkpoint_kind as kind

    return kind(Path(f"{prefix}.index"))


__all__ = ["KINDS", "checkpoint_kind", "open_source"]
