"""mmarctl: manage Medical Model ARchive (MMAR) workspaces.

The package is split so that the command line stays fast: everything that imports
TensorFlow or Horovod lives in :mod:`mmarctl.runtime` and is imported only by the verbs
that need it.
"""

__version__ = "0.1.0"
