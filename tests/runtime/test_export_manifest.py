"""export.json records the network's size divisor with the input description."""

from __future__ import annotations

from mmarctl.runtime.export.manifest import build_manifest
from mmarctl.runtime.export.serving import ServingSpec


def manifest(size_divisor):
    spec = ServingSpec(input_shape=(None, None, None, None, 1), output_channels=2)
    return build_manifest(source={"checkpoint_sha256": "x"}, spec=spec,
                          sample_shape=(1, 32, 32, 32, 1), seed=0, tolerance=1e-4,
                          formats={}, size_divisor=size_divisor)


def test_input_records_the_size_divisor():
    assert manifest(16)["input"]["size_divisor"] == 16
    assert "size_divisor" not in manifest(None)["input"]  # unknown: not claimed
