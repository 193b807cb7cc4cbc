"""Reading a CT case and writing a mask: mmarctl's NIfTI I/O against nibabel's plain one.

The baseline is what ``LoadNifti`` did before, and what most pipelines do: ``nibabel.load``
(which streams ``.nii.gz`` through Python's ``gzip``), ``get_fdata(dtype=float32)``, a
C-ordered copy with ``np.ascontiguousarray`` and an ``np.isfinite`` check. mmarctl's read
(``mmarctl.runtime.transforms.loaders.load_nifti``) decompresses the whole file with ISA-L
(``nifti_open``), copies to C order tile by tile (``c_order``) and checks finiteness with
min and max. Both read the same files, alternating round by round, so a busy moment of a
shared host falls on both; the table gives each one's best and median and checks that the
arrays are equal.

The case is a ``mmarctl data synth`` CT (int16 HU, gzip-compressed like the Medical
Segmentation Decathlon's) and its uint8 label, 512 x 512 x 160 by default.

    python benchmarks/nifti_io.py                       # 512 x 512 x 160, 5 rounds
    python benchmarks/nifti_io.py --shape 256,256,128 --rounds 9
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def nibabel_read(path: str) -> np.ndarray:
    """The baseline: nibabel's own read, made C-ordered and checked as LoadNifti did."""
    import nibabel as nib

    data = np.ascontiguousarray(nib.load(path).get_fdata(dtype=np.float32))
    if not np.isfinite(data).all():
        raise ValueError(f"{path}: non-finite voxels")
    return data


def mmarctl_read(path: str) -> np.ndarray:
    """mmarctl's read, as LoadNifti calls it."""
    from mmarctl.runtime.transforms.loaders import load_nifti

    return load_nifti(path)[0]


def nibabel_write(mask: np.ndarray, path: Path) -> None:
    """The baseline: nibabel's own save of the C-ordered mask."""
    import nibabel as nib

    nib.save(nib.Nifti1Image(mask, np.eye(4)), str(path))


def mmarctl_write(mask: np.ndarray, path: Path) -> None:
    """mmarctl's write, as WriteNifti calls it."""
    from mmarctl.runtime.writers.nifti import save_nifti

    save_nifti(mask, None, np.eye(4), None, path, dtype="uint8")


def write_case(folder: Path, shape: tuple[int, int, int]) -> dict[str, str]:
    """A synthetic CT and its label as ``.nii.gz`` in ``folder``: {"image": path, "label": path}."""
    from mmarctl.synth import ct_case
    from mmarctl.synth_files import save_nifti as save_volume

    image, label, affine = ct_case(np.random.default_rng(0), min(shape), shape=shape)
    paths = {"image": folder / "ct.nii.gz", "label": folder / "label.nii.gz"}
    save_volume(image, affine, paths["image"])
    save_volume(label, affine, paths["label"])
    return {name: str(path) for name, path in paths.items()}


def _alternate(calls: dict, rounds: int, field: str, times: dict) -> None:
    for index in range(rounds):
        for name in (list(calls) if index % 2 == 0 else list(reversed(calls))):
            started = time.perf_counter()
            calls[name]()
            times.setdefault((name, field), []).append(time.perf_counter() - started)


def time_io(paths: dict[str, str], rounds: int) -> dict[tuple[str, str], list[float]]:
    """{(tool, row): seconds per round}: the image and label reads, then the mask write;
    the two tools alternate in each round."""
    times: dict[tuple[str, str], list[float]] = {}
    for field, path in paths.items():
        np.testing.assert_array_equal(nibabel_read(path), mmarctl_read(path))
        _alternate({"nibabel": lambda p=path: nibabel_read(p),
                    "mmarctl": lambda p=path: mmarctl_read(p)}, rounds, field, times)
    mask = np.ascontiguousarray(mmarctl_read(paths["label"]).astype(np.uint8))
    out = Path(paths["label"]).with_name("written.nii.gz")
    mmarctl_write(mask, out)
    np.testing.assert_array_equal(mmarctl_read(str(out)), mask)
    _alternate({"nibabel": lambda: nibabel_write(mask, out),
                "mmarctl": lambda: mmarctl_write(mask, out)}, rounds, "mask write", times)
    return times


def parse_shape(text: str) -> tuple[int, int, int]:
    parts = tuple(int(p) for p in text.split(","))
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError("expected X,Y,Z, e.g. 512,512,160")
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", type=parse_shape, default=(512, 512, 160))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="mmarctl-nifti-load-") as folder:
        paths = write_case(Path(folder), args.shape)
        sizes = {field: Path(path).stat().st_size / 2**20 for field, path in paths.items()}
        times = time_io(paths, args.rounds)
    shape = "x".join(map(str, args.shape))
    print(f"NIfTI I/O of one {shape} case (.nii.gz), {args.rounds} alternating rounds; "
          "arrays equal")
    print("| file | nibabel best / median ms (baseline) | mmarctl best / median ms | speed-up (median) |")
    print("|---|---:|---:|---:|")
    sizes["mask write"] = sizes["label"]
    for field in (*paths, "mask write"):
        base, ours = times[("nibabel", field)], times[("mmarctl", field)]
        ratio = statistics.median(base) / statistics.median(ours)
        print(f"| {field} ({sizes[field]:.1f} MiB) | {1e3 * min(base):.1f} / "
              f"{1e3 * statistics.median(base):.1f} | {1e3 * min(ours):.1f} / "
              f"{1e3 * statistics.median(ours):.1f} | {ratio:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
