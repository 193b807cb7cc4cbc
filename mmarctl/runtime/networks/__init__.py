"""Networks: Clara model names -> ``module:Class``. Importing this table imports no TensorFlow.

Every network follows one contract (docs/architecture.md): ``Network(**args).build(spatial_dims,
in_channels)`` returns a ``keras.Model`` taking channels-last input ``(batch, *spatial, C)`` and
returning channels-last float32 probabilities with ``num_classes`` channels. A network's
``size_divisor`` is the number every spatial input size must be a multiple of.
"""

NAMES = {
    "Unet": "unet:Unet",
    "SegResnet": "segresnet:SegResnet",
    "SegAhnet": "segahnet:SegAhnet",
    "DenseNet121": "densenet:DenseNet121",
    "ResidualUnet": "resunet:ResidualUnet",
}

__all__ = ["NAMES"]
