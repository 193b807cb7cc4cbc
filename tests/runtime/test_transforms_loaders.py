"""LoadNifti and LoadPng on small files written in tmp_path."""

from __future__ import annotations

import gzip
import struct
import zlib

import nibabel as nib
import numpy as np
import pytest

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.transforms.loaders import LoadNifti, LoadPng

RNG = np.random.default_rng(0)


def write_nifti(path, data, zooms=(0.8, 0.8, 2.5), axcodes_flip=False):
    affine = np.diag(list(zooms) + [1.0])
    affine[:3, 3] = [-20.0, -30.0, 40.0]
    if axcodes_flip:  # an LPS-like file: first axis runs right-to-left
        affine[0, 0] = -zooms[0]
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return affine


def test_load_nifti_reads_float32_and_keeps_geometry(tmp_path):
    data = RNG.integers(-1000, 1000, (6, 5, 4)).astype(np.int16)
    affine = write_nifti(tmp_path / "ct.nii.gz", data)
    sample = LoadNifti(fields="image")({"image": str(tmp_path / "ct.nii.gz")}, RNG)
    assert sample["image"].dtype == np.float32
    np.testing.assert_array_equal(sample["image"], data)
    meta = sample["meta"]["image"]
    np.testing.assert_allclose(meta["affine"], affine)
    np.testing.assert_allclose(meta["pixdim"], [0.8, 0.8, 2.5], rtol=1e-6)
    assert meta["original_shape"] == (6, 5, 4)
    assert meta["channel_axis"] is None
    assert meta["filename"].endswith("ct.nii.gz")
    assert isinstance(meta["header"], nib.Nifti1Header)


def test_load_nifti_loads_image_and_label_fields(tmp_path):
    write_nifti(tmp_path / "i.nii", np.ones((4, 4, 4), np.float32))
    write_nifti(tmp_path / "l.nii", np.eye(4, dtype=np.uint8)[:, :, None].repeat(4, 2))
    sample = LoadNifti(fields=["image", "label"])(
        {"image": str(tmp_path / "i.nii"), "label": str(tmp_path / "l.nii")}, RNG)
    assert sample["label"].dtype == np.float32 and sample["label"].sum() == 16


def test_as_closest_canonical_reorients_to_ras(tmp_path):
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    write_nifti(tmp_path / "lps.nii.gz", data, zooms=(1, 1, 1), axcodes_flip=True)
    plain = LoadNifti("image")({"image": str(tmp_path / "lps.nii.gz")}, RNG)
    canon = LoadNifti("image", as_closest_canonical=True)({"image": str(tmp_path / "lps.nii.gz")}, RNG)
    np.testing.assert_array_equal(plain["image"], data)
    np.testing.assert_array_equal(canon["image"], data[::-1])
    assert canon["meta"]["image"]["affine"][0, 0] > 0


def test_list_of_files_is_stacked_channels_last(tmp_path):
    paths = []
    for i in range(3):
        write_nifti(tmp_path / f"m{i}.nii.gz", np.full((4, 3, 2), i, np.float32))
        paths.append(str(tmp_path / f"m{i}.nii.gz"))
    sample = LoadNifti("image")({"image": paths}, RNG)
    assert sample["image"].shape == (4, 3, 2, 3)
    assert sample["meta"]["image"]["channel_axis"] == -1
    assert sample["meta"]["image"]["original_shape"] == (4, 3, 2)
    np.testing.assert_array_equal(sample["image"][0, 0, 0], [0, 1, 2])


def test_modalities_of_different_shapes_are_a_data_error(tmp_path):
    write_nifti(tmp_path / "a.nii.gz", np.zeros((4, 3, 2), np.float32))
    write_nifti(tmp_path / "b.nii.gz", np.zeros((4, 3, 3), np.float32))
    with pytest.raises(DataError, match="differ in shape"):
        LoadNifti("image")({"image": [str(tmp_path / "a.nii.gz"), str(tmp_path / "b.nii.gz")]}, RNG)


