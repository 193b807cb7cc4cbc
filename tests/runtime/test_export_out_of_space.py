"""A full disk while export writes its frozen graph: mmarctl's disk-full line naming the
file as it would have been (not the staging folder's), with advice that fits export."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")

from mmarctl.errors import write_failed  # noqa: E402


def test_export_on_a_full_disk_names_the_frozen_graph_with_exports_advice(tmp_path,
                                                                          monkeypatch):
    import keras

    from mmarctl.runtime.export.frozen_graph import write_frozen_graph
    from mmarctl.runtime.export.serving import ServingSpec, serving_function

    inputs = keras.Input((None, None, None, 1))
    model = keras.Model(inputs, keras.layers.Conv3D(2, 1)(inputs))
    serve = serving_function(model, ServingSpec((None, None, None, None, 1), 2))
    staging = tmp_path / "models" / ".export.host-1.abcdefgh.partial"
    staging.mkdir(parents=True)

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")  # no file name, as seen

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError) as info:
        write_frozen_graph(serve, staging / "model.fzn.pb")
    failure = write_failed(info.value, absolute=True)
    assert str(failure).startswith("no space left on the device writing "
                                   f"{tmp_path / 'models' / 'model.fzn.pb'}")
    assert "MMAR_CKPT_DIR=" in failure.hint and "--output" not in failure.hint


def test_every_format_written_on_a_full_disk_is_named_in_the_models_folder(tmp_path):
    """SavedModel, ONNX and Triton writes named a file inside the staging folder with the
    general advice; they are named as models/<artifact> with export's advice."""
    from mmarctl.runtime.export.exporter import ARTIFACTS, _write_format

    class FullDisk:
        def write(self, fmt):
            raise OSError(errno.ENOSPC, "No space left on device")

    for fmt in ("savedmodel", "onnx"):
        with pytest.raises(OSError) as info:
            _write_format(FullDisk(), fmt, tmp_path / "models")
        failure = write_failed(info.value, absolute=True)
        assert str(failure).startswith("no space left on the device writing "
                                       f"{tmp_path / 'models' / ARTIFACTS[fmt]}"), str(failure)
        assert "MMAR_CKPT_DIR=" in failure.hint
