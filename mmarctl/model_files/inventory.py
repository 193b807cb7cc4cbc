"""One :class:`ModelFile` per model artifact in a folder, and what each verb can do with it.

Kinds (``ModelFile.kind``), told apart by the files' contents, not their names alone:

* ``tf2_checkpoint``: mmarctl's own ``tf.train.Checkpoint`` (its ``.index`` table holds
  ``_CHECKPOINTABLE_OBJECT_GRAPH``);
* ``tf1_checkpoint``: a TF1 ``Saver`` checkpoint, as Clara 3.x wrote (``.index`` without the
  object graph), with its ``.meta`` graph or without it;
* ``frozen_graph`` / ``tftrt_graph``: a frozen ``GraphDef`` ``.pb``; the second holds
  ``TRTEngineOp`` nodes (Clara's ``model.trt.pb``), which no current TensorFlow runs;
* ``saved_model``: a folder with ``saved_model.pb``;
* ``onnx``: an ``.onnx`` file (a protocol-buffer ``ModelProto``: field 1, the IR version);
* ``tensorrt_engine``: ``model.trt``, a serialized engine (told by name only: an engine has
  no portable header).

Nothing here imports TensorFlow: ``mmarctl check`` lists these as notes.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mmarctl.model_files import graph_info as gi
from mmarctl.model_files import tf_table
from mmarctl.model_files.saver_graph import restore_mismatch

LABELS = {"tf2_checkpoint": "mmarctl (TF2) checkpoint",
          "tf1_checkpoint": "TF1 Saver checkpoint (Clara)",
          "frozen_graph": "frozen graph", "tftrt_graph": "TF-TRT frozen graph (Clara)",
          "saved_model": "SavedModel", "onnx": "ONNX model",
          "tensorrt_engine": "TensorRT engine", "unreadable": "unreadable model file"}


@dataclass
class ModelFile:
    """One model artifact and what it is.

    Attributes:
        kind: one of the kinds in the module docstring, or ``unreadable``.
        path: the main file (a checkpoint's prefix, a folder for a SavedModel).
        details: short facts (variables, layout, input, output) for messages.
        layout: ``channels_first`` / ``channels_last`` for graphs, else None.
        input, output: node names when known.
        input_shape: the input placeholder's shape (None entries open), when known.
        has_meta: TF1 checkpoints: whether a readable ``.meta`` graph is there.
        meta_error: TF1 checkpoints: why the ``.meta`` that is there cannot be read.
        uses: verb -> what it does with this file (or why it cannot).
        problem: what validate, infer or export would refuse in this file (``check``
            reports it as a problem, not a note), else None.
        network: TF2 checkpoints: the input and output of the network it was written for.
        damaged: checkpoints whose files cannot be read whole: ``truncated`` or ``damaged``
            (or ``not read: ...``, when an interrupted save leaves the verbs nothing to read).
    """

    kind: str
    path: Path
    details: list[str] = field(default_factory=list)
    layout: str | None = None
    input: str | None = None
    output: str | None = None
    input_shape: gi.Shape = None
    has_meta: bool = False
    meta_error: str | None = None
    uses: dict[str, str] = field(default_factory=dict)
    problem: str | None = None
    network: CheckpointNetwork | None = None
    damaged: str | None = None

    @property
    def label(self) -> str:
        return LABELS.get(self.kind, self.kind)

    @property
    def fixed_shape(self) -> bool:
        """Whether the input's spatial size is fixed (Clara's ``dynamic_input_shape: false``)."""
        return bool(self.input_shape) and all(d is not None for d in self.input_shape[1:])


@dataclass(frozen=True)
class CheckpointNetwork:
    """What a TF2 checkpoint's tensor shapes tell of the network it was written for.

    mmarctl's networks are Keras functional models: ``tf.train.Checkpoint(model=...)``
    stores their layers' variables as ``model/_operations/<i>/<variable>`` in the order the
    layers run. The first layer with weights is a convolution of the input, kernel
    ``(*k, channels, filters)``; the last is the output head, whose ``bias`` has one entry
    per class. A part the shapes do not show is None (a nested first block, a head
    without bias): it is not compared.
    """

    dims: int | None
    channels: int | None
    classes: int | None

    def describe(self) -> str:
        """``takes 1-channel 3-D input and gives 2 classes`` (unknown parts left out)."""
        taken = " ".join(filter(None, [f"{self.channels}-channel" if self.channels else "",
                                       f"{self.dims}-D" if self.dims else ""]))
        parts = ([f"takes {taken} input"] if taken else []) + (
            [f"gives {self.classes} classes"] if self.classes else [])
        return " and ".join(parts)


_MODEL_VARIABLE = re.compile(r"^model/_operations/(\d+)/(.+)/\.ATTRIBUTES/VARIABLE_VALUE$")


def checkpoint_network(entries: list[tf_table.TensorEntry]) -> CheckpointNetwork | None:
    """The network a TF2 checkpoint's model variables describe (see
    :class:`CheckpointNetwork`), or None when it holds no layered model."""
    layers: dict[int, dict[str, tuple[int, ...]]] = {}
    for entry in entries:
        match = _MODEL_VARIABLE.match(entry.name)
        if match:
            layers.setdefault(int(match.group(1)), {})[match.group(2)] = entry.shape
    if not layers:
        return None
    first, last = layers[min(layers)], layers[max(layers)]
    kernel = first.get("_kernel")  # a Conv layer's own kernel, not a nested block's
    dims = channels = classes = None
    if kernel is not None and len(kernel) >= 4:
        dims, channels = len(kernel) - 2, kernel[-2]
    bias = last.get("bias")
    if bias is not None and len(bias) == 1:
        classes = bias[0]
    return CheckpointNetwork(dims, channels, classes)


def truncated_data(prefix: Path, entries: list[tf_table.TensorEntry]) -> str | None:
    """Why the ``.data`` shards of the checkpoint at ``prefix`` cannot hold the tensors its
    index lists (a shard missing, or shorter than the last tensor's end), else None.

    A file cut short by a copy or a full disk; bytes overwritten in place are not seen here
    (that needs each tensor's checksum read, which TensorFlow does when it loads).
    """
    prefix = Path(prefix)
    shards = sorted(prefix.parent.glob(f"{prefix.name}.data-*-of-*"))
    count = int(shards[0].name.rsplit("-of-", 1)[1]) if shards else 1
    for shard in sorted({e.shard for e in entries}):
        path = prefix.with_name(f"{prefix.name}.data-{shard:05d}-of-{count:05d}")
        end = max(e.offset + e.size for e in entries if e.shard == shard)
        try:
            size = path.stat().st_size
        except OSError:
            return f"incomplete: {path.name} is missing"
        if size < end:
            return (f"truncated: {path.name} has {size} bytes but its index lists tensors up "
                    f"to byte {end}")
    return None


#: Checkpoints up to this many bytes of tensors have their checksums verified by ``check``
#: (google-crc32c's C code: the cost is reading the shards, once per checkpoint, remembered
#: in the user's cache); larger ones are left to TensorFlow, which verifies them when a verb
#: loads them.
CHECKSUM_BYTES = 256 * 2**20


def _crc32c(data: bytes) -> int:
    import google_crc32c

    return google_crc32c.value(data)


def _unmask(masked: int) -> int:
    """TensorFlow stores ``crc32c::Mask(crc)``: rotated right by 15, plus a constant."""
    rotated = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF


def checksum_damage(prefix: Path, entries: list[tf_table.TensorEntry]) -> str | None:
    """Why a tensor's bytes in the ``.data`` shards do not match the CRC-32C the index stores
    (bytes overwritten in place: TensorFlow's "Checksum does not match"), else None. Numeric
    tensors only (string tensors are checksummed with their lengths); skipped above
    :data:`CHECKSUM_BYTES`. A checkpoint found whole is remembered in the user's cache."""
    prefix = Path(prefix)
    numeric = [e for e in entries if e.crc32c is not None and e.dtype != "string" and e.size]
    if not numeric or sum(e.size for e in numeric) > CHECKSUM_BYTES:
        return None
    shards = sorted(prefix.parent.glob(f"{prefix.name}.data-*-of-*"))
    count = int(shards[0].name.rsplit("-of-", 1)[1]) if shards else 1
    paths = {s: prefix.with_name(f"{prefix.name}.data-{s:05d}-of-{count:05d}")
             for s in {e.shard for e in numeric}}
    marker = _whole_marker(prefix, paths.values())
    if marker is not None and marker.exists():
        return None
    try:
        for shard, path in paths.items():
            with open(path, "rb") as handle:
                for entry in sorted((e for e in numeric if e.shard == shard),
                                    key=lambda e: e.offset):
                    handle.seek(entry.offset)
                    if _crc32c(handle.read(entry.size)) != _unmask(entry.crc32c or 0):
                        from mmarctl.runtime.checkpoint import variable_name  # no TensorFlow

                        return (f"damaged: checksum does not match for "
                                f"{variable_name(entry.name)} ({entry.size} bytes in "
                                f"{path.name})")
    except OSError:  # truncated_data says what is missing
        return None
    if marker is not None:
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:  # an unwritable cache only costs the next check the reading again
            pass
    return None


def _whole_marker(prefix: Path, data_files: Any) -> Path | None:
    """Where ``check`` remembers that this very checkpoint (its index's digest, its data
    files' sizes and times) passed its checksums; None when that cannot be told."""
    import hashlib

    from mmarctl.cache import cache_dir

    try:
        key = hashlib.sha256(Path(f"{prefix}.index").read_bytes())
        for path in data_files:
            info = path.stat()
            key.update(f"{path.name}:{info.st_size}:{info.st_mtime_ns}".encode())
    except OSError:
        return None
    return cache_dir("checkpoint-checksums") / key.hexdigest()


#: What to do about a damaged checkpoint.
DAMAGED_HINT = "copy it again, or train again"

#: How to run Clara's frozen graph instead of a TF1 checkpoint that cannot run.
USE_FROZEN_GRAPH = ("use Clara's model.fzn.pb instead: validate/infer --model fzn, export "
                    "--ckpt models/model.fzn.pb")
#: What to do about a .meta whose Saver does not fit the .index/.data pair beside it.
META_MISMATCH_HINT = f"copy the .meta saved with this .index/.data pair, or {USE_FROZEN_GRAPH}"


def corrupt_meta_hint(meta: Path) -> str:
    """What to do about an unreadable ``.meta`` (shared by ``check`` and the verbs)."""
    return f"copy {meta.name} again from where the checkpoint came from, or {USE_FROZEN_GRAPH}"


def missing_tf1_weights(prefix: Path) -> list[str]:
    """The files a TF1 checkpoint whose ``.meta`` exists lacks (``.index``, ``.data-*``).

    Empty when there is no ``.meta`` at ``prefix`` or nothing is missing.
    """
    prefix = Path(prefix)
    if not Path(f"{prefix}.meta").is_file():
        return []
    missing = [] if Path(f"{prefix}.index").is_file() else [f"{prefix.name}.index"]
    if not any(prefix.parent.glob(f"{prefix.name}.data-*")):
        missing.append(f"{prefix.name}.data-00000-of-00001")
    return missing


def missing_weights_message(prefix: Path, missing: list[str]) -> tuple[str, str]:
    """``(message, hint)`` for a TF1 ``.meta`` (the file they are about) whose weights
    files are gone."""
    return (f"a TF1 checkpoint's graph without its weights: {' and '.join(missing)} not found",
            f"copy the checkpoint's .index and .data-* files beside it, or {USE_FROZEN_GRAPH}")


def channel_mismatch(input_name: str, graph_channels: int, given: str) -> str:
    """The line for a graph input whose channel count differs from the data's (``given``:
    where the data's count comes from, e.g. "the input has 1")."""
    return (f"the graph's input {input_name} takes {graph_channels} channel"
            f"{'s' if graph_channels != 1 else ''} but {given}")


def channel_mismatch_hint(graph_channels: int, given: int) -> str:
    """What to do when the data's channel count is not the graph's."""
    return (f"this model was trained on {graph_channels}-channel images: make the pipeline "
            f"give {graph_channels} channels with output_image_channels and the transforms, "
            f"or use a model trained on {given}-channel images")


def checkpoint_kind(index_file: Path) -> str:
    """``tf2_checkpoint`` or ``tf1_checkpoint`` from a ``.index`` file (``unreadable`` if neither)."""
    try:
        entries = tf_table.checkpoint_entries(index_file)
    except (tf_table.TableError, OSError):
        return "unreadable"
    return "tf2_checkpoint" if tf_table.is_object_checkpoint(entries) else "tf1_checkpoint"


def _describe_graph(item: ModelFile, summary: gi.GraphSummary, data_format: str | None,
                    channels: int | None = None) -> None:
    node = summary.placeholder()
    item.input = node.name if node else None
    item.input_shape = node.shape if node else None
    item.output = gi.DEFAULT_OUTPUT if gi.DEFAULT_OUTPUT in summary.names else None
    item.layout, why = summary.layout(item.input, data_format)
    item.details.append(f"{item.layout} ({why})")
    if node:
        fixed = "fixed" if item.fixed_shape else "dynamic"
        item.details.append(f"input {node.name} {gi.format_shape(node.shape)} {fixed}")
    else:
        names = ", ".join(p.name for p in summary.placeholders) or "none"
        item.details.append(f"no {gi.DEFAULT_INPUT} (placeholders: {names})")
    item.details.append(f"output {item.output}" if item.output
                        else f"no {gi.DEFAULT_OUTPUT} node")
    shape = item.input_shape
    if channels is not None and shape and len(shape) >= 3:
        graph_channels = shape[1] if item.layout == gi.CHANNELS_FIRST else shape[-1]
        if graph_channels is not None and graph_channels != channels:
            given = f"the training config's output_image_channels is {channels}"
            item.problem = (channel_mismatch(item.input or "", graph_channels, given)
                            + f" ({channel_mismatch_hint(graph_channels, channels)})")


#: The marker a checkpoint save leaves beside the prefix while it swaps the pair in
#: (``mmarctl.runtime.checkpoint``); the backup it reads meanwhile.
SWAP_MARKER, BACKUP_SUFFIX = ".swapping", ".bak"


def _checkpoint(index: Path, data_format: str | None, channels: int | None) -> ModelFile:
    item = _checkpoint_files(index, data_format, channels)
    _after_interrupted_save(item)
    return item


def _after_interrupted_save(item: ModelFile) -> None:
    """Mark a checkpoint whose save was interrupted mid-swap (``<prefix>.swapping`` left):
    the verbs read what ``checkpoint_prefix`` resolves: the backup; without one (a first
    save killed late) the main pair when it is whole, else nothing, and then they refuse
    with "no model checkpoint at <prefix>"."""
    prefix = item.path
    marker = Path(f"{prefix}{SWAP_MARKER}")
    if not marker.exists():
        return
    from mmarctl.runtime.checkpoint import checkpoint_prefix  # no TensorFlow at import

    found = checkpoint_prefix(prefix)
    if found is None:
        item.details.append(f"{marker.name} left by an interrupted first save")
        item.damaged = "incomplete"
        item.problem = (f"no model checkpoint at {prefix.name} for validate, infer, export "
                        f"and finetune: the first save, interrupted ({marker.name} is left), "
                        "did not finish the pair (train again)")
    elif Path(found) != prefix:
        # The main pair may be mixed from two saves; the backup (its own item) is read.
        item.details.append(f"{marker.name} left by an interrupted save: the verbs read "
                            f"the backup {Path(found).name} instead")
        item.problem = item.damaged = None
        item.network = None


#: How often the checkpoint's table and checksums are read again when a save replaces the
#: pair while they are read; then what was read last is kept.
_READ_ATTEMPTS = 5


def _pair_identity(index: Path, prefix: Path) -> tuple:
    """What changes when a save replaces the pair: inode, size and mtime of the ``.index``
    and of each ``.data`` shard (None for a file that is missing)."""
    identity = []
    for path in (index, *sorted(prefix.parent.glob(f"{prefix.name}.data-*-of-*"))):
        try:
            info = path.stat()
        except OSError:
            identity.append((path.name, None))
            continue
        identity.append((path.name, (info.st_ino, info.st_size, info.st_mtime_ns)))
    return tuple(identity)


def _read_settled(index: Path, prefix: Path) -> tuple[list[tf_table.TensorEntry], str | None]:
    """The checkpoint's entries and its damage (None: whole), from a read that no save
    disturbed.

    ``validate`` or ``check`` beside a running ``train``: a save renames the new ``.data``
    and ``.index`` over the old ones one after the other, so an index read before a swap
    and data read after it disagree, which is no damage of the checkpoint. The pair's
    identity is compared around the reading, which is redone when it changed; damage is
    only claimed for files that did not move while they were read.
    """
    entries: list[tf_table.TensorEntry] = []
    for attempt in range(_READ_ATTEMPTS):
        before = _pair_identity(index, prefix)
        entries = tf_table.checkpoint_entries(index)
        damage = truncated_data(prefix, entries) or checksum_damage(prefix, entries)
        if _pair_identity(index, prefix) == before:
            return entries, damage  # (a save killed between its renames: see below)
        time.sleep(0.05 * (attempt + 1))  # a swap is two renames: let it finish
    # Still moving after every attempt (a save every few milliseconds): what the last read
    # found may be a mix of two saves, so it is not called damage; the verbs' own reads
    # (mmarctl.runtime.checkpoint) settle the same way or say the pair kept changing. A pair
    # left mixed by a save killed mid-swap does not move: _after_interrupted_save sees its
    # marker and points the verbs at the backup.
    return entries, None


def _checkpoint_files(index: Path, data_format: str | None, channels: int | None) -> ModelFile:
    prefix = Path(str(index)[: -len(".index")])
    kind = checkpoint_kind(index)
    item = ModelFile(kind, prefix)
    if kind == "unreadable":
        item.details.append("the .index is not a TensorFlow checkpoint table")
        # Every verb that reads this checkpoint (validate, infer, export, finetune) stops.
        item.damaged = "damaged"
        item.problem = ("damaged: the .index is not a TensorFlow checkpoint table "
                        f"({DAMAGED_HINT})")
        return item
    entries, damage = _read_settled(index, prefix)
    if damage:
        item.details.append(damage)
        item.damaged = damage.split(":")[0]  # truncated, incomplete
        item.problem = f"{damage} ({DAMAGED_HINT})"
    if kind == "tf2_checkpoint":
        item.details.append(f"{len(entries) - 1} tensors")
        item.network = checkpoint_network(entries)
        return item
    slots = sum(1 for e in entries if e.name.rsplit("/", 1)[-1].startswith("Adam"))
    item.details.append(f"{len(entries)} tensors" + (f", {slots} optimizer slots" if slots else ""))
    meta = Path(f"{prefix}.meta")
    item.has_meta = meta.is_file()
    if item.has_meta:
        try:
            _describe_graph(item, gi.read_summary(meta), data_format, channels)
            if item.problem is None and not damage:
                # validate, infer (CheckpointLoader) and export restore the pair into it
                mismatch = restore_mismatch(meta, entries)
                if mismatch:
                    item.problem = f"{mismatch} ({META_MISMATCH_HINT})"
        except (gi.GraphFileError, OSError) as error:
            item.has_meta = False
            item.meta_error = str(error) if isinstance(error, gi.GraphFileError) else \
                f"unreadable ({error.strerror})"
            item.details.append(f"{meta.name}: {item.meta_error}")
            # validate, infer (CheckpointLoader) and export all run this checkpoint's graph.
            item.problem = f"{item.meta_error} ({corrupt_meta_hint(meta)})"
    else:
        item.details.append("no .meta graph")
    return item


def corrupt_graph_hint(path: Path) -> str:
    """What to do about a frozen graph that cannot be read: ``mmarctl export`` makes it
    again only from a checkpoint."""
    if (Path(path).parent / "model.ckpt.index").is_file():
        return "re-export it with `mmarctl export --format fzn`"
    return (f"copy {Path(path).name} again from where it came from (`mmarctl export` re-makes "
            "it only from a checkpoint, and none is beside it)")


def _unreadable_graph(path: Path, why: str) -> ModelFile:
    # validate/infer (FrozenGraphModelLoader, --model fzn) and export (--ckpt X.pb, or
    # model.fzn.pb without a checkpoint) all parse this graph first.
    item = ModelFile("unreadable", path, [why])
    item.problem = f"{why} ({corrupt_graph_hint(path)})"
    return item


def _graph(path: Path, data_format: str | None, channels: int | None) -> ModelFile:
    try:
        summary = gi.read_summary(path)
    except gi.GraphFileError as error:
        return _unreadable_graph(path, str(error))
    except OSError as error:
        return _unreadable_graph(path, f"unreadable ({error.strerror})")
    if summary.tensorrt:  # it cannot run at all: its channels do not matter
        channels = None
    item = ModelFile("tftrt_graph" if summary.tensorrt else "frozen_graph", path)
    _describe_graph(item, summary, data_format, channels)
    return item


def onnx_damage(path: Path) -> str | None:
    """Why the file at ``path`` is not a whole ONNX ``ModelProto`` (an interrupted copy cuts
    its graph field short), else None. Walks the model's and its graph's fields by their
    lengths through a memory map: the weights are skipped, not read."""
    from mmarctl.model_files import protowire as pw

    with open(path, "rb") as handle, pw.mapped(handle) as data:
        if data is None:
            return "corrupt: not an ONNX model (empty file)"
        try:
            if data[0] != 0x08:  # ModelProto field 1 (ir_version), a varint, comes first
                return "corrupt: not an ONNX model (it does not start with the IR version)"
            graphs = [value for number, wire, value in pw.fields(data)
                      if number == 7 and wire == pw.LENGTH]
            if not graphs:
                return "corrupt: not a whole ONNX model (no graph)"
            for _ in pw.fields(graphs[0]):  # nodes, initializers, inputs, outputs
                pass
            del graphs
        except pw.WireError as error:
            return f"corrupt: not a whole ONNX model ({error})"
    return None


def _onnx(path: Path) -> ModelFile:
    try:
        damage = onnx_damage(path)
    except OSError as error:
        damage = f"unreadable ({error.strerror})"
    if damage is None:
        return ModelFile("onnx", path)
    # validate/infer (OnnxModelLoader, --model onnx) read it first; ONNX Runtime's own
    # message ("Protobuf parsing failed") names neither the cause nor the fix. Still an ONNX
    # file when it starts like one (finetune names it as an exported model).
    item = ModelFile("onnx" if damage.startswith("corrupt: not a whole ONNX model")
                     else "unreadable", path, [damage])
    hint = corrupt_graph_hint(path).replace("--format fzn", "--format onnx")
    item.problem = f"{damage} ({hint})"
    return item


def scan_models(folder: Path, data_format: str | None = None,
                channels: int | None = None) -> list[ModelFile]:
    """The model artifacts in ``folder`` (not recursive, except ``saved_model/`` and
    ``triton/`` which are listed as one item each), with :attr:`ModelFile.uses` filled in.

    Args:
        folder: usually the MMAR's ``models/``.
        data_format: the training config's ``data_format`` (a layout tie-breaker).
        channels: the input channels the data gives (the training pipeline's
            ``output_image_channels``); a graph taking another count gets a ``problem``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    items = [item for path in sorted(folder.iterdir())
             if (item := _artifact(path, data_format, channels)) is not None]
    names = {i.path.name for i in items}
    for item in items:
        item.uses = _uses(item, names)
    return items


def scan_model(path: Path, data_format: str | None = None,
               channels: int | None = None) -> ModelFile | None:
    """The one artifact a verb reads at ``path`` (a checkpoint prefix or its ``.index``, a
    ``.pb`` or ``.onnx`` file, a SavedModel folder), as :func:`scan_models` describes it;
    None when nothing is there. Arguments as for :func:`scan_models`."""
    path = Path(path)
    if not path.is_dir() and path.suffix not in (".index", ".meta", ".pb", ".onnx"):
        # a checkpoint prefix: its .index, else a TF1 .meta whose weights are missing
        index, meta = Path(f"{path}.index"), Path(f"{path}.meta")
        path = index if index.is_file() or not meta.is_file() else meta
    item = _artifact(path, data_format, channels) if path.exists() else None
    if item is not None:
        item.uses = _uses(item, {p.name for p in path.parent.iterdir()})
    return item


def _artifact(path: Path, data_format: str | None, channels: int | None) -> ModelFile | None:
    """The artifact ``path`` is (told by its name, then its contents), or None."""
    name = path.name
    if name.startswith("."):
        return None
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return ModelFile("saved_model", path)
    if name.endswith(".index") and path.is_file():
        return _checkpoint(path, data_format, channels)
    if name.endswith(".meta") and not Path(str(path)[:-5] + ".index").exists():
        prefix = Path(str(path)[:-len(".meta")])
        message, hint = missing_weights_message(prefix, missing_tf1_weights(prefix))
        return ModelFile("unreadable", path, [f"{message}; {hint}"])
    if name.endswith(".pb") and path.is_file():
        return _graph(path, data_format, channels)
    if name.endswith(".onnx") and path.is_file():
        return _onnx(path)
    if name == "model.trt" and path.is_file():
        return ModelFile("tensorrt_engine", path)
    return None


def _uses(item: ModelFile, names: set[str]) -> dict[str, str]:
    kind = item.kind
    if item.damaged:
        no = (f"no: {item.damaged}" if item.damaged.startswith("not read")
              else f"no: the checkpoint is {item.damaged}")
        return {"validate/infer": no, "export": no, "finetune": no}
    if kind == "tf2_checkpoint":
        return {"validate/infer": "CheckpointLoader (--model ckpt)",
                "export": "every format", "finetune": "yes"}
    if kind == "tf1_checkpoint":
        if item.meta_error:
            run = f"no: its graph (.meta) is {item.meta_error.split(':')[0]}"
            return {"validate/infer": run, "export": run, "finetune": _FINETUNE_TF1}
        if not item.has_meta:
            run = "no: the graph (.meta) is missing; use Clara's model.fzn.pb"
            return {"validate/infer": run, "export": run, "finetune": _FINETUNE_TF1}
        run = (f"CheckpointLoader runs its graph {item.input} -> {item.output}"
               if item.input and item.output else
               "CheckpointLoader with input_node_names/output_node_names (no NV_MODEL_* nodes)")
        return {"validate/infer": run, "export": "every format, from the TF1 graph",
                "finetune": _FINETUNE_TF1}
    if kind == "frozen_graph":
        return {"validate/infer": "FrozenGraphModelLoader (--model fzn)",
                "export": "savedmodel, onnx, triton from the graph", "finetune": "no (no "
                "variables); finetune from a checkpoint"}
    if kind == "tftrt_graph":
        fallback = ("model.fzn.pb beside it is used instead" if "model.fzn.pb" in names else
                    "make model.fzn.pb with `mmarctl export` from the checkpoint")
        return {"validate/infer": f"no: TF-TRT was removed from TensorFlow 2.18; {fallback}",
                "export": "no", "finetune": "no"}
    if kind == "onnx":
        if item.problem:
            return {"validate/infer": f"no: {item.problem.split(' (')[0]}"}
        return {"validate/infer": "OnnxModelLoader (--model onnx)"}
    if kind == "saved_model":
        return {"serving": "TensorFlow Serving / tf.saved_model.load"}
    if kind == "tensorrt_engine":
        return {"serving": "TensorRT on the GPU and TensorRT version that built it"}
    return {}


_FINETUNE_TF1 = ("only if every variable of the config's network matches one of its "
                 "variables by name and shape, else train from scratch")


def describe_item(item: ModelFile) -> str:
    """One line for ``mmarctl check``: what the artifact is and what each verb does with it."""
    facts = "; ".join(item.details)
    uses = "; ".join(f"{verb}: {what}" for verb, what in item.uses.items())
    return item.label + (f" ({facts})" if facts else "") + (f". {uses}" if uses else "")


def problem_file(item: ModelFile) -> Path:
    """The file a :attr:`ModelFile.problem` is about (a checkpoint's unreadable ``.meta``)."""
    return Path(f"{item.path}.meta") if item.meta_error else item.path


def describe_models(folder: Path, display: Callable[[Path], str] = str,
                    data_format: str | None = None) -> list[tuple[str, str]]:
    """``(file, message)`` lines for ``mmarctl check``: what each artifact is and its uses."""
    return [(display(item.path), describe_item(item))
            for item in scan_models(folder, data_format)]
