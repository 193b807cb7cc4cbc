"""A small PNG reader (zlib + NumPy), so LoadPng needs no imaging library.

Supports non-interlaced PNGs of every colour type (grey, RGB, palette, grey+alpha, RGBA)
at bit depths 1, 2, 4, 8 and 16, with all five scanline filters.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from mmarctl.errors import DataError

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: colour type -> samples per pixel
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def read_png(path: str | Path) -> np.ndarray:
    """Decode ``path`` into ``(rows, cols)`` or ``(rows, cols, C)`` (uint8 or uint16)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise DataError(f"cannot read PNG image: {error.strerror}", file=str(path)) from error
    try:
        return _decode(raw)
    except DataError as error:
        raise DataError(error.message, file=str(path), hint=error.hint) from error
    except (zlib.error, struct.error, ValueError, IndexError) as error:
        raise DataError(f"cannot read PNG image: {error}", file=str(path),
                        hint="the file is corrupt or truncated; re-copy it") from error


def _decode(raw: bytes) -> np.ndarray:
    if not raw.startswith(_SIGNATURE):
        raise DataError("not a PNG file (bad signature)")
    pos, header, palette, idat = len(_SIGNATURE), None, None, []
    while pos < len(raw):
        if pos + 8 > len(raw):
            raise DataError("truncated PNG chunk", hint="the file is truncated; re-copy it")
        length, kind = struct.unpack(">I4s", raw[pos:pos + 8])
        body = raw[pos + 8:pos + 8 + length]
        if len(body) != length:
            raise DataError("truncated PNG chunk", hint="the file is truncated; re-copy it")
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None or not idat:
        raise DataError("PNG has no image header or data", hint="the file is truncated")
    width, height, depth, colour, _, _, interlace = header
    if colour not in _CHANNELS or depth not in (1, 2, 4, 8, 16):
        raise DataError(f"unsupported PNG colour type {colour} / bit depth {depth}")
    if interlace:
        raise DataError("interlaced PNG images are not supported",
                        hint="re-save the image without interlacing")
    channels = _CHANNELS[colour]
    bits = channels * depth
    stride = (width * bits + 7) // 8
    bpp = max(1, bits // 8)  # filter unit: bytes per complete pixel, at least 1
    data = zlib.decompress(b"".join(idat))
    if len(data) < height * (stride + 1):
        raise DataError("PNG image data is shorter than its header says",
                        hint="the file is truncated; re-copy it")
    rows = np.frombuffer(data, np.uint8)[: height * (stride + 1)].reshape(height, stride + 1)
    pixels = _unfilter(rows, stride, bpp)
    if depth == 16:
        image = pixels.view(">u2").astype(np.uint16).reshape(height, width, channels)
    elif depth == 8:
        image = pixels.reshape(height, width, channels)
    else:
        per_byte = 8 // depth
        shifts = np.arange(per_byte - 1, -1, -1, dtype=np.uint8) * depth
        unpacked = (pixels[:, :, None] >> shifts) & ((1 << depth) - 1)
        image = unpacked.reshape(height, -1)[:, : width * channels].reshape(height, width, channels)
        if colour == 0:  # scale low-depth grey to the 8-bit range, as viewers show it
            image = image * (255 // ((1 << depth) - 1))
        image = image.astype(np.uint8)
    if colour == 3:
        if palette is None:
            raise DataError("palette PNG without a PLTE chunk")
        return palette[image[:, :, 0]]
    return image[:, :, 0] if channels == 1 else image


def _unfilter(rows: np.ndarray, stride: int, bpp: int) -> np.ndarray:
    """Undo the per-scanline filters (None, Sub, Up, Average, Paeth)."""
    out = np.zeros((rows.shape[0], stride), np.uint8)
    previous = np.zeros(stride, np.uint8)
    for y, row in enumerate(rows):
        kind, line = int(row[0]), row[1:]
        if kind == 0:
            current = line.copy()
        elif kind == 1:  # Sub: running sum per byte position within a pixel
            padded = np.zeros(((stride + bpp - 1) // bpp) * bpp, np.uint32)
            padded[:stride] = line
            current = (np.cumsum(padded.reshape(-1, bpp), axis=0) % 256).reshape(-1)[:stride]
            current = current.astype(np.uint8)
        elif kind == 2:
            current = (line.astype(np.uint16) + previous) % 256
            current = current.astype(np.uint8)
        elif kind in (3, 4):
            current = _sequential(kind, line, previous, bpp)
        else:
            raise DataError(f"bad PNG filter type {kind} in row {y}",
                            hint="the file is corrupt; re-copy it")
        out[y] = current
        previous = current
    return out


def _sequential(kind: int, line: np.ndarray, previous: np.ndarray, bpp: int) -> np.ndarray:
    """Average and Paeth depend on the byte just decoded, so they run byte by byte."""
    cur = bytearray(len(line))
    prev = previous.tolist()
    filt = line.tolist()
    for i, value in enumerate(filt):
        left = cur[i - bpp] if i >= bpp else 0
        up = prev[i]
        if kind == 3:
            predictor = (left + up) // 2
        else:
            upper_left = prev[i - bpp] if i >= bpp else 0
            p = left + up - upper_left
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
            predictor = left if pa <= pb and pa <= pc else (up if pb <= pc else upper_left)
        cur[i] = (value + predictor) & 0xFF
    return np.frombuffer(bytes(cur), np.uint8)
