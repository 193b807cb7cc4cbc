"""model_io: the network input read from the config, and the network built from it."""

from __future__ import annotations

import textwrap

import pytest

from mmarctl.errors import ConfigError
from mmarctl.runtime.model_io import build_network, input_spec

STANDIN = textwrap.dedent('''
    from mmarctl.runtime.component import Component

    class TinyNet(Component):
        """A 1x1 convolution with softmax: stands in for Unet in these tests."""
        final_activation = "softmax"

        def __init__(self, num_classes=2):
            super().__init__(num_classes=num_classes)
            self.num_classes = num_classes

        def build(self, spatial_dims, in_channels):
            import keras
            conv = keras.layers.Conv3D if spatial_dims == 3 else keras.layers.Conv2D
            inputs = keras.Input((None,) * spatial_dims + (in_channels,))
            return keras.Model(inputs, conv(self.num_classes, 1, activation="softmax")(inputs))
''')


def config(**pipeline_args):
    return {"train": {"model": {"path": "tinynet.TinyNet", "args": {"num_classes": 3}},
                      "image_pipeline": {"name": "SegmentationImagePipeline",
                                         "args": pipeline_args}}}


@pytest.mark.parametrize("args, expected", [
    ({"output_crop_size": [64, 64, 32]}, (3, 1, (64, 64, 32))),
    ({"output_crop_size": [-1, -1, -1]}, (3, 1, (None, None, None))),
    ({"output_crop_size": [384, 384], "output_data_dims": 2}, (2, 1, (384, 384))),
    ({"output_crop_size": [96, 96, 96], "output_image_channels": 4}, (3, 4, (96, 96, 96))),
    ({}, (3, 1, None)),
])
def test_input_spec(args, expected):
    assert input_spec(config(**args)) == expected


def test_input_spec_from_model_n_spatial_dim():
    cfg = config()
    cfg["train"]["model"]["args"]["n_spatial_dim"] = 2
    assert input_spec(cfg)[0] == 2


@pytest.mark.parametrize("args, match", [
    ({"output_crop_size": "96"}, "output_crop_size must be a list"),
    ({"output_crop_size": [96, 96], "output_data_dims": 3}, "has 2 values"),
    ({"output_data_dims": 4}, "2D or 3D"),
    ({"output_image_channels": 0}, "output_image_channels must be a positive"),
])
def test_input_spec_rejects_bad_args(args, match):
    with pytest.raises(ConfigError, match=match) as info:
        input_spec(config(**args))
    assert info.value.json_path.startswith("train.image_pipeline.args")


def test_build_network_with_byoc_standin(tmp_path):
    pytest.importorskip("tensorflow")
    (tmp_path / "custom").mkdir()
    (tmp_path / "custom" / "tinynet.py").write_text(STANDIN)
    network, model = build_network(config(output_crop_size=[8, 8, 8], output_image_channels=2),
                                   tmp_path)
    assert network.num_classes == 3
    assert model.input_shape == (None, None, None, None, 2)
    assert model.output_shape[-1] == 3


def test_build_network_without_model_is_config_error():
    with pytest.raises(ConfigError, match="train.model is missing"):
        build_network({"train": {}})


def test_build_network_disabled_model_is_config_error(tmp_path):
    cfg = config()
    cfg["train"]["model"]["disabled"] = True
    with pytest.raises(ConfigError, match="disabled"):
        build_network(cfg, tmp_path)
