"""OnnxModelLoader: validation and inference from the exported ONNX model."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from mmarctl.errors import ConfigError, RuntimeFailure
from mmarctl.runtime.component import Component
from mmarctl.runtime.model_loaders.frozen_graph import exported_names, resolve_model_file

DEFAULT_FILE = "models/model.onnx"


class OnnxModelLoader(Component):
    """Run ``model.onnx`` with ONNX Runtime and return a NumPy ``predict`` for the inferer.

    An mmarctl addition (Clara 3.x had no ONNX loader); config entry
    ``{"name": "OnnxModelLoader", "args": {"model_file_path": "{MMAR_CKPT_DIR}/model.onnx"}}``.
    Input and output names come from ``export.json`` beside the file when present, else the
    model's only input and output. The layout is ``export.json``'s when it lists the ONNX
    file, else read from the input's shape: an export of a Clara TF1 graph is channels first
    and gets its batch transposed at the boundary
    (:mod:`mmarctl.runtime.model_sources.onnx_model`). Uses the CUDA execution provider when
    ONNX Runtime has it, else the CPU.

    Args:
        model_file_path: the ``.onnx`` file (default ``models/model.onnx``); a relative path
            is relative to the MMAR root.
        providers: ONNX Runtime execution providers, in order of preference (optional).
    """

    clara_name = "OnnxModelLoader"

    def __init__(self, model_file_path: Any = DEFAULT_FILE, providers: Any = None) -> None:
        if not isinstance(model_file_path, str) or not model_file_path:
            raise ConfigError(f"{self.clara_name}: model_file_path must be a file path; "
                              f"Received: model_file_path={model_file_path!r}")
        if providers is not None and (not isinstance(providers, list) or not all(
                isinstance(p, str) for p in providers)):
            raise ConfigError(f"{self.clara_name}: providers must be a list of ONNX Runtime "
                              f"provider names; Received: providers={providers!r}",
                              hint='e.g. ["CPUExecutionProvider"]')
        self.model_file_path = model_file_path
        self.providers = providers
        super().__init__(model_file_path=model_file_path, providers=providers)

    def load(self, workspace: Any = None,
             network: Any = None) -> Callable[[np.ndarray], np.ndarray]:
        """The model as ``predict(batch) -> probabilities`` (channels-last NumPy arrays).

        Args:
            workspace: the MMAR (its root resolves a relative ``model_file_path``).
            network: unused: the ONNX file carries the architecture and the weights.
        """
        from mmarctl.runtime.export.manifest import read_manifest
        from mmarctl.runtime.model_sources import open_source

        path = resolve_model_file(self.model_file_path, workspace)
        if not path.is_file():
            raise RuntimeFailure(f"no ONNX model at {path}",
                                 hint="write one with `mmarctl export --format onnx`")
        input_name, output_name = exported_names(path)
        manifest = read_manifest(path.parent) or {}
        # The manifest's layout describes this file only when that export wrote an ONNX model.
        onnx_entry = (manifest.get("formats") or {}).get("onnx") or {}
        layout = manifest.get("layout") if onnx_entry.get("path") else None
        source = open_source("onnx", path, input_name=input_name, output_name=output_name,
                             layout=layout, providers=self.providers)
        return source.as_predict()
