"""Check one MMAR: find its config files, resolve ``{VAR}``, validate, then check semantics.

Order of work, and why:

1. A Clara 4.x (PyTorch) MMAR is recognised first and reported in one line; its files use
   another vocabulary, so every later check would only produce noise.
2. ``environment.json`` is read and validated (its values feed every config's variables).
3. Each config (``config_train.json``, ``config_validation*.json``) is parsed, every
   placeholder that resolves to nothing is reported once, and the config, with the
   resolvable placeholders substituted and ``--set`` applied to its globals, is validated
   against its schema and then component by component.
4. The data-split lists the configs read are validated and their files looked for.

Notes (``Problem.severity == "note"``) say what is valid Clara but worth knowing (no
validation config, a component mmarctl's runtime does not implement, what models/ holds);
they do not fail the check. ``strict`` makes those about the configs, data and scripts
problems; those about the output folders (models/, eval/) describe a run, and stay notes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from mmarctl.check.case_fields import metric_reads
from mmarctl.check.field_flow import FlowResult, follow, steps_of
from mmarctl.check.spatial_axes import axis_rules, network_axes_problems
from mmarctl.check.eval_preprocessing import image_steps, preprocessing_notes
from mmarctl.check.label_table import label_table_notes, read_datalist
from mmarctl.check.loss_outputs import (loss_output_problems, metric_class_problems,
                                        onehot_class_label_problems, per_class_fields)
from mmarctl.check.metric_task import (inferer_task_notes, loss_task_problems,
                                        mask_writer_problems, metric_task_problems,
                                        network_pipeline_problems, network_task,
                                        writer_task_problems)
from mmarctl.check.components import ComponentChecker
from mmarctl.check.crop_size import crop_size_notes
from mmarctl.check.search_point_fields import search_point_field_problems
from mmarctl.check.voxel_grids import voxel_grid_problems
from mmarctl.check.whole_images import whole_image_rule
from mmarctl.check.constructors import ConstructorChecker
from mmarctl.check.output_folders import (eval_folder_unwritable, file_in_the_way,
                                          output_folder_problems)
from mmarctl.check.images import CHANNEL_CHANGING
from mmarctl.check.label_values import keeps_label_values
from mmarctl.check.models import (checkpoint_folder, loaded_model_problems, loader_notes,
                                  loader_problems, model_findings)
from mmarctl.check.data import DataCounts, DataUse, check_data
from mmarctl.errors import ConfigError
from mmarctl.jsonio import load_json
from mmarctl.nvmidl_shim.detect import clara_scripts_note
from mmarctl.problems import ERROR, NOTE, Problem
from mmarctl.runtime.run_settings import (EVAL_GLOBAL_KEYS, GLOBAL_KEYS, read_eval_settings,
                                          read_train_settings)
from mmarctl.runtime.transforms.loaders import fields_read
from mmarctl.schemas import load_schema
from mmarctl.schemas.validator import validate
from mmarctl.search.concrete import strip_annotations, with_point, written_values
from mmarctl.search.settings import (AUTOML_CONFIG, check_settings_file,
                                     missing_train_config, named_train_config)
from mmarctl.search.older_keys import LEARNING_RATE_RANGE, learning_rate_entry, older_key_notes
from mmarctl.search.space import (at_search_point, has_annotations, read_space,
                                  set_conflicts)
from mmarctl.shell_words import shell_word
from mmarctl.variables import PLACEHOLDER, global_values, iter_placeholders, substitute
from mmarctl.workspace import CLARA4_MESSAGE, ENVIRONMENT, TRAIN_CONFIG, Workspace


#: ``--set`` keys Clara 3.x scripts pass that no config file needs to mention.
SCRIPT_SET_KEYS = frozenset({
    "DATASET_JSON", "DATA_ROOT", "DATA_LIST_KEY", "MMAR_CKPT", "MMAR_CKPT_DIR",
    "MMAR_EVAL_OUTPUT_PATH", "PRETRAIN_WEIGHTS_FILE", "do_validation", "output_infer_result",
    "multi_gpu", "epochs", "learning_rate", "num_training_epoch_per_valid", "use_amp",
    "secure_train", "uid", "ROUND_NUM", "run_id", "trainconf", "workers", "traceout",
    # Clara's runtime switches (print the resolved config; cuDNN autotuning): nothing in
    # mmarctl reads them, but scripts users copied from Clara's docs pass them.
    "print_conf", "cudnn_benchmark"})

#: Default list a pipeline reads when its args do not say, by section.
_DEFAULT_KEYS = {"train.image_pipeline": "training", "validate.image_pipeline": "validation"}


@dataclass(frozen=True)
class TrainingNetwork:
    """The network a training config describes, as validate and infer build it.

    Attributes:
        file: the training config, as shown in messages.
        network: the built network component (its ``size_divisor``).
        dims: the spatial dimensions of its input (the pipeline's ``output_data_dims``).
        channels: the input's channels (the pipeline's ``output_image_channels``).
        task: the training pipeline's task (``classification``: the validation list's
            labels are class labels written in the items).
        classes_given: the config writes the network's ``num_classes`` (else it is the
            class's default, which real configs that omit it do not mean: the metrics'
            ``class_index`` is not held to it).
        patch: ``output_crop_size`` as the runtime reads it (None entries: any size).
    """

    file: str
    network: Any
    dims: int
    channels: int | None = None
    task: str | None = None
    classes_given: bool = True
    patch: tuple[int | None, ...] | None = None


@dataclass
class CheckReport:
    """What ``check`` found.

    Attributes:
        problems: errors; the check fails when there is any.
        notes: information that does not fail the check (see the module's docstring).
        files: the files that were read, as shown in messages.
        unsupported: the MMAR is a Clara 4.x one (reported as its single problem).
        network: the training config's network, once it was checked without problems; the
            validation configs checked after it hold their inferer to it.
        environment_unread: environment.json is there but gave no values (not JSON, not
            an object): the values it would define are unset.
        data: the cases and data files the datalists name (those that were read).
        validate_steps: the training config (as shown) and the image transforms of its
            ``validate.pre_transforms`` (:func:`.eval_preprocessing.image_steps`), which
            the validation configs' own are compared with.
    """

    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    unsupported: bool = False
    network: TrainingNetwork | None = None
    environment_unread: bool = False
    data: DataCounts = field(default_factory=DataCounts)
    validate_steps: tuple[str, list] | None = None

    def extend_findings(self, findings: list[Problem]) -> None:
        """Add ``findings`` to :attr:`problems` or :attr:`notes` by their severity."""
        for finding in findings:
            (self.notes if finding.severity == NOTE else self.problems).append(finding)

    @property
    def ok(self) -> bool:
        """True when no problem was found (notes do not count)."""
        return not self.problems


def check_mmar(workspace: Workspace, overrides: Mapping[str, Any] | None = None, *,
               train_config: str | None = None,
               validation_configs: list[str] | None = None,
               automl_configs: list[str] | None = None,
               strict: bool = False, model_problems: bool | None = None,
               hold_validation: bool = False) -> CheckReport:
    """Check every config file of an MMAR and the data it names.

    Args:
        workspace: the MMAR.
        overrides: ``--set`` values (already parsed).
        train_config: a training config to check (a name in ``config/``, a path relative to
            the MMAR root, or any existing path).
        validation_configs: validation configs to check.
            When neither is given, ``config/config_train.json`` and every
            ``config/config_validation*.json`` are checked; otherwise only the files named.
        automl_configs: AutoML settings files to check (automl's ``--config-automl``).
            Default: every ``config/config_automl*.json`` when no config is named (Clara
            keeps one per controller, picked per run), else ``config_automl.json``.
        strict: report the notes about the configs, data and commands/ scripts as problems
            (those about models/ and eval/ stay notes).
        model_problems: report model files that validate, infer or export would refuse
            (a corrupt TF1 ``.meta``, a graph taking another channel count) as problems, not
            only as notes. Default: when the whole MMAR is checked (no config named); train
            and automl name their configs and write new checkpoints over the old files.
        hold_validation: the user named ``validation_configs`` to ask whether validate and
            infer will run with them (``check --config``): what those verbs refuse before
            compute is a problem, not a note: the model files the configs'
            ``model_loader`` reads when they are damaged, an ``MMAR_EVAL_OUTPUT_PATH``
            that cannot be written. (A model not there yet stays a note.)
    """
    overrides = dict(overrides or {})
    report = CheckReport()
    if workspace.clara_major_version() == 4:
        report.problems.append(Problem(str(workspace.root), "", CLARA4_MESSAGE))
        report.unsupported = True
        return report
    env = read_environment(workspace, report)
    report.problems.extend(output_folder_problems(workspace, env, overrides))
    configs = _config_files(workspace, train_config, validation_configs, report)
    automl = _automl_settings_files(workspace, automl_configs,
                                    whole=train_config is None and not validation_configs)
    if train_config is None and not validation_configs:
        report.notes.extend(_config_notes(workspace, configs))
        configs += _automl_train_config(workspace, configs, automl)
    uses: list[DataUse] = []
    for kind, path in configs:
        uses.extend(check_config_file(workspace, kind, path, env, overrides, report))
    uses = _validation_against_training(workspace, configs, uses, report,
                                        {**env, **overrides})
    report.problems.extend(check_overrides(overrides, env, configs, workspace))
    for path in automl:
        _check_automl_settings(workspace, path, report, named=bool(automl_configs),
                               train_config=train_config)
    data_problems, datalists = check_data(uses, workspace.display, report.data,
                                          notes=report.notes)
    report.problems.extend(data_problems)
    report.files.extend(datalists)
    report.problems = list(dict.fromkeys(report.problems))  # search points repeat findings
    report.notes = list(dict.fromkeys(report.notes))
    _fold_problems_of_an_unread_environment(workspace, report)
    # Clara's own commands/ scripts: a note; under --strict a problem only when they cannot run.
    report.notes.extend(_fixed_rate_scripts_note(workspace))
    scripts_note, scripts_run = clara_scripts_note(workspace.commands_dir)
    if scripts_note is not None and not scripts_run:
        report.notes.append(scripts_note)
    if strict:
        report.problems.extend(Problem(n.file, n.json_path, n.message) for n in report.notes)
        report.notes = []
    if scripts_note is not None and scripts_run:
        report.notes.append(scripts_note)
    # What models/ holds and what each verb can do with it: information, also under --strict;
    # a model file that validate, infer or export would refuse is a problem as well.
    # MMAR_CKPT_DIR given with --set is the folder the verbs use (environment.json's is not).
    model_env = {**env, **{key: workspace.resolve_path_value(key, value)
                           for key, value in overrides.items() if key == "MMAR_CKPT_DIR"}}
    validation_paths = [p for kind, p in configs if kind == "validation"]
    notes, problems = [], []
    # A MMAR_CKPT_DIR that is a file was reported above: no "no model in FILE/ yet" on top.
    folder_usable = file_in_the_way(checkpoint_folder(workspace, model_env)) is None
    if folder_usable:
        notes, problems = model_findings(workspace, model_env, network=report.network)
    report.notes.extend(notes)
    if folder_usable and not any("no model in" in note.message for note in notes):
        report.notes.extend(loader_notes(workspace, overrides, validation_paths))
    if model_problems is None:
        model_problems = train_config is None and validation_configs is None
    if model_problems:
        report.problems.extend(problems)
    elif hold_validation and folder_usable:
        # The model files the named validation configs' model_loader reads, held as
        # validate --config holds them.
        report.problems.extend(loaded_model_problems(workspace, overrides, validation_paths,
                                                     network=report.network))
    # An eval/ that validate and infer cannot write: they refuse (a problem when one of
    # their configs was named, else a note, as a read-only models/ is).
    report.extend_findings(eval_folder_unwritable(workspace, env, overrides,
                                                  severity=ERROR if hold_validation else NOTE))
    # Each validation config's model_loader against the file it reads: what validate and
    # infer refuse (the kind of file, the output node, a fixed input size).
    for kind, path in configs:
        if kind == "validation":
            report.problems.extend(loader_problems(workspace, overrides, str(path)))
    report.problems = list(dict.fromkeys(report.problems))
    return report


def _validation_against_training(workspace: Workspace, configs: list[tuple[str, Path]],
                                 uses: list[DataUse], report: CheckReport,
                                 variables: Mapping[str, Any]) -> list[DataUse]:
    """What validate and infer's pre-flight hold each validation config to, against the
    training config and its network (:mod:`.preflight`): a ``pre_transforms`` chain that
    changes channels otherwise than training's, a writer for other image axes (WritePng of
    a 3-D network), and the label files as its ``label_transforms`` load them; ``uses``
    with those label values held."""
    from mmarctl.check.preflight import chain_channel_problems, with_label_values, writer_axes

    train = next((path for kind, path in configs if kind == "train"), None)
    if train is None or not Path(train).is_file():
        return uses
    for kind, path in configs:
        if kind != "validation":
            continue
        report.problems.extend(chain_channel_problems(workspace, Path(train), Path(path)))
        report.problems.extend(writer_axes(workspace, Path(path), report.network))
        shown = str(workspace.display(Path(path)))
        mine = [use for use in uses if use.origin == (shown, "")]
        if mine:
            held = with_label_values(workspace, mine, Path(train), Path(path), report.network,
                                     variables)
            uses = [held[mine.index(use)] if use in mine else use for use in uses]
    return uses


def _fixed_rate_scripts_note(workspace: Workspace) -> list[Problem]:
    """A note for 2-GPU scripts an older mmarctl wrote with a fixed learning rate."""
    from mmarctl.scripts import scripts_with_a_fixed_rate

    stale = scripts_with_a_fixed_rate(workspace.commands_dir)
    if not stale:
        return []
    one = len(stale) == 1
    return [Problem(workspace.display(workspace.commands_dir), "",
                    f"{', '.join(stale)} {'passes' if one else 'pass'} a fixed learning rate "
                    f"written when {'it was' if one else 'they were'} generated, not 2 x the "
                    f"config's current one; `mmarctl commands {shell_word(workspace.root)}` rewrites "
                    f"{'it' if one else 'them'} to scale it as {'it runs' if one else 'they run'}"
                    " (--lr-scale 2)", NOTE)]


def _automl_settings_files(workspace: Workspace, named: list[str] | None,
                           whole: bool) -> list[Path]:
    """The AutoML settings files to check: those named (``--config-automl``); in a whole-MMAR
    check every ``config/config_automl*.json`` that is not a training config; else the
    default ``config_automl.json`` (the one automl reads unless told otherwise)."""
    if named:
        return [given_config_path(workspace, name) for name in named]
    if not whole:
        return [workspace.config_path(AUTOML_CONFIG)]
    # (sorted: config_automl.json before config_automl_<variant>.json)
    return [p for p in sorted(workspace.config_dir.glob("config_automl*.json"))
            if not _looks_like_train_config(p)]


def _check_automl_settings(workspace: Workspace, path: Path, report: CheckReport, *,
                           named: bool = False, train_config: str | None = None) -> None:
    """One AutoML settings file checked into ``report``; ``named`` on the command line (a
    missing one is a problem: automl would refuse it; the default may be absent).
    ``train_config`` is check's ``-c``, the training config automl would search with it
    unless the settings name their own."""
    shown = workspace.display(path)
    if not path.exists():
        if named:
            report.problems.append(Problem(shown, "", "file not found: automl "
                                           "--config-automl reads it"))
        return
    report.files.append(shown)
    settings, problems = check_settings_file(path, shown)
    report.problems.extend(p for p in problems if p.severity != NOTE)
    report.notes.extend(p for p in problems if p.severity == NOTE)
    # automl trains the config train_config_file names: a missing one stops the study.
    trains = named_train_config(settings)
    if trains is not None and not workspace.config_path(trains).exists():
        missing = workspace.config_path(trains)
        report.problems.append(Problem.from_error(
            missing_train_config(settings, missing, workspace.display(missing))))
    else:
        report.extend_findings(_nothing_to_search(workspace, settings, shown, train_config,
                                                  certain=named))


def _nothing_to_search(workspace: Workspace, settings: Any, automl_shown: str,
                       given: str | None, *, certain: bool = False) -> list[Problem]:
    """automl's "no search annotations" refusal, said before compute: the training config
    automl would search (the settings' ``train_config_file``, else ``given`` (check's -c),
    else config_train.json) holds no annotation. A problem when automl is certain to be
    asked for that pair (the settings name the config, or ``certain``: the settings file was
    named on check's command line); else a note: the settings leave the config to automl's
    command line (``{trainconf}``, Clara's way), and -c may be meant for train."""
    named = named_train_config(settings)
    name = named or given
    path = given_config_path(workspace, name) if name else workspace.config_path(TRAIN_CONFIG)
    try:
        config = load_json(path)
    except (ConfigError, OSError):
        return []  # (missing or unreadable: said where that config is checked)
    if not isinstance(config, dict) or has_annotations(config):
        return []
    shown = workspace.display(path)
    entry = learning_rate_entry(config)
    advice = (f"add {entry} (from its {LEARNING_RATE_RANGE})" if entry else
              "add \"search\" entries (docs/automl.md#a-first-study)")
    if named or certain:
        return [Problem(shown, "", f"no search annotations: automl with {automl_shown} would "
                        f"find nothing to search; {advice}")]
    return [Problem(shown, "", f"no search annotations: automl with {automl_shown} would "
                    f"find nothing to search in it; {advice}, or give automl the annotated "
                    "config with --config-train", NOTE)]


def _automl_train_config(workspace: Workspace, configs: list[tuple[str, Path]],
                         automl: list[Path]) -> list[tuple[str, Path]]:
    """The training configs the AutoML settings files' ``train_config_file`` name (Clara's
    ``trn_autoML.json`` layout) that are not among ``configs``: automl trains them, so a
    whole-MMAR check checks them as well. The settings' own problems are reported by
    :func:`_check_automl_settings`."""
    found: list[tuple[str, Path]] = []
    for path in automl:
        if not path.is_file():
            continue
        settings, _ = check_settings_file(path, workspace.display(path))
        named = named_train_config(settings)
        if named is None:
            continue
        target = workspace.config_path(named)
        if not target.is_file() or any(p.resolve() == target.resolve()
                                       for _, p in [*configs, *found]):
            continue
        found.append(("train", target))
    return found


def _fold_problems_of_an_unread_environment(workspace: Workspace, report: CheckReport) -> None:
    """When environment.json could not be read (empty, invalid JSON), every value it defines
    is unset, and each config reading one says so ("define DATA_ROOT in
    config/environment.json"): follow-on lines of one mistake. They are counted in a note
    instead; fixing the file brings back those that remain."""
    if not report.environment_unread:
        return
    shown = workspace.display(workspace.config_path(ENVIRONMENT))
    # (the file's own problem: a JSON error names it inside its message, with line and column)
    follow_on = [p for p in report.problems if p.file != shown
                 and not p.message.startswith(shown) and shown in p.message]
    if not follow_on:
        return
    report.problems = [p for p in report.problems if p not in follow_on]
    report.notes.append(Problem(shown, "", f"{len(follow_on)} more "
                                f"problem{'s' if len(follow_on) != 1 else ''} (unset values it "
                                "would define) are left out until it can be read", NOTE))


def read_environment(workspace: Workspace, report: CheckReport) -> dict[str, Any]:
    """``config/environment.json`` checked into ``report``, its path values resolved; ``{}``
    when it is absent or unreadable."""
    path = workspace.config_path(ENVIRONMENT)
    if not path.exists():
        return {}
    shown = workspace.display(path)
    try:
        raw = load_json(path, shown_as=shown)
    except ConfigError as error:
        report.problems.append(Problem.from_error(error))
        report.environment_unread = True
        return {}
    report.files.append(shown)
    report.problems.extend(validate("environment", raw, shown))
    if not isinstance(raw, dict):
        report.environment_unread = True
        return {}
    report.problems.extend(_environment_placeholders(raw, shown))
    return {key: workspace.resolve_path_value(key, value) for key, value in raw.items()}


#: ``{NAME}`` or ``${NAME}`` in a value.
_PLACEHOLDER = re.compile(r"\$?\{[A-Za-z_][A-Za-z0-9_]*\}")


def _environment_placeholders(raw: dict, shown: str) -> list[Problem]:
    """environment.json values holding ``{NAME}`` / ``${NAME}``: Clara substitutes
    placeholders in the configs only, and mmarctl reads these values as written, so
    ``"DATASET_JSON": "{DATA_ROOT}/dataset.json"`` named a file that does not exist and the
    data check said to set DATASET_JSON, which was set."""
    return [Problem(shown, key, (
        f"{value!r} holds a placeholder ({_PLACEHOLDER.search(value).group(0)}), but "
        "environment.json values are used as written (placeholders are substituted in the "
        "configs only); write the value out"))
        for key, value in raw.items() if isinstance(value, str) and _PLACEHOLDER.search(value)]


def _config_files(workspace: Workspace, train_config: str | None,
                  validation_configs: list[str] | None,
                  report: CheckReport) -> list[tuple[str, Path]]:
    configs: list[tuple[str, Path]] = []
    if train_config or validation_configs:
        # Files named on the command line are checked instead of the default set.
        if train_config:
            configs.append(("train", given_config_path(workspace, train_config)))
        configs.extend(("validation", given_config_path(workspace, n)) for n in validation_configs or [])
    else:
        train = workspace.config_path(TRAIN_CONFIG)
        validation = sorted(workspace.config_dir.glob("config_validation*.json"))
        if train.exists():
            configs.append(("train", train))
        elif validation:  # (with neither, the one line below says so)
            report.problems.append(Problem(workspace.display(train), "",
                                           _missing_train_config(workspace)))
        configs.extend(("validation", p) for p in validation)
    if not configs:
        report.problems.append(Problem(workspace.display(workspace.config_dir), "",
                                       "no config_train.json or config_validation*.json to check"))
    return configs


def _missing_train_config(workspace: Workspace) -> str:
    # Clara's examples often ship only other training configs (trn_base.json, ...) and name
    # one with -c in their scripts; train, finetune, export and the checkpoint loader of
    # validate and infer read config_train.json unless told otherwise.
    others = sorted(p.name for p in workspace.config_dir.glob("*.json")
                    if _looks_like_train_config(p))
    named = (f"; this MMAR has {', '.join(others)}: check and train one with --config-train"
             if others else "")
    return ("file not found: train, finetune and export read it, and validate and infer "
            f"build a checkpoint's network from it{named}")


def _looks_like_train_config(path: Path) -> bool:
    data = _json_object(path)  # load_json's guards: a FIFO or /dev/zero is not read
    return data is not None and isinstance(data.get("train"), dict)


def given_config_path(workspace: Workspace, name: str) -> Path:
    """The config file a command line names (``-c`` / ``--config``): the file the verbs read
    (:meth:`Workspace.config_path`: config/, the MMAR root, then the current folder, but
    never the MMAR's own files from the current folder)."""
    return workspace.config_path(name)


#: Clara's federated-learning configs (FL server and client): mmarctl runs neither.
FL_CONFIGS = ("config_fed_client.json", "config_fed_server.json")
FL_MESSAGE = ("a Clara federated-learning config: FL is not supported by mmarctl "
              "(docs/compatibility.md)")


def config_file_problem(workspace: Workspace, kind: str, path: Path) -> Problem | None:
    """What makes ``path`` unusable as a ``kind`` ("train" or "validation") config before
    its contents are checked, in one line that says what to do: missing (naming the configs
    config/ has instead), a federated-learning config, or a config of the other kind.
    None otherwise (a file that cannot be read is left to :func:`load_json`'s line)."""
    shown = workspace.display(path)
    if not path.exists() and not path.is_symlink():
        if kind == "train":
            return Problem(shown, "", _missing_train_config(workspace))
        return Problem(shown, "", "file not found: validate and infer read it; "
                       + _validation_hint(workspace, "this MMAR ships no validation config: "))
    data = _json_object(path)
    if path.name in FL_CONFIGS or (data is not None and "servers" in data
                                   and ("client" in data or "aggregator" in data)):
        return Problem(shown, "", FL_MESSAGE)
    if data is None:
        return None
    if kind == "validation" and isinstance(data.get("train"), dict):
        return Problem(shown, "", "a training config, not a validation config (validate and "
                       "infer read pre_transforms, inferer and model_loader at its top "
                       "level); " + _validation_hint(workspace, "this MMAR ships none: "))
    if kind == "train" and "train" not in data and "model_loader" in data:
        return Problem(shown, "", "a validation config, not a training config (it has "
                       "model_loader and no train section); name it with --config in validate, "
                       "infer and check, and a training config with --config-train")
    return None


def _validation_hint(workspace: Workspace, none: str = "") -> str:
    """What to do without a usable validation config: name the ones config/ has, else say
    (after ``none``) how to write one from a training config's ``validate`` section."""
    found = sorted(p.name for p in workspace.config_dir.glob("*.json")
                   if _looks_like_validation_config(p))
    if found:
        return f"this MMAR has {', '.join(found)}: name one with --config"
    trains = sorted(p.name for p in workspace.config_dir.glob("*.json")
                    if _looks_like_train_config(p))
    source = f"{trains[0]}'s" if trains else "the training config's"
    return (f"{none}write config/config_validation.json from "
            f"{source} validate section (pre_transforms, inferer, metrics as val_metrics) with "
            'a model_loader such as {"name": "CheckpointLoader", "args": {"checkpoint_dir": '
            '"{MMAR_CKPT_DIR}"}}, or name one with --config')


def _json_object(path: Path) -> dict | None:
    """The JSON object in ``path``, read with load_json's guards (size, nesting); None when
    it is not one (its own problem is reported when the file is checked)."""
    try:
        data = load_json(path, warn=lambda *_: None)  # warned of when it is checked
    except (ConfigError, OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _looks_like_validation_config(path: Path) -> bool:
    data = _json_object(path)
    return (data is not None and "train" not in data
            and ("model_loader" in data or ("pre_transforms" in data and "inferer" in data)))


def _config_notes(workspace: Workspace, configs: list[tuple[str, Path]]) -> list[Problem]:
    """Notes of a whole-MMAR check: no validation config (validate and infer have nothing
    to run), and Clara federated-learning configs (not supported)."""
    notes = []
    if configs and not any(kind == "validation" for kind, _ in configs):
        notes.append(Problem(workspace.display(workspace.config_dir), "",
                             "no config_validation*.json, so validate and infer have no "
                             "config to run: " + _validation_hint(workspace), NOTE))
    found = [name for name in FL_CONFIGS if workspace.config_path(name).is_file()]
    if found:
        message = (FL_MESSAGE if len(found) == 1 else
                   FL_MESSAGE.replace("a Clara federated-learning config", "Clara "
                                      "federated-learning configs"))
        notes.append(Problem(", ".join(workspace.display(workspace.config_path(name))
                                       for name in found), "", message, NOTE))
    return notes


def check_config_file(workspace: Workspace, kind: str, path: Path, env: dict[str, Any],
                      overrides: dict[str, Any], report: CheckReport) -> list[DataUse]:
    """Check one train or validation config (``kind``) into ``report``; the data it reads."""
    shown = workspace.display(path)
    unusable = config_file_problem(workspace, kind, path)
    if unusable is not None:
        report.problems.append(unusable)
        return []
    try:
        raw = load_json(path, shown_as=shown)
    except ConfigError as error:
        report.problems.append(Problem.from_error(error))
        return []
    report.files.append(shown)
    if not isinstance(raw, dict):
        report.problems.append(Problem(shown, "$", "expected a JSON object at the top level"))
        return []
    if kind == "train":
        report.notes.extend(older_key_notes(raw, shown))
    if has_annotations(raw):
        return _check_search_config(workspace, kind, shown, raw, env, overrides, report)
    return _check_concrete(workspace, kind, shown, raw, env, overrides, report)


def _check_search_config(workspace: Workspace, kind: str, shown: str, raw: dict,
                         env: dict[str, Any], overrides: dict[str, Any],
                         report: CheckReport) -> list[DataUse]:
    """An AutoML config: its annotations, then the concrete config of a few search points
    that between them write every value the search can choose, each checked as any config."""
    space = read_space(raw, shown)
    report.problems.extend(space.problems)
    if kind == "train":  # automl refuses --set on a searched global: check says it first
        report.problems.extend(set_conflicts(space, overrides))
    elif space.dimensions:
        report.notes.append(Problem(shown, "search", "AutoML searches only the training "
                                    "config; these annotations are ignored", NOTE))
    try:
        written_values(raw, shown)
    except ConfigError as error:
        report.notes.append(Problem.from_error(error).as_note())
    # Lists of alternatives stay lists (the checker walks them item by item, so a problem
    # names train.loss[1]); a point's values switch alternatives through "disabled".
    points = space.spanning_points() if not space.problems else []
    candidates = [strip_annotations(raw)] + [strip_annotations(with_point(raw, space, point))
                                             for point in points]
    uses: list[DataUse] = []
    as_written: set[Problem] = set()
    base: list[Problem] = []
    found_at_points: list[Problem] = []
    for index, candidate in enumerate(candidates):
        if index == 0:
            first = len(report.problems)
            uses = _check_concrete(workspace, kind, shown, candidate, env, overrides, report)
            as_written = set(report.problems[first:])
            base = list(report.problems)
            continue
        # Each point is checked as if it were the only one: the constructor checks skip a
        # component already reported, so another point's problem there would hide this
        # point's value (an enum's second bad target behind its first).
        report.problems = list(base)
        found = _check_concrete(workspace, kind, shown, candidate, env, overrides, report)
        point = points[index - 1]
        # a point's own problem is said at the search target that wrote its value
        found_at_points.extend(problem if problem in as_written
                               else at_search_point(space, point, problem)
                               for problem in report.problems[len(base):])
        found_at_points.extend(search_point_field_problems(uses, found, space, point))
    report.problems = base + found_at_points
    return uses


def _check_concrete(workspace: Workspace, kind: str, shown: str, raw: dict,
                    env: dict[str, Any], overrides: dict[str, Any],
                    report: CheckReport) -> list[DataUse]:
    first = len(report.problems)
    try:
        return _check_concrete_values(workspace, kind, shown, raw, env, overrides, report)
    finally:
        report.problems[first:] = [_blamed_on_set(p, shown, raw, overrides)
                                   for p in report.problems[first:]]


def _blamed_on_set(problem: Problem, shown: str, raw: dict,
                   overrides: Mapping[str, Any]) -> Problem:
    """A problem with a global's value that ``--set`` gave (it wins over the config's own),
    said of ``--set``: ``--set epochs=-1`` was blamed on a config_train.json holding 40.
    A section (``train``) is never replaced by ``--set``: its problems stay the config's."""
    key = problem.json_path.split(".")[0].split("[")[0]
    if (problem.file != shown or key not in overrides
            or isinstance(overrides[key], (dict, list)) or isinstance(raw.get(key), (dict, list))):
        return problem
    return replace(problem, file="--set")


def _check_concrete_values(workspace: Workspace, kind: str, shown: str, raw: dict,
                           env: dict[str, Any], overrides: dict[str, Any],
                           report: CheckReport) -> list[DataUse]:
    try:
        variables = workspace.variables(raw, overrides)
    except (ConfigError, TypeError, ValueError):
        # environment.json is malformed or not an object (reported above): go on without it.
        variables = {**workspace.built_in_variables(), **global_values(raw), **env}
        variables.update({k: workspace.resolve_path_value(k, v) for k, v in overrides.items()})
    unresolved = _report_unresolved(raw, variables, shown, report)

    def is_unresolved(value: Any) -> bool:
        return isinstance(value, str) and any(
            m.group(1) in unresolved for m in PLACEHOLDER.finditer(value))

    # Unresolved placeholders stay as written, so the rest can still be checked.
    data = substitute(raw, {**variables, **{v: "{" + v + "}" for v in unresolved}}, file=shown)
    schema_kind = "config_train" if kind == "train" else "config_validation"
    known_globals = load_schema(schema_kind).get("properties", {})
    for key in global_values(raw):
        data[key] = variables[key]
    for key in overrides:
        if key in known_globals and key not in data:
            data[key] = variables[key]
    report.problems.extend(validate(schema_kind, data, shown, skip=is_unresolved))
    components = ComponentChecker(shown, workspace.root, is_unresolved)
    components.check_config(kind, data)
    report.problems.extend(components.problems)
    # The runtime's own checks, run without TensorFlow: globals, then every constructor.
    report.problems.extend(_check_settings(kind, data, variables, shown, is_unresolved,
                                           report.problems))
    built = ConstructorChecker(shown, is_unresolved, [*report.problems, *components.problems],
                               notes=report.notes)
    built.check_config(kind, data)
    report.problems.extend(built.problems)
    network = None
    if kind == "train" and not any(
            p.file == shown and p.json_path.startswith(("train.model", "train.image_pipeline"))
            for p in report.problems):
        problems, network = _check_network_input(data, built, shown)
        report.problems.extend(problems)
        if network is not None:
            report.notes.extend(crop_size_notes(data, network.patch, shown))
        # The network's task (mask or class scores) against the pipeline's, then the loss's.
        mismatch = network_pipeline_problems(built.built, shown)
        report.problems.extend(mismatch or loss_task_problems(built.built, shown))
        report.problems.extend(loss_output_problems(built.built, shown))
        # The first candidate of an AutoML config is its default: keep that one.
        report.network = report.network or network
    if kind == "validation" and report.network is not None and not any(
            p.file == shown and p.json_path.startswith("inferer") for p in report.problems):
        report.problems.extend(_check_roi(built.built.get("inferer"), report.network, shown))
    if kind == "train" and report.network is not None and not any(
            p.file == shown and p.json_path.startswith("validate.inferer")
            for p in report.problems):
        # train's validation runs the same window over the same network after each round.
        report.problems.extend(_check_roi(built.built.get("validate.inferer"), report.network,
                                          shown, "validate.inferer.args.roi_size"))
    flows = _field_flows(kind, data, built.built, shown)
    for flow in flows.values():
        report.problems.extend(flow.problems)
    report.problems.extend(voxel_grid_problems(data, built.built, shown))
    rules = _axis_rules(kind, data, built.built, shown)
    trained = network if kind == "train" else report.network
    input_from = ("train.image_pipeline's output_crop_size / output_data_dims"
                  if kind == "train" else f"the network of {getattr(trained, 'file', '')}")
    for flow, chain_rules in rules.items():
        off = network_axes_problems(chain_rules, getattr(trained, "dims", None), input_from)
        report.problems.extend(off)
        # A rule already refused against the network is not held to every header as well.
        rules[flow] = tuple(r for r in chain_rules
                            if not any(p.json_path == r.json_path for p in off))
    if kind == "train":
        task = _agreed_task(network_task(built.built.get("train.model")),
                            getattr(built.built.get("train.image_pipeline"), "task", None))
        report.problems.extend(metric_task_problems(
            built.built.get("validate.metrics"), "validate.metrics", task, shown, shown))
        report.notes.extend(inferer_task_notes(built.built.get("validate.inferer"),
                                               "validate.inferer", task, shown))
    elif report.network is not None:
        task = _agreed_task(network_task(report.network.network), report.network.task)
        report.problems.extend(metric_task_problems(
            built.built.get("val_metrics"), "val_metrics", task, shown, report.network.file))
        report.problems.extend(metric_class_problems(
            built.built.get("val_metrics"), "val_metrics",
            report.network.network if report.network.classes_given else None, shown,
            report.network.file))
        report.problems.extend(writer_task_problems(
            built.built.get("writers"), task, shown, report.network.file,
            built.built.get("post_transforms")))
        report.problems.extend(mask_writer_problems(
            built.built.get("writers"), report.network.network, shown, report.network.file,
            built.built.get("post_transforms")))
        report.notes.extend(inferer_task_notes(built.built.get("inferer"), "inferer", task,
                                               shown))
    if kind == "train" and report.validate_steps is None:
        # The first candidate of an AutoML config is its default: keep that one.
        report.validate_steps = (shown, image_steps(shown, "validate.pre_transforms",
                                                    built.built.get("validate.pre_transforms")))
    elif kind == "validation" and report.validate_steps is not None:
        train_file, trained = report.validate_steps
        report.notes.extend(preprocessing_notes(
            trained, train_file, image_steps(shown, "pre_transforms",
                                             built.built.get("pre_transforms")), shown))
    if kind == "validation":
        missing = writers_problem(data, report.network, shown)
        if missing is not None:
            report.notes.append(missing.as_note())
    # One note per component name across the MMAR, at its first use: enough to act on.
    noted = {note.message for note in report.notes}
    for note in components.notes:
        if note.message not in noted:
            noted.add(note.message)
            report.notes.append(note)
    uses = _data_uses(workspace, kind, data, variables, shown, is_unresolved,
                      _list_key_origin(workspace, raw, env, overrides, shown))
    if kind == "validation":
        # The metrics' fields that the config's own transforms do not give: the validation
        # list's items must (check_data holds them to it).
        reads, made = metric_reads(data, built.built)
        flow = flows["validation"]
        uses = [replace(use, metric_reads=reads, field_reads=flow.deferred,
                        made_fields=tuple(sorted({*made, *flow.made}))) for use in uses]
    else:
        uses = [_with_train_reads(use, data, built.built, flows) for use in uses]
    uses = [replace(use, axis_rules=rules.get(use.origin[1].split(".")[0] if use.origin[1]
                                               else "validation", ())) for use in uses]
    uses = [_with_loaders(use, built) for use in uses]
    evaluated = network if kind == "train" else report.network  # what validate builds
    uses = [_with_whole_image_rule(use, kind, built, evaluated, shown) for use in uses]
    if kind == "train" and _classes_given(data):
        report.notes.extend(_label_table_notes(workspace, uses, shown))
    if kind == "train":
        report.problems.extend(_onehot_class_label_problems(workspace, uses, built.built, shown))
        report.problems.extend(_class_index_problems(workspace, uses, data, built.built, shown))
    if kind == "validation" and getattr(report.network, "task", None) == "classification":
        # validate scores the items' class labels with this network: held to its classes
        # as the training config's validation pipeline holds them.
        classes = getattr(report.network.network, "num_classes", None)
        uses = [replace(use, class_labels=True,
                        num_classes=classes if isinstance(classes, int) else None)
                for use in uses]
    return uses


def _agreed_task(network: str | None, pipeline: str | None) -> str | None:
    """The task the metrics, writers and inferer are held to: the network's, or the
    pipeline's when the network's is unknown; None when the two disagree (reported once,
    at ``train.model.name``, by :func:`.metric_task.network_pipeline_problems`)."""
    if network is not None and pipeline is not None and network != pipeline:
        return None
    return network or pipeline


def _axis_rules(kind: str, data: dict, built: Mapping[str, Any], shown: str) -> dict:
    """Each flow's transforms that fix a field's number of spatial axes
    (:func:`.spatial_axes.axis_rules`), by flow (``train``, ``validate``, ``validation``)."""
    chains = ({"train": ("train.pre_transforms",), "validate": ("validate.pre_transforms",)}
              if kind == "train" else {"validation": ("pre_transforms", "label_transforms")})
    rules = {}
    for flow, sections in chains.items():
        steps = steps_of(data, built, sections)
        rules[flow] = axis_rules(shown, steps or ())
    return rules


#: What infer's refusal suggests, as written in a validation config.
NIFTI_WRITER = ('{"name": "WriteNifti", "args": {"field": "model", '
                '"write_path": "{MMAR_EVAL_OUTPUT_PATH}"}}')


def writers_problem(data: dict, trained: TrainingNetwork | None, shown: str) -> Problem | None:
    """A validation config without ``writers`` for a segmentation network: validate runs,
    but infer refuses (it writes a classification network's scores to a table itself).
    ``check`` gives it as a note; infer's pre-flight refuses with it. None otherwise, also
    when the training config's network is unknown."""
    if trained is None or trained.task == "classification" or data.get("writers"):
        return None
    return Problem(shown, "writers", "no writers: validate runs, but infer refuses a "
                   f"segmentation output without one (add e.g. {NIFTI_WRITER})")


def _value_fields(built: Mapping[str, Any], pipeline: str) -> tuple[str, ...]:
    """The fields a training config's pipeline takes from the items as values: a
    classification pipeline's ``label`` (a class vector, no file)."""
    return ("label",) if getattr(built.get(pipeline), "task", None) == "classification" else ()


def _field_flows(kind: str, data: dict, built: Mapping[str, Any],
                 shown: str) -> dict[str, FlowResult]:
    """The fields each step reads, followed through each flow of the config
    (:func:`.field_flow.follow`)."""
    if kind != "train":
        return {"validation": follow(shown, "validation", data, built)}
    # A pipeline that was not built (BYOC code, or a problem of its own) may load the
    # images itself: its flow is not followed.
    return {flow: follow(shown, flow, data, built,
                         value_fields=_value_fields(built, f"{flow}.image_pipeline"))
            for flow in ("train", "validate") if built.get(f"{flow}.image_pipeline") is not None}


def _with_train_reads(use: DataUse, data: dict, built: Mapping[str, Any],
                      flows: Mapping[str, FlowResult]) -> DataUse:
    """A training config's data use with the fields its flow reads that no step makes, and
    for the validation pipeline the fields ``validate.metrics`` read (as a validation
    config's ``val_metrics``)."""
    flow = use.origin[1].split(".")[0]
    if flow not in flows:
        return use
    found = flows[flow]
    reads: tuple = ()
    made = set(found.made)
    train = data.get("train")
    aux_ops = train.get("aux_ops") if isinstance(train, dict) else None
    # train's aux ops put their tags in the validation case (make_aux): they may make any
    # field a metric reads, so the metrics are not followed then.
    if flow == "validate" and not aux_ops:
        reads, metric_made = metric_reads(
            data, built, chains=("validate.pre_transforms",), metrics="validate.metrics",
            made=_value_fields(built, "validate.image_pipeline"))
        made.update(metric_made)
    return replace(use, metric_reads=reads, field_reads=found.deferred,
                   made_fields=tuple(sorted(made)))


def _check_settings(kind: str, data: dict, variables: Mapping[str, Any], shown: str,
                    is_unresolved, reported: list[Problem]) -> list[Problem]:
    """The globals as ``train`` (or validate/infer) reads them (run_settings), unless the
    schema check already reported that value or it holds an unresolved placeholder."""
    read, keys = ((read_train_settings, GLOBAL_KEYS) if kind == "train"
                  else (read_eval_settings, EVAL_GLOBAL_KEYS))
    taken = {p.json_path.split(".")[0] for p in reported if p.file == shown}
    values = {k: v for k, v in data.items()
              if k not in taken and not is_unresolved(v) and k in keys}
    fallback = {k: v for k, v in variables.items()
                if k not in taken and not is_unresolved(v) and k in keys}
    problems = []
    while True:  # one problem per global: drop each refused value and read again
        try:
            read(values, fallback, shown)
            return problems
        except ConfigError as error:
            problems.append(Problem.from_error(error))
            key = (error.json_path or "").split(".")[0]
            if key not in values and key not in fallback:
                return problems
            values.pop(key, None)
            fallback.pop(key, None)


def _check_network_input(data: dict, built: ConstructorChecker,
                         shown: str) -> tuple[list[Problem], TrainingNetwork | None]:
    """The input the training pipeline gives (model_io.input_spec) against the network, as
    ``build_network`` checks it before building; and the network, when it takes that input."""
    from mmarctl.runtime.model_io import input_spec

    try:
        dims, channels, patch = input_spec(SimpleNamespace(data=data, file=shown))
    except ConfigError as error:
        return [Problem.from_error(error)], None
    network = built.built.get("train.model")
    if network is None:
        return [], None
    try:
        network.check_input(dims, channels)
    except ConfigError as error:
        return [Problem(shown, "train.model", Problem.from_error(error).message)], None
    # The training step would fail at the first decoder join, with TensorFlow's text.
    off = [size_divisor_problem(patch or (), network, shown,
                                "train.image_pipeline.args.output_crop_size")]
    # A crop transform's size is what reaches the network when it batches the patches.
    steps = (data.get("train") or {}).get("pre_transforms") if isinstance(
        data.get("train"), dict) else None
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        args = step.get("args") if isinstance(step, dict) else None
        size = args.get("size") if isinstance(args, dict) else None
        if (isinstance(size, list) and str(step.get("name", "")).split("#")[0] in CROP_TRANSFORMS
                and all(isinstance(n, int) and not isinstance(n, bool) for n in size)
                and tuple(size) != tuple(patch or ())):  # the same sizes: said once, above
            off.append(size_divisor_problem(size, network, shown,
                                            f"train.pre_transforms[{index}].args.size"))
    task = getattr(built.built.get("train.image_pipeline"), "task", None)
    return [p for p in off if p], TrainingNetwork(shown, network, dims, channels, task,
                                                  _classes_given(data), patch)


def _label_table_notes(workspace: Workspace, uses: list[DataUse], shown: str) -> list[Problem]:
    """The network's classes against the labels table of the training list's datalist,
    where its label values reach the loss as loaded (``label_value_classes``)."""
    for use in uses:
        if use.origin[1].startswith("train.") and use.label_value_classes:
            path = Path(use.datalist)
            return label_table_notes(read_datalist(path), workspace.display(path),
                                     use.label_value_classes, shown)
    return []


def _class_index_problems(workspace: Workspace, uses: list[DataUse], data: dict,
                          built: dict[str, Any], shown: str) -> list[Problem]:
    """``validate.metrics``' ``class_index`` against the training network's classes
    (:func:`.loss_outputs.metric_class_problems`). Without a written ``num_classes`` the
    default is held only where the training labels agree with it (else the data check
    says which ``num_classes`` to set, and the indices are right once it is set)."""
    given, scored = _classes_given(data), built.get("train.model")
    if not given and _label_lengths(workspace, uses) != {getattr(scored, "num_classes", None)}:
        return []
    return metric_class_problems(built.get("validate.metrics"), "validate.metrics", scored,
                                 shown, shown, per_class_fields(built.get("train.aux_ops")),
                                 default=not given)


def _training_labels(workspace: Workspace, uses: list[DataUse]) -> tuple[str, list] | None:
    """The training list (as shown) and its items' ``"label"`` values; None when unread."""
    for use in uses:
        if use.origin[1].startswith("train."):
            datalist = read_datalist(Path(use.datalist))
            items = datalist.get(use.key) if isinstance(datalist, dict) else None
            if not isinstance(items, list):
                return None
            return (f"{workspace.display(Path(use.datalist))}: {use.key}",
                    [item.get("label") if isinstance(item, dict) else None for item in items])
    return None


def _label_lengths(workspace: Workspace, uses: list[DataUse]) -> set:
    """How many values each training class label has (a number: 1; anything else: None)."""
    found = _training_labels(workspace, uses)
    if found is None:
        return {None}
    return {len(v) if isinstance(v, list) else
            1 if isinstance(v, (int, float)) and not isinstance(v, bool) else None
            for v in found[1]}


def _onehot_class_label_problems(workspace: Workspace, uses: list[DataUse],
                                 built: dict[str, Any], shown: str) -> list[Problem]:
    """The training list's class labels against a loss that takes class indices
    (:func:`.loss_outputs.onehot_class_label_problems`)."""
    found = _training_labels(workspace, uses)
    return [] if found is None else onehot_class_label_problems(built, found[1], found[0],
                                                                shown)


def _classes_given(data: dict) -> bool:
    """Whether a training config writes its network's ``num_classes``."""
    train = data.get("train") if isinstance(data.get("train"), dict) else {}
    model = train.get("model") if isinstance(train.get("model"), dict) else {}
    return isinstance(model.get("args"), dict) and "num_classes" in model["args"]


#: Training transforms whose ``size`` is the patch the network is trained on.
CROP_TRANSFORMS = frozenset({"CropByPosNegRatio", "CropFixedSizeRandomCenter",
                             "FastCropByPosNegRatio", "FastPosNegRatioCropROI"})


def size_divisor_problem(sizes: Sequence[int | None], network: Any, file: str,
                         json_path: str) -> Problem | None:
    """A problem at ``json_path`` when a size is not a multiple of the network's size divisor,
    suggesting the nearest sizes that fit; else None. None and entries <= 0 (the whole axis,
    whose size only the image tells) are left as they are."""
    divisor = getattr(network, "size_divisor", 1)
    fixed = [size is not None and size > 0 for size in sizes]
    if not isinstance(divisor, int) or divisor <= 1 or not any(
            is_fixed and size % divisor for size, is_fixed in zip(sizes, fixed)):
        return None
    fitting = [max(divisor, round(size / divisor) * divisor) if is_fixed else size
               for size, is_fixed in zip(sizes, fixed)]
    return Problem(file, json_path, f"every size must be a multiple of {divisor}, the "
                   f"network's size divisor; Received: {list(sizes)} (e.g. {fitting})")


def _check_roi(inferer: Any, trained: TrainingNetwork, shown: str,
               where: str = "inferer.args.roi_size") -> list[Problem]:
    """A sliding window (``roi_size``) held to the training config's network: one entry per
    spatial axis of its input, each a multiple of its size divisor. validate and infer
    would otherwise fail on the first window, naming neither file nor setting."""
    roi = getattr(inferer, "roi_size", None)
    if not isinstance(roi, list):
        return []  # TFSimpleInferer (the whole image), or an inferer that was not built
    if len(roi) != trained.dims:
        return [Problem(shown, where, f"{type(inferer).clara_name}: roi_size has {len(roi)} "
                        f"axes but the network of {trained.file} takes {trained.dims}-D "
                        f"images; Received: roi_size={roi}")]
    off = size_divisor_problem(roi, trained.network, shown, where)
    return [off] if off else []


#: Which transform list feeds the pipeline a datalist setting belongs to.
_CHAINS = {"train.image_pipeline": "train.pre_transforms",
           "validate.image_pipeline": "validate.pre_transforms", "": "pre_transforms"}


def _with_whole_image_rule(use: DataUse, kind: str, built: ConstructorChecker,
                           trained: TrainingNetwork | None, shown: str) -> DataUse:
    """``use`` with the rule that holds its images' sizes to the network, where its pipeline
    gives them to it whole (:mod:`mmarctl.check.whole_images`): a validation config's, or
    the training config's validate section."""
    section = use.origin[1].removesuffix(".args.data_list_file_path")
    evaluates = "validate.image_pipeline" if kind == "train" else ""
    if trained is None or section != evaluates:
        return use
    prefix = "validate." if section else ""
    rule = whole_image_rule(built.built.get(f"{prefix}inferer"),
                            built.built.get(f"{prefix}pre_transforms"), trained.network,
                            trained.dims, (shown, f"{prefix}inferer"), trained.file)
    return replace(use, whole_image=rule) if rule else use


def _with_loaders(use: DataUse, built: ConstructorChecker) -> DataUse:
    """``use`` with the fields its pipeline's loaders read and the channels it expects."""
    section = use.origin[1].removesuffix(".args.data_list_file_path")
    chain = built.built.get(_CHAINS.get(section, ""))
    if not isinstance(chain, list):
        return use
    reads = tuple(fields_read([t for t in chain if t is not None]).items())
    # A validation config's labels are loaded by label_transforms (validate runs them).
    labels = built.built.get("label_transforms") if not section else None
    label_reads = (tuple(fields_read([t for t in labels if t is not None]).items())
                   if isinstance(labels, list) else ())
    pipeline = built.built.get(section) if section else None
    channels = getattr(pipeline, "image_channels", None)
    # Channels are compared only when every transform was built and none changes them,
    # here or in the training chain: a validate chain lacking train's AddExtremePointsChannel
    # is the chain's mistake (field_flow's line), not its 1-channel files'.
    trained = built.built.get("train.pre_transforms")
    if (None in chain or any(type(t).clara_name in CHANNEL_CHANGING for t in chain)
            or not section or isinstance(trained, list) and any(
                type(t).clara_name in CHANNEL_CHANGING for t in trained if t is not None)):
        channels = None
    # Class labels are held to the network's outputs; a validation config's network comes
    # from its model loader, which check does not build, so they are not compared there.
    num_classes = getattr(built.built.get("train.model"), "num_classes", None) if section else None
    # Fields a LoadNifti reorients to RAS+ (as_closest_canonical): an image and its label
    # are compared as the pipeline sees them.
    loaders = [t for t in chain + (labels if isinstance(labels, list) else []) if t is not None]
    reoriented = tuple(field for t in loaders if getattr(t, "as_closest_canonical", False)
                       for field in getattr(t, "fields", ()))
    # Label voxels are held to the classes where the run holds them: a segmentation
    # pipeline whose chain hands the loss the values as loaded.
    value_classes = (num_classes if isinstance(num_classes, int) and num_classes > 0
                     and getattr(pipeline, "task", None) == "segmentation"
                     and keeps_label_values(chain) else None)
    # One-hot label files are held to the loss's channels where nothing changes the label.
    loss = built.built.get("train.loss") if section.startswith("train.") else None
    onehot = (num_classes if isinstance(num_classes, int) and num_classes > 1
              and getattr(type(loss), "clara_name", "") in CLASS_INDEX_LOSSES
              and getattr(loss, "is_onehot_targets", False) is True
              and keeps_label_values(chain) else None)
    return replace(use, reads=reads, image_channels=channels, label_reads=label_reads,
                   reoriented=reoriented, label_value_classes=value_classes,
                   onehot_label_channels=onehot,
                   num_classes=num_classes if isinstance(num_classes, int) else None)


#: ``--set`` keys mmarctl itself reads from the variables (mmarctl/tracking/settings.py).
MMARCTL_SET_KEYS = frozenset({"tracking", "tracking_experiment", "MLFLOW_TRACKING_URI"})

#: Common ``--set`` slips that no spelling distance finds: what the user meant.
_MEANT = {
    "lr": "learning_rate, or the --lr option of train and finetune",
    "learning-rate": "learning_rate, or the --learning-rate option of train and finetune",
    "epoch_num": "epochs, or the --epochs option", "num_epochs": "epochs, or the --epochs option",
    "max_epochs": "epochs, or the --epochs option", "n_epochs": "epochs, or the --epochs option",
    "seed": "determinism, or the --seed option of train", "amp": "use_amp, or the --amp option",
    "gpus": "the --gpus option of train", "batch_size": "the image pipeline's batch_size arg",
}

#: Config files larger than this are not read for the keys they name (a datalist kept in
#: config/ can be large; configs are a few kB).
_KEY_SCAN_LIMIT = 1 << 20


def _keys_read(raw: Any) -> set[str]:
    """The ``--set`` keys a config file reads: its top-level keys and its placeholders."""
    if not isinstance(raw, dict):
        return set()
    return set(raw) | {var for _, var in iter_placeholders(raw)}


def _keys_read_elsewhere(workspace: Workspace, read: list[Path]) -> set[str]:
    """The keys the other JSON files of config/ read: a key that only another verb's config
    reads (a script passing one ``--set`` to train and validate) is not a mistake."""
    keys: set[str] = set()
    seen = {p.resolve() for p in read}
    try:
        others = sorted(workspace.config_dir.glob("*.json"))
    except OSError:
        return keys
    for path in others:
        try:
            if path.resolve() in seen or path.stat().st_size > _KEY_SCAN_LIMIT:
                continue
        except OSError:
            continue
        keys |= _keys_read(_json_object(path))
    return keys


def check_overrides(overrides: Mapping[str, Any], env: Mapping[str, Any],
                    configs: list[tuple[str, Path]], workspace: Workspace) -> list[Problem]:
    """A ``--set`` key that nothing reads: a typo (``epoch``), or a name of another tool
    (``lr``); ``--set`` would change nothing and the run would go on at the config's value.

    Read are: the keys Clara's scripts pass, mmarctl's own (tracking), environment.json's
    keys (present or in its schema), the globals of the configs' schemas, and the top-level
    keys and ``{VAR}`` placeholders of the configs (``configs`` and the rest of config/).
    """
    if not overrides:
        return []
    own = set(SCRIPT_SET_KEYS) | MMARCTL_SET_KEYS | set(env)
    for name in ("config_train", "config_validation", "environment"):
        own.update(load_schema(name).get("properties", {}))
    in_configs: set[str] = set()
    for _, path in configs:
        try:
            raw = load_json(path)
        except ConfigError:
            continue  # already reported
        in_configs |= _keys_read(raw)
    known = own | in_configs
    unknown = [key for key in overrides if key not in known]
    if unknown:
        known |= _keys_read_elsewhere(workspace, [p for _, p in configs])
    import difflib

    from mmarctl.nvmidl_shim.set_keys import CLARA_RUNTIME_KEYS

    problems = []
    by_lower = {name.lower(): name for name in sorted(known)}
    for key in unknown:
        if key in known:
            continue
        if key.lower() in by_lower:  # EPOCHS for epochs: keys are case-sensitive
            problems.append(Problem("--set", key, f"{key} is read by no config (did you mean "
                                    f"{by_lower[key.lower()]}? names are case-sensitive)"))
            continue
        if key in CLARA_RUNTIME_KEYS:  # Clara's own switch, not a near miss of a key
            problems.append(Problem("--set", key, (
                f"{key} is a Clara runtime key mmarctl has no use for "
                f"({CLARA_RUNTIME_KEYS[key]}); leave it out")))
            continue
        close = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=0.75)
        if key.lower() in _MEANT:
            hint = f"did you mean {_MEANT[key.lower()]}?"
        elif close:
            hint = f"did you mean {by_lower[close[0]]}?"
        else:
            # Nothing close: name what can be set, the globals and placeholders first.
            keys = sorted(k for k in in_configs | set(env) if not k.startswith("_")
                          and not _is_section(k))
            hint = ("keys read here: " + ", ".join(keys[:12]) + (", ..." if len(keys) > 12
                                                                 else ""))
        problems.append(Problem("--set", key, f"{key} is read by no config, so it would "
                                f"change nothing ({hint})"))
    return problems


def _is_section(key: str) -> bool:
    """A config section (train, validate, pre_transforms ...), not a value --set can set."""
    return key in {"train", "validate", "model_loader", "inferer", "pre_transforms",
                   "label_transforms", "post_transforms", "val_metrics", "writers", "search",
                   "learning_rate_search_space"}


def _report_unresolved(raw: dict, variables: Mapping[str, Any], shown: str,
                       report: CheckReport) -> set[str]:
    import difflib

    unresolved: set[str] = set()
    for json_path, name in iter_placeholders(raw):
        if name in variables:
            continue
        unresolved.add(name)
        close = difflib.get_close_matches(name, [k for k in variables if k != "MMAR_ROOT"], n=1)
        hint = (f"did you mean {{{close[0]}}}?" if close else
                f"define {name} in config/environment.json or pass --set {name}=...")
        report.problems.append(Problem(shown, json_path,
                                       f"unresolved placeholder {{{name}}} ({hint})"))
    return unresolved


def _list_key_origin(workspace: Workspace, data: dict, env: Mapping[str, Any],
                     overrides: Mapping[str, Any], shown: str) -> str:
    """Where a validation config's ``DATA_LIST_KEY`` comes from, in the order it is read:
    the config's own global, ``--set``, environment.json; empty for the default."""
    for source, values in ((shown, data), ("--set", overrides),
                           (workspace.display(workspace.config_path("environment.json")), env)):
        if isinstance(values, Mapping) and values.get("DATA_LIST_KEY"):
            return f"DATA_LIST_KEY={values['DATA_LIST_KEY']!r} (from {source}) selects it"
    return ""


#: mmarctl's losses whose labels are class indices unless ``is_onehot_targets`` is true.
CLASS_INDEX_LOSSES = frozenset({"Dice", "Focal"})


def _takes_class_index_labels(data: dict) -> bool:
    """Whether a training config's loss takes one-channel class-index labels, with no
    transform that changes channels before it (then a several-channel label file is
    refused by the loss in the first step)."""
    train = data.get("train") if isinstance(data.get("train"), dict) else {}
    loss = train.get("loss")
    if not isinstance(loss, dict) or str(loss.get("name", "")).split("#")[0] \
            not in CLASS_INDEX_LOSSES:
        return False
    args = loss.get("args") if isinstance(loss.get("args"), dict) else {}
    if args.get("is_onehot_targets", False) is not False:
        return False
    steps = train.get("pre_transforms") if isinstance(train.get("pre_transforms"), list) else []
    return not any(isinstance(step, dict) and str(step.get("name", "")).split("#")[0]
                   in CHANNEL_CHANGING for step in steps)


def skips_bad_cases(data: dict, variables: Mapping[str, Any]) -> bool:
    """Whether the run leaves unusable cases out (``skip_bad_cases``, from the config, else
    the variables); a value that is no boolean is the globals check's to report."""
    from mmarctl.runtime import argcheck

    value = data.get("skip_bad_cases", variables.get("skip_bad_cases", False))
    try:
        return argcheck.as_bool(value, component="", arg="skip_bad_cases")
    except ConfigError:
        return False


def _data_uses(workspace: Workspace, kind: str, data: dict, variables: Mapping[str, Any],
               shown: str, is_unresolved, key_origin: str = "") -> list[DataUse]:
    def usable(value: Any) -> bool:
        return isinstance(value, str) and bool(value) and not is_unresolved(value)

    uses: list[DataUse] = []
    if kind == "train":
        for section, default_key in _DEFAULT_KEYS.items():
            group, _, name = section.partition(".")
            spec = (data.get(group) or {}).get(name) if isinstance(data.get(group), dict) else None
            args = spec.get("args") if isinstance(spec, dict) else None
            if not isinstance(args, dict) or not usable(args.get("data_list_file_path")):
                continue
            base = args.get("data_file_base_dir")
            key = args.get("data_list_key") if isinstance(args.get("data_list_key"), str) else default_key
            uses.append(DataUse(
                workspace.resolve_path_value("DATASET_JSON", args["data_list_file_path"]),
                # "" (or no data_file_base_dir): the datalist's folder, as the pipeline reads it
                workspace.resolve_path_value("DATA_ROOT", base) if usable(base)
                else "" if base in (None, "") else None,
                key, (shown, f"{section}.args.data_list_file_path"),
                (shown, f"{section}.args.data_file_base_dir"),
                class_index_labels=section.startswith("train.")
                and _takes_class_index_labels(data),
                skip_bad_cases=skips_bad_cases(data, variables)))
        return uses
    datalist, base = variables.get("DATASET_JSON"), variables.get("DATA_ROOT")
    key = data.get("DATA_LIST_KEY") or variables.get("DATA_LIST_KEY") or "validation"
    # An unset DATASET_JSON is reported by check_data (as ""), so that infer --input, which
    # reads no datalist, can leave the data checks out.
    uses.append(DataUse(str(datalist) if usable(datalist) else "",
                        str(base) if usable(base) else "" if base == "" else None, str(key),
                        (shown, ""), (shown, ""),
                        key_origin=key_origin))
    return uses
