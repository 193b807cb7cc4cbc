"""``mmarctl check`` as a library: every MMAR file checked before any compute is spent.

:func:`check_mmar` returns a :class:`CheckReport`; nothing here imports Typer or TensorFlow.
Modules: :mod:`.mmar` (finds the files, resolves ``{VAR}``, runs the schemas),
:mod:`.components` (catalogue names, args, ``ref``), :mod:`.byoc` (BYOC ``path`` on disk),
:mod:`.byoc_source` and :mod:`.byoc_contract` (what train refuses in a BYOC class's source),
:mod:`.data` (the data-split list and the files it names).
"""

from mmarctl.check.mmar import CLARA4_MESSAGE, CheckReport, check_mmar

__all__ = ["CLARA4_MESSAGE", "CheckReport", "check_mmar"]
