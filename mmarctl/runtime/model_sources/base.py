"""The one shape every model source has: what it is, its layout, and ``predict``.

A *model source* is a trained model in one of the forms an MMAR's ``models/`` can hold (see
:mod:`mmarctl.model_files.inventory` for how each is recognised). Every source says its
``kind``, ``layout`` (``channels_first`` as Clara 3.x graphs, or ``channels_last`` as
mmarctl's Keras networks), input/output names and input shape, and gives:

* :meth:`ModelSource.native_predict`: the model on a batch in its own layout;
* :meth:`ModelSource.predict`: the inferer's contract (docs/architecture.md): a channels-last
  batch ``(n, *spatial, C)`` -> channels-last probabilities; a channels-first graph gets its
  batch transposed at this boundary and its output transposed back;
* :meth:`ModelSource.graph_def`: a frozen GraphDef to export from (TF1 kinds).

Callers never branch on the kind again (the shape of tf2onnx's ``tf_loader``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from mmarctl.errors import ConfigError, RuntimeFailure
from mmarctl.model_files.graph_info import CHANNELS_FIRST, CHANNELS_LAST, Shape, format_shape
from mmarctl.model_files.inventory import channel_mismatch, channel_mismatch_hint


@contextlib.contextmanager
def quiet_tf() -> Iterator[None]:
    """Keep TensorFlow's Python-side warnings (deprecations of the ``tf.compat.v1`` APIs,
    "name-based Saver" notices) off the terminal while TF1 artifacts are read.

    ``mmarctl --debug`` (or ``MMARCTL_TF_LOGS=1``) shows them.
    """
    if os.environ.get("MMARCTL_TF_LOGS") == "1":
        yield
        return
    import logging

    from tensorflow.python.util import deprecation

    import sys

    logger = logging.getLogger("tensorflow")
    level, printing = logger.level, deprecation._PRINT_DEPRECATION_WARNINGS
    logger.setLevel(logging.ERROR)
    deprecation._PRINT_DEPRECATION_WARNINGS = False
    # Grappler's C++ INFO lines ("Starting new session") go to fd 2 whatever
    # TF_CPP_MIN_LOG_LEVEL says; failures still arrive as Python exceptions.
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
        logger.setLevel(level)
        deprecation._PRINT_DEPRECATION_WARNINGS = printing


def to_native(batch: np.ndarray, layout: str) -> np.ndarray:
    """A channels-last batch in ``layout`` (channels first moves the last axis to axis 1)."""
    return np.moveaxis(batch, -1, 1) if layout == CHANNELS_FIRST else batch


def from_native(output: np.ndarray, layout: str) -> np.ndarray:
    """A model output in ``layout`` as channels last; ``(n, K)`` outputs are left alone."""
    if layout == CHANNELS_FIRST and output.ndim > 2:
        return np.moveaxis(output, 1, -1)
    return output


@dataclass
class ModelSource:
    """Base class: see the module docstring.

    Attributes:
        kind: ``tf2_checkpoint``, ``tf1_checkpoint``, ``frozen_graph``, ``saved_model``, ``onnx``.
        path: the checkpoint prefix or the file.
        layout: ``channels_first`` or ``channels_last``.
        input_name, output_name: node / tensor names.
        input_shape: the input's shape in its own layout (None entries open; None: unknown).
        layout_reason: how the layout was decided (for messages).
    """

    kind: str
    path: Path
    layout: str = CHANNELS_LAST
    input_name: str = "NV_MODEL_INPUT"
    output_name: str = "NV_MODEL_OUTPUT"
    input_shape: Shape = None
    layout_reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def native_predict(self, batch: np.ndarray) -> np.ndarray:
        """The model's output for ``batch`` given in :attr:`layout`."""
        raise NotImplementedError

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Channels-last ``(n, *spatial, C)`` -> channels-last float32 probabilities."""
        native = to_native(np.asarray(batch, np.float32), self.layout)
        return np.asarray(from_native(self.native_predict(native), self.layout), np.float32)

    def graph_def(self) -> Any:
        """A frozen ``GraphDef`` from :attr:`input_name` to :attr:`output_name` (TF1 kinds)."""
        raise NotImplementedError(f"{self.kind} has no TensorFlow graph to export from")

    @property
    def fixed_spatial(self) -> tuple[int, ...] | None:
        """The input's spatial size when the graph fixes it (Clara's dynamic_input_shape false)."""
        shape = self.input_shape
        if not shape or len(shape) < 3:
            return None
        spatial = shape[2:] if self.layout == CHANNELS_FIRST else shape[1:-1]
        return tuple(spatial) if all(d is not None for d in spatial) else None  # type: ignore

    @property
    def channels(self) -> int | None:
        """Input channels, when the graph says."""
        shape = self.input_shape
        if not shape or len(shape) < 3:
            return None
        return shape[1] if self.layout == CHANNELS_FIRST else shape[-1]

    def describe(self) -> str:
        """One line: kind, layout, input and output."""
        return (f"{self.kind} {self.path.name}: {self.layout}"
                f"{f' ({self.layout_reason})' if self.layout_reason else ''}, "
                f"{self.input_name} {format_shape(self.input_shape)} -> {self.output_name}")

    def as_predict(self):
        """:meth:`predict` as a plain callable carrying ``fixed_spatial`` and ``source``."""
        def predict(batch: np.ndarray) -> np.ndarray:
            return self.predict(batch)

        predict.fixed_spatial = self.fixed_spatial  # type: ignore[attr-defined]
        predict.source = self  # type: ignore[attr-defined]
        return predict


def fits(shape: tuple[int, ...], expected: Shape) -> bool:
    """Whether a batch of ``shape`` fits an input of ``expected`` (None: any rank or size)."""
    if expected is None:
        return True
    return len(shape) == len(expected) and all(
        e is None or e == s for s, e in zip(shape, expected))


def input_mismatch(shape: tuple[int, ...], expected: Shape, layout: str, input_name: str,
                   file: Path, size_hint: str) -> RuntimeFailure:
    """The one-line failure for a batch (in the model's own layout) its input does not take.

    The hint names what differs: the number of spatial axes, the channel count (data made
    for another model), or a fixed spatial size (``size_hint``, e.g. the inferer's roi_size).
    """
    shown = f"input of shape {tuple(shape)} does not fit {input_name} {format_shape(expected)}"
    if expected is None or len(shape) != len(expected):
        rank = len(expected) - 2 if expected else "?"
        return RuntimeFailure(shown, file=file, hint=f"the model takes {rank}D images, the "
                                                     f"input is {len(shape) - 2}D")
    axis = 1 if layout == CHANNELS_FIRST else len(shape) - 1
    wanted = expected[axis]
    if wanted is not None and wanted != shape[axis]:
        message = channel_mismatch(input_name, wanted,
                                   f"the input of shape {tuple(shape)} has {shape[axis]}")
        return RuntimeFailure(message, file=file,
                              hint=channel_mismatch_hint(wanted, shape[axis]))
    return RuntimeFailure(shown, file=file, hint=size_hint)


def check_roi(inferer: Any, predict: Any, file: str) -> None:
    """A fixed-shape graph only takes its own spatial size: the inferer's ``roi_size`` must equal it.

    Raises:
        ConfigError: one line naming both sizes (``inferer.args.roi_size``).
    """
    fixed = getattr(predict, "fixed_spatial", None)
    roi = getattr(inferer, "roi_size", None)
    if not fixed or roi is None:
        return
    roi = tuple(int(v) for v in np.atleast_1d(roi))
    if len(roi) == len(fixed) and any(r > 0 and r != f for r, f in zip(roi, fixed)):
        source = getattr(predict, "source", None)
        what = f"{source.path.name}" if source is not None else "the model"
        raise ConfigError(f"{what} takes a fixed input of {list(fixed)} (dynamic_input_shape "
                          f"false) but the inferer's roi_size is {list(roi)}", file=file,
                          json_path="inferer.args.roi_size",
                          hint=f"set roi_size to {list(fixed)}")
