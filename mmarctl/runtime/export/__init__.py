"""``mmarctl export``: the checkpoint model as deployable artifacts, each verified as written.

Formats (one module each) and what they write under ``models/``:

* ``fzn``: ``model.fzn.pb``, Clara's frozen TensorFlow graph (:mod:`.frozen_graph`);
* ``savedmodel``: ``saved_model/``, signature ``serving_default`` (:mod:`.saved_model`);
* ``onnx``: ``model.onnx``, opset 17, via tf2onnx (:mod:`.onnx_model`);
* ``triton``: ``triton/<name>/``, a Triton repository for ONNX Runtime (:mod:`.triton`);
* ``trt``: ``model.trt``, a TensorRT engine built from the ONNX file (:mod:`.tensorrt_engine`).

Every artifact takes input ``NV_MODEL_INPUT`` and gives output ``NV_MODEL_OUTPUT`` (names can
be changed), both channels-last float32: input ``(batch, *spatial, C)``, output
``(batch, *spatial, num_classes)`` probabilities (``(batch, num_classes)`` for a
classification network), exactly as the Keras network of the checkpoint (see
docs/architecture.md and docs/export.md). :mod:`.exporter` runs an export; :mod:`.verify`
checks each artifact against the checkpoint model; :mod:`.manifest` writes
``models/export.json``. This package table imports nothing heavy.
"""

from __future__ import annotations

#: Every format, in the order they are produced (triton and trt reuse the ONNX model).
FORMATS = ("fzn", "savedmodel", "onnx", "triton", "trt")

#: Aliases accepted on the command line.
FORMAT_ALIASES = {"frozen": "fzn", "pb": "fzn", "saved_model": "savedmodel",
                  "tensorrt": "trt", "all": "all"}

__all__ = ["FORMATS", "FORMAT_ALIASES"]
