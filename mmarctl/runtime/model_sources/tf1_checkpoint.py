"""A TF1 Saver checkpoint (Clara 3.x ``model.ckpt.meta/.index/.data-*``) run as its own graph.

The meta graph is imported into a private ``tf.Graph`` (``clear_devices``: Clara pinned ops to
``/gpu:0``), the Saver restores the variables in a ``tf.compat.v1.Session``, and the graph runs
from ``NV_MODEL_INPUT`` to ``NV_MODEL_OUTPUT`` (names as Clara's export flags, overridable).
Training ops in the meta graph (optimizer updates) are never run. Layout and shape come from
the input placeholder and the convolutions' ``data_format`` (:mod:`mmarctl.model_files.graph_info`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmarctl.errors import RuntimeFailure
from mmarctl.model_files import graph_info
from mmarctl.model_files.inventory import (META_MISMATCH_HINT, USE_FROZEN_GRAPH,
                                           corrupt_meta_hint, missing_tf1_weights,
                                           missing_weights_message)
from mmarctl.model_files.saver_graph import restore_mismatch
from mmarctl.model_files.tf_table import TableError, checkpoint_entries
from mmarctl.runtime.model_sources.base import ModelSource, input_mismatch, quiet_tf
from mmarctl.runtime.model_sources.layout import channels_last_graph_def
from mmarctl.runtime.tf_errors import telling_line


def require_tf1_weights(prefix: Path) -> None:
    """Refuse a TF1 ``.meta`` at ``prefix`` whose ``.index`` / ``.data-*`` files are gone.

    Callers use it where "no checkpoint at ..." would otherwise be said: the graph alone
    cannot run, but the files that are missing can be named.

    Raises:
        RuntimeFailure: naming the missing files and what to do.
    """
    prefix = Path(prefix)
    if prefix.is_dir():  # a folder given for its model.ckpt, as checkpoint_prefix takes it
        prefix = prefix / "model.ckpt"
    elif prefix.suffix in (".index", ".meta"):
        prefix = prefix.with_suffix("")
    missing = missing_tf1_weights(prefix)
    if missing:
        message, hint = missing_weights_message(prefix, missing)
        raise RuntimeFailure(message, file=Path(f"{prefix}.meta"), hint=hint)


def read_meta_summary(meta: Path) -> graph_info.GraphSummary:
    """The summary of a checkpoint's ``.meta``, a one-line RuntimeFailure when it is corrupt."""
    try:
        return graph_info.read_summary(meta)
    except graph_info.GraphFileError as error:
        raise RuntimeFailure(str(error), file=meta, hint=corrupt_meta_hint(meta)) from None
    except OSError as error:
        raise RuntimeFailure(f"cannot read the TF1 meta graph: {error.strerror}",
                             file=meta) from None


def check_nodes(names: set[str], summary: graph_info.GraphSummary, input_name: str,
                output_name: str, file: Path) -> None:
    """Raise a one-line RuntimeFailure when the graph lacks the input or output node."""
    for role, name in (("input", input_name), ("output", output_name)):
        if name not in names:
            if role == "input":
                hint = ", ".join(p.name for p in summary.placeholders) or "none"
                hint = f"its placeholders: {hint}; name one with input_node_names"
            else:
                guess = graph_info.likely_output(file) if Path(file).suffix == ".pb" else None
                hint = (f"its output looks like {guess!r}: name it with output_node_names "
                        "(Clara's --output_node_names)" if guess and guess != name else
                        "name the output with output_node_names (Clara's --output_node_names)")
            raise RuntimeFailure(f"the graph has no {role} node {name!r}", file=file, hint=hint)


def require_fitting_meta(prefix: Path, meta: Path) -> None:
    """Refuse, in one line naming a tensor, a ``.meta`` whose Saver reads what the
    ``.index``/``.data`` pair at ``prefix`` does not hold
    (:func:`mmarctl.model_files.saver_graph.restore_mismatch`); TensorFlow's own page says
    only that "a Variable name or other graph key" is missing. An index that cannot be read
    is left to the restore, which says why."""
    try:
        entries = checkpoint_entries(Path(f"{prefix}.index"))
        mismatch = restore_mismatch(meta, entries)
    except (TableError, OSError):
        return
    if mismatch:
        raise RuntimeFailure(mismatch, file=prefix, hint=META_MISMATCH_HINT)


