"""What a TF1 ``.meta`` graph's Saver restores, read without TensorFlow, held to the checkpoint.

validate and infer (``CheckpointLoader``) and export run a Clara checkpoint through its own
graph: ``import_meta_graph`` then ``Saver.restore``, which reads every tensor named by the
graph's ``RestoreV2`` ops from the ``.index``/``.data`` pair and assigns it to its variable.
A ``.meta`` from another run or network than the pair stops that with TensorFlow's page
("Restoring from checkpoint failed. This is most likely due to a Variable name or other graph
key that is missing ..."), after TensorFlow has loaded. :func:`restore_mismatch` says the
same thing from the two files' bytes, naming the tensor: ``check`` reports it before any
compute, and the verbs say it in their one line.

The Saver's tensors are the string values of the ``Const`` each ``RestoreV2`` of the Saver's
scope (``saver_def.restore_op_name``: ``save/restore_all``) reads as its ``tensor_names``.
A reference variable (``VariableV2``, what Clara's TF 1.x graphs hold) restored by an
``Assign`` that validates shapes must also have the checkpoint tensor's shape; a resource
variable takes any shape, so only names are held against those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mmarctl.model_files import protowire as pw
from mmarctl.model_files.graph_info import format_shape, parse_shape
from mmarctl.model_files.tf_table import TensorEntry

#: How many missing names a message lists before it counts the rest.
SHOWN = 3


@dataclass
class SaverTensors:
    """The tensors a meta graph's Saver restores (checkpoint names, in the graph's order),
    and the shape each one must have where its variable checks it."""

    names: list[str] = field(default_factory=list)
    shapes: dict[str, tuple[int | None, ...]] = field(default_factory=dict)


@dataclass
class _Node:
    op: str
    inputs: list[str]
    attrs: dict[str, bytes]


def _attr_value(attr: bytes, number: int) -> object | None:
    return next((v for n, _, v in pw.fields(attr) if n == number), None)


def _shape(attr: bytes) -> tuple[int | None, ...] | None:
    shape = _attr_value(attr, 7)  # AttrValue.shape
    return None if shape is None else parse_shape(shape)


def _strings(attr: bytes) -> list[str]:
    tensor = _attr_value(attr, 8)  # AttrValue.tensor: TensorProto, string_val = 8
    if tensor is None:
        return []
    return [pw.text(v) for n, _, v in pw.fields(tensor) if n == 8]  # type: ignore[arg-type]


#: NodeDef attributes read here: all small (never a Const's weights: only tensor_names').
_ATTRS = ("shape", "validate_shape")


def _nodes(meta_graph: object) -> dict[str, _Node]:
    """The nodes of the graph in serialized ``MetaGraphDef`` bytes, their attributes copied
    out (nothing returned points into the memory map ``meta_graph`` may be a view of)."""
    graph_def = next((v for n, w, v in pw.fields(meta_graph)  # type: ignore[arg-type]
                      if n == 2 and w == pw.LENGTH), b"")
    nodes: dict[str, _Node] = {}
    for number, wire, data in pw.fields(graph_def):  # type: ignore[arg-type]
        if number != 1 or wire != pw.LENGTH:
            continue
        name, op, inputs, attrs = "", "", [], {}
        for n, _, value in pw.fields(data):  # type: ignore[arg-type]
            if n == 1:
                name = pw.text(value)
            elif n == 2:
                op = pw.text(value)
            elif n == 3:
                inputs.append(pw.text(value))
            elif n == 5:
                key = next((pw.text(v) for k, _, v in pw.fields(value) if k == 1), "")
                if key in _ATTRS or (key == "value" and name.endswith("tensor_names")):
                    attrs[key] = bytes(next((v for k, _, v in pw.fields(value) if k == 2),
                                            b""))
        nodes[name] = _Node(op, inputs, attrs)
    return nodes


def _restore_scope(meta_graph: object) -> str | None:
    """The Saver's name scope (``save/``), from ``saver_def.restore_op_name``."""
    saver = next((v for n, w, v in pw.fields(meta_graph)  # type: ignore[arg-type]
                  if n == 3 and w == pw.LENGTH), None)
    if saver is None:
        return None
    op_name = next((pw.text(v) for n, _, v in pw.fields(saver) if n == 3), "")
    return op_name.rsplit("/", 1)[0] + "/" if "/" in op_name else None


