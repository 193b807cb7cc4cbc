"""SegAhnet's steps applied with a built model's layers, for its runtime graph
(:mod:`~mmarctl.runtime.networks.runtime_graph`)."""

from __future__ import annotations

from mmarctl.runtime.networks.runtime_graph import BuiltLayers


class SegAhnetLayers(BuiltLayers):
    """The steps of :class:`~mmarctl.runtime.networks.segahnet._NewLayers`, by layer name."""

    @property
    def dims(self) -> int:
        """Spatial dimensions of the model's input."""
        return len(self.model.inputs[0].shape) - 2

    def conv(self, x, filters: int, in_plane: int, through: int, name: str,
             relu: bool = True, convolved=None):
        """Convolution (unless ``convolved`` is its output already), batch norm, ReLU."""
        x = self.apply(name, x) if convolved is None else convolved
        x = self.apply(f"{name}_bn", x)
        return self.apply(f"{name}_relu", x) if relu else x

    def add(self, shortcut, y, name: str):
        """Residual sum, then ReLU."""
        return self.apply(f"{name}_out", self.apply(f"{name}_add", [shortcut, y]))

    def average_pool(self, x, size, name: str):
        """The average-pooling layer ``name``."""
        return self.apply(name, x)

    def upsample(self, x, size, name: str):
        """The up-sampling layer ``name``."""
        return self.apply(name, x)

    def concatenate(self, tensors, name: str):
        """The concatenation layer ``name``."""
        return self.apply(name, tensors)

    def join(self, low, skip, filters: int, step: int):
        """Decoder step ``step``, at low resolution where it suits."""
        name = f"dec{step}_conv"
        convolved = self.joined(low, skip, f"up{step}", f"skip{step}", name)
        return self.conv(None, filters, 3, 3, name, convolved=convolved)
