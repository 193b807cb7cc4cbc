"""SaveAsNifti: a debugging transform that writes what the pipeline produced so far."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from mmarctl.errors import ConfigError, RuntimeFailure
from mmarctl.runtime.transforms.base import (Sample, Transform, as_fields, case_name,
                                             channel_axis, check_bool)


class SaveAsNifti(Transform):
    """Write the listed fields to ``out_dir`` as NIfTI, to inspect patches and labels.

    Implements Clara's ``SaveAsNifti`` debug transform (FAQ: ``fields, out_dir,
    interrupt``). Files are ``<case>_<field>_<n>.nii.gz`` where ``n`` counts calls of this
    transform, so successive patches of one case do not overwrite each other. With
    ``interrupt: true`` the run stops after the first save with a RuntimeFailure naming
    the folder, which is what Clara's flag was for.

    Args:
        fields: field name or list of names.
        out_dir: folder for the files (created if needed).
        interrupt: stop after saving once (default false).
    """

    clara_name = "SaveAsNifti"

    def __init__(self, fields: str | list[str], out_dir: str, interrupt: bool = False) -> None:
        self.fields = as_fields(fields, component=self.clara_name)
        if not isinstance(out_dir, str) or not out_dir:
            raise ConfigError(f"{self.clara_name}: out_dir must be a folder path; "
                              f"Received: out_dir={out_dir!r}")
        self.out_dir = out_dir
        self.interrupt = check_bool(interrupt, component=self.clara_name, arg="interrupt")
        self._counter = itertools.count()
        super().__init__(fields=fields, out_dir=out_dir, interrupt=interrupt)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        from mmarctl.runtime.writers.nifti import save_nifti

        number = next(self._counter)
        case = case_name(sample)
        for field in self.fields:
            array = self.require(sample, field)
            props = sample.get("meta", {}).get(field, {})
            save_nifti(array, channel_axis(sample, field), props.get("affine"), props.get("header"),
                       Path(self.out_dir) / f"{case}_{field}_{number}.nii.gz", "float32")
        if self.interrupt:
            raise RuntimeFailure(f"{self.clara_name}: stopped after saving {', '.join(self.fields)} "
                                 f"to {self.out_dir} (interrupt is true)",
                                 hint="set interrupt to false or remove SaveAsNifti to train")
        return sample
