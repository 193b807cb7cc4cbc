"""Channels-first graphs (Clara's NCDHW) rewritten to run on any CPU.

Clara 3.x trained on GPUs in channels-first layout, so its graphs hold ``Conv3D``,
``BiasAdd``, ``FusedBatchNorm``, pooling and transposed-convolution nodes with
``data_format: NCDHW``. TensorFlow's CPU kernels (Eigen) take only channels-last; oneDNN
accepts channels-first float32 but not float16 where the CPU lacks AVX-512 FP16 (an AMD
EPYC, say), so a graph with a float16 section stopped there with "CPU implementation of
Conv3D currently only supports the NHWC tensor format".

:func:`channels_last_graph_def` rewrites each such node in place of the GraphDef: a
``Transpose`` to channels-last on its data input, the node itself in channels-last (its
``strides``/``dilations``/``ksize`` permuted, a transposed convolution's output-size vector
permuted by ``DataFormatVecPermute``), and a ``Transpose`` back under the node's own name,
so every consumer, the graph's input and output keep their layout. Grappler's arithmetic
optimizer removes the back-to-back transpose pairs this leaves between layers. A graph with
no channels-first node is returned unchanged, so mmarctl's own (channels-last) exports are
never touched. Training-only nodes (gradients of the filter) are left as they are.
"""

from __future__ import annotations

from typing import Any

#: Layout-carrying ops -> the input indices that hold a tensor in the node's layout.
DATA_INPUTS = {
    "Conv2D": (0,), "Conv3D": (0,), "DepthwiseConv2dNative": (0,), "BiasAdd": (0,),
    "FusedBatchNorm": (0,), "FusedBatchNormV2": (0,), "FusedBatchNormV3": (0,),
    "MaxPool": (0,), "MaxPool3D": (0,), "AvgPool": (0,), "AvgPool3D": (0,),
    "Conv2DBackpropInput": (2,), "Conv3DBackpropInputV2": (2,),
}
#: Transposed convolutions: the input holding the output size as a shape vector.
SIZE_INPUT = {"Conv2DBackpropInput": 0, "Conv3DBackpropInputV2": 0}
#: Per-axis list attributes, given in the node's layout.
AXIS_ATTRS = ("strides", "dilations", "ksize")

_TO_LAST = {4: [0, 2, 3, 1], 5: [0, 2, 3, 4, 1]}
_TO_FIRST = {4: [0, 3, 1, 2], 5: [0, 4, 1, 2, 3]}
_FIRST_FORMAT = {4: "NCHW", 5: "NCDHW"}
_LAST_FORMAT = {4: "NHWC", 5: "NDHWC"}
_PREFIX = "mmarctl_channels_last"


def channels_first_nodes(graph_def: Any) -> list[str]:
    """Names of the nodes :func:`channels_last_graph_def` would rewrite."""
    return [node.name for node in graph_def.node if _is_channels_first(node)]


def channels_last_graph_def(graph_def: Any) -> Any:
    """A copy of ``graph_def`` whose channels-first nodes compute in channels-last.

    The graph's inputs, outputs and node names (as consumers see them) are unchanged;
    ``graph_def`` itself is not modified. Returns ``graph_def`` when there is nothing to do.
    A node whose data rank cannot be inferred (a ``BiasAdd`` on an unknown shape) is left
    as it is.
    """
    targets = channels_first_nodes(graph_def)
    if not targets:
        return graph_def
    import tensorflow as tf

    ranks = _data_ranks(graph_def, targets)
    result = tf.compat.v1.GraphDef()
    result.CopyFrom(graph_def)
    renamed: dict[str, str] = {}
    added: list[Any] = []
    for node in result.node:
        rank = ranks.get(node.name)
        if not _is_channels_first(node) or rank not in _TO_LAST:
            continue
        inner = f"{node.name}/{_PREFIX}"
        for index in DATA_INPUTS[node.op]:
            added.append(_transpose(f"{inner}/input{index}", node.input[index],
                                    _perm(rank, _TO_LAST), node.attr["T"].type))
            node.input[index] = added[-1].name
        if node.op in SIZE_INPUT:
            index = SIZE_INPUT[node.op]
            size_type = node.attr["Tshape"].type if "Tshape" in node.attr else None
            added.append(_vec_permute(f"{inner}/size", node.input[index], rank, size_type))
            node.input[index] = added[-1].name
        for attr in AXIS_ATTRS:
            values = node.attr[attr].list.i if attr in node.attr else []
            if len(values) == rank:
                permuted = [values[axis] for axis in _TO_LAST[rank]]
                node.attr[attr].list.i[:] = permuted
        node.attr["data_format"].s = _last_format(node, rank).encode()
        if "_output_shapes" in node.attr:  # recorded in the old layout; inferred again
            del node.attr["_output_shapes"]
        # The node's own name goes to the transpose back, which its consumers read.
        added.append(_transpose(node.name, f"{inner}:0", _perm(rank, _TO_FIRST),
                                node.attr["T"].type))
        renamed[node.name] = inner
        node.name = inner
    added.extend(_perm_constants(ranks))
    result.node.extend(added)
    _redirect_secondary_outputs(result, renamed)
    return result


