"""What WriteNifti and WritePng share: one file per case, ``<case>/<case>_<field><suffix>``.

The arguments (``field``, ``dtype``, ``write_path``) are checked alike, and the file names
come from :mod:`mmarctl.runtime.writers.case_names` (the image's name; parent folders when
two cases of a run share it).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from mmarctl.errors import ConfigError, DataError, note_writing
from mmarctl.runtime.component import Component
from mmarctl.runtime.transforms.base import Sample, case_name
from mmarctl.runtime.writers.case_names import case_of


class CaseFileWriter(Component):
    """A writer of one field per case into a file of its own.

    Subclasses set ``clara_name``, ``suffix`` (the file name's ending) and ``dtypes`` (the
    accepted ``dtype`` names), and write the file in ``write``.
    """

    suffix = ""
    dtypes: tuple[str, ...] = ()

    def __init__(self, field: str = "model", dtype: str = "uint8",
                 write_path: str | None = None) -> None:
        if not isinstance(field, str) or not field:
            raise ConfigError(f"{self.clara_name}: field must be a field name; "
                              f"Received: field={field!r}")
        if dtype not in self.dtypes:
            raise ConfigError(f"{self.clara_name}: dtype must be one of "
                              f"{', '.join(self.dtypes)}; Received: dtype={dtype!r}")
        if write_path is not None and not isinstance(write_path, str):
            raise ConfigError(f"{self.clara_name}: write_path must be a folder path; "
                              f"Received: write_path={write_path!r}")
        self.field, self.dtype, self.write_path = field, dtype, write_path
        super().__init__(field=field, dtype=dtype, write_path=write_path)

    def path_for(self, sample: Sample, out_dir: str | Path | None = None) -> Path:
        """Where this sample's file goes."""
        root = out_dir if out_dir is not None else self.write_path
        if root is None:
            raise ConfigError(f"{self.clara_name}: no output folder (write_path is not set)",
                              hint="set write_path to {MMAR_EVAL_OUTPUT_PATH}")
        named = case_of(sample)  # validate/infer: the run's names, apart when they collide
        if named is not None:
            return Path(root) / named.output / f"{named.stem}_{self.field}{self.suffix}"
        case = case_name(sample, "image" if "image" in sample.get("meta", {}) else None)
        return Path(root) / case / f"{case}_{self.field}{self.suffix}"


@contextmanager
def writing_case_file(path: Path, kind: str) -> Iterator[None]:
    """Make ``path``'s folder, then run the block that writes ``path`` whole.

    On a failed write the folders made for it are removed again when empty (no empty case
    folder is left), and the refusal is a DataError naming the file, noted as writing it:
    for a full disk, :func:`mmarctl.errors.disk_full` reads it as mmarctl's disk-full line
    naming that file (infer adds how many cases were written).
    """
    made = []
    folder = Path(path).parent
    while not folder.exists() and folder != folder.parent:
        made.append(folder)
        folder = folder.parent
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except OSError as error:
        for folder in made:  # deepest first
            try:
                folder.rmdir()
            except OSError:  # not empty (another file of the case), or gone
                break
        failed = DataError(f"cannot write {kind} file: {error.strerror or error}",
                           file=os.fsdecode(path))
        note_writing(failed, path)
        raise failed from error
