"""TFSimpleInferer: the whole image through the network in one call."""

from __future__ import annotations

import numpy as np

from mmarctl.runtime.inferers.base import Inferer, Predict, run_predict


class TFSimpleInferer(Inferer):
    """Runs ``predict`` once on the whole image.

    Implements Clara's ``TFSimpleInferer`` (no args). The image must have a size the
    network accepts (for a U-Net, spatial sizes divisible by ``2**levels``); use
    TFScanWindowInferer for large volumes.
    """

    clara_name = "TFSimpleInferer"

    def __init__(self) -> None:
        super().__init__()

    def __call__(self, predict: Predict, image: np.ndarray) -> np.ndarray:
        """``predict(image)`` as float32, shape ``(1, *spatial, K)``."""
        image = self.check_image(image)
        return run_predict(predict, image, self.clara_name)
