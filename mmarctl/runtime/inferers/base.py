"""What inferers share: the call contract and checks of the image and of predict's output."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from mmarctl.errors import DataError, MmarError
from mmarctl.runtime.component import Component

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

    A failure inside the network (typically a spatial size it cannot take, such as a U-Net
    input that does not divide ``2**levels``) becomes a DataError naming the input shape;
    the original error stays chained for ``--debug``.
    """
    try:
        out = np.asarray(predict(batch), dtype=np.float32)
    except MmarError:
        raise
    except Exception as error:  # TensorFlow raises many unrelated types here
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise DataError(f"{component}: the network failed on input of shape {batch.shape}: "
                        f"{type(error).__name__}: {first_line}",
                        hint="spatial sizes must be multiples of the network's size divisor "
                             "(2**levels for Unet); choose such a roi_size, or use "
                             "TFScanWindowInferer for whole volumes") from error
    if out.ndim != batch.ndim or out.shape[:-1] != batch.shape[:-1]:
        raise DataError(f"{component}: the network returned shape {out.shape} for input "
                        f"{batch.shape}; expected (batch, *spatial, classes) with the same "
                        "batch and spatial sizes")
    return out
