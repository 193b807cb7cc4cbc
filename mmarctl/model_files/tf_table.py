"""Read a TensorFlow checkpoint's ``.index`` file (a table of tensor entries) in plain Python.

The index of a checkpoint (``model.ckpt.index``) is a LevelDB-style sorted table written by
TensorFlow's ``BundleWriter``: data blocks of prefix-compressed ``key -> value`` entries, an
index block pointing at them and a 48-byte footer ending in a magic number. Each key is a
tensor's name; its value is a ``BundleEntryProto`` (dtype, shape, where the bytes lie in the
``.data-*`` shards). The empty key holds the ``BundleHeaderProto``.

What makes a checkpoint TF2 or TF1: ``tf.train.Checkpoint`` (mmarctl's own checkpoints, any
TF2 object-based checkpoint) stores the object graph under the key
``_CHECKPOINTABLE_OBJECT_GRAPH``; a TF1 ``tf.compat.v1.train.Saver`` does not, and names its
tensors after the graph's variables (``conv1/kernel``, ``conv1/kernel/Adam``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from mmarctl.model_files import protowire as pw

MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER = 5  # compression type byte + crc32c
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"

#: TensorFlow DataType enum values -> names (the ones checkpoints hold).
DTYPES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8",
          7: "string", 9: "int64", 10: "bool", 14: "bfloat16", 17: "uint16", 19: "float16",
          20: "resource", 21: "variant", 22: "uint32", 23: "uint64"}


class TableError(ValueError):
    """The file is not a TensorFlow table (or uses block compression this reader lacks)."""


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of a checkpoint: name, dtype name, shape, and where its bytes lie (the
    ``.data`` shard, the offset in it and the byte count)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    shard: int = 0
    offset: int = 0
    size: int = 0
    #: the masked CRC-32C TensorFlow stores for the tensor's bytes (None: not stored)
    crc32c: int | None = None


def _handle(data: bytes, pos: int) -> tuple[int, int, int]:
    offset, pos = pw.read_varint(data, pos)
    size, pos = pw.read_varint(data, pos)
    return offset, size, pos


def _block(data: bytes, offset: int, size: int) -> bytes:
    if offset + size + BLOCK_TRAILER > len(data):
        raise TableError("a block lies past the end of the file")
    if data[offset + size] != 0:
        raise TableError("compressed table blocks are not supported")
    return data[offset:offset + size]


def _entries(block: bytes) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise TableError("truncated block")
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * restarts
    if end < 0:
        raise TableError("bad restart array")
    out: list[tuple[bytes, bytes]] = []
    key = b""
    pos = 0
    while pos < end:
        shared, pos = pw.read_varint(block, pos)
        unshared, pos = pw.read_varint(block, pos)
        vlen, pos = pw.read_varint(block, pos)
        if shared > len(key) or pos + unshared + vlen > end:
            raise TableError("corrupt block entry")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        out.append((key, block[pos:pos + vlen]))
        pos += vlen
    return out


def read_table(path: Path) -> list[tuple[bytes, bytes]]:
    """Every ``(key, value)`` of the table at ``path``, in key order.

    Raises:
        TableError: not a TensorFlow table, or compressed blocks.
        OSError: the file cannot be read.
    """
    data = Path(path).read_bytes()
    if len(data) < FOOTER_SIZE:
        raise TableError("too short for a TensorFlow table")
    footer = data[-FOOTER_SIZE:]
    if struct.unpack("<Q", footer[-8:])[0] != MAGIC:
        raise TableError("no TensorFlow table magic number")
    try:
        _, _, pos = _handle(footer, 0)  # metaindex (empty in checkpoints)
        index_offset, index_size, _ = _handle(footer, pos)
        out: list[tuple[bytes, bytes]] = []
        for _, handle in _entries(_block(data, index_offset, index_size)):
            offset, size, _ = _handle(handle, 0)
            out.extend(_entries(_block(data, offset, size)))
    except pw.WireError as error:
        raise TableError(str(error)) from None
    return out


def _shape(value: bytes) -> tuple[int, ...]:
    dims = []
    for number, _, dim in pw.fields(value):
        if number == 2:
            size = next((pw.signed(v) for n, _, v in pw.fields(dim) if n == 1), 0)
            dims.append(int(size))
    return tuple(dims)


def checkpoint_entries(index_file: Path) -> list[TensorEntry]:
    """The tensors listed by a checkpoint's ``.index`` file (the header entry left out).

    Raises:
        TableError: the file is not a checkpoint index this reader understands.
    """
    entries = []
    for key, value in read_table(index_file):
        if not key:
            continue
        dtype, shape, place = 0, (), {3: 0, 4: 0, 5: 0}  # shard_id, offset, size
        crc = None
        try:
            for number, wire, field in pw.fields(value):
                if number == 1:
                    dtype = int(field)  # type: ignore[arg-type]
                elif number == 2:
                    shape = _shape(field)  # type: ignore[arg-type]
                elif number in place and isinstance(field, int):
                    place[number] = field
                elif number == 6 and wire == pw.FIXED32:
                    crc = int(field)  # type: ignore[arg-type]
        except pw.WireError as error:
            raise TableError(f"bad entry for {key!r}: {error}") from None
        entries.append(TensorEntry(key.decode("utf-8", "replace"), DTYPES.get(dtype, str(dtype)),
                                   shape, place[3], place[4], place[5], crc))
    return entries


def is_object_checkpoint(entries: list[TensorEntry]) -> bool:
    """True for a TF2 object-based checkpoint (``tf.train.Checkpoint``), False for a TF1 Saver's."""
    return any(e.name == OBJECT_GRAPH_KEY for e in entries)