def _channels_last_meta_graph(meta: Path) -> Any:
    """The meta graph with its channels-first nodes computed channels-last
    (:mod:`mmarctl.runtime.model_sources.layout`); raises what reading the file raises."""
    import tensorflow as tf

    meta_graph = tf.compat.v1.MetaGraphDef()
    meta_graph.ParseFromString(meta.read_bytes())
    meta_graph.graph_def.CopyFrom(channels_last_graph_def(meta_graph.graph_def))
    return meta_graph


@dataclass
class Tf1Checkpoint(ModelSource):
    """Runs a TF1 checkpoint's meta graph; see the module docstring."""

    def __post_init__(self) -> None:
        import tensorflow as tf

        v1 = tf.compat.v1
        meta = Path(f"{self.path}.meta")
        if not meta.is_file():
            raise RuntimeFailure(f"TF1 checkpoint without its graph: no {meta.name}",
                                 file=self.path.parent,
                                 hint="the graph is needed to run it; use Clara's model.fzn.pb "
                                      "(--model fzn), or train from scratch")
        summary = read_meta_summary(meta)
        check_nodes(summary.names, summary, self.input_name, self.output_name, meta)
        require_fitting_meta(self.path, meta)
        self.layout, self.layout_reason = summary.layout(
            self.input_name, self.extra.get("data_format"))
        node = summary.placeholder(self.input_name)
        self.input_shape = node.shape if node else None
        self._graph = tf.Graph()
        with quiet_tf(), self._graph.as_default():
            try:
                saver = v1.train.import_meta_graph(_channels_last_meta_graph(meta),
                                                   clear_devices=True)
            except Exception as error:  # unknown ops, a damaged file
                raise RuntimeFailure(f"cannot import the TF1 meta graph: {telling_line(error)}",
                                     file=meta) from None
            self._session = v1.Session(graph=self._graph)
            try:
                saver.restore(self._session, str(self.path))
            except Exception as error:  # NotFoundError, DataLossError, shape mismatch
                raise RuntimeFailure(f"cannot restore the TF1 checkpoint: {telling_line(error)}",
                                     file=self.path,
                                     hint="its .index/.data-* files are damaged, truncated or "
                                          "from another training run than the .meta: copy "
                                          f"the checkpoint again, or {USE_FROZEN_GRAPH}"
                                     ) from None
        self._input = self._graph.get_tensor_by_name(f"{self.input_name}:0")
        self._output = self._graph.get_tensor_by_name(f"{self.output_name}:0")

    def native_predict(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch, dtype=self._input.dtype.as_numpy_dtype)
        if not self._input.shape.is_compatible_with(batch.shape):
            expected = self._input.shape
            raise input_mismatch(batch.shape, None if expected.rank is None else
                                 tuple(expected.as_list()), self.layout, self.input_name,
                                 self.path, "set the inferer's roi_size to the graph's fixed "
                                            "size")
        with quiet_tf():
            out = self._session.run(self._output, {self._input: batch})
        return np.asarray(out, np.float32)

    def graph_def(self) -> Any:
        """The inference graph frozen (variables as constants), as Clara's export.sh made it."""
        import tensorflow as tf

        v1 = tf.compat.v1
        with quiet_tf():
            graph_def = v1.graph_util.convert_variables_to_constants(
                self._session, self._graph.as_graph_def(), [self.output_name])
            return v1.graph_util.remove_training_nodes(graph_def,
                                                       protected_nodes=[self.output_name])

    def variables(self) -> dict[str, np.ndarray]:
        """The trainable variables of the graph, by name (without ``:0``)."""
        with quiet_tf(), self._graph.as_default():
            import tensorflow as tf

            found = tf.compat.v1.trainable_variables()
            values = self._session.run(found)
        return {v.op.name: np.asarray(x) for v, x in zip(found, values)}

    def close(self) -> None:
        self._session.close()
