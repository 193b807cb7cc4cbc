"""The pre-flight of validate, infer and export: ``check``'s own findings, scoped to a verb.

``train`` refuses with the first problem ``check_mmar`` finds in its config
(:func:`mmarctl.runtime.plan.check_config`). validate, infer and export read parts of
several files: the validation config, the network that the training config describes
(CheckpointLoader and export build it), a few globals, the validation list and its images.
The functions here run the very checks of ``mmarctl check`` (:mod:`.mmar`, :mod:`.data`) on
those files and keep what the verb reads, so a refusal is the line ``check`` prints (same
file, JSON path and message). They import no TensorFlow: the verbs call them first, so a
config mistake costs no TensorFlow start-up.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from mmarctl.check.data import check_data
from mmarctl.check.images import CHANNEL_CHANGING
from mmarctl.check.models import loader_problems, model_findings
from mmarctl.check.output_folders import eval_folder_unwritable, output_folder_problems
from mmarctl.check.mmar import (CLARA4_MESSAGE, CheckReport, TrainingNetwork, check_config_file,
                                config_file_problem,
                                check_overrides, given_config_path, read_environment,
                                skips_bad_cases)
from mmarctl.errors import ConfigError, RuntimeFailure
from mmarctl.jsonio import load_json
from mmarctl.problems import ERROR, Problem, more_problems
from mmarctl.shell_words import shell_word
from mmarctl.workspace import Workspace

#: The training pipeline's arguments that the network's input is read from
#: (:func:`mmarctl.runtime.model_io.input_spec`).
INPUT_ARGS = ("output_crop_size", "output_data_dims", "output_image_channels")
#: The JSON paths on the way to ``train.model`` -> the key each must hold.
_ON_THE_WAY = {"$": '"train"', "train": '"model"'}


def evaluation_problems(workspace: Workspace, overrides: Mapping[str, Any], *, config: str,
                        train_config: str, labels: bool = True, datalist: bool = True,
                        train_amp: bool = False, model: str | None = None) -> list[Problem]:
    """What validate (``labels``) or infer would refuse before compute, as ``check`` says it.

    Args:
        workspace: the MMAR.
        overrides: ``--set`` values (and those the verb adds, e.g. ``do_validation``).
        config: the validation config (all of it is checked, as ``check`` does).
        train_config: the training config; only the network it describes (and the input it
            is built for) is checked, and only when the file exists.
        labels: the validation list's items must have the fields ``label_transforms`` read
            (validate); infer reads no labels.
        datalist: check ``DATASET_JSON``, its items and their NIfTI headers (False for
            ``infer --input``, which reads given files instead).
        train_amp: the training config's ``use_amp`` is read too (a checkpoint model and a
            validation config that sets none).
        model: ``--model`` (ckpt, fzn, onnx), else None for the config's ``model_loader``:
            the model file it reads is held to what ``check`` says of it.
    """
    if workspace.clara_major_version() == 4:
        return [Problem(str(workspace.root), "", CLARA4_MESSAGE)]
    report = CheckReport()
    env = read_environment(workspace, report)
    # The folders they write or read (before the lock creates them, e.g. a Clara container
    # path at /): check's lines, and their fix before a model missing there.
    report.problems.extend(output_folder_problems(workspace, env, overrides))
    # An eval/ (or --output) they cannot write: check's line, not the lock file's later.
    report.problems.extend(eval_folder_unwritable(workspace, env, overrides, severity=ERROR))
    path = given_config_path(workspace, config)
    train_path = workspace.config_path(train_config)
    network_problems: list[Problem] = []
    if train_path.is_file():
        # The network first: the validation config's inferer is held to it, as check does.
        network_problems, report.network = _network_problems(
            workspace, train_path, env, overrides, ("use_amp",) if train_amp else ())
    uses = check_config_file(workspace, "validation", path, env, dict(overrides), report)
    if not labels:
        # infer: check's note on a config without writers is infer's refusal.
        report.problems.extend(replace(note, severity=ERROR) for note in report.notes
                               if note.json_path == "writers" and note.file == str(
                                   workspace.display(path)) and "infer refuses" in note.message)
    configs = [("validation", path)]
    channel_lines: list[Problem] = []
    if train_path.is_file():
        configs.append(("train", train_path))
        report.problems.extend(network_problems)
        # A chain that changes channels otherwise than training: the config's line, not
        # one blaming the list's image files (they hold the training files' channels).
        channel_lines = chain_channel_problems(workspace, train_path, path)
        report.problems.extend(channel_lines)
        report.problems.extend(writer_axes(workspace, path, report.network))
    report.problems.extend(check_overrides(overrides, env, configs, workspace))
    if datalist:
        if not labels:  # infer: no label_transforms, no metrics
            uses = [replace(use, label_reads=(), metric_reads=(), class_labels=False)
                    for use in uses]
        channels = _network_channels(train_path, path) if not channel_lines else None
        if channels is not None:
            uses = [replace(use, image_channels=use.image_channels or channels)
                    for use in uses]
        if labels and train_path.is_file():
            uses = with_label_values(workspace, uses, train_path, path, report.network,
                                     {**env, **overrides})
        report.problems.extend(check_data(uses, workspace.display)[0])
    try:
        read = _loader_files(workspace, overrides, config, model)
    except RuntimeFailure as missing:  # --model fzn/onnx naming a file not exported yet
        report.problems.append(Problem.from_error(missing))
        read = []
    report.problems.extend(_missing_models(workspace, read))
    report.problems.extend(model_findings(workspace, env, train_config=train_config,
                                          only=read, network=report.network)[1])
    # The loader against the file it reads (its kind, a frozen graph's output node, a
    # fixed input size against the inferer's roi_size): check's lines, before TensorFlow.
    report.problems.extend(loader_problems(workspace, overrides, config, model))
    return list(dict.fromkeys(report.problems))


def export_problems(workspace: Workspace, overrides: Mapping[str, Any], *,
                    config: str) -> list[Problem]:
    """What export would refuse in the training config before compute: the network entry,
    the input it is built for and ``dynamic_input_shape``, as ``check`` says it."""
    if workspace.clara_major_version() == 4:
        return [Problem(str(workspace.root), "", CLARA4_MESSAGE)]
    report = CheckReport()
    # environment.json's values are used; its other settings' problems are left to check.
    env = read_environment(workspace, CheckReport())
    path = given_config_path(workspace, config)
    unusable = config_file_problem(workspace, "train", path)  # check's line, trn_base.json hint
    if unusable is not None:
        return [unusable]
    report.problems.extend(_network_problems(workspace, path, env, overrides,
                                             ("dynamic_input_shape",))[0])
    report.problems.extend(check_overrides(overrides, env, [("train", path)], workspace))
    return list(dict.fromkeys(report.problems))


def model_file_problems(workspace: Workspace, overrides: Mapping[str, Any], source: Path, *,
                        config: str, weights_only: bool = False) -> list[Problem]:
    """What ``check`` says of the model file export reads (``source``: a checkpoint prefix
    or a frozen graph): damaged, or made for another network than the training config
    ``config`` describes. ``weights_only``: finetune's view (see :func:`.models.model_findings`)."""
    if workspace.clara_major_version() == 4:
        return [Problem(str(workspace.root), "", CLARA4_MESSAGE)]
    env = read_environment(workspace, CheckReport())
    path = given_config_path(workspace, config)
    network = (_network_problems(workspace, path, env, overrides, ())[1] if path.is_file()
               else None)
    return model_findings(workspace, env, train_config=config, only=[source],
                          network=network, weights_only=weights_only)[1]


