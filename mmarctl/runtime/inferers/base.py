"""What inferers share: the call contract and checks of the image and of predict's output."""

from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np

from mmarctl.errors import ConfigError, DataError, MmarError
from mmarctl.runtime.component import Component
from mmarctl.runtime.interrupts import disguised_interrupt

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
    """``predict(batch)`` as float32 NumPy, checked to keep the batch's spatial shape.

    A failure inside the network becomes an error naming the input shape and its likely
    cause; the original error stays chained for ``--debug``:

    * the image has another channel count than the network takes (a channel-adding
      transform in the training chain but not in the validation one): a ConfigError, since
      every case hits it (no "skip_bad_cases" advice);
    * otherwise a DataError blaming the spatial size (typically a U-Net input that does not
      divide ``2**levels``), with advice fitting ``component``.
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
        raise DataError(f"{component}: the network failed on input of shape {batch.shape}: "
                        f"{type(error).__name__}: {summary}",
                        hint=_size_hint(component)) from error
    if out.ndim != batch.ndim or out.shape[:-1] != batch.shape[:-1]:
        raise DataError(f"{component}: the network returned shape {out.shape} for input "
                        f"{batch.shape}; expected (batch, *spatial, classes) with the same "
                        "batch and spatial sizes")
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


def _summary(error: BaseException) -> str:
    """The line of a TensorFlow error that says what went wrong (a traced function's
    message starts with "in user code:" and a stack)."""
    lines = [_ANSI.sub("", line).strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line and line != "in user code:"
             and not line.startswith(("File ", "raise ", "return "))]
    said = [line for line in lines if "incompatible" in line or "must be" in line
            or "Dimensions" in line or "shape" in line.lower()]
    return (said or lines or [""])[0]


def _size_hint(component: str) -> str:
    """What to change when the network cannot take the input's spatial size."""
    rule = "spatial sizes must be multiples of the network's size divisor (2**levels for Unet)"
    if component == "TFSimpleInferer":
        return (f"{rule}: TFSimpleInferer feeds whole images; use TFScanWindowInferer with "
                "such a roi_size")
    if component == "TFScanWindowInferer":
        return (f"{rule}: choose such a roi_size (an entry <= 0 feeds the whole axis, whose "
                "size must then be such a multiple)")
    return rule