def test_truncated_nifti_is_a_data_error_naming_the_file(tmp_path):
    write_nifti(tmp_path / "full.nii.gz", RNG.random((20, 20, 20)).astype(np.float32))
    raw = (tmp_path / "full.nii.gz").read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError) as info:
        LoadNifti("image")({"image": str(tmp_path / "cut.nii.gz")}, RNG)
    assert info.value.file.endswith("cut.nii.gz")
    assert "truncated" in str(info.value)


def test_uncompressed_truncated_nifti_is_a_data_error(tmp_path):
    write_nifti(tmp_path / "full.nii", RNG.random((10, 10, 10)).astype(np.float32))
    raw = (tmp_path / "full.nii").read_bytes()
    (tmp_path / "cut.nii").write_bytes(raw[:1000])
    with pytest.raises(DataError) as info:
        LoadNifti("image")({"image": str(tmp_path / "cut.nii")}, RNG)
    assert info.value.file.endswith("cut.nii")


def test_garbage_file_is_a_data_error(tmp_path):
    (tmp_path / "junk.nii.gz").write_bytes(gzip.compress(b"not a nifti header" * 30))
    with pytest.raises(DataError) as info:
        LoadNifti("image")({"image": str(tmp_path / "junk.nii.gz")}, RNG)
    assert info.value.file.endswith("junk.nii.gz")


def test_missing_file_is_a_data_error_with_a_hint(tmp_path):
    with pytest.raises(DataError, match="not found") as info:
        LoadNifti("image")({"image": str(tmp_path / "nope.nii.gz")}, RNG)
    assert "DATA_ROOT" in info.value.hint


def test_missing_field_names_field_and_component():
    with pytest.raises(DataError, match="LoadNifti: field 'label' is missing"):
        LoadNifti(["label"])({"image": "x.nii"}, RNG)


def test_field_holding_a_number_is_a_data_error():
    with pytest.raises(DataError, match="must hold a file name"):
        LoadNifti("image")({"image": 3}, RNG)


def test_a_field_loaded_twice_is_a_config_error_naming_its_shape():
    """A label loaded in pre_transforms and again in label_transforms: one short line with
    the array's shape (never its print), a ConfigError (every case hits it, so validate
    does not advise skip_bad_cases)."""
    with pytest.raises(ConfigError) as caught:
        LoadNifti("label")({"label": np.zeros((1, 26, 23, 28), np.float32)}, RNG)
    message = str(caught.value)
    assert "is already loaded (an array of shape (1, 26, 23, 28))" in message
    assert "array(" not in message and len(message) < 300


@pytest.mark.parametrize("args, message", [
    ({"fields": []}, "fields must be"),
    ({"fields": 5}, "Received: fields=5"),
    ({"fields": "image", "as_closest_canonical": "false"}, "Received: as_closest_canonical='false'"),
])
def test_load_nifti_rejects_bad_arguments(args, message):
    with pytest.raises(ConfigError, match=message):
        LoadNifti(**args)


def test_get_config_round_trip():
    loader = LoadNifti(fields=["image", "label"], as_closest_canonical=True)
    assert LoadNifti(**loader.get_config()).get_config() == loader.get_config()


# --- PNG -------------------------------------------------------------------------------

def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _filter_rows(raw: np.ndarray, bpp: int, kind: int) -> bytes:
    """Encode rows of bytes with one PNG filter type (a reference encoder for the tests)."""
    out = bytearray()
    previous = np.zeros(raw.shape[1], np.int32)
    for row in raw.astype(np.int32):
        left = np.concatenate([np.zeros(bpp, np.int32), row[:-bpp]])
        upper_left = np.concatenate([np.zeros(bpp, np.int32), previous[:-bpp]])
        if kind == 0:
            filtered = row
        elif kind == 1:
            filtered = row - left
        elif kind == 2:
            filtered = row - previous
        elif kind == 3:
            filtered = row - (left + previous) // 2
        else:
            p = left + previous - upper_left
            pa, pb, pc = abs(p - left), abs(p - previous), abs(p - upper_left)
            predictor = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, previous, upper_left))
            filtered = row - predictor
        out.append(kind)
        out.extend((filtered % 256).astype(np.uint8).tobytes())
        previous = row
    return bytes(out)


