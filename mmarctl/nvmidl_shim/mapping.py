"""Map one Clara ``nvmidl.apps.*`` call onto the mmarctl command line(s) that do the same.

=====================================  ===============================================
Clara                                  mmarctl
=====================================  ===============================================
train ``-m R -c C -e E --set ...``     ``train R --config-train C --set ...``
train ``--set MMAR_CKPT=P ...``        ``finetune R ... --set MMAR_CKPT=P`` (Clara's
                                       train_finetune.sh; ``PRETRAIN_WEIGHTS_FILE`` passes)
train ``--write_train_stats``          nothing: models/training_summary.json is always written
evaluate ``do_validation=true``        ``validate R --config C``
evaluate ``output_infer_result=true``  ``infer R --config C`` (both true: validate, then infer)
export ``--model_file_format CKPT``    ``export R --format fzn --ckpt PATH/NAME.ckpt``
``--input/output_node_names``          ``--input-node`` / ``--output-node``
``--trt_min_seg_size``                 ignored with a note (TF-TRT no longer exists)
``--trtis_export``, ``_model_name``    ``--format triton``, ``--triton-name``
``-e FILE`` (not config/environment)   its values as ``--set`` items before the script's own
``--set dont_load_ts_model=...``       left out with a note: nvmidl's runtime keys that no
                                       config reads (:mod:`.set_keys`)
=====================================  ===============================================

Values are Clara's unquoted shell words; ``True``/``False`` in any case become ``true``/
``false`` so that mmarctl reads them as booleans.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmarctl.errors import ConfigError, MmarError, UsageError
from mmarctl.jsonio import load_json
from mmarctl.nvmidl_shim.arguments import ClaraCall
from mmarctl.nvmidl_shim.set_keys import configs_read, screen
from mmarctl.workspace import ENVIRONMENT, Workspace

#: ``--set`` keys the shim reads itself (not passed on).
EVALUATE_SWITCHES = ("do_validation", "output_infer_result")
#: Clara's defaults when neither ``--set`` nor the config says (validation only).
EVALUATE_DEFAULTS = {"do_validation": True, "output_infer_result": False}


@dataclass
class Plan:
    """What the shim runs for one Clara call.

    Attributes:
        runs: mmarctl command lines (without ``mmarctl``), run in order while they succeed.
        notes: lines for the user (flags with nothing to do).
        multi_gpu: the call sets ``multi_gpu=true`` (train under mpirun, see :mod:`.mpi`).
    """

    runs: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    multi_gpu: bool = False


def truth(key: str, text: str) -> bool:
    """Clara's boolean words: true/false (any case), 1/0, yes/no.

    Raises:
        UsageError: anything else.
    """
    word = text.strip().lower()
    if word in ("true", "1", "yes"):
        return True
    if word in ("false", "0", "no"):
        return False
    raise UsageError(f"--set {key}={text}: expected true or false")


def _word(value: str) -> str:
    # Python-style booleans (4.x scripts, user edits) are JSON booleans to mmarctl.
    return value.lower() if value.strip().lower() in ("true", "false") else value


def _set_items(values: dict[str, Any]) -> list[str]:
    argv: list[str] = []
    for key, value in values.items():
        argv += ["--set", f"{key}={value}"]
    return argv


def _find(root: Path, text: str) -> Path | None:
    """A file named on Clara's command line: relative to the MMAR root as Clara read it,
    else to the current folder; None when neither exists."""
    path = Path(os.path.expanduser(text))
    for candidate in ((path,) if path.is_absolute() else (root / path, path)):
        if candidate.is_file():
            return candidate.resolve()
    return None


def _existing(root: Path, text: str) -> str:
    """A config for mmarctl: as written when it is relative to the MMAR root (mmarctl reads
    it so), else the file found, else the text itself (mmarctl names what is missing)."""
    if not Path(text).is_absolute() and (root / text).is_file():
        return text
    found = _find(root, text)
    return str(found) if found else text


def _screened_items(workspace: Workspace, call: ClaraCall, sets: dict[str, str],
                    config: str | None, plan: Plan) -> list[str]:
    """``-e FILE``'s values then the script's ``--set`` items, as mmarctl ``--set`` words:
    nvmidl's runtime keys left out (a note each), any other key mmarctl would refuse named
    here with where it was written (:func:`.set_keys.screen`)."""
    text = call.values.get("environment")
    env_items = _environment_items(workspace, text)
    shown = workspace.display(_find(workspace.root, text)) if env_items and text else None
    items, notes = screen(workspace, configs_read(workspace, call.app, config), sets,
                          env_items, shown)
    plan.notes.extend(notes)
    return _set_items(items)


def _environment_items(workspace: Workspace, text: str | None) -> dict[str, str]:
    """``-e FILE``: nothing when it is config/environment.json (mmarctl reads it anyway),
    else its values, as ``--set`` text."""
    if not text:
        return {}
    path = _find(workspace.root, text)
    if path is None:
        raise ConfigError("environment file not found", file=text,
                          hint="-e names a file relative to the MMAR (config/environment.json)")
    if path == workspace.config_path(ENVIRONMENT).resolve():
        return {}
    data = load_json(path, shown_as=workspace.display(path))
    if not isinstance(data, dict):
        raise ConfigError("expected a JSON object at the top level",
                          file=workspace.display(path), json_path="$")
    items = {}
    for key, value in data.items():
        # A string that would read back as another JSON type keeps its quotes.
        if isinstance(value, str):
            try:
                json.loads(value)
            except json.JSONDecodeError:
                items[key] = value
                continue
        items[key] = json.dumps(value)
    return items


def _workspace(call: ClaraCall, fallback: str | None = None) -> Workspace:
    return Workspace.locate(call.values.get("mmar") or os.environ.get("MMAR_ROOT") or fallback)


def plan_train(call: ClaraCall) -> Plan:
    """``nvmidl.apps.train``: train, or finetune when ``--set MMAR_CKPT=...`` is not empty."""
    workspace = _workspace(call)
    sets = {k: _word(v) for k, v in call.set_values().items()}
    plan = Plan(multi_gpu=sets.get("multi_gpu", "").strip() == "true")
    verb = "finetune" if sets.get("MMAR_CKPT", "").strip() else "train"
    argv = [verb, str(workspace.root)]
    config = call.values.get("config")
    if config:
        config = _existing(workspace.root, config)
        argv += ["--config-train", config]
    argv += _screened_items(workspace, call, sets, config, plan)
    plan.runs.append(argv)
    if "--write_train_stats" in call.switches:
        plan.notes.append("--write_train_stats: nothing to do, mmarctl always writes "
                          "models/training_summary.json and models/metrics_history.jsonl")
    return plan


def _config_global(workspace: Workspace, config: str, key: str) -> Any:
    try:
        raw = workspace.load(config)
    except MmarError:
        return None  # reported with its file and line when mmarctl resolves the config
    return raw.get(key) if isinstance(raw, dict) else None


def plan_evaluate(call: ClaraCall) -> Plan:
    """``nvmidl.apps.evaluate``: validate and/or infer, as do_validation/output_infer_result say."""
    workspace = _workspace(call)
    sets = {k: _word(v) for k, v in call.set_values().items()}
    config = (_existing(workspace.root, call.values["config"]) if call.values.get("config")
              else "config_validation.json")
    wanted = {}
    for key in EVALUATE_SWITCHES:
        if key in sets:
            wanted[key] = truth(key, sets.pop(key))
        else:
            written = _config_global(workspace, config, key)
            wanted[key] = written if isinstance(written, bool) else EVALUATE_DEFAULTS[key]
    if not any(wanted.values()):
        raise UsageError("nvmidl.apps.evaluate: do_validation and output_infer_result are "
                         "both false: nothing to run")
    plan = Plan()
    items = _screened_items(workspace, call, sets, config, plan)
    for key, verb in zip(EVALUATE_SWITCHES, ("validate", "infer")):
        if wanted[key]:
            plan.runs.append([verb, str(workspace.root), "--config", config, *items])
    return plan


def plan_export(call: ClaraCall) -> Plan:
    """``nvmidl.apps.export``: ``mmarctl export`` of the checkpoint to Clara's file names."""
    values = call.values
    fmt = values.get("model_file_format", "CKPT")
    if fmt.upper() != "CKPT":
        raise UsageError(f"nvmidl.apps.export: --model_file_format {fmt}: the shim exports "
                         "from a checkpoint (CKPT) only",
                         hint="run `mmarctl export MMAR --help` for the other sources")
    folder = values.get("model_file_path")
    if folder:
        folder = str(Path(os.path.expanduser(folder)).resolve())
    workspace = _workspace(call, fallback=folder)
    name = values.get("model_name", "model")
    plan = Plan()
    argv = ["export", str(workspace.root), "--format", "fzn"]
    if "--trtis_export" in call.switches:
        argv += ["--format", "triton"]
    if values.get("trtis_model_name"):
        argv += ["--triton-name", values["trtis_model_name"]]
    if values.get("input_node_names"):
        argv += ["--input-node", values["input_node_names"]]
    if values.get("output_node_names"):
        argv += ["--output-node", values["output_node_names"]]
    if values.get("config"):
        argv += ["--config", _existing(workspace.root, values["config"])]
    sets = _environment_items(workspace, values.get("environment"))
    if folder:
        sets["MMAR_CKPT_DIR"] = folder  # export writes beside the checkpoint, as Clara did
        argv += ["--ckpt", str(Path(folder) / f"{name}.ckpt")]
    elif name != "model":
        argv += ["--ckpt", str(workspace.checkpoint_dir() / f"{name}.ckpt")]
    sets.update({k: _word(v) for k, v in call.set_values().items()})
    argv += _set_items(sets)
    plan.runs.append(argv)
    if "trt_min_seg_size" in values:
        plan.notes.append("--trt_min_seg_size ignored: TF-TRT no longer exists, so no "
                          "model.trt.pb is written (FrozenGraphModelLoader falls back to "
                          "model.fzn.pb)")
    if "trtis_input_shape" in values:
        plan.notes.append("--trtis_input_shape ignored: the Triton input shape comes from the "
                          "training config")
    if name != "model":
        plan.notes.append(f"--model_name {name}: the frozen graph is written as model.fzn.pb "
                          f"(Clara wrote {name}.fzn.pb)")
    return plan


PLANNERS = {"train": plan_train, "evaluate": plan_evaluate, "export": plan_export}
