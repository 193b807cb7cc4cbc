"""validate/infer take the lock on their output folder before TensorFlow starts, so a busy
folder is refused at once (it used to cost TensorFlow's start-up and the model's build)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "check"))
from broken_mmars import NO_TENSORFLOW, make_spleen, run_verb, without_tensorflow  # noqa: E402

from mmarctl.locks import FolderLock  # noqa: E402


def test_a_busy_output_folder_is_refused_before_tensorflow(tmp_path):
    from mmarctl.runtime.checkpoint import save_checkpoint
    from mmarctl.runtime.model_io import build_network
    from mmarctl.workspace import Workspace

    root = make_spleen(tmp_path / "spleen")
    resolved = Workspace(root).resolve("config_train.json", {})
    save_checkpoint(root / "models" / "model.ckpt",
                    build_network(resolved, root, checkpoint_follows=True)[1])
    env = without_tensorflow(tmp_path / "no-tf")
    with FolderLock(root / "eval") as lock:
        assert lock.held
        for verb in ("validate", "infer"):
            done = run_verb(verb, root, env=env)
            assert done.returncode == 1, done.stderr
            assert "eval/ is in use by pid" in done.stderr, done.stderr
            assert NO_TENSORFLOW not in done.stderr
    done = run_verb("validate", root, env=env)  # free again: now it reaches TensorFlow
    assert NO_TENSORFLOW in done.stderr, done.stderr


#: Sends this process SIGINT as validate starts writing its tables (loaded as sitecustomize).
INTERRUPT_AT_TABLES = """
import os, signal
from mmarctl.runtime import evaluation
_real = evaluation.write_metric_reports
def _interrupted(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)
    return _real(*args, **kwargs)
evaluation.write_metric_reports = _interrupted
"""


def test_ctrl_c_while_validate_writes_its_results_leaves_one_runs_files(tmp_path):
    """A Ctrl-C that lands while the tables are written is held until the report page is
    written too: never a new metrics.json beside the previous run's report.html."""
    import os

    from mmarctl.runtime.checkpoint import save_checkpoint
    from mmarctl.runtime.model_io import build_network
    from mmarctl.workspace import Workspace

    root = make_spleen(tmp_path / "spleen")
    resolved = Workspace(root).resolve("config_train.json", {})
    save_checkpoint(root / "models" / "model.ckpt",
                    build_network(resolved, root, checkpoint_follows=True)[1])
    (root / "eval").mkdir()
    (root / "eval" / "report.html").write_text("the previous run's page")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(INTERRUPT_AT_TABLES)
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    done = run_verb("validate", root, env={**os.environ, "PYTHONPATH": path})
    assert done.returncode == 130, done.stderr[-2000:]
    assert (root / "eval" / "metrics.json").is_file()
    assert "the previous run's page" not in (root / "eval" / "report.html").read_text()
