"""Summaries of TensorFlow graphs (frozen ``GraphDef`` ``.pb``, TF1 ``MetaGraphDef`` ``.meta``).

Read with :mod:`.protowire`, no TensorFlow. A summary holds what mmarctl needs to decide how
to run a graph: its placeholders (name, dtype, shape), the ``data_format`` of its
convolution / pooling / batch-norm ops, the op types present (``TRTEngineOp``: a TF-TRT graph;
``Apply*``: training ops in a meta graph) and which node names exist.

Layout rule (:func:`GraphSummary.layout`), in order:

1. the input placeholder's shape: a known channel size on one side (axis 1 for channels
   first, the last axis for channels last) with open sizes on the other decides;
2. otherwise the ``data_format`` most of the convolutions, pooling and batch-norm ops use
   (``NCHW``/``NCDHW`` -> channels first);
3. otherwise the config's ``data_format`` (Clara 3.x networks take that argument);
4. otherwise channels last (TensorFlow's default).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from mmarctl.model_files import protowire as pw
from mmarctl.model_files.tf_table import DTYPES

DEFAULT_INPUT = "NV_MODEL_INPUT"
DEFAULT_OUTPUT = "NV_MODEL_OUTPUT"
#: Ops whose ``data_format`` says how the network lays out its activations.
LAYOUT_OPS = ("Conv", "Pool", "FusedBatchNorm", "BiasAdd", "DepthwiseConv")
CHANNELS_FIRST, CHANNELS_LAST = "channels_first", "channels_last"
_TRAINING_PREFIXES = ("Apply", "ResourceApply")
Shape = Optional[tuple[Optional[int], ...]]  # None: unknown rank; None entries: open sizes


class GraphFileError(ValueError):
    """A ``.meta`` or ``.pb`` file that is not the TensorFlow graph it should be (corrupt,
    truncated or another file); the message says which message type was expected."""


def layout_from_shape(shape: Shape) -> str | None:
    """The layout an input shape alone decides (rule 1 of the module docstring), else None."""
    if shape and len(shape) >= 3:
        first, last = shape[1], shape[-1]
        if first is not None and last is None:
            return CHANNELS_FIRST
        if last is not None and first is None:
            return CHANNELS_LAST
    return None


@dataclass(frozen=True)
class Placeholder:
    """A graph input: node name, dtype name and shape (None entries are open sizes)."""

    name: str
    dtype: str
    shape: Shape


@dataclass
class GraphSummary:
    """What a graph holds, for choosing how to run it (see the module docstring)."""

    placeholders: list[Placeholder] = field(default_factory=list)
    ops: Counter = field(default_factory=Counter)
    data_formats: Counter = field(default_factory=Counter)
    names: set[str] = field(default_factory=set)

    @property
    def tensorrt(self) -> bool:
        """True for a TF-TRT graph (``TRTEngineOp`` nodes: TensorRT engines inside)."""
        return self.ops.get("TRTEngineOp", 0) > 0

    @property
    def training_ops(self) -> bool:
        """True when the graph also holds optimizer updates (a TF1 meta graph from training)."""
        return any(op.startswith(_TRAINING_PREFIXES) for op in self.ops)

    def placeholder(self, name: str | None = None) -> Placeholder | None:
        """The placeholder called ``name`` (default: ``NV_MODEL_INPUT``, else the only float one)."""
        if name:
            return next((p for p in self.placeholders if p.name == name), None)
        found = next((p for p in self.placeholders if p.name == DEFAULT_INPUT), None)
        floats = [p for p in self.placeholders if p.dtype.startswith(("float", "bfloat"))]
        return found or (floats[0] if len(floats) == 1 else None)

    def layout(self, input_name: str | None = None,
               config_data_format: str | None = None) -> tuple[str, str]:
        """``(layout, how it was decided)`` for the input ``input_name`` (module docstring rules)."""
        node = self.placeholder(input_name)
        shape = node.shape if node else None
        decided = layout_from_shape(shape)
        if decided:
            return decided, f"input shape {format_shape(shape)}"
        first = sum(n for f, n in self.data_formats.items() if f.startswith("NC"))
        last = sum(n for f, n in self.data_formats.items() if not f.startswith("NC"))
        if first != last:
            which = CHANNELS_FIRST if first > last else CHANNELS_LAST
            return which, f"data_format of {max(first, last)} of {first + last} ops"
        if config_data_format in (CHANNELS_FIRST, CHANNELS_LAST):
            return config_data_format, "the config's data_format"
        return CHANNELS_LAST, "default"


def format_shape(shape: Shape) -> str:
    """``(?, 1, 96, ?, ?)``-style text; ``unknown`` for an unknown rank."""
    if shape is None:
        return "unknown"
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def parse_shape(value: object) -> Shape:
    """A serialized ``TensorShapeProto`` as a tuple (None for an unknown size); None for an
    unknown rank."""
    dims: list[int | None] = []
    for number, _, item in pw.fields(value):  # type: ignore[arg-type]
        if number == 3 and item:  # unknown_rank
            return None
        if number == 2:
            size = next((pw.signed(v) for n, _, v in pw.fields(item) if n == 1), -1)
            dims.append(None if size < 0 else int(size))
    return tuple(dims)


def _node(data: object, summary: GraphSummary) -> None:
    name = op = ""
    attrs: dict[str, object] = {}
    for number, _, value in pw.fields(data):  # type: ignore[arg-type]
        if number == 1:
            name = pw.text(value)
        elif number == 2:
            op = pw.text(value)
        elif number == 5:
            key, attr = "", b""
            for n, _, v in pw.fields(value):  # type: ignore[arg-type]
                if n == 1:
                    key = pw.text(v)
                elif n == 2:
                    attr = v
            if key in ("dtype", "shape", "data_format", "T"):
                attrs[key] = attr
    summary.names.add(name)
    summary.ops[op] += 1
    if op in ("Placeholder", "PlaceholderWithDefault"):
        dtype, shape = "", None
        for n, _, v in pw.fields(attrs.get("dtype", b"")):  # type: ignore[arg-type]
            if n == 6:
                dtype = DTYPES.get(int(v), str(v))  # type: ignore[arg-type]
        for n, _, v in pw.fields(attrs.get("shape", b"")):  # type: ignore[arg-type]
            if n == 7:
                shape = parse_shape(v)
        if op == "Placeholder":
            summary.placeholders.append(Placeholder(name, dtype, shape))
    if "data_format" in attrs and any(key in op for key in LAYOUT_OPS):
        for n, _, v in pw.fields(attrs["data_format"]):  # type: ignore[arg-type]
            if n == 2:
                summary.data_formats[pw.text(v)] += 1


def summarize_graph_def(data: object) -> GraphSummary:
    """Summary of serialized ``GraphDef`` bytes.

    Raises:
        protowire.WireError: the bytes are not a protocol-buffer message.
    """
    summary = GraphSummary()
    for number, wire, value in pw.fields(data):  # type: ignore[arg-type]
        if number == 1 and wire == pw.LENGTH:
            _node(value, summary)
    return summary


def summarize_meta_graph(data: object) -> GraphSummary:
    """Summary of the graph inside serialized ``MetaGraphDef`` bytes (a ``.meta`` file)."""
    for number, wire, value in pw.fields(data):  # type: ignore[arg-type]
        if number == 2 and wire == pw.LENGTH:
            return summarize_graph_def(value)
    return GraphSummary()


def read_summary(path: Path) -> GraphSummary:
    """Summary of a ``.pb`` GraphDef or a ``.meta`` MetaGraphDef file.

    Raises:
        GraphFileError: not a protocol-buffer file of that type, or a graph without nodes
            (e.g. "corrupt: not a TF1 MetaGraphDef (unsupported wire type 4)").
        OSError: unreadable.
    """
    meta = str(path).endswith(".meta")
    what = "a TF1 MetaGraphDef" if meta else "a TensorFlow GraphDef"
    with open(path, "rb") as handle:
        try:
            summary = _summarize_mapped(handle, meta)
        except pw.WireError as error:
            raise GraphFileError(f"corrupt: not {what} ({error})") from None
    if not summary.names:
        # Wire-valid bytes of another message (or an empty file) decode to no nodes at all.
        raise GraphFileError(f"corrupt: not {what} (no graph nodes)")
    return summary


def _summarize_mapped(handle, meta: bool) -> GraphSummary:
    """Summarise an open graph file through a read-only memory map, not a copy: the
    summary reads node names, op types and a few attributes and skips the weights'
    ``tensor_content`` by their lengths, so a 800 MB frozen graph costs the pages holding
    its nodes' headers, not 800 MB of memory (``check`` reads every graph in ``models/``)."""
    with pw.mapped(handle) as data:
        if data is None:
            return GraphSummary()
        return summarize_meta_graph(data) if meta else summarize_graph_def(data)


