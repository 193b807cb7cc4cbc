"""TensorFlow SavedModel (``models/saved_model/``) with a ``serving_default`` signature.

The signature takes the keyword ``NV_MODEL_INPUT`` and returns ``{"NV_MODEL_OUTPUT": ...}``
(the names given to :mod:`.serving`), channels-last float32, so TF Serving and
``tf.saved_model.load(path).signatures["serving_default"]`` use the same names as the
frozen graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from mmarctl.errors import RuntimeFailure

SIGNATURE = "serving_default"


def write_saved_model(model: Any, serve: Any, path: Path) -> Path:
    """Save ``model``'s variables and the serving function at ``path`` (a new folder)."""
    import tensorflow as tf

    module = tf.Module()
    module.model = model  # tracked so the variables are saved
    module.serve = serve
    tf.saved_model.save(module, str(path),
                        signatures={SIGNATURE: serve.get_concrete_function()})
    return Path(path)


def load_saved_model(path: Path, input_name: str,
                     output_name: str) -> Callable[[np.ndarray], np.ndarray]:
    """A NumPy ``predict`` calling the ``serving_default`` signature of the SavedModel."""
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as error:  # OSError, or a folder that is not a SavedModel
        raise RuntimeFailure(f"cannot load SavedModel: {str(error).splitlines()[0]}",
                             file=path) from None
    signature = loaded.signatures.get(SIGNATURE) if hasattr(loaded, "signatures") else None
    if signature is None:
        raise RuntimeFailure(f"the SavedModel has no {SIGNATURE!r} signature", file=path)
    inputs = signature.structured_input_signature[1]
    if input_name not in inputs or output_name not in signature.structured_outputs:
        raise RuntimeFailure(
            f"the {SIGNATURE} signature takes {sorted(inputs)} and gives "
            f"{sorted(signature.structured_outputs)}, not {input_name} -> {output_name}",
            file=path)

    def predict(batch: np.ndarray) -> np.ndarray:
        result = signature(**{input_name: tf.constant(np.asarray(batch, dtype=np.float32))})
        return result[output_name].numpy()

    predict.keep_alive = loaded  # type: ignore[attr-defined]  # the signature needs its module
    return predict
