"""Clara's own ``commands/*.sh`` run unchanged: a stand-in ``nvmidl`` package that runs mmarctl.

Clara Train 3.x scripts start ``python3 -u -m nvmidl.apps.train|evaluate|export ...``. With
``mmarctl clara-shim install`` a tiny ``nvmidl`` package (a few lines per module, each calling
:func:`mmarctl.nvmidl_shim.entry.main`) is written into the site-packages of the environment
mmarctl runs in, never over a real ``nvmidl``::

    installer.py   write / remove / describe the shim package (no TensorFlow)
    arguments.py   read Clara's command line (-m -c -e --set ..., export's flags)
    mapping.py     a Clara call -> the mmarctl command line(s) that do the same
    mpi.py         the ``mpirun ... nvmidl.apps.train ... multi_gpu=true`` form
    entry.py       what ``python3 -m nvmidl.apps.X`` runs: banner, map, run mmarctl in-process
    detect.py      which of an MMAR's commands/ scripts are Clara's (for ``mmarctl check``)

docs/compatibility.md, "Clara's own commands/", is the user's description.
"""

from __future__ import annotations

__all__ = ["SHIM_DIST", "SHIM_MARKER"]

#: The distribution name pip lists for the installed shim (``pip uninstall`` removes it too).
SHIM_DIST = "mmarctl-nvmidl-shim"
#: A line every file of the shim package carries; a folder without it is never touched.
SHIM_MARKER = "# mmarctl-nvmidl-shim: written by `mmarctl clara-shim install`"
