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


WRONG_CHANNELS = textwrap.dedent('''
    from mmarctl.runtime.component import Component

    class FixedHead(Component):
        """Takes num_classes but always ends in a five-channel layer, as a careless BYOC might."""
        final_activation = "softmax"

        def __init__(self, num_classes=2, classify=False):
            super().__init__(num_classes=num_classes, classify=classify)
            self.classify = classify

        def build(self, spatial_dims, in_channels):
            import keras
            inputs = keras.Input((None,) * spatial_dims + (in_channels,))
            if self.classify:  # (batch, 5)
                pooled = keras.layers.GlobalAveragePooling3D()(inputs)
                return keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(pooled))
            return keras.Model(inputs, keras.layers.Conv3D(5, 1, activation="softmax")(inputs))

    class NoClasses(FixedHead):
        """Its args have no num_classes: nothing to compare with."""

        def __init__(self, width=5):
            Component.__init__(self, width=width)
            self.classify = False
''')


def custom_config(tmp_path, name: str, args: dict) -> dict:
    pytest.importorskip("tensorflow")
    (tmp_path / "custom").mkdir(exist_ok=True)
    (tmp_path / "custom" / "wrongnet.py").write_text(WRONG_CHANNELS)
    cfg = config(output_crop_size=[8, 8, 8])
    cfg["train"]["model"] = {"path": f"wrongnet.{name}", "args": args}
    return cfg


@pytest.mark.parametrize("args", [{"num_classes": 2}, {"num_classes": 2, "classify": True}],
                         ids=["segmentation", "classification"])
def test_network_output_channels_other_than_num_classes_is_refused(tmp_path, args):
    with pytest.raises(ConfigError) as info:
        build_network(custom_config(tmp_path, "FixedHead", args), tmp_path)
    line = str(info.value)
    assert "\n" not in line
    assert "train.model" in line and "5 channel" in line and "num_classes=2" in line


def test_network_output_channels_equal_to_num_classes_builds(tmp_path):
    _, model = build_network(custom_config(tmp_path, "FixedHead",
                                           {"num_classes": 5, "classify": True}), tmp_path)
    assert model.output_shape == (None, 5)


def test_network_without_num_classes_is_not_compared(tmp_path):
    _, model = build_network(custom_config(tmp_path, "NoClasses", {"width": 5}), tmp_path)
    assert model.output_shape[-1] == 5


# Small arguments per built-in network, so that each builds in seconds on CPU.
BUILTIN_ARGS = {
    "Unet": {"num_classes": 3, "nf_enc": "4,8", "nf_dec": "8,8,4,4"},
    "SegResnet": {"num_classes": 3, "init_filters": 4, "blocks_down": "1,1", "blocks_up": "1"},
    "SegAhnet": {"num_classes": 3},
    "DenseNet121": {"num_classes": 3},
    "ResidualUnet": {"num_classes": 3, "channels": [4, 8], "strides": [2]},
}


@pytest.mark.parametrize("name", sorted(BUILTIN_ARGS))
def test_every_builtin_network_builds_with_its_num_classes(tmp_path, name):
    pytest.importorskip("tensorflow")
    from mmarctl.runtime import registry

    assert set(BUILTIN_ARGS) == set(registry.names("networks"))
    crop = [32, 32] if name == "DenseNet121" else [16, 16, 16]
    cfg = config(output_crop_size=crop)
    cfg["train"]["model"] = {"name": name, "args": BUILTIN_ARGS[name]}
    _, model = build_network(cfg, tmp_path)
    assert model.output_shape[-1] == 3
