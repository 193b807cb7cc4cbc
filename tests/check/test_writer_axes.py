"""WritePng (a 2-D PNG mask) held to the network's number of spatial axes: a 3-D
segmentation network is refused at ``writers[i].name`` before compute instead of infer
stopping at the first case it writes."""

from __future__ import annotations

from tests.check.broken_mmars import mmar, spleen  # noqa: F401 - fixtures

from mmarctl.check.spatial_axes import writer_axes_problems
from mmarctl.runtime.writers.nifti import WriteNifti
from mmarctl.runtime.writers.png import WritePng

VALIDATION = "config/config_validation.json"
TRAIN = "config/config_train.json"


def test_writepng_of_a_3d_network_is_refused_at_the_writer():
    writers = [WriteNifti(field="model", write_path="out"), WritePng(field="model")]
    problems = writer_axes_problems(writers, 3, VALIDATION, TRAIN)
    assert [str(p) for p in problems] == [
        f"{VALIDATION}: writers[1].name: WritePng writes 2-D masks, but the network of "
        f"{TRAIN} takes 3-D images (its field 'model' is 3-D); use WriteNifti"]


def test_writepng_of_a_2d_network_and_unknown_dims_pass():
    writers = [WritePng(field="model"), None]
    assert writer_axes_problems(writers, 2, VALIDATION, TRAIN) == []
    assert writer_axes_problems(writers, None, VALIDATION, TRAIN) == []


def test_infer_preflight_refuses_writepng_of_the_3d_spleen_network(mmar):  # noqa: F811
    from tests.check.broken_mmars import edit_json

    from mmarctl.check.preflight import evaluation_problems
    from mmarctl.workspace import Workspace

    edit_json(mmar / "config" / "config_validation.json", lambda c: c.update(writers=[
        {"name": "WritePng", "args": {"field": "model", "write_path": "{MMAR_EVAL_OUTPUT_PATH}"}}]))
    problems = evaluation_problems(Workspace(mmar), {}, config="config_validation.json",
                                   train_config="config_train.json", labels=False)
    assert (f"{VALIDATION}: writers[0].name: WritePng writes 2-D masks, but the network of "
            f"{TRAIN} takes 3-D images (its field 'model' is 3-D); use WriteNifti"
            ) in [str(p) for p in problems]
