"""A frozen GraphDef (``model.fzn.pb``): mmarctl's export or Clara's, TF-TRT graphs refused.

Run eagerly with ``tf.compat.v1.wrap_function`` + ``prune`` (NCDHW convolutions and float16
sections included). Layout and names come from ``export.json`` beside the file when mmarctl
wrote it, else from the graph itself: the input placeholder and the ops' ``data_format``,
the config's ``data_format`` as tie-breaker (:mod:`mmarctl.model_files.graph_info`).

A TF-TRT graph (Clara's ``model.trt.pb``, ``TRTEngineOp`` nodes) cannot run on TensorFlow
2.18 or later; :func:`usable_graph_file` answers it with one line and uses ``model.fzn.pb``
from the same folder when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmarctl.errors import RuntimeFailure
from mmarctl.model_files import graph_info
from mmarctl.runtime.model_sources.base import ModelSource, input_mismatch, quiet_tf
from mmarctl.runtime.model_sources.layout import channels_last_graph_def
from mmarctl.runtime.model_sources.tf1_checkpoint import check_nodes

FROZEN_GRAPH = "model.fzn.pb"


def usable_graph_file(path: Path, warn: Any = None) -> Path:
    """``path``, or ``model.fzn.pb`` beside it when ``path`` is a TF-TRT graph.

    Raises:
        RuntimeFailure: a TF-TRT graph with no ``model.fzn.pb`` beside it (says how to make one).
    """
    try:
        summary = graph_info.read_summary(path)
    except Exception:  # not a GraphDef: read_graph_def reports it in one line
        return path
    if not summary.tensorrt:
        return path
    fallback = path.with_name(FROZEN_GRAPH)
    if fallback != path and fallback.is_file():
        if warn is not None:
            warn(f"warning: {path.name} holds TF-TRT engines (TRTEngineOp), which TensorFlow "
                 f"2.18+ no longer has; loading {fallback.name} from the same folder")
        return fallback
    raise RuntimeFailure("a TF-TRT graph (TRTEngineOp): TF-TRT no longer exists in TensorFlow "
                         "2.18+", file=path,
                         hint="make model.fzn.pb with `mmarctl export` from the checkpoint "
                              "(or Clara's export.sh), or validate from the checkpoint")


@dataclass
class FrozenGraph(ModelSource):
    """Runs a frozen graph; see the module docstring."""

    def __post_init__(self) -> None:
        import tensorflow as tf

        from mmarctl.runtime.export.frozen_graph import read_graph_def

        self._graph_def = read_graph_def(self.path)
        summary = graph_info.summarize_graph_def(self._graph_def.SerializeToString())
        if summary.tensorrt:
            usable_graph_file(self.path)  # raises: no fallback chosen by the caller
        if not self.input_name:
            node = summary.placeholder()
            if node is None:
                names = ", ".join(p.name for p in summary.placeholders) or "none"
                raise RuntimeFailure(f"the graph has {len(summary.placeholders)} inputs "
                                     f"({names}); name one", file=self.path)
            self.input_name = node.name
        check_nodes(summary.names, summary, self.input_name, self.output_name, self.path)
        if self.extra.get("layout") in (graph_info.CHANNELS_FIRST, graph_info.CHANNELS_LAST):
            self.layout, self.layout_reason = self.extra["layout"], "export.json"
        else:
            self.layout, self.layout_reason = summary.layout(self.input_name,
                                                             self.extra.get("data_format"))
        node = summary.placeholder(self.input_name)
        self.input_shape = node.shape if node else None

        # Channels-first nodes computed channels-last: the only layout every CPU kernel
        # takes (mmarctl.runtime.model_sources.layout); inputs and outputs keep theirs.
        graph_def = channels_last_graph_def(self._graph_def)

        def _import() -> None:
            tf.compat.v1.import_graph_def(graph_def, name="")

        with quiet_tf():
            wrapped = tf.compat.v1.wrap_function(_import, [])
            graph = wrapped.graph
            self._function = wrapped.prune(graph.as_graph_element(f"{self.input_name}:0"),
                                           graph.as_graph_element(f"{self.output_name}:0"))
        tensor = graph.get_tensor_by_name(f"{self.input_name}:0")
        self._expected, self._dtype = tensor.shape, tensor.dtype

    def native_predict(self, batch: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        batch = np.asarray(batch, dtype=self._dtype.as_numpy_dtype)
        if not self._expected.is_compatible_with(batch.shape):
            expected = self._expected
            raise input_mismatch(batch.shape, None if expected.rank is None else
                                 tuple(expected.as_list()), self.layout, self.input_name,
                                 self.path, "export with dynamic_input_shape=true, or set the "
                                            "inferer's roi_size to the graph's patch size")
        return np.asarray(self._function(tf.constant(batch)).numpy(), np.float32)

    def graph_def(self) -> Any:
        return self._graph_def
