"""The model files of an MMAR as ``check`` reports them, and those one verb reads.

Every artifact in ``MMAR_CKPT_DIR`` is described by :mod:`mmarctl.model_files` from its
bytes (no TensorFlow): one note each, saying what it is and what each verb can do with it,
and a problem for one that validate, infer or export would refuse (a corrupt TF1 ``.meta``
or frozen graph, a graph taking another channel count than the training pipeline gives).
``check`` reports them for the whole folder; the verbs' pre-flight
(:mod:`.preflight`) for the files the verb is about to read, with the same line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from mmarctl.errors import RuntimeFailure
from mmarctl.jsonio import load_json
from mmarctl.problems import NOTE, Problem
from mmarctl.shell_words import shell_word
from mmarctl.workspace import TRAIN_CONFIG, Workspace

if TYPE_CHECKING:
    from mmarctl.check.mmar import TrainingNetwork


def model_findings(workspace: Workspace, env: Mapping[str, Any], *,
                   train_config: str = TRAIN_CONFIG, only: Iterable[Path] | None = None,
                   network: TrainingNetwork | None = None,
                   weights_only: bool = False) -> tuple[list[Problem], list[Problem]]:
    """``(notes, problems)``: one note per model artifact, one problem per artifact a verb
    would refuse.

    Args:
        workspace: the MMAR.
        env: ``environment.json``'s values (its ``MMAR_CKPT_DIR``).
        train_config: the training config the data's layout and channels are read from.
        only: the files a verb reads (checkpoint prefixes, graph files): those artifacts
            instead of the whole ``MMAR_CKPT_DIR``.
        network: the training config's network (when it was checked without problems):
            mmarctl's checkpoints are loaded into it, so one written for another network
            is a problem.
        weights_only: only what stops reading the weights into that network (finetune
            reads a TF1 checkpoint's variables, not its graph): a damaged checkpoint, or
            mmarctl's written for another network.
    """
    from mmarctl.model_files import scan_model, scan_models
    from mmarctl.model_files.inventory import describe_item, problem_file

    data_format, channels = _data_layout(workspace, train_config)
    if only is None:
        items = scan_models(checkpoint_folder(workspace, env), data_format, channels)
    else:
        found = (scan_model(path, data_format, channels) for path in dict.fromkeys(only))
        items = [item for item in found if item is not None]
    if network is not None:
        for item in items:
            _hold_to(item, network)
            _hold_shapes(item, network)
    # an unreadable file's problem already says all its note would (said once, not twice)
    notes = [Problem(workspace.display(item.path), "", describe_item(item), NOTE)
             for item in items if not (item.kind == "unreadable" and item.problem)]
    if only is None:
        notes.extend(_unwritable_note(workspace, checkpoint_folder(workspace, env)))
        notes.extend(_manifest_note(workspace, checkpoint_folder(workspace, env)))
        if not items:  # an MMAR not trained yet: say what that means for the other verbs
            shown = workspace.display(checkpoint_folder(workspace, env))
            notes.append(Problem(shown, "", f"no model in {shown}/ yet: validate, infer, "
                                 "export and finetune need one (train first)", NOTE))
    problems = [Problem(workspace.display(problem_file(item)), "", item.problem)
                for item in items if item.problem and (
                    not weights_only or item.damaged or item.kind == "tf2_checkpoint")]
    return notes, problems


def loaded_model_problems(workspace: Workspace, overrides: Mapping[str, Any],
                          configs: Iterable[Path], *,
                          network: TrainingNetwork | None = None) -> list[Problem]:
    """The problems of the model files that the validation ``configs``' ``model_loader``
    reads (a truncated checkpoint, a graph that is not one), as validate's pre-flight
    (:func:`.preflight.evaluation_problems`) refuses them: ``check --config X`` asks
    whether ``validate --config X`` will run. A model not there yet is not one of them
    (checking a validation config before training is common; the note says so)."""
    problems = []
    for _config, read in _files_loaders_read(workspace, overrides, configs):
        problems.extend(model_findings(workspace, {}, only=read, network=network)[1])
    return problems


def _files_loaders_read(workspace: Workspace, overrides: Mapping[str, Any],
                        configs: Iterable[Path]) -> Iterable[tuple[Path, list[Path]]]:
    """Each validation config with the model files its ``model_loader`` reads, as the verbs'
    pre-flight finds them (:func:`.preflight._loader_files`); a config that cannot be
    resolved is left out (the config checks report it)."""
    from mmarctl.check.preflight import _loader_files
    from mmarctl.errors import MmarError

    for config in configs:
        try:
            read = _loader_files(workspace, overrides, str(config), None)
        except MmarError:
            continue
        yield config, read


def loader_notes(workspace: Workspace, overrides: Mapping[str, Any],
                 configs: Iterable[Path]) -> list[Problem]:
    """One note per validation config whose ``model_loader`` reads a model file that is not
    there while ``MMAR_CKPT_DIR`` holds some model: after ``train``, Clara's
    config_validation.json names ``model.trt.pb`` (read as ``model.fzn.pb``), which only
    ``export`` writes, so validate and infer with it would refuse. The files are those the
    verbs' pre-flight reads (:func:`.preflight._loader_files`); before any training the
    "no model yet" note says it for every config."""
    from mmarctl.runtime.checkpoint import checkpoint_prefix

    notes = []
    for config, read in _files_loaders_read(workspace, overrides, configs):
        if not read or any(p.exists() or checkpoint_prefix(p) is not None for p in read):
            continue
        shown = workspace.display(config)
        files = " or ".join(p.name for p in read)
        if read[0].suffix == ".ckpt":
            todo = f"train first: `mmarctl train {shell_word(workspace.root)}`"
        else:
            todo = f"run `mmarctl export {shell_word(workspace.root)}` first, or pass --model ckpt"
        notes.append(Problem(workspace.display(read[0]), "", f"not there yet: {shown}'s "
                             f"model_loader reads {files}, so validate and infer with it "
                             f"refuse ({todo})", NOTE))
    return notes


def _hold_to(item: Any, trained: TrainingNetwork) -> None:
    """Mark a TF2 checkpoint written for another network than ``trained`` (another
    num_classes, input channels or dimensions): validate, infer, export and finetune load
    it into that network, and TensorFlow refuses the shapes after its start-up."""
    from mmarctl.model_files.inventory import CheckpointNetwork

    found = item.network
    if item.kind != "tf2_checkpoint" or found is None or item.problem:
        return
    classes = getattr(trained.network, "num_classes", None)
    expected = CheckpointNetwork(trained.dims, trained.channels,
                                 classes if isinstance(classes, int) else None)
    pairs = ((found.dims, expected.dims), (found.channels, expected.channels),
             (found.classes, expected.classes))
    if not any(a is not None and b is not None and a != b for a, b in pairs):
        return
    item.problem = (f"written for another network: it {found.describe()}, but {trained.file} "
                    f"describes one that {expected.describe()} (train again with this config, "
                    "or set train.model and the pipeline back to what it was trained with)")
    no = "no: written for another network"
    item.uses.update({"validate/infer": no, "export": no, "finetune": no})


def _hold_shapes(item: Any, trained: TrainingNetwork) -> None:
    """Mark a TF2 checkpoint whose variables do not fit the network ``trained`` describes
    (another width such as ``nf_enc``, another norm layer), which dims, channels and classes
    do not show.

    The checkpoint's ``<prefix>.network.json`` (written with it) names the network it was
    saved from: when that is the config's network nothing is built. Otherwise the network
    is built with TensorFlow (:func:`mmarctl.runtime.model_io.network_variable_shapes`) and
    its variables compared with the ``.index``'s, and a fit is remembered in the user's
    cache (:func:`_fit_marker`). Without TensorFlow, or for a network that cannot be built
    (the config checks report that), nothing is marked.
    """
    from mmarctl.runtime.checkpoint import INDEX_SUFFIX, network_record
    from mmarctl.runtime.model_io import network_fingerprint

    if item.kind != "tf2_checkpoint" or item.network is None or item.problem:
        return
    current = network_fingerprint(trained.network, trained.dims, trained.channels)
    if current is None:  # a BYOC network: its variables are not compared
        return
    record = network_record(item.path)
    if record == current:
        return
    fit = _fit_marker(item.path, current)
    if fit is not None and fit.exists():  # built and compared by an earlier check
        return
    try:
        from mmarctl.model_files.tf_table import checkpoint_entries

        wanted = _network_shapes(trained, current)
        saved = {e.name: tuple(e.shape) for e in
                 checkpoint_entries(Path(f"{item.path}{INDEX_SUFFIX}"))}
    except Exception:  # no TensorFlow, or a network that cannot be built: not compared
        return
    missing = [name for key, (name, _) in wanted.items() if key not in saved]
    differing = [(name, saved[key], shape) for key, (name, shape) in wanted.items()
                 if key in saved and saved[key] != shape]
    if differing:
        name, was, now = differing[0]
        what = (f"{name} is {_shape(was)} in the checkpoint but {_shape(now)} in the network "
                f"{trained.file} describes")
    elif missing:
        what = (f"the network {trained.file} describes has {len(missing)} variable(s) the "
                f"checkpoint lacks ({', '.join(missing[:2])}{' ...' if len(missing) > 2 else ''})")
    else:
        _remember(fit)
        return
    changed = _changed_args(record, current)
    hint = (f"{changed}; set it back, or train again with this config" if changed else
            "set train.model back to the args it was trained with, or train again with "
            "this config")
    item.problem = f"written for another network: {what} ({hint})"
    no = "no: written for another network"
    item.uses.update({"validate/infer": no, "export": no, "finetune": no})


#: fingerprint (as JSON) -> the variables its network has: one build per network and process
#: (model.ckpt and model_final.ckpt are held to the same one).
_BUILT: dict[str, dict] = {}


def _fit_marker(prefix: Path, fingerprint: dict) -> Path | None:
    """Where ``check`` notes that the checkpoint at ``prefix`` (by its ``.index``'s digest)
    fits the network ``fingerprint`` describes, so that the next check of a checkpoint
    saved without a ``.network.json`` (by mmarctl before it wrote one) builds nothing.

    Kept in the user's cache (:mod:`mmarctl.cache`), not in the workspace: check writes
    nothing there. None when the ``.index`` cannot be read."""
    import hashlib
    import json

    from mmarctl.cache import cache_dir
    from mmarctl.runtime.checkpoint import index_digest

    digest = index_digest(str(prefix))
    if digest is None:
        return None
    key = hashlib.sha256((digest + json.dumps(fingerprint, sort_keys=True)).encode()).hexdigest()
    return cache_dir("network-fits") / key


def _remember(marker: Path | None) -> None:
    if marker is None:
        return
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:  # an unwritable cache only costs the next check the build again
        pass


def _network_shapes(trained: TrainingNetwork, fingerprint: dict) -> dict:
    import json

    from mmarctl.runtime.model_io import network_variable_shapes

    key = json.dumps(fingerprint, sort_keys=True)
    if key not in _BUILT:
        _BUILT[key] = network_variable_shapes(trained.network, trained.dims, trained.channels)
    return _BUILT[key]


def _shape(shape: tuple) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _changed_args(record: dict | None, current: dict) -> str:
    """``train.model.args.nf_enc was "16,32,32,64" when it was trained`` from the record
    saved with the checkpoint (empty when there is none, or it was another network)."""
    import json

    if not record or record.get("network") != current.get("network"):
        return ""
    before, now = record.get("args") or {}, current.get("args") or {}
    keys = [k for k in dict.fromkeys([*now, *before]) if before.get(k) != now.get(k)]
    if not keys:
        return ""
    shown = ", ".join(f"train.model.args.{k} was {json.dumps(before.get(k))}"
                      for k in keys[:3])
    return f"{shown} when it was trained"


#: The verbs that write into MMAR_CKPT_DIR (checkpoints, the run lock, exported models).
WRITERS = ("train", "finetune", "export")


def _unwritable_note(workspace: Workspace, folder: Path) -> list[Problem]:
    """A note when ``folder`` (MMAR_CKPT_DIR) exists but cannot be written: train, finetune
    and export refuse it, while validate and infer only read the model there, so the
    MMAR is not wrong for them (a read-only copy of a trained model is common)."""
    if not folder.is_dir() or os.access(folder, os.W_OK | os.X_OK):
        return []
    shown = workspace.display(folder)
    verbs = ", ".join(WRITERS[:-1]) + f" and {WRITERS[-1]}"
    return [Problem(shown, "", f"{shown}/ is not writable: {verbs} will refuse "
                    "to run (they write there); validate and infer read it as it is (make "
                    "it writable, or set MMAR_CKPT_DIR to a writable folder)", NOTE)]


def _manifest_note(workspace: Workspace, folder: Path) -> list[Problem]:
    """A note for an ``export.json`` that cannot be read: validate and infer then run the
    exports without its node names and layout, and without the freshness check."""
    from mmarctl.runtime.export.manifest import MANIFEST_LOST, manifest_problem

    problem = manifest_problem(folder, workspace.display)
    if problem is None:
        return []
    return [Problem("", "", f"{problem}: {MANIFEST_LOST} (export again to write it)", NOTE)]


def checkpoint_folder(workspace: Workspace, env: Mapping[str, Any]) -> Path:
    """``MMAR_CKPT_DIR`` as environment.json sets it (relative to the MMAR root), else models/."""
    folder = env.get("MMAR_CKPT_DIR")
    if isinstance(folder, str) and folder and "{" not in folder:
        return workspace.root / folder
    return workspace.models_dir


def _data_layout(workspace: Workspace, train_config: str) -> tuple[str | None, int | None]:
    """The training config's ``data_format`` and the channels its pipeline gives (Nones
    when unknown: a missing or broken config is reported by the config checks)."""
    from mmarctl.runtime.model_io import input_spec

    data_format = channels = train = None
    try:
        train = load_json(workspace.config_path(train_config))
        data_format = train["train"]["model"]["args"].get("data_format")
    except Exception:  # a missing or broken config is reported by the checks above
        pass
    try:
        channels = input_spec(train)[1]
    except Exception:  # no config, or bad pipeline arguments: reported above
        pass
    return data_format, channels if isinstance(channels, int) else None


#: The model-file kinds each model loader reads (:mod:`mmarctl.model_files`).
_LOADER_READS = {"FrozenGraphModelLoader": ("frozen_graph", "tftrt_graph"),
                 "OnnxModelLoader": ("onnx",)}
_KIND_WORDS = {"frozen_graph": "a TensorFlow frozen graph", "onnx": "an ONNX model",
               "saved_model": "a SavedModel folder", "tf2_checkpoint": "a checkpoint",
               "tf1_checkpoint": "a TF1 checkpoint", "tensorrt_engine": "a TensorRT engine",
               "tftrt_graph": "a TF-TRT graph"}
_LOADER_FOR = {"frozen_graph": "FrozenGraphModelLoader", "onnx": "OnnxModelLoader",
               "tf2_checkpoint": "CheckpointLoader", "tf1_checkpoint": "CheckpointLoader"}
_READS_WORDS = {"FrozenGraphModelLoader": "a frozen graph (.pb)",
                "OnnxModelLoader": "an ONNX model (.onnx)"}


def loader_problems(workspace: Workspace, overrides: Mapping[str, Any], config: str,
                    model: str | None = None) -> list[Problem]:
    """What validate and infer would refuse in the validation ``config``'s ``model_loader``
    (or ``--model``'s) together with the model file it reads, before TensorFlow:

    * a file of another kind than the loader reads (a SavedModel folder or an ONNX model for
      FrozenGraphModelLoader, a frozen graph for OnnxModelLoader), naming the right loader;
    * a frozen graph without the output node the loader would fetch (``output_node_names``,
      else export.json's, else ``NV_MODEL_OUTPUT``);
    * a graph with a fixed input size (``dynamic_input_shape`` false at export) and an
      inferer ``roi_size`` of another size.

    A file that is missing or cannot be read is reported by :func:`model_findings`.
    Reads no TensorFlow; the lines are the verbs' own.
    """
    from mmarctl.check.preflight import _loader_files
    from mmarctl.errors import MmarError
    from mmarctl.model_files import scan_model
    from mmarctl.runtime.evaluation import model_loader_entry

    try:
        resolved = workspace.resolve(config, dict(overrides))
        entry = model_loader_entry(workspace, resolved, model)
        read = _loader_files(workspace, overrides, config, model)
    except MmarError:  # the config checks (or the verb) say it
        return []
    name = entry.get("name") if isinstance(entry, Mapping) else None
    args = entry.get("args") if isinstance(entry, Mapping) else None
    args = args if isinstance(args, Mapping) else {}
    config_file = workspace.display(Path(resolved.file))
    if name == "CheckpointLoader" and read:
        # A Clara TF1 checkpoint runs as its own graph: its input is held to the inferer as
        # a frozen graph's is. (A TF2 checkpoint is built from the config: nothing to hold.)
        item = scan_model(read[0])
        if item is None or item.kind != "tf1_checkpoint" or item.problem:
            return []
        missing = _missing_tf1_nodes(workspace, Path(f"{read[0]}.meta"), args)
        return missing or _input_problems(item, read[0], resolved.data, config_file)
    there = [path for path in read if path.exists()]
    if name not in _LOADER_READS or not there:
        return []
    path = there[-1]  # model.fzn.pb beside a missing or TF-TRT model.trt.pb
    item = scan_model(path)
    if item is None or item.kind == "unreadable" or item.problem:
        return []  # model_findings reports it
    shown = workspace.display(path)
    at = (config_file, "model_loader.args.model_file_path") if model is None else (shown, "")
    if item.kind not in _LOADER_READS[name]:
        right = _LOADER_FOR.get(item.kind)
        fix = (f"use {right}" + (" (--model ckpt)" if right == "CheckpointLoader" else "")
               if right else "validate and infer read model.fzn.pb (FrozenGraphModelLoader) "
               "or model.onnx (OnnxModelLoader); `mmarctl export --format fzn,onnx` writes them")
        return [Problem(*at, f"{shown} is {_KIND_WORDS.get(item.kind, item.label)}; {name} "
                             f"reads {_READS_WORDS[name]} ({fix})")]
    if item.kind == "tftrt_graph":  # no model.fzn.pb beside it: the loader's refusal
        from mmarctl.runtime.model_sources.frozen_graph import usable_graph_file

        try:
            usable_graph_file(path)
        except RuntimeFailure as error:
            return [Problem(shown, "", f"{error.message} ({error.hint})")]
    problems = []
    manifest = _manifest(path.parent)
    if item.kind == "frozen_graph":
        wanted = args.get("output_node_names") or (manifest.get("output") or {}).get("name") \
            or "NV_MODEL_OUTPUT"
        problems.extend(_missing_output(path, wanted, config_file, shown, model, args))
    return problems + _input_problems(item, path, resolved.data, config_file, manifest)


def _missing_tf1_nodes(workspace: Workspace, meta: Path,
                       args: Mapping[str, Any]) -> list[Problem]:
    """A TF1 graph without the input or output node CheckpointLoader runs (the loader's
    ``input_node_names`` / ``output_node_names``, else ``NV_MODEL_INPUT`` /
    ``NV_MODEL_OUTPUT``): validate's refusal, by the runtime's own test of the nodes."""
    from mmarctl.errors import ConfigError
    from mmarctl.model_files import graph_info as gi
    from mmarctl.runtime.model_loaders.checkpoint import node_name
    from mmarctl.runtime.model_sources.tf1_checkpoint import check_nodes

    try:
        summary = gi.read_summary(meta)
        wanted = [node_name(args.get(arg), "CheckpointLoader", arg) or default for arg, default
                  in (("input_node_names", gi.DEFAULT_INPUT),
                      ("output_node_names", gi.DEFAULT_OUTPUT))]
    except (gi.GraphFileError, OSError, ConfigError):
        return []  # model_findings and the config checks report it
    try:
        check_nodes(summary.names, summary, *wanted, meta)
    except RuntimeFailure as error:
        return [Problem(workspace.display(meta), "", f"{error.message} ({error.hint})")]
    return []


def _input_problems(item: Any, path: Path, config: Any, config_file: str,
                    manifest: dict | None = None) -> list[Problem]:
    """A graph's input (frozen graph, ONNX model, TF1 checkpoint) against the inferer's
    ``roi_size``: a fixed-size input of another size, or another number of spatial axes
    (a 2-D model in a 3-D config), which the verbs refuse on the first case."""
    from mmarctl.model_files.graph_info import format_shape

    roi = _roi_size(config)
    if not roi:
        return []
    shape = item.input_shape
    dims = len(shape) - 2 if isinstance(shape, (list, tuple)) and len(shape) >= 3 else None
    if item.kind != "onnx" and dims is not None and dims != len(roi):
        return [Problem(config_file, "inferer.args.roi_size",
                        f"{path.name} takes {dims}D images (input {item.input} "
                        f"{format_shape(shape)}) but the inferer's roi_size "
                        f"{list(roi)} is {len(roi)}D (use a {len(roi)}D model, or the "
                        f"{dims}D configs this model was trained with)")]
    fixed = _fixed_spatial(item, manifest or {})
    if fixed and len(roi) == len(fixed) and any(r > 0 and r != f for r, f in zip(roi, fixed)):
        return [Problem(config_file, "inferer.args.roi_size",
                        f"{path.name} takes a fixed input of {list(fixed)} "
                        f"(dynamic_input_shape false) but the inferer's roi_size is "
                        f"{list(roi)} (set roi_size to {list(fixed)})")]
    return []


def _manifest(folder: Path) -> dict:
    from mmarctl.runtime.export.manifest import read_manifest

    try:
        return read_manifest(folder) or {}
    except Exception:  # an unreadable export.json is told elsewhere
        return {}


def _missing_output(path: Path, wanted: Any, config_file: str, shown: str,
                    model: str | None, args: Mapping[str, Any]) -> list[Problem]:
    """The graph at ``path`` has no node ``wanted``: the FrozenGraphModelLoader's refusal,
    with the graph's likely output (a node no other node reads) when there is one."""
    from mmarctl.model_files import graph_info as gi

    if not isinstance(wanted, str):
        return []
    try:
        summary = gi.read_summary(path)
    except (gi.GraphFileError, OSError):
        return []
    if wanted in summary.names:
        return []
    where = ((config_file, "model_loader.args.output_node_names") if model is None
             else (shown, ""))
    guess = gi.likely_output(path)
    fix = (f'set "output_node_names": "{guess}"' if guess and model is None else
           "name the output with output_node_names (Clara's --output_node_names)")
    return [Problem(*where, f"{shown}: the graph has no output node '{wanted}' ({fix})")]


def _fixed_spatial(item: Any, manifest: dict) -> tuple[int, ...] | None:
    """The spatial size a fixed-size model takes (None: open): the graph's input, or for
    an ONNX model, export.json's input when it lists that file."""
    from mmarctl.model_files.graph_info import CHANNELS_FIRST

    shape, layout = item.input_shape, item.layout
    if item.kind == "onnx":
        formats = manifest.get("formats") if isinstance(manifest.get("formats"), dict) else {}
        entry = formats.get("onnx")
        if not isinstance(entry, dict) or entry.get("skipped"):
            return None
        shape = (manifest.get("input") or {}).get("shape")
        layout = manifest.get("layout")
    if not isinstance(shape, (list, tuple)) or len(shape) < 3:
        return None
    spatial = shape[2:] if layout == CHANNELS_FIRST else shape[1:-1]
    if not all(isinstance(d, int) and d > 0 for d in spatial):
        return None
    return tuple(spatial)


def _roi_size(config: Any) -> tuple[int, ...] | None:
    try:
        roi = config["inferer"]["args"]["roi_size"]
        return tuple(int(v) for v in (roi if isinstance(roi, (list, tuple)) else [roi]))
    except (KeyError, TypeError, ValueError):
        return None
