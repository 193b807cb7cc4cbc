"""benchmarks/cost_growth.py's own arithmetic and config rewrite (no training, no TensorFlow).

The measuring run itself (``--quick``, about 1-2 min on 2 cores) is not part of the suite.
"""

from __future__ import annotations

import json

import pytest

from tests import benchmark_scripts

@pytest.fixture(scope="module")
def bench():
    return benchmark_scripts.load("cost_growth")


def test_grid_is_cases_at_the_first_volume_and_volumes_at_the_first_count(bench):
    volumes = [bench.parse_volume(v) for v in "64,256,512x512x160".split(",")]
    assert volumes[2] == (512, 512, 160)
    sets = bench.grid([12, 48, 96], volumes)
    assert [(n, bench.volume_name(v)) for n, v in sets] == [
        (12, "64^3"), (48, "64^3"), (96, "64^3"), (12, "256^3"), (12, "512x512x160")]
    with pytest.raises(ValueError):
        bench.parse_volume("512x512")


def test_vs_linear_scales_the_smallest_row_of_the_same_setting(bench):
    rows = [
        {"cache": "on", "cases_per_epoch": 8, "voxels": 100, "epoch_s": 2.0},
        {"cache": "on", "cases_per_epoch": 8, "voxels": 400, "epoch_s": 4.0},
        {"cache": "off", "cases_per_epoch": 36, "voxels": 100, "epoch_s": 18.0},
        {"cache": "off", "cases_per_epoch": 9, "voxels": 100, "epoch_s": 3.0},
    ]
    bases = bench.add_vs_linear(rows)
    assert bases["on"] is rows[0] and bases["off"] is rows[3]
    assert rows[1]["linear_s"] == pytest.approx(8.0) and rows[1]["vs_linear"] == 0.5
    assert rows[2]["linear_s"] == pytest.approx(12.0) and rows[2]["vs_linear"] == 1.5
    assert rows[0]["vs_linear"] == rows[3]["vs_linear"] == 1.0


def test_cache_off_config_is_the_plain_pipeline_with_the_same_args(bench, tmp_path):
    from mmarctl import clone

    workspace = tmp_path / "ws"
    clone.clone("spleen", str(workspace))
    bench.write_nocache_config(workspace)
    on = json.loads((workspace / "config" / "config_train.json").read_text())
    off = json.loads((workspace / "config" / bench.NOCACHE_CONFIG).read_text())
    assert on["train"]["image_pipeline"]["name"] == "SegmentationImagePipelineWithCache"
    assert off["train"]["image_pipeline"]["name"] == "SegmentationImagePipeline"
    args_on = on["train"]["image_pipeline"]["args"]
    args_off = off["train"]["image_pipeline"]["args"]
    assert args_off == {k: v for k, v in args_on.items()
                        if k not in ("num_cache_objects", "replace_percent")}
    on["train"]["image_pipeline"] = off["train"]["image_pipeline"]
    assert on == off  # nothing else changed
