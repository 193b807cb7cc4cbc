"""mmarctl's per-user cache: ``$MMARCTL_CACHE``, else ``~/.cache/mmarctl``.

Things that are costly to make and safe to reuse live there, one folder each: Horovod wheels
(:mod:`mmarctl.install_horovod`), compiled kernels (:mod:`mmarctl.runtime.kernels.build`),
the checkpoint/network pairs ``check`` has already found to fit
(:mod:`mmarctl.check.models`), and the label files' value ranges
(:mod:`mmarctl.check.label_values`, which prunes its own entries). Deleting any of it is
safe: it is made again when needed (docs/performance.md, "The per-user cache").
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(kind: str) -> Path:
    """The cache folder for ``kind`` (``wheels``, ``kernels`` ...); not created here."""
    base = os.environ.get("MMARCTL_CACHE") or os.path.join(Path.home(), ".cache", "mmarctl")
    return Path(base) / kind
