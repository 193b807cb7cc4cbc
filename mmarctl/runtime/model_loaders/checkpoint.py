"""CheckpointLoader: the network of config_train.json with weights from a TF checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmarctl.errors import RuntimeFailure
from mmarctl.runtime import argcheck
from mmarctl.runtime.component import Component


class CheckpointLoader(Component):
    """Loads ``<checkpoint_dir>/<checkpoint_file_prefix>`` into the training config's network.

    Implements Clara's ``CheckpointLoader`` (config_validation.json ``model_loader``).

    Args:
        checkpoint_dir: folder of the checkpoint (Clara: ``{MMAR_CKPT_DIR}``); relative
            paths are relative to the MMAR root.
        checkpoint_file_prefix: the checkpoint's prefix inside it (default ``model.ckpt``).

    ``load`` needs the built Keras model (``network``); it raises RuntimeFailure naming the
    path when there is no checkpoint, and a one-line RuntimeFailure when the checkpoint does
    not fit the network.
    """

    clara_name = "CheckpointLoader"

    def __init__(self, checkpoint_dir: Any = "models", checkpoint_file_prefix: Any = "model.ckpt",
                 **unused: Any) -> None:
        self.checkpoint_dir = argcheck.as_name(checkpoint_dir, component=self.clara_name,
                                               arg="checkpoint_dir")
        self.checkpoint_file_prefix = argcheck.as_name(
            checkpoint_file_prefix, component=self.clara_name, arg="checkpoint_file_prefix")
        super().__init__(checkpoint_dir=checkpoint_dir,
                         checkpoint_file_prefix=checkpoint_file_prefix, **unused)

    def prefix(self, workspace: Any) -> Path:
        """The checkpoint prefix, resolved against the MMAR root."""
        folder = Path(self.checkpoint_dir)
        if not folder.is_absolute():
            folder = Path(workspace.root) / folder
        return folder / self.checkpoint_file_prefix

    def load(self, workspace: Any, network: Any):
        """``predict(batch) -> probabilities`` of ``network`` with the checkpoint's weights."""
        from mmarctl.runtime import checkpoint
        from mmarctl.runtime.training.tf_engine import make_predict

        if network is None:
            raise RuntimeFailure("CheckpointLoader needs the training config to build the "
                                 "network", hint="keep config/config_train.json in the MMAR")
        checkpoint.restore_model(self.prefix(workspace), network)
        return make_predict(network)
