"""FrozenGraphModelLoader: validation and inference from an exported frozen graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from mmarctl.errors import ConfigError, RuntimeFailure
from mmarctl.runtime.component import Component

#: Clara configs name the TF-TRT graph; mmarctl writes the plain frozen graph instead.
TRT_GRAPH = "model.trt.pb"
FROZEN_GRAPH = "model.fzn.pb"


def resolve_model_file(model_file_path: str, workspace: Any) -> Path:
    """``model_file_path`` as a path: relative paths are relative to the MMAR root."""
    path = Path(model_file_path).expanduser()
    root = getattr(workspace, "root", workspace)
    if not path.is_absolute() and root is not None:
        path = Path(root) / path
    return path


def exported_names(model_file: Path) -> tuple[str | None, str | None]:
    """Input/output names recorded by ``mmarctl export`` in ``export.json`` beside the file."""
    from mmarctl.runtime.export.manifest import read_manifest

    manifest = read_manifest(model_file.parent) or {}
    name = lambda key: (manifest.get(key) or {}).get("name")  # noqa: E731
    return name("input"), name("output")


class FrozenGraphModelLoader(Component):
    """Load a frozen TensorFlow graph and return a NumPy ``predict`` for the inferer.

    Implements Clara's ``FrozenGraphModelLoader``. Accepted args: ``model_file_path``.

    Clara 3.x configs point it at ``{MMAR_CKPT_DIR}/model.trt.pb``, a TF-TRT graph that no
    current TensorFlow can build (TF-TRT was removed in TF 2.18). ``mmarctl export`` writes
    the plain frozen graph ``model.fzn.pb``, so when the configured ``model.trt.pb`` does not
    exist but ``model.fzn.pb`` does in the same folder, that one is loaded and a warning
    says so. Both ``.trt.pb`` and ``.fzn.pb`` files are read the same way.

    A ``model.trt.pb`` that exists and holds TF-TRT engines (``TRTEngineOp``, Clara's) cannot
    run on TensorFlow 2.18+: one warning line, then ``model.fzn.pb`` from the same folder, or
    a one-line error saying how to make it.

    The input and output node names are the loader's args, else those in ``export.json``
    beside the file when ``mmarctl export`` wrote it, else ``NV_MODEL_INPUT`` (or the graph's
    only placeholder) and ``NV_MODEL_OUTPUT``. The layout is ``export.json``'s, else read from
    the graph (Clara's graphs are channels first: the batch is transposed at the boundary;
    see :mod:`mmarctl.runtime.model_sources.frozen_graph`). A graph with a fixed input size
    only accepts that size: the inferer's ``roi_size`` is checked against it.

    Args:
        model_file_path: the ``.pb`` file; a relative path is relative to the MMAR root.
        input_node_names, output_node_names: the graph's input / output node (Clara's
            export flags' names), optional.
    """

    clara_name = "FrozenGraphModelLoader"

    def __init__(self, model_file_path: Any = None, input_node_names: Any = None,
                 output_node_names: Any = None) -> None:
        from mmarctl.runtime.model_loaders.checkpoint import node_name

        if not isinstance(model_file_path, str) or not model_file_path:
            raise ConfigError(f"{self.clara_name}: model_file_path must be a file path; "
                              f"Received: model_file_path={model_file_path!r}",
                              hint='e.g. "{MMAR_CKPT_DIR}/model.fzn.pb"')
        self.model_file_path = model_file_path
        self.input_node_names = node_name(input_node_names, self.clara_name, "input_node_names")
        self.output_node_names = node_name(output_node_names, self.clara_name,
                                           "output_node_names")
        names = {k: v for k, v in (("input_node_names", input_node_names),
                                   ("output_node_names", output_node_names)) if v is not None}
        super().__init__(model_file_path=model_file_path, **names)

    def model_file(self, workspace: Any = None) -> Path:
        """The file that will be read (after the ``model.trt.pb`` -> ``model.fzn.pb`` fallback)."""
        from mmarctl.runtime.model_sources.frozen_graph import usable_graph_file

        from mmarctl.console import err

        path = resolve_model_file(self.model_file_path, workspace)
        if path.is_file():
            return usable_graph_file(path, lambda line: err.print(line, markup=False,
                                                                  highlight=False))
        fallback = path.with_name(FROZEN_GRAPH)
        if path.name == TRT_GRAPH and fallback.is_file():
            err.print(f"warning: {path.name} not found; loading {fallback.name} from the same "
                      "folder (TF-TRT graphs are not made by current TensorFlow)",
                      markup=False, highlight=False)
            return fallback
        raise RuntimeFailure(f"no frozen graph at {path}",
                             hint="write one with `mmarctl export --format fzn`, or validate "
                                  "from the checkpoint (CheckpointLoader)")

    def load(self, workspace: Any = None,
             network: Any = None) -> Callable[[np.ndarray], np.ndarray]:
        """The graph as ``predict(batch) -> probabilities`` (channels-last NumPy arrays).

        Args:
            workspace: the MMAR (its root resolves a relative ``model_file_path``).
            network: unused: the graph carries the architecture and the weights.
        """
        from mmarctl.runtime.export.manifest import read_manifest
        from mmarctl.runtime.model_sources import open_source

        path = self.model_file(workspace)
        input_name, output_name = exported_names(path)
        layout = (read_manifest(path.parent) or {}).get("layout") if input_name else None
        source = open_source("frozen_graph", path,
                             input_name=self.input_node_names or input_name,
                             output_name=self.output_node_names or output_name, layout=layout)
        return source.as_predict()
