"""``mmarctl export``: the checkpoint model as frozen graph, SavedModel, ONNX, Triton, TensorRT."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mmarctl.commands._common import MmarArgument, SetOption, completing
from mmarctl.shell_words import shell_word

FORMAT_HELP = ("Format to write, one of: fzn (models/model.fzn.pb, Clara's frozen graph), "
               "savedmodel (models/saved_model/), onnx (models/model.onnx), triton "
               "(models/triton/NAME/), trt (models/model.trt, needs an NVIDIA GPU and TensorRT) "
               "or all. Repeatable or comma-separated. With all, trt is skipped (exit 0) where "
               "it cannot be built; named alone it is an error there. Default: fzn only.")


def _known_formats(values: Optional[list[str]]) -> Optional[list[str]]:
    """``--format`` held to the known formats as it is parsed: a typo is a usage error
    (exit 2) before any MMAR is looked for."""
    if values:
        from mmarctl.runtime.export.exporter import parse_formats

        parse_formats(values)  # UsageError: the formats it knows
    return values


def export(
    mmar: MmarArgument = None,
    formats: Annotated[Optional[list[str]], typer.Option(
        "--format", "-f", metavar="FORMAT", help=FORMAT_HELP, callback=_known_formats,
        autocompletion=completing("fzn", "savedmodel", "onnx", "triton", "trt",
                                  "all"))] = None,
    ckpt: Annotated[Optional[str], typer.Option(
        "--ckpt", metavar="PATH",
        help="Checkpoint prefix, .index file or folder (default: {MMAR_CKPT_DIR}/model.ckpt, "
             "i.e. models/model.ckpt), or a frozen graph .pb; a relative PATH is looked for "
             "from the current folder, then from the MMAR. A Clara TF1 checkpoint or frozen "
             "graph is exported from its own graph, keeping its layout.")] = None,
    config: Annotated[str, typer.Option(
        "--config-train", "--config", "-c", metavar="FILE",
        help="Training config that describes the network (named --config-train as in "
             "train, validate and infer; --config is the same option).")] = "config_train.json",
    input_node: Annotated[str, typer.Option(
        "--input-node", metavar="NAME",
        help="Input node/tensor name (Clara's --input_node_names).")] = "NV_MODEL_INPUT",
    output_node: Annotated[str, typer.Option(
        "--output-node", metavar="NAME",
        help="Output node/tensor name (Clara's --output_node_names).")] = "NV_MODEL_OUTPUT",
    tolerance: Annotated[float, typer.Option(
        "--tolerance", min=0.0, metavar="FLOAT",
        help="Largest accepted absolute difference between an artifact's output and the "
             "checkpoint model's on the seeded sample (float32 probabilities).")] = 1e-4,
    triton_name: Annotated[Optional[str], typer.Option(
        "--triton-name", metavar="NAME", help="Triton model name (default: the MMAR folder name; Clara's "
                              "--trtis_model_name).")] = None,
    triton_max_batch_size: Annotated[int, typer.Option(
        "--triton-max-batch-size", min=0, metavar="N",
        help="Triton max_batch_size; 0 turns batching off. Also the TensorRT profile's "
             "largest batch.")] = 1,
    set_items: SetOption = None,
) -> None:
    """Export the trained model from its checkpoint, verifying every artifact.

    Each artifact is loaded back and run on a seeded sample; its output must match the
    checkpoint model's within --tolerance, else nothing is written. Input and output are
    channels-last float32 (batch, *spatial, channels); the spatial size is open when the
    config sets dynamic_input_shape, else the training patch size. models/export.json
    records names, shapes, differences and the source checkpoint; artifacts it does not
    list (left by an older export) are named in a closing warning.

    Example: mmarctl export my-exp --format all (without --format: fzn only)
    """
    from mmarctl.console import keep_working_without_reader
    keep_working_without_reader()  # `| head` ends the output, not the work
    from mmarctl.console import err, out
    from mmarctl.runtime.export.exporter import ExportRequest, export_mmar
    from mmarctl.runtime.export.triton import model_name as triton_model_name
    from mmarctl.variables import parse_set_items
    from mmarctl.workspace import Workspace, shown_from_here

    workspace = Workspace.locate(mmar)
    workspace.require_clara3()
    ckpt = checkpoint_path(ckpt, workspace.root)
    request = ExportRequest(formats=formats or ["fzn"], checkpoint=ckpt, config=config,
                            input_name=input_node, output_name=output_node,
                            overrides=parse_set_items(set_items), tolerance=tolerance,
                            triton_name=triton_name,
                            triton_max_batch_size=triton_max_batch_size)
    result = export_mmar(workspace, request, log=lambda line: err.print(line, markup=False))
    for item in result.results:
        if item.skipped:
            out.print(f"{item.format:<10} skipped: {item.skipped}", markup=False)
        else:
            shown = shown_from_here(workspace.root / str(item.path))
            out.print(f"{item.format:<10} {shown}  max|diff| {item.max_abs_diff:.3g}",
                      markup=False)
    out.print(f"manifest   {shown_from_here(result.manifest_path)}", markup=False)
    if result.older:
        _warn_older(workspace, result, f"mmarctl export {shell_word(mmar or workspace.root)} --format all"
                    + (f" --ckpt {ckpt}" if ckpt else ""),
                    triton_name or triton_model_name(workspace.root.name))


def checkpoint_path(given: str | None, root: Path) -> str | None:
    """``--ckpt`` as a path to read: a relative one is looked for from the current folder,
    then from the MMAR root (the docs' ``--ckpt models/model_final.ckpt`` from outside the
    MMAR); None stays None (the config's checkpoint).

    Raises:
        RuntimeFailure: nothing of that name in either place, both named.
    """
    import os

    from mmarctl.errors import RuntimeFailure

    if not given:
        return given
    path = Path(os.path.expanduser(given))
    places = [path] if path.is_absolute() else [Path.cwd() / path, root / path]
    for place in places:
        if _something_at(place):
            return str(place)
    tried = " nor at ".join(shown_place(place) for place in places)
    raise RuntimeFailure(f"--ckpt {given}: no checkpoint at {tried}",
                         hint=None if path.is_absolute() else
                         "a relative --ckpt is read from the current folder, then from the MMAR")


def shown_place(path: Path) -> str:
    """``path`` absolute and without ``..``, as the user can look it up."""
    import os

    return os.path.normpath(os.path.abspath(path))


def _something_at(path: Path) -> bool:
    """A file or folder at ``path``, or a checkpoint prefix's files (``PATH.index``,
    ``PATH.meta``, ``PATH.data-*``) beside it."""
    import glob

    return path.exists() or bool(glob.glob(glob.escape(str(path)) + ".*"))


def _warn_older(workspace: Any, result: Any, refresh: str, triton_name: str) -> None:
    """Name the artifacts export.json does not list, while it is cheap to fix: validate and
    infer would run a stale format file, and Triton serves every model in its repository.

    A format file is refreshed by exporting every format again (from the same checkpoint);
    another Triton model (``triton/<other name>/``, left by ``clone --with-models`` or an
    export under another ``--triton-name``) is not rewritten by any export, so only removing
    it helps."""
    from mmarctl.console import err

    def listed(paths: list[Path]) -> str:
        return ", ".join(workspace.display(p) + ("/" if p.is_dir() else "") for p in paths)

    manifest = workspace.display(result.manifest_path)
    models = [p for p in result.older
              if p.parent.name == "triton" and not _is_this_triton_model(result, p, triton_name)]
    formats = [p for p in result.older if p not in models]
    if formats:
        one = len(formats) == 1
        err.print(f"warning: {listed(formats)} {'is' if one else 'are'} from an older export "
                  f"(not in {manifest}, so not from this checkpoint); run `{refresh}` to "
                  f"refresh {'it' if one else 'them'}, or remove {'it' if one else 'them'}",
                  markup=False)
    if models:
        one = len(models) == 1
        what = "is another Triton model" if one else "are other Triton models"
        err.print(f"warning: {listed(models)} {what} from an older export (not in "
                  f"{manifest}); a Triton server given this repository would serve "
                  f"{'it' if one else 'them'} too: remove {'it' if one else 'them'} "
                  "unless wanted", markup=False)


def _is_this_triton_model(result: Any, path: Path, triton_name: str) -> bool:
    """Whether ``path`` is the Triton model this export writes: the one its manifest names,
    else ``triton_name`` (a stale copy of it is a format to refresh, not another model)."""
    formats = result.manifest.get("formats") if isinstance(result.manifest, dict) else None
    entry = formats.get("triton") if isinstance(formats, dict) else None
    name = entry.get("model_name") if isinstance(entry, dict) else None
    return path.name == (name if isinstance(name, str) and name else triton_name)


def register(app: typer.Typer) -> None:
    """Add ``export`` to the CLI."""
    app.command("export")(export)
