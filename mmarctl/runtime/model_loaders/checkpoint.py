"""CheckpointLoader: the network of config_train.json with weights from a TF checkpoint, or a
Clara TF1 checkpoint run as its own meta graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmarctl.errors import ConfigError, RuntimeFailure
from mmarctl.runtime import argcheck
from mmarctl.runtime.component import Component


def node_name(value: Any, component: str, arg: str) -> str | None:
    """A graph node name argument: a name, or a one-name list / comma list as Clara's flags."""
    if value is None or value == "":
        return None
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str) and "," not in value and value.strip():
        return value.strip().split(":")[0]
    raise ConfigError(f"{component}: {arg} must name one graph node; Received: {arg}={value!r}",
                      hint='e.g. "NV_MODEL_INPUT"')


class CheckpointLoader(Component):
    """Loads ``<checkpoint_dir>/<checkpoint_file_prefix>`` into the training config's network.

    Implements Clara's ``CheckpointLoader`` (config_validation.json ``model_loader``).

    Args:
        checkpoint_dir: folder of the checkpoint (Clara: ``{MMAR_CKPT_DIR}``); relative
            paths are relative to the MMAR root.
        checkpoint_file_prefix: the checkpoint's prefix inside it (default ``model.ckpt``).
        input_node_names, output_node_names: TF1 checkpoints only: the graph's input and
            output nodes (default ``NV_MODEL_INPUT`` / ``NV_MODEL_OUTPUT``, as Clara's export
            flags ``--input_node_names`` / ``--output_node_names``).

    What the checkpoint is decides what runs (read from its ``.index``, see
    :mod:`mmarctl.model_files`): mmarctl's TF2 checkpoint loads into the config's network; a
    TF1 Saver checkpoint (Clara 3.x) runs its own meta graph (``model.ckpt.meta``) from input
    to output node in a ``tf.compat.v1.Session``, channels-first graphs included
    (:mod:`mmarctl.runtime.model_sources.tf1_checkpoint`), not the rebuilt network.

    For a TF2 checkpoint ``load`` needs the built Keras model (``network``); it raises
    RuntimeFailure naming the path when there is no checkpoint (naming the missing
    ``.index`` / ``.data-*`` files when a TF1 ``.meta`` is there), and a one-line
    RuntimeFailure when the checkpoint does not fit the network.
    """

    clara_name = "CheckpointLoader"

    def __init__(self, checkpoint_dir: Any = "models", checkpoint_file_prefix: Any = "model.ckpt",
                 input_node_names: Any = None, output_node_names: Any = None,
                 **unused: Any) -> None:
        self.checkpoint_dir = argcheck.as_name(checkpoint_dir, component=self.clara_name,
                                               arg="checkpoint_dir")
        self.checkpoint_file_prefix = argcheck.as_name(
            checkpoint_file_prefix, component=self.clara_name, arg="checkpoint_file_prefix")
        self.input_node_names = node_name(input_node_names, self.clara_name, "input_node_names")
        self.output_node_names = node_name(output_node_names, self.clara_name,
                                           "output_node_names")
        names = {k: v for k, v in (("input_node_names", input_node_names),
                                   ("output_node_names", output_node_names)) if v is not None}
        super().__init__(checkpoint_dir=checkpoint_dir,
                         checkpoint_file_prefix=checkpoint_file_prefix, **names, **unused)

    def prefix(self, workspace: Any) -> Path:
        """The checkpoint prefix, resolved against the MMAR root."""
        folder = Path(self.checkpoint_dir)
        if not folder.is_absolute():
            folder = Path(workspace.root) / folder
        return folder / self.checkpoint_file_prefix

    def load(self, workspace: Any, network: Any):
        """``predict(batch) -> probabilities`` of ``network`` with the checkpoint's weights."""
        from mmarctl.runtime import checkpoint
        from mmarctl.runtime.model_sources import checkpoint_kind, open_source
        from mmarctl.runtime.model_sources.tf1_checkpoint import require_tf1_weights
        from mmarctl.runtime.training.tf_engine import make_predict

        found = checkpoint.checkpoint_prefix(self.prefix(workspace))
        if found is None:
            require_tf1_weights(self.prefix(workspace))  # a Clara .meta whose weights are gone
        if found is not None and checkpoint_kind(found) == "tf1_checkpoint":
            source = open_source("tf1_checkpoint", Path(found),
                                 input_name=self.input_node_names,
                                 output_name=self.output_node_names)
            return source.as_predict()
        if network is None:
            raise RuntimeFailure("CheckpointLoader needs the training config to build the "
                                 "network", hint="keep config/config_train.json in the MMAR")
        checkpoint.restore_model(self.prefix(workspace), network)
        return make_predict(network)
