"""A minimal reader of the protocol-buffer wire format, for TensorFlow files without TensorFlow.

``mmarctl check`` describes the model files in ``models/`` (checkpoint index entries, frozen
GraphDefs, MetaGraphDefs) without importing TensorFlow, whose import alone takes seconds.
Only what those descriptions need is read: a message is a sequence of ``(field number, wire
type, value)``; length-delimited values stay ``bytes`` (or ``memoryview`` slices of the
file) and are decoded by the caller that knows the schema. Packed repeated fields, groups
and unknown fields are skipped or returned raw.
"""

from __future__ import annotations

import mmap
import os
from contextlib import contextmanager
from typing import IO, Iterator, Optional, Union

Buffer = Union[bytes, memoryview]

VARINT, FIXED64, LENGTH, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5


class WireError(ValueError):
    """The bytes are not a well-formed protocol-buffer message."""


def read_varint(data: Buffer, pos: int) -> tuple[int, int]:
    """``(value, next position)`` of the base-128 varint at ``pos``."""
    value = shift = 0
    end = len(data)
    while True:
        if pos >= end or shift > 63:
            raise WireError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def fields(data: Buffer) -> Iterator[tuple[int, int, object]]:
    """Yield ``(field number, wire type, value)`` for each field of one message.

    Varints come as ``int``, fixed-size values as little-endian ``int``, length-delimited
    values as a slice of ``data`` (zero-copy when ``data`` is a memoryview).

    Raises:
        WireError: truncated data or a wire type this reader does not know.
    """
    pos, end = 0, len(data)
    while pos < end:
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = read_varint(data, pos)
        elif wire == LENGTH:
            size, pos = read_varint(data, pos)
            if pos + size > end:
                raise WireError("length-delimited field runs past the end")
            value, pos = data[pos:pos + size], pos + size
        elif wire == FIXED64:
            value, pos = int.from_bytes(bytes(data[pos:pos + 8]), "little"), pos + 8
        elif wire == FIXED32:
            value, pos = int.from_bytes(bytes(data[pos:pos + 4]), "little"), pos + 4
        else:  # groups are not used by TensorFlow's files
            raise WireError(f"unsupported wire type {wire}")
        if pos > end:
            raise WireError("field runs past the end")
        yield number, wire, value


def text(value: object) -> str:
    """A length-delimited value as UTF-8 text (undecodable bytes replaced)."""
    return bytes(value).decode("utf-8", "replace")  # type: ignore[arg-type]


def signed(value: int) -> int:
    """An int64 varint as a signed number (``-1`` is written as 2**64 - 1)."""
    return value - (1 << 64) if value >= 1 << 63 else value


@contextmanager
def mapped(handle: IO[bytes]) -> Iterator[Optional[memoryview]]:
    """An open file's bytes through a read-only memory map, not a copy (a model file's
    weights are skipped by their lengths, so only the pages read cost memory); None for an
    empty file, which mmap refuses. The view is released and the map closed on exit."""
    if os.fstat(handle.fileno()).st_size == 0:
        yield None
        return
    mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    data = memoryview(mapping)
    try:
        yield data
    finally:
        data.release()
        try:
            mapping.close()
        except BufferError:  # a slice still held by a failed parse's frames: the GC closes it
            pass
