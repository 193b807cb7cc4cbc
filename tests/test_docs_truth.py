"""The README and docs/*.md say what the tool does: examples that run as written, option
lists and file tables that match the CLI and the catalogue."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mmarctl.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CATALOG = ROOT / "mmarctl" / "catalog"

runner = CliRunner()


def section(text: str, heading: str) -> str:
    """The text under ``heading`` (a ``## ...`` line) up to the next heading of that level."""
    start = text.index(heading + "\n")
    end = text.find("\n## ", start + len(heading))
    return text[start:end if end != -1 else len(text)]


def bullet(text: str, starts: str) -> str:
    """The ``* ...`` list item that begins with ``starts``, with its indented lines."""
    match = re.search(r"^\* " + re.escape(starts) + r".*?(?=^\* |^\S|\Z)", text,
                      re.MULTILINE | re.DOTALL)
    assert match, f"no item {starts!r}"
    return match.group(0)


# -- README ----------------------------------------------------------------------------------

#: Runs the CLI in-process with the given argv and reports whether TensorFlow got imported.
PROBE = """
import json, sys
from mmarctl.cli import main
sys.argv = ["mmarctl", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
print("PROBE", json.dumps(sorted(m for m in ("tensorflow", "keras") if m in sys.modules)))
"""


def test_readme_light_core_list_holds_the_verbs_that_run_without_tensorflow(tmp_path):
    readme = (ROOT / "README.md").read_text()
    sentence = readme[readme.index("Without an extra"):]
    sentence = sentence[:sentence.index("The runtime verbs")]
    for verb in ("compare", "clara-shim", "doctor --quick", "--version"):
        assert f"`{verb}`" in sentence or f"`mmarctl {verb}`" in sentence, verb
    for argv in (["doctor", "--quick"], ["clara-shim", "status"], ["compare", str(tmp_path)]):
        done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        line = [l for l in done.stdout.splitlines() if l.startswith("PROBE ")]
        assert line and json.loads(line[-1][6:]) == [], (argv, done.stdout, done.stderr)


def test_readme_clara_shim_example_runs_a_clara_script_not_one_mmarctl_wrote():
    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `clara-shim install`"))
    assert "my-exp/commands/" not in row  # the scripts mmarctl writes call mmarctl: no shim
    assert "clara_ct_seg_spleen_amp/commands/train.sh" in row


def test_readme_names_doctor_quick():
    readme = (ROOT / "README.md").read_text()
    assert "mmarctl doctor --quick " in readme
    assert "doctor --quick` skips" in (DOCS / "distributed.md").read_text()


def test_readme_layout_lists_what_train_and_validate_write():
    readme = (ROOT / "README.md").read_text()
    layout = section(readme, "## The MMAR layout")
    for name in ("network.json", "training_summary.json", "report.html", "preview/"):
        assert name in layout, name


# -- AutoML: the example works on a scaffold clone -------------------------------------------

def test_automl_first_study_example_gives_a_config_with_a_search(tmp_path):
    """README's, automl --help's and docs/automl.md's example is run on the scaffold clone
    README makes; the scaffolds have no annotations, so the docs show the step that adds one."""
    from mmarctl.search.concrete import read_valid_space

    page = section((DOCS / "automl.md").read_text(), "## A first study")
    lines = [line.strip() for line in page.splitlines() if line.startswith("    ")]
    annotate = next(line for line in lines if line.startswith("python3 -c "))
    assert any(line.startswith("mmarctl automl my-exp --rounds 8 --workers 2") for line in lines)
    assert runner.invoke(app, ["clone", "spleen", str(tmp_path / "my-exp")]).exit_code == 0
    argv = shlex.split(annotate)
    subprocess.run([sys.executable, *argv[1:]], cwd=tmp_path, check=True, timeout=60)
    config = json.loads((tmp_path / "my-exp/config/config_train.json").read_text())
    assert not read_valid_space(config, "config_train.json").is_empty
    # the shown JSON entry is the one the command adds
    shown = next(line for line in page.splitlines() if line.strip().startswith('"search":'))
    assert json.loads("{" + shown.strip() + "}")["search"] == config["search"]

    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `automl [MMAR]`"))
    assert "docs/automl.md#a-first-study" in row
    result = runner.invoke(app, ["automl", "--help"], env={"COLUMNS": "200"})
    shown_help = " ".join(result.output.split())
    assert '"search"' in shown_help and "A first study" in shown_help


# -- transforms.md, components.md ------------------------------------------------------------

def test_transforms_doc_names_every_writer():
    writers = section((DOCS / "transforms.md").read_text(), "## Writers")
    for name in json.loads((CATALOG / "writers.json").read_text()):
        assert f"`{name}`" in writers, name


def test_transforms_doc_gives_random_spatial_flip_its_probability_argument():
    text = (DOCS / "transforms.md").read_text()
    sentence = text[text.index("`RandomSpatialFlip`"):]
    sentence = sentence[:sentence.index(";")]
    assert "1/2" not in sentence and "`probability`" in sentence
    args = json.loads((CATALOG / "transforms.json").read_text())["RandomSpatialFlip"]["args"]
    assert "probability" in args


def test_components_doc_gives_each_optimizer_only_its_own_arguments():
    text = (DOCS / "components.md").read_text()
    optimizers = json.loads((CATALOG / "optimizers.json").read_text())
    sgd = bullet(text, "**SGD**")
    assert optimizers["SGD"]["args"] == {} and "no arguments" in sgd
    assert "momentum" not in sgd.lower()
    momentum = bullet(text, "**Momentum**")
    for arg, spec in optimizers["Momentum"]["args"].items():
        assert f"`{arg}`" in momentum, arg
        default = json.dumps(spec["default"])
        assert f"default {default}" in momentum, (arg, default)


# -- training.md -----------------------------------------------------------------------------

def _synopsis() -> dict[str, str]:
    """training.md's synopsis block: each verb's lines."""
    text = (DOCS / "training.md").read_text()
    block = text[:text.index("\n\n", text.index("    mmarctl train"))]
    verbs: dict[str, str] = {}
    verb = ""
    for line in block.splitlines():
        match = re.match(r"    mmarctl (\w+)", line)
        if match:
            verb = match.group(1)
        if verb:
            verbs[verb] = verbs.get(verb, "") + line + "\n"
    return verbs


@pytest.mark.parametrize("verb", ["train", "finetune", "validate", "infer"])
def test_training_doc_synopsis_lists_every_option(verb):
    command = typer.main.get_command(app).commands[verb]
    synopsis = _synopsis()[verb]
    for param in command.params:
        names = [opt for opt in param.opts if opt.startswith("--")]
        if names and names != ["--help"]:
            assert any(re.search(re.escape(name) + r"(?![\w-])", synopsis) for name in names), \
                (verb, names)


def test_training_doc_shows_lr_scale_combining_with_learning_rate(tmp_path):
    """--lr-scale multiplies --learning-rate's value: the synopsis writes them as two
    options, not as alternatives."""
    from mmarctl.commands.train import scaled_learning_rate
    from mmarctl.workspace import Workspace

    for verb in ("train", "finetune"):
        synopsis = _synopsis()[verb]
        assert "[--learning-rate LR] [--lr-scale F]" in synopsis, verb
    assert runner.invoke(app, ["clone", "spleen", str(tmp_path / "w")]).exit_code == 0
    workspace = Workspace.locate(str(tmp_path / "w"))
    assert scaled_learning_rate(workspace, None, [], 0.01, 2.0) == pytest.approx(0.02)
    assert "`--lr 0.01 --lr-scale 2` trains at 0.02" in (DOCS / "training.md").read_text()


def test_training_doc_files_table_lists_the_checkpoint_network_record():
    from mmarctl.runtime.checkpoint import DATA_SUFFIX, INDEX_SUFFIX, NETWORK_SUFFIX

    table = section((DOCS / "training.md").read_text(), "## Files written")
    parts = ",".join(suffix.lstrip(".") for suffix in (INDEX_SUFFIX, DATA_SUFFIX, NETWORK_SUFFIX))
    for prefix in ("model.ckpt", "model_final.ckpt"):
        assert f"`models/{prefix}.{{{parts}}}`" in table, prefix