def _is_channels_first(node: Any) -> bool:
    if node.op not in DATA_INPUTS or "data_format" not in node.attr:
        return False
    return node.attr["data_format"].s.decode() in ("NCHW", "NCDHW")


def _last_format(node: Any, rank: int) -> str:
    # BiasAdd names its channels-last layout "NHWC" whatever the rank.
    return "NHWC" if node.op == "BiasAdd" else _LAST_FORMAT[rank]


def _data_ranks(graph_def: Any, names: list[str]) -> dict[str, int | None]:
    """Rank of each node's layout input, from TensorFlow's shape inference on the graph."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    ranks = {}
    for name in names:
        op = graph.get_operation_by_name(name)
        ranks[name] = op.inputs[DATA_INPUTS[op.type][0]].shape.rank
        if ranks[name] is None and op.get_attr("data_format").decode() == "NCDHW":
            ranks[name] = 5  # the format names the rank
    return ranks


def _perm(rank: int, table: dict[int, list[int]]) -> str:
    direction = "to_last" if table is _TO_LAST else "to_first"
    return f"{_PREFIX}/{direction}_{rank}d"


def _perm_constants(ranks: dict[str, int | None]) -> list[Any]:
    import tensorflow as tf

    nodes = []
    for rank in sorted({r for r in ranks.values() if r in _TO_LAST}):
        for table in (_TO_LAST, _TO_FIRST):
            node = tf.compat.v1.NodeDef(name=_perm(rank, table), op="Const")
            node.attr["dtype"].type = tf.int32.as_datatype_enum
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(table[rank], tf.int32))
            nodes.append(node)
    return nodes


def _transpose(name: str, source: str, perm: str, dtype: int) -> Any:
    import tensorflow as tf

    node = tf.compat.v1.NodeDef(name=name, op="Transpose", input=[source, perm])
    node.attr["T"].type = dtype
    node.attr["Tperm"].type = tf.int32.as_datatype_enum
    return node


def _vec_permute(name: str, source: str, rank: int, dtype: int | None) -> Any:
    import tensorflow as tf

    node = tf.compat.v1.NodeDef(name=name, op="DataFormatVecPermute", input=[source])
    node.attr["T"].type = dtype or tf.int32.as_datatype_enum
    node.attr["src_format"].s = _FIRST_FORMAT[rank].encode()
    node.attr["dst_format"].s = _LAST_FORMAT[rank].encode()
    return node


def _redirect_secondary_outputs(graph_def: Any, renamed: dict[str, str]) -> None:
    """``name:k`` (k >= 1, e.g. FusedBatchNorm's batch statistics: per-channel vectors, no
    layout) now comes from the renamed node; ``name`` / ``name:0`` stay on the transpose."""
    for node in graph_def.node:
        for position, source in enumerate(node.input):
            head, _, port = source.partition(":")
            if head in renamed and port not in ("", "0"):
                node.input[position] = f"{renamed[head]}:{port}"