def likely_output(path: Path) -> str | None:
    """The frozen graph's output: its one node that no other node reads and that is not a
    constant, placeholder or NoOp (past the serving function's trailing ``Identity``), else
    None. Read through a memory map, like :func:`read_summary`: the weights are skipped."""
    nodes: dict[str, tuple[str, list[str]]] = {}
    try:
        with open(path, "rb") as handle, pw.mapped(handle) as data:
            if data is None:
                return None
            for number, wire, value in pw.fields(data):
                if number != 1 or wire != pw.LENGTH:
                    continue
                name, op, inputs = "", "", []
                for n, _, v in pw.fields(value):  # type: ignore[arg-type]
                    if n == 1:
                        name = pw.text(v)
                    elif n == 2:
                        op = pw.text(v)
                    elif n == 3:
                        inputs.append(pw.text(v).split(":")[0])  # "^name": control
                nodes[name] = (op, inputs)
                del value
    except (OSError, pw.WireError):  # not readable as a GraphDef: reported elsewhere
        return None
    read = {i.lstrip("^") for _, inputs in nodes.values() for i in inputs}
    data_inputs = {name: (op, [i for i in inputs if not i.startswith("^")])
                   for name, (op, inputs) in nodes.items()}
    ends = [name for name, (op, _) in data_inputs.items() if name not in read
            and op not in ("Const", "Placeholder", "NoOp")]
    if len(ends) != 1:
        return None
    end = ends[0]
    # the serving function's trailing Identity reads the named output (an Identity too)
    while data_inputs[end][0] == "Identity" and len(data_inputs[end][1]) == 1 and \
            data_inputs.get(data_inputs[end][1][0], ("", []))[0] == "Identity":
        end = data_inputs[end][1][0]
    return end
