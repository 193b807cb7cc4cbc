"""check names the model file each validation config's model_loader reads when it is not
there yet (Clara's config_validation.json reads model.trt.pb, which only export makes),
and the models/ note follows MMAR_CKPT_DIR given with --set."""

from __future__ import annotations

import json
from pathlib import Path

from broken_mmars import mmar, runner, spleen, with_checkpoint  # noqa: F401

from mmarctl.cli import app


def test_after_training_a_config_reading_an_export_not_made_yet_is_noted(mmar: Path) -> None:
    with_checkpoint(mmar)
    data = json.loads((mmar / "config" / "config_validation.json").read_text())
    data["model_loader"] = {"name": "FrozenGraphModelLoader",
                            "args": {"model_file_path": "{MMAR_CKPT_DIR}/model.trt.pb"}}
    (mmar / "config" / "config_validation_trt.json").write_text(json.dumps(data))
    result = runner.invoke(app, ["check", str(mmar)])
    assert result.exit_code == 0, result.output
    assert ("models/model.trt.pb: note: not there yet: config/config_validation_trt.json's "
            "model_loader reads model.trt.pb or model.fzn.pb, so validate and infer with it "
            f"refuse (run `mmarctl export {mmar}` first") in result.output, result.output
    # The CheckpointLoader config reads the checkpoint that is there: nothing said of it.
    assert "config/config_validation.json's" not in result.output


def test_check_notes_the_checkpoint_folder_set_on_the_command_line(mmar: Path) -> None:
    result = runner.invoke(app, ["check", str(mmar), "--set", "MMAR_CKPT_DIR=elsewhere"])
    assert result.exit_code == 0, result.output
    assert "elsewhere: note: no model in elsewhere/ yet" in result.output, result.output