def check_model_file(workspace: Workspace, overrides: Mapping[str, Any], source: Path, *,
                     config: str, weights_only: bool = False) -> None:
    """Refuse with the first of :func:`model_file_problems` (same arguments).

    Raises:
        ConfigError: ``check``'s line for the model file.
    """
    refuse(model_file_problems(workspace, overrides, source, config=config,
                               weights_only=weights_only))


def check_evaluation(workspace: Workspace, overrides: Mapping[str, Any], **scope: Any) -> None:
    """Refuse with the first of :func:`evaluation_problems` (same arguments).

    Raises:
        ConfigError: ``check``'s line for the first problem.
    """
    refuse(evaluation_problems(workspace, overrides, **scope))


def require_usable_config(workspace: Workspace, kind: str, config: str) -> None:
    """Refuse, in ``check``'s words, a ``kind`` ("train" or "validation") config the command
    line names that cannot be one: missing (naming the MMAR's other configs, such as Clara's
    trn_base.json), a federated-learning config, or a config of the other kind.

    Raises:
        ConfigError: that one line.
    """
    unusable = config_file_problem(workspace, kind, given_config_path(workspace, config))
    refuse([unusable] if unusable is not None else [])


def check_export(workspace: Workspace, overrides: Mapping[str, Any], *, config: str) -> None:
    """Refuse with the first of :func:`export_problems`.

    Raises:
        ConfigError: ``check``'s line for the first problem.
    """
    refuse(export_problems(workspace, overrides, config=config))


def refuse(problems: list[Problem]) -> None:
    """Raise the first problem as a ConfigError that prints as ``check``'s line.

    Raises:
        ConfigError: when there is any problem; the count of the others is appended.
    """
    if not problems:
        return
    first = problems[0]
    # Problem.message already carries the hint, so the error's text is the problem's line.
    raise ConfigError(first.message + more_problems(problems), file=first.file or None,
                      json_path=first.json_path or None)


