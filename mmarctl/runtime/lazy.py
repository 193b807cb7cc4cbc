"""TensorFlow and Keras as lazily imported modules, so component classes load without them.

``mmarctl check`` runs every component's constructor (its argument validation) and must
never import TensorFlow; the same classes build Keras objects later, in ``build()`` or
``__call__``. Component modules therefore write ``from mmarctl.runtime.lazy import keras, tf``
and the real import happens at the first attribute access (``keras.layers``), which is inside
a method. The pattern is TensorFlow's own ``LazyLoader`` and Keras' ``LazyModule``.

A class that *subclasses* a Keras class (a layer, a schedule, an optimizer) needs the real
module when it is defined, so such classes live in their own modules, imported where used.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

__all__ = ["LazyModule", "keras", "tf"]


class LazyModule(types.ModuleType):
    """A stand-in for module ``name`` that imports it on first attribute access."""

    def __getattr__(self, attr: str) -> Any:
        # Only called for attributes the stand-in lacks, i.e. all of the real module's.
        return getattr(importlib.import_module(self.__name__), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self.__name__!r}>"


keras = LazyModule("keras")
tf = LazyModule("tensorflow")
