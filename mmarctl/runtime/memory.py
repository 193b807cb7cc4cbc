"""What the runtime does about its processes' private memory, before TensorFlow loads.

Measured on row 4 of the MONAI suite (docs/performance.md, "Private memory of the training
step"), where the private memory of mmarctl's training process was broken down from
``/proc/self/smaps`` and glibc's ``mallinfo2``. The part that was the runtime's to change:

**Keras' optional imports** (:func:`without_optional_imports`, every verb that loads
TensorFlow, through :func:`mmarctl.runtime.logs.quiet_tensorflow`). ``import keras`` (3.x)
imports pandas (and pyarrow through it), scikit-learn and ``matplotlib.pyplot`` whenever
they are installed, and TensorFlow's legacy ``tf.keras`` imports ``scipy.sparse``, each
inside ``try: ... except ImportError`` for a feature mmarctl never uses (DataFrames in
``fit``, the scikit-learn wrappers, ``plot_image_gallery``, sparse inputs to the legacy
``fit``). In a venv with mmarctl's extras that is about 1,200 more modules at start-up,
some 100 MiB of private memory and 165 MiB resident in every process. While TensorFlow and
Keras import, those names are made unimportable (Keras takes its ``ImportError`` fallback);
afterwards they are importable again, so mmarctl's own uses (matplotlib for the learning
curves, pandas through MLflow) load them when, and only if, they run.

**Left as they are, measured** (the same row, tutorial UNet, 2 x 48^3, 2 vCPUs). glibc's
malloc arenas: TensorFlow's tensors of 256 KiB and up come from oneDNN's BFC pool, not from
malloc, but the small allocations of its thread pools spread over up to 8 arenas per core,
60 to 90 MiB of them free but resident at the peak. One arena (``MALLOC_ARENA_MAX=1`` in the
environment, or ``mallopt`` before TensorFlow starts its threads) takes about 30 MiB off the
peak, but the step ran about 5 % slower (slower in 9 of 10 interleaved pairs at load 1.2
to 1.6: the two compute threads then share one arena lock), so it is a user's choice, not
a default; two arenas saved nothing. Also not kept: a fixed mmap threshold
(1 MiB: about 20 MiB less, 6,000 to 12,000 more page faults per step),
``TF_ONEDNN_USE_SYSTEM_ALLOCATOR=1`` (malloc instead of the BFC pool: 50 MiB more, or with a
1 MiB mmap threshold 60 MiB less but 57,000 page faults and 1.7x the CPU time per step),
``malloc_trim`` after the first step (no steady gain), ``ONEDNN_PRIMITIVE_CACHE_CAPACITY``
and ``TF_MKL_OPTIMIZE_PRIMITIVE_MEMUSE`` (no change).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator, Sequence

__all__ = ["OPTIONAL_IMPORTS", "OPTIONAL_IMPORTS_ENV", "without_optional_imports"]

#: Top-level packages that Keras and TensorFlow import only for features the runtime never
#: calls; hidden while they load (see the module docstring).
OPTIONAL_IMPORTS = ("pandas", "pyarrow", "sklearn", "matplotlib", "scipy")

#: ``1`` lets Keras import them as it would (for a BYOC component that relies on Keras'
#: pandas or scikit-learn support).
OPTIONAL_IMPORTS_ENV = "MMARCTL_KERAS_OPTIONAL_IMPORTS"


@contextmanager
def without_optional_imports(names: Sequence[str] = OPTIONAL_IMPORTS) -> Iterator[list[str]]:
    """Within the block, ``import <name>`` (and its submodules) raises ``ModuleNotFoundError``.

    Names already imported are left alone (their modules are in use); so is everything when
    ``MMARCTL_KERAS_OPTIONAL_IMPORTS=1``. On exit the names become importable again. Yields
    the names it hid.
    """
    hidden: list[str] = []
    if os.environ.get(OPTIONAL_IMPORTS_ENV) != "1":
        for name in names:
            if name not in sys.modules:
                sys.modules[name] = None  # type: ignore[assignment]  # the import system's "not here"
                hidden.append(name)
    try:
        yield hidden
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]