def _network_problems(workspace: Workspace, path: Path, env: dict[str, Any],
                      overrides: Mapping[str, Any], globals_read: Iterable[str]
                      ) -> tuple[list[Problem], TrainingNetwork | None]:
    """``check``'s problems in a training config that concern building its network, and
    the network when it was built without them.

    The whole config is checked as ``check`` does (a problem's wording may depend on what
    else was found), then only what the network is built from is kept: the file itself
    (unreadable, not an object, no ``train`` or ``train.model``; not another missing key
    such as ``epochs`` or ``train.loss``), ``train.model``, the pipeline arguments the input
    is read from, and ``globals_read``. Its data lists are not read.
    """
    try:  # a file the verb cannot read at all is said first, before anything else it lacks
        load_json(path, shown_as=workspace.display(path))
    except ConfigError as unreadable:
        return [Problem.from_error(unreadable)], None
    report = CheckReport()
    check_config_file(workspace, "train", path, env, dict(overrides), report)
    wanted = set(globals_read)
    return [p for p in report.problems if _builds_network(p, wanted)], report.network


def _missing_models(workspace: Workspace, read: list[Path]) -> list[Problem]:
    """The model files validate or infer would read that are not there (an MMAR not trained
    yet): one line before TensorFlow starts, not the loader's after it."""
    from mmarctl.runtime.checkpoint import checkpoint_prefix

    if any(path.exists() or checkpoint_prefix(path) is not None for path in read):
        return []  # one there is enough: model.trt.pb's loader falls back to model.fzn.pb
    problems = []
    for path in read[:1]:
        if path.suffix == ".ckpt" and not Path(f"{path}.meta").exists():
            # MMAR_CKPT is finetune's; validate and infer read the folder MMAR_CKPT_DIR names.
            message = ("no model checkpoint here: validate and infer read it (train first: "
                       f"`mmarctl train {shell_word(workspace.root)}`, or point MMAR_CKPT_DIR at the "
                       "folder that holds one: --set MMAR_CKPT_DIR=FOLDER)")
        elif path.suffix == ".ckpt":
            continue  # a TF1 graph without its weights: model_findings says so
        else:
            message = ("not found: validate and infer read this model file (export it first: "
                       f"`mmarctl export {shell_word(workspace.root)}`, or choose another with --model)")
        problems.append(Problem(workspace.display(path), "", message))
    return problems


def _loader_files(workspace: Workspace, overrides: Mapping[str, Any], config: str,
                  model: str | None) -> list[Path]:
    """The model files validate or infer will read: the checkpoint prefix of a
    CheckpointLoader, the graph of a FrozenGraphModelLoader (and ``model.fzn.pb`` beside a
    ``model.trt.pb`` that is missing or a TF-TRT graph, which the loader reads instead).
    Empty when the loader cannot be told before running (its own problems are reported by
    the config checks, or the verb says what is missing).

    Raises:
        RuntimeFailure: ``--model`` names a model file that is not there."""
    from mmarctl.check.constructors import ConstructorChecker
    from mmarctl.errors import MmarError
    from mmarctl.model_files import scan_model
    from mmarctl.runtime.checkpoint import checkpoint_prefix
    from mmarctl.runtime.evaluation import model_loader_entry
    from mmarctl.runtime.model_loaders.frozen_graph import (FROZEN_GRAPH, TRT_GRAPH,
                                                           resolve_model_file)

    try:
        resolved = workspace.resolve(config, dict(overrides))
        entry = model_loader_entry(workspace, resolved, model)
    except RuntimeFailure:
        raise
    except MmarError:  # the config checks report it
        return []
    loader = ConstructorChecker(resolved.file).build("model_loaders", entry, "model_loader")
    if hasattr(loader, "prefix"):  # CheckpointLoader; after an interrupted save, the backup
        prefix = loader.prefix(workspace)
        return [Path(checkpoint_prefix(prefix) or prefix)]
    if not isinstance(getattr(loader, "model_file_path", None), str):
        return []  # a BYOC loader
    path = resolve_model_file(loader.model_file_path, workspace)
    if path.name == TRT_GRAPH:
        item = scan_model(path)
        if item is None or item.kind == "tftrt_graph":
            return [path, path.with_name(FROZEN_GRAPH)]
    return [path]


