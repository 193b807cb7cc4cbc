"""The Unet's steps applied with a built model's layers, for its runtime graph
(:mod:`~mmarctl.runtime.networks.runtime_graph`)."""

from __future__ import annotations

from mmarctl.runtime.networks.runtime_graph import BuiltLayers


class UnetLayers(BuiltLayers):
    """The steps of :class:`~mmarctl.runtime.networks.unet._NewLayers`, by layer name."""

    def block(self, x, filters: int, name: str, convolved=None):
        """Convolution (unless ``convolved`` is its output already) (+ norm) + ReLU."""
        x = self.apply(f"{name}_conv", x) if convolved is None else convolved
        if self.network.norm is not None:
            x = self.apply(f"{name}_norm", x)
        return self.apply(f"{name}_relu", x)

    def join(self, low, skip, filters: int, level: int):
        """Decoder step ``level``, at low resolution where it suits."""
        name = f"dec{level}"
        convolved = self.joined(low, skip, f"up{level}", f"skip{level}", f"{name}_conv")
        return self.block(None, filters, name, convolved=convolved)
