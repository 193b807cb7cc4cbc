"""What inferers share: the call contract and checks of the image and of predict's output."""

from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np

from mmarctl.errors import ConfigError, DataError, MmarError, RuntimeFailure
from mmarctl.runtime.component import Component
from mmarctl.runtime.interrupts import disguised_interrupt
from mmarctl.runtime.tf_errors import FRAMING

Predict = Callable[[np.ndarray], Any]


class Inferer(Component):
    """Base class: ``inferer(predict, image)`` returns ``(1, *spatial, K)`` float32."""

    def __call__(self, predict: Predict, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def check_image(self, image: Any) -> np.ndarray:
        """``image`` as an array shaped ``(1, *spatial, C)`` with 1 to 3 spatial axes."""
        image = np.asarray(image)
        if image.ndim not in (3, 4, 5) or image.shape[0] != 1:
            raise DataError(f"{self.clara_name}: expected one channels-last image "
                            f"(1, *spatial, channels); got shape {image.shape}")
        return image


def run_predict(predict: Predict, batch: np.ndarray, component: str) -> np.ndarray:
    """``predict(batch)`` as float32 NumPy (:func:`call_network`), checked to keep the
    batch's spatial shape."""
    out = call_network(predict, batch, component)
    if out.ndim != batch.ndim or out.shape[:-1] != batch.shape[:-1]:
        raise DataError(f"{component}: the network returned shape {out.shape} for input "
                        f"{batch.shape}; expected (batch, *spatial, classes) with the same "
                        "batch and spatial sizes")
    return out


def call_network(predict: Predict, batch: np.ndarray, component: str) -> np.ndarray:
    """``predict(batch)`` as float32 NumPy (any output shape: a classification network
    gives one score per class).

    A failure inside the network becomes an error naming the input shape and its likely
    cause; the original error stays chained for ``--debug``:

    * the image has another channel count than the network takes (a channel-adding
      transform in the training chain but not in the validation one): a ConfigError, since
      every case hits it (no "skip_bad_cases" advice);
    * a spatial size that is not a multiple of the network's size divisor (``predict``'s
      ``size_divisor``, set where the network is known; else when TensorFlow's error speaks
      of mismatched shapes): a DataError blaming the size, with advice fitting ``component``;
    * anything else (sizes that fit, memory, a TensorFlow fault): a RuntimeFailure quoting
      TensorFlow's line, since no roi_size and no skipped case would help.
    """
    try:
        out = np.asarray(predict(batch), dtype=np.float32)
    except MmarError:
        raise
    except Exception as error:  # TensorFlow raises many unrelated types here
        if disguised_interrupt(error):  # a Ctrl-C while the network was traced: no bad case
            raise KeyboardInterrupt from error
        summary = _summary(error)
        expected = expected_channels(predict, error)
        if expected is not None and batch.ndim >= 3 and batch.shape[-1] != expected:
            raise ConfigError(
                f"{component}: the network takes {expected} image channel(s) but the "
                f"transforms give {batch.shape[-1]} (input of shape {batch.shape})",
                hint="the validation transforms must give the channels the network was "
                     "trained on: add the channel-changing transforms of train.pre_transforms "
                     "(e.g. AddExtremePointsChannel, RepeatChannel) to the validation "
                     "pre_transforms") from error
        failed = (f"{component}: the network failed on input of shape {batch.shape}: "
                  f"{type(error).__name__}: {summary}")
        divisor = getattr(predict, "size_divisor", None)
        spatial = batch.shape[1:-1]
        if isinstance(divisor, int) and divisor > 1:
            size_is_off = any(size % divisor for size in spatial)
        else:  # a graph or ONNX file: only TensorFlow's wording can tell
            size_is_off = summary in _mismatch_lines(error)
        if size_is_off:
            raise DataError(failed, hint=_size_hint(component, divisor)) from error
        raise RuntimeFailure(failed, hint=_other_failure_hint(error, divisor)) from error
    return out


#: Keras's wording when a layer gets another channel count than it was built for.
_CHANNELS_SAID = re.compile(r"expected axis -1 of input shape to have value (\d+)")
#: Terminal colour codes that Keras puts around its messages.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def expected_channels(predict: Predict, error: BaseException | None = None) -> int | None:
    """The image channels the network behind ``predict`` takes, when it can be known: the
    model source's input shape, or what Keras's error says it expected; else None."""
    source = getattr(predict, "source", None)
    channels = getattr(source, "channels", None)
    if isinstance(channels, int):
        return channels
    said = _CHANNELS_SAID.search(_ANSI.sub("", str(error or "")))
    return int(said.group(1)) if said else None


def _lines(error: BaseException) -> list[str]:
    """The lines of a TensorFlow error that are not framing (a traced function's "in user
    code:" and stack, a session's "Graph execution error:" and node)."""
    lines = [_ANSI.sub("", line).strip() for line in str(error).splitlines()]
    return [line for line in lines if line and line != "in user code:"
            and not line.startswith(("File ", "raise ", "return ", *FRAMING))]


def _mismatch_lines(error: BaseException) -> list[str]:
    """The lines of ``error`` that speak of mismatched shapes or dimensions."""
    return [line for line in _lines(error) if "incompatible" in line or "must be" in line
            or "Dimensions" in line or "shape" in line.lower()]


def _summary(error: BaseException) -> str:
    """The line of a TensorFlow error that says what went wrong."""
    return (_mismatch_lines(error) or _lines(error) or [type(error).__name__])[0]


def _other_failure_hint(error: BaseException, divisor: Any) -> str:
    """Advice for a network failure that the input's spatial size does not explain."""
    if type(error).__name__ == "ResourceExhaustedError" or "out of memory" in str(error).lower():
        return ("the network ran out of memory: lower the inferer's roi_size or batch_size "
                "(TFScanWindowInferer), or free the GPU")
    fits = (f"the input's spatial sizes are multiples of the network's size divisor "
            f"({divisor}); " if isinstance(divisor, int) and divisor > 1 else "")
    return f"{fits}--debug shows TensorFlow's whole error"


def _size_hint(component: str, divisor: Any = None) -> str:
    """What to change when the network cannot take the input's spatial size."""
    known = isinstance(divisor, int) and divisor > 1
    rule = (f"spatial sizes must be multiples of {divisor}, the network's size divisor"
            if known else
            "spatial sizes must be multiples of the network's size divisor (2**levels for Unet)")
    if component == "TFSimpleInferer":
        return (f"{rule}: TFSimpleInferer feeds whole images; use TFScanWindowInferer with "
                "such a roi_size")
    if component == "TFScanWindowInferer":
        return (f"{rule}: choose such a roi_size (an entry <= 0 feeds the whole axis, whose "
                "size must then be such a multiple)")
    return rule