def write_png(path, pixels: np.ndarray, colour: int, depth: int = 8, kind: int = 0,
              palette: np.ndarray | None = None, interlace: int = 0) -> None:
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if depth == 16:
        raw = pixels.astype(">u2").reshape(height, -1).view(np.uint8)
    else:
        raw = pixels.astype(np.uint8).reshape(height, -1)
    bpp = max(1, channels * depth // 8)
    body = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace))
    if palette is not None:
        body += _chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    body += _chunk(b"IDAT", zlib.compress(_filter_rows(raw, bpp, kind)))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + _chunk(b"IEND", b""))


@pytest.mark.parametrize("kind", [0, 1, 2, 3, 4])
def test_png_grey_every_filter(tmp_path, kind):
    pixels = RNG.integers(0, 256, (7, 9)).astype(np.uint8)
    write_png(tmp_path / "g.png", pixels, colour=0, kind=kind)
    sample = LoadPng("image")({"image": str(tmp_path / "g.png")}, RNG)
    np.testing.assert_array_equal(sample["image"], pixels)
    assert sample["image"].dtype == np.float32
    assert sample["meta"]["image"]["channel_axis"] is None
    assert sample["meta"]["image"]["pixdim"] == [1.0, 1.0]


@pytest.mark.parametrize("kind", [1, 3, 4])
def test_png_rgb_and_16_bit(tmp_path, kind):
    rgb = RNG.integers(0, 256, (5, 6, 3)).astype(np.uint8)
    write_png(tmp_path / "c.png", rgb, colour=2, kind=kind)
    sample = LoadPng(["image"])({"image": str(tmp_path / "c.png")}, RNG)
    np.testing.assert_array_equal(sample["image"], rgb)
    assert sample["meta"]["image"]["channel_axis"] == -1
    deep = RNG.integers(0, 65536, (4, 5)).astype(np.uint16)
    write_png(tmp_path / "d.png", deep, colour=0, depth=16, kind=kind)
    np.testing.assert_array_equal(LoadPng("x")({"x": str(tmp_path / "d.png")}, RNG)["x"], deep)


def test_png_palette_image_expands_to_rgb(tmp_path):
    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]])
    index = RNG.integers(0, 3, (4, 4))
    write_png(tmp_path / "p.png", index, colour=3, palette=palette)
    out = LoadPng("image")({"image": str(tmp_path / "p.png")}, RNG)["image"]
    np.testing.assert_array_equal(out, palette[index])


def test_png_one_bit_grey_is_scaled_to_255(tmp_path):
    bits = np.array([[1, 0, 1, 1, 0, 0, 1, 0, 1, 1]], np.uint8)
    packed = np.packbits(bits, axis=1)
    body = _chunk(b"IHDR", struct.pack(">IIBBBBB", 10, 1, 1, 0, 0, 0, 0))
    body += _chunk(b"IDAT", zlib.compress(b"\x00" + packed.tobytes()))
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + body + _chunk(b"IEND", b""))
    out = LoadPng("image")({"image": str(tmp_path / "b.png")}, RNG)["image"]
    np.testing.assert_array_equal(out, bits * 255)


