"""A Triton Inference Server model repository served by the ONNX Runtime backend.

Layout written under ``models/triton/``::

    <name>/config.pbtxt       platform "onnxruntime_onnx", inputs, outputs, max_batch_size
    <name>/1/model.onnx       the verified ONNX export (version 1)

Triton's convention: with ``max_batch_size > 0`` the ``dims`` leave out the batch axis; with
``max_batch_size: 0`` they include it. Open (dynamic) sizes are ``-1``. The config is
written by :func:`render_config` and read back by :func:`parse_pbtxt` (a small reader of
protobuf text format) so that :func:`check_config` can hold it against the ONNX model.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from mmarctl.errors import RuntimeFailure, UsageError

PLATFORM = "onnxruntime_onnx"
BACKEND = "onnxruntime"
VERSION = "1"
#: NumPy dtype name -> Triton data type.
DATA_TYPES = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "int64": "TYPE_INT64",
              "int32": "TYPE_INT32", "uint8": "TYPE_UINT8"}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def model_name(text: str) -> str:
    """A Triton model name from free text (an MMAR folder name): unsafe characters -> ``_``."""
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", text).strip("._-")
    return name or "mmar_model"


def check_name(name: str) -> str:
    """Reject names Triton cannot use as a folder and model name."""
    if not _NAME.match(name):
        raise UsageError(f"--triton-name must be letters, digits, '_', '.', '-'; "
                         f"Received: {name!r}")
    return name


def render_config(name: str, inputs: list[tuple[str, list[int | None], str]],
                  outputs: list[tuple[str, list[int | None], str]], max_batch_size: int) -> str:
    """The text of ``config.pbtxt``.

    Args:
        name: the model name (also its folder).
        inputs, outputs: ``(tensor name, dims with the batch axis first, numpy dtype name)``.
        max_batch_size: 0 turns Triton's batching off (dims then keep the batch axis).
    """
    def tensors(kind: str, values) -> list[str]:
        lines = [f"{kind} ["]
        for index, (tensor, dims, dtype) in enumerate(values):
            shown = dims[1:] if max_batch_size > 0 else dims
            shown = ", ".join("-1" if d is None else str(d) for d in shown)
            if dtype not in DATA_TYPES:
                raise RuntimeFailure(f"Triton has no data type for {dtype} ({tensor})")
            lines += ["  {", f'    name: "{tensor}"', f"    data_type: {DATA_TYPES[dtype]}",
                      f"    dims: [ {shown} ]", "  }" + ("," if index < len(values) - 1 else "")]
        return lines + ["]"]

    lines = [f'name: "{name}"', f'platform: "{PLATFORM}"', f'backend: "{BACKEND}"',
             f"max_batch_size: {max_batch_size}",
             *tensors("input", inputs), *tensors("output", outputs),
             "instance_group [", "  {", "    count: 1", "    kind: KIND_AUTO", "  }", "]"]
    return "\n".join(lines) + "\n"


def write_repository(root: Path, name: str, onnx_file: Path, io: dict[str, Any],
                     max_batch_size: int) -> Path:
    """Write ``root/<name>/config.pbtxt`` and ``root/<name>/1/model.onnx``; return the model folder.

    ``io`` is :func:`mmarctl.runtime.export.onnx_model.onnx_io` of ``onnx_file``.
    """
    if max_batch_size < 0:
        raise UsageError(f"--triton-max-batch-size must be 0 or more; Received: {max_batch_size}")
    folder = Path(root) / name
    (folder / VERSION).mkdir(parents=True)
    shutil.copyfile(onnx_file, folder / VERSION / "model.onnx")
    text = render_config(name, io["inputs"], io["outputs"], max_batch_size)
    (folder / "config.pbtxt").write_text(text, encoding="utf-8")
    return folder


def check_config(folder: Path, io: dict[str, Any]) -> dict[str, Any]:
    """Read ``config.pbtxt`` back and check it against the model's inputs and outputs.

    Returns:
        the parsed config.

    Raises:
        RuntimeFailure: a name, data type or dimension disagrees, or the model file is missing.
    """
    path = Path(folder) / "config.pbtxt"
    config = parse_pbtxt(path.read_text(encoding="utf-8"))
    batch = int(config["max_batch_size"][0])
    if config["platform"][0] != PLATFORM:
        raise RuntimeFailure(f"platform is {config['platform'][0]!r}, not {PLATFORM!r}", file=path)
    if not (Path(folder) / VERSION / "model.onnx").is_file():
        raise RuntimeFailure("no model file in version folder 1", file=folder)
    for kind, key in (("input", "inputs"), ("output", "outputs")):
        declared = {t["name"][0]: t for t in config.get(kind, [])}
        actual = {name: (dims, dtype) for name, dims, dtype in io[key]}
        if set(declared) != set(actual):
            raise RuntimeFailure(f"{kind} names {sorted(declared)} do not match the model's "
                                 f"{sorted(actual)}", file=path)
        for name, (dims, dtype) in actual.items():
            want = [-1 if d is None else d for d in (dims[1:] if batch > 0 else dims)]
            got = [int(d) for d in declared[name].get("dims", [])]
            if got != want or declared[name]["data_type"][0] != DATA_TYPES.get(dtype):
                raise RuntimeFailure(f"{kind} {name}: config says {got} "
                                     f"{declared[name]['data_type'][0]}, the model has {want} "
                                     f"{DATA_TYPES.get(dtype, dtype)}", file=path)
    return config


# -- protobuf text format, the subset Triton configs use -------------------------------------
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[{}\[\]:,]|[^\s{}\[\]:,"#]+|\S')


def _tokens(text: str) -> list[str]:
    tokens = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token.startswith("#"):
            continue  # a comment
        if token == '"':
            raise ValueError(f"unterminated string at offset {match.start()}")
        tokens.append(token)
    return tokens


def parse_pbtxt(text: str) -> dict[str, list[Any]]:
    """Parse protobuf text format into ``{field: [values...]}``.

    Every field maps to a list (protobuf fields may repeat); a message is a dict of the same
    kind, ``[a, b]`` adds each element; strings lose their quotes, other scalars stay text.

    Raises:
        ValueError: the text is not protobuf text format.
    """
    fields, _ = _message(_tokens(text), 0, closing=None)
    return fields


def _message(tokens: list[str], pos: int, closing: str | None) -> tuple[dict, int]:
    fields: dict[str, list[Any]] = {}
    while pos < len(tokens):
        token = tokens[pos]
        if token == closing:
            return fields, pos + 1
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", token):
            raise ValueError(f"expected a field name, found {token!r}")
        pos += 1
        if pos < len(tokens) and tokens[pos] == ":":
            pos += 1
        values, pos = _value(tokens, pos)
        fields.setdefault(token, []).extend(values)
    if closing is not None:
        raise ValueError(f"missing {closing!r}")
    return fields, pos


def _value(tokens: list[str], pos: int) -> tuple[list[Any], int]:
    if pos >= len(tokens):
        raise ValueError("a field has no value")
    token = tokens[pos]
    if token == "{":
        message, pos = _message(tokens, pos + 1, closing="}")
        return [message], pos
    if token == "[":
        values: list[Any] = []
        pos += 1
        while pos < len(tokens) and tokens[pos] != "]":
            if tokens[pos] == ",":
                pos += 1
                continue
            value, pos = _value(tokens, pos)
            values.extend(value)
        if pos >= len(tokens):
            raise ValueError("missing ']'")
        return values, pos + 1
    if token in "}]:,":
        raise ValueError(f"unexpected {token!r}")
    if token.startswith('"'):
        return [bytes(token[1:-1], "utf-8").decode("unicode_escape")], pos + 1
    return [token], pos + 1
