"""What inferers share: the call contract and checks of the image and of predict's output."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from mmarctl.errors import DataError
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
    """``predict(batch)`` as float32 NumPy, checked to keep the batch's spatial shape."""
    out = np.asarray(predict(batch), dtype=np.float32)
    if out.ndim != batch.ndim or out.shape[:-1] != batch.shape[:-1]:
        raise DataError(f"{component}: the network returned shape {out.shape} for input "
                        f"{batch.shape}; expected (batch, *spatial, classes) with the same "
                        "batch and spatial sizes")
    return out