def saver_tensors(meta: Path) -> SaverTensors | None:
    """The tensors ``Saver.restore`` reads for the graph of ``meta``; None when the graph
    has no ``RestoreV2`` of its Saver (nothing to hold the checkpoint to).

    Raises:
        protowire.WireError: not a protocol-buffer file; OSError: unreadable.
    """
    with open(meta, "rb") as handle, pw.mapped(handle) as data:
        if data is None:
            return None
        scope = _restore_scope(data)
        nodes = _nodes(data)
    found = SaverTensors()
    restores = [name for name, node in nodes.items() if node.op == "RestoreV2"
                and (scope is None or name.startswith(scope))]
    if not restores:
        return None
    outputs: dict[str, str] = {}  # "save/RestoreV2:3" -> the checkpoint name it reads
    for restore in sorted(restores):
        node = nodes[restore]
        names_node = nodes.get(node.inputs[1].split(":")[0]) if len(node.inputs) > 1 else None
        names = _strings(names_node.attrs.get("value", b"")) if names_node else []
        found.names += names
        for index, name in enumerate(names):
            outputs[f"{restore}:{index}"] = name
        if names:
            outputs[restore] = names[0]  # output 0 is read by the bare node name
    for node in nodes.values():
        if node.op != "Assign" or len(node.inputs) < 2 or node.inputs[1] not in outputs:
            continue
        variable = nodes.get(node.inputs[0].split(":")[0])
        checks = _attr_value(node.attrs.get("validate_shape", b""), 5)
        if variable is None or variable.op != "VariableV2" or checks == 0:
            continue  # validate_shape defaults to true
        shape = _shape(variable.attrs.get("shape", b""))
        if shape is not None:
            found.shapes[outputs[node.inputs[1]]] = shape
    return found


def restore_mismatch(meta: Path, entries: list[TensorEntry]) -> str | None:
    """Why ``Saver.restore`` of ``meta``'s graph fails on the checkpoint of ``entries``, in
    words said of the checkpoint, whose prefix names it ("its .meta graph restores
    conv9/kernel, which the checkpoint does not hold"); None when every tensor it reads is
    there with a shape its variable takes, the graph has no Saver to hold it to, or the
    file cannot be read as a graph (said where the graph itself is read:
    mmarctl.model_files.graph_info).

    Raises:
        OSError: ``meta`` is unreadable.
    """
    try:
        tensors = saver_tensors(meta)
    except pw.WireError:
        return None
    if tensors is None:
        return None
    held = {entry.name: entry.shape for entry in entries}
    missing = [name for name in tensors.names if name not in held]
    if missing:
        restored = set(tensors.names)
        unread = [name for name in held if name not in restored]
        extra = (f"; it holds {_listed(unread)}, which the graph does not restore"
                 if unread else "")
        return (f"its {meta.suffix} graph restores {_listed(missing)}, which the checkpoint "
                f"does not hold{extra}: the .meta and the .index/.data pair come from "
                "different runs or networks")
    for name in tensors.names:
        want = tensors.shapes.get(name)
        if want is not None and not _fits(want, held[name]):
            return (f"its {meta.suffix} graph restores {name} into a variable of shape "
                    f"{format_shape(want)}, but the checkpoint's {name} has shape "
                    f"{format_shape(held[name])}: the .meta and the .index/.data pair come from "
                    "different runs or networks")
    return None


def _fits(want: tuple[int | None, ...], have: tuple[int, ...]) -> bool:
    """Whether a tensor of shape ``have`` goes into a variable of shape ``want`` (None: any)."""
    return len(want) == len(have) and all(w is None or w == h for w, h in zip(want, have))


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