def _network_channels(train_path: Path, validation_path: Path) -> int | None:
    """The image channels the network takes (the training pipeline's
    ``output_image_channels``), to hold the validation list's images against; None when
    unknown or when a pre_transform of either chain changes channels.

    A validation config has no pipeline of its own, so ``check`` compares its list's channels
    through the training config's validation pipeline; validate and infer read that list
    through the validation config, and compare it here with the network the same way, so
    the refusal is ``check``'s line instead of a network failure after the model is loaded.
    """
    from mmarctl.runtime.model_io import input_spec

    try:
        channels = input_spec(load_json(train_path))[1]
        pre = load_json(validation_path).get("pre_transforms") or []
        trained = (load_json(train_path).get("train") or {}).get("pre_transforms") or []
    except Exception:  # an unreadable or malformed config: reported by the checks above
        return None
    if not isinstance(pre, list) or not isinstance(trained, list):
        return None
    names = {str(t.get("name") or t.get("ref") or "").split("#")[0]
             for t in [*pre, *trained] if isinstance(t, dict)}
    # A channel-changing transform in either chain: the files do not hold the network's
    # channels (the chains' agreement is chain_channel_problems's).
    if not isinstance(channels, int) or names & CHANNEL_CHANGING:
        return None
    return channels


def with_label_values(workspace: Workspace, uses: list, train_path: Path,
                      validation_path: Path, network: TrainingNetwork | None,
                      variables: Mapping[str, Any] | None = None) -> list:
    """The validation config's data uses with their label files held to the training
    network's classes through the config's own label_transforms, as validate holds them
    (:func:`.label_values.validation_label_values`); ``uses`` unchanged when not held."""
    from mmarctl.check.label_values import validation_label_values

    if network is None:
        return uses
    try:
        train, validation = load_json(train_path), load_json(validation_path)
    except Exception:  # an unreadable or malformed config: reported by the checks above
        return uses
    if not isinstance(train, dict) or not isinstance(validation, dict):
        return uses
    held = validation_label_values(
        validation, str(workspace.display(validation_path)), train,
        str(workspace.display(train_path)), getattr(network.network, "num_classes", None),
        network.task)
    if held is None:
        return uses
    # As validate reads it: the config's own global, else environment.json or --set.
    skips = skips_bad_cases(validation, variables or {})
    return [replace(use, **held, skip_bad_cases=use.skip_bad_cases or skips) for use in uses]


def writer_axes(workspace: Workspace, path: Path,
                 network: TrainingNetwork | None) -> list[Problem]:
    """:func:`.spatial_axes.writer_axes_problems` of the validation config's writers as
    written (WritePng of a 3-D network), before the model is loaded."""
    from types import SimpleNamespace

    from mmarctl.check.spatial_axes import writer_axes_problems

    try:
        writers = load_json(path).get("writers")
    except Exception:  # an unreadable or malformed config: reported by the checks above
        return []
    if network is None or not isinstance(writers, list):
        return []
    written = [SimpleNamespace(clara_name=str(w.get("name", "")).split("#")[0],
                               field=(w.get("args") or {}).get("field", "model"))
               if isinstance(w, dict) and isinstance(w.get("args", {}), dict) else None
               for w in writers]
    return writer_axes_problems(written, network.dims, str(workspace.display(path)),
                                network.file)


def chain_channel_problems(workspace: Workspace, train_path: Path,
                            validation_path: Path) -> list[Problem]:
    """:func:`.field_flow.validation_channel_problems` of the two configs as written."""
    from mmarctl.check.field_flow import validation_channel_problems
    from mmarctl.runtime.model_io import input_spec

    try:
        train = load_json(train_path)
        channels = input_spec(train)[1]
        validation = load_json(validation_path)
    except Exception:  # an unreadable or malformed config: reported by the checks above
        return []
    if not isinstance(train, dict) or not isinstance(validation, dict):
        return []
    return validation_channel_problems(train, str(workspace.display(train_path)), validation,
                                       str(workspace.display(validation_path)), channels)


def _builds_network(problem: Problem, globals_read: set[str]) -> bool:
    where = problem.json_path
    if where == "" or where.split(".")[0].split("[")[0] in globals_read:
        return True  # the file cannot be read, or a global the verb reads
    if where in _ON_THE_WAY:
        # Not an object, or a required key missing: only the key leading to train.model
        # counts (a config without "epochs" or "train.loss" still describes its network).
        missing = problem.message.startswith("missing required key")
        return not missing or _ON_THE_WAY[where] in problem.message
    if where == "train.model" or where.startswith(("train.model.", "train.model[")):
        return True
    if where in {f"train.image_pipeline.args.{arg}" for arg in INPUT_ARGS}:
        return True
    # The pipeline's constructor refuses a bad input argument at the pipeline's own path.
    return where == "train.image_pipeline" and any(arg in problem.message for arg in INPUT_ARGS)