@pytest.mark.parametrize("damage, message", [
    (lambda raw: b"GIF89a" + raw[6:], "bad signature"),
    (lambda raw: raw[: len(raw) // 2], "truncated"),
])
def test_damaged_png_is_a_data_error_naming_the_file(tmp_path, damage, message):
    write_png(tmp_path / "ok.png", RNG.integers(0, 256, (30, 30)).astype(np.uint8), colour=0)
    (tmp_path / "bad.png").write_bytes(damage((tmp_path / "ok.png").read_bytes()))
    with pytest.raises(DataError, match=message) as info:
        LoadPng("image")({"image": str(tmp_path / "bad.png")}, RNG)
    assert info.value.file.endswith("bad.png")


def test_interlaced_png_is_rejected_with_a_hint(tmp_path):
    write_png(tmp_path / "i.png", np.zeros((4, 4), np.uint8), colour=0, interlace=1)
    with pytest.raises(DataError, match="interlaced") as info:
        LoadPng("image")({"image": str(tmp_path / "i.png")}, RNG)
    assert "without interlacing" in info.value.hint


def test_png_list_of_several_files_is_rejected(tmp_path):
    with pytest.raises(DataError, match="one PNG file"):
        LoadPng("image")({"image": ["a.png", "b.png"]}, RNG)


def test_four_and_five_dimensional_files_become_channels_last(tmp_path):
    write_nifti(tmp_path / "v4.nii.gz", np.zeros((4, 3, 2, 2), np.float32))
    write_nifti(tmp_path / "v5.nii.gz", np.zeros((4, 3, 2, 1, 3), np.float32))
    four = LoadNifti("image")({"image": str(tmp_path / "v4.nii.gz")}, RNG)
    five = LoadNifti("image")({"image": str(tmp_path / "v5.nii.gz")}, RNG)
    assert four["image"].shape == (4, 3, 2, 2) and four["meta"]["image"]["channel_axis"] == -1
    assert five["image"].shape == (4, 3, 2, 3) and five["meta"]["image"]["original_shape"] == (4, 3, 2)


def test_a_4d_modality_joins_3d_ones_on_the_channel_axis(tmp_path):
    write_nifti(tmp_path / "a.nii.gz", np.zeros((4, 3, 2), np.float32))
    write_nifti(tmp_path / "b.nii.gz", np.ones((4, 3, 2, 2), np.float32))
    sample = LoadNifti("image")({"image": [str(tmp_path / "a.nii.gz"), str(tmp_path / "b.nii.gz")]}, RNG)
    assert sample["image"].shape == (4, 3, 2, 3)
    np.testing.assert_array_equal(sample["image"][0, 0, 0], [0, 1, 1])


def test_two_dimensional_nifti_loads_as_2d(tmp_path):
    nib.save(nib.Nifti1Image(np.ones((5, 6), np.float32), np.eye(4)), str(tmp_path / "s.nii.gz"))
    sample = LoadNifti("image")({"image": str(tmp_path / "s.nii.gz")}, RNG)
    assert sample["image"].shape == (5, 6) and sample["meta"]["image"]["channel_axis"] is None
    assert len(sample["meta"]["image"]["pixdim"]) == 2


def test_a_fifo_or_a_device_is_not_a_regular_file_not_a_missing_one(tmp_path):
    import os

    fifo, device = tmp_path / "fifo.nii.gz", tmp_path / "zero.nii.gz"
    os.mkfifo(fifo)  # opened, it would block for ever
    device.symlink_to("/dev/zero")
    for path, kind in ((fifo, "FIFO"), (device, "character device")):
        with pytest.raises(DataError, match=rf"not a regular file \({kind}\)"):
            LoadNifti("image")({"image": str(path)}, np.random.default_rng(0))
        with pytest.raises(DataError, match=rf"not a regular file \({kind}\)"):
            LoadPng("image")({"image": str(path)}, np.random.default_rng(0))


def test_an_image_the_user_cannot_read_says_so(tmp_path, monkeypatch):
    from mmarctl.runtime.transforms import loaders

    path = tmp_path / "image.nii.gz"
    write_nifti(path, np.zeros((4, 4, 4), np.float32))

    def refused(_):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(loaders, "open_nifti", refused)  # root, who runs tests, reads any file
    with pytest.raises(DataError, match="cannot read: Permission denied"):
        LoadNifti("image")({"image": str(path)}, np.random.default_rng(0))


def test_a_png_given_to_load_nifti_points_at_load_png(tmp_path):
    write_png(tmp_path / "slice.png", np.zeros((4, 4), np.uint8), colour=0)
    with pytest.raises(DataError) as raised:
        LoadNifti(fields="image")({"image": str(tmp_path / "slice.png")}, RNG)
    assert "LoadPng" in raised.value.hint and "slice.png" in str(raised.value.file)
