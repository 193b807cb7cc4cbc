"""What WriteNifti and WritePng share: one file per case, ``<case>/<case>_<field><suffix>``.

The arguments (``field``, ``dtype``, ``write_path``) are checked alike, and the file names
come from :mod:`mmarctl.runtime.writers.case_names` (the image's name; parent folders when
two cases of a run share it).
"""

from __future__ import annotations

from pathlib import Path

from mmarctl.errors import ConfigError
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
