"""What ``python3 -m nvmidl.apps.<app>`` runs when the shim is installed.

1. One line on stderr, always first: mmarctl is running in place of Clara.
2. Refuse when a real ``nvmidl`` is also on ``sys.path`` (the shim would hide it).
3. Read Clara's flags (:mod:`.arguments`), map them (:mod:`.mapping`), say the mmarctl
   command line, and run it in this process through mmarctl's own CLI, so errors are the
   same one line and exit code as ``mmarctl`` itself gives.

``MMARCTL_DEBUG=1`` adds ``--debug`` (a traceback on failure), since Clara's scripts cannot.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import mmarctl
from mmarctl.errors import ExitCode, MmarError, UsageError

#: Apps with nothing to map, and what to use instead.
NOT_MAPPED = {
    "automl": "Clara's AutoML is `mmarctl automl MMAR` (`mmarctl commands MMAR` writes "
              "commands/automl.sh for it)",
    "fed_learn": "federated learning (Clara FL client/server) is not supported by mmarctl",
}


def banner(app: str) -> str:
    """The first line of every shim run."""
    return (f"mmarctl {mmarctl.__version__} is running in place of Clara's nvmidl.apps.{app} "
            "(nvmidl here is mmarctl's shim: `mmarctl clara-shim status`)")


def _shadowed(shim_dir: Path | None) -> list[Path]:
    from mmarctl.nvmidl_shim.installer import is_shim, nvmidl_locations

    found = nvmidl_locations(p for p in sys.path if p)
    return [p for p in found if not is_shim(p)
            and (shim_dir is None or p.resolve() != shim_dir.resolve())]


def _fail(error: MmarError) -> int:
    from mmarctl.cli import _print_error  # mmarctl's own one-line format

    _print_error(error)
    return int(error.exit_code)


def _run_mmarctl(argv: list[str]) -> int:
    """Run ``mmarctl ARGV`` in this process; returns its exit code."""
    from mmarctl.cli import app

    if os.environ.get("MMARCTL_DEBUG") == "1":
        argv = ["--debug", *argv]
    try:
        app(args=argv, prog_name="mmarctl")
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else int(ExitCode.ERROR))
    return 0


def run(app: str, argv: list[str], *, shim_dir: Path | None = None) -> int:
    """Run Clara's ``nvmidl.apps.<app>`` with ``argv``; returns the exit code.

    Args:
        app: ``train``, ``evaluate``, ``export``, or a name of :data:`NOT_MAPPED`.
        argv: the arguments after ``-m nvmidl.apps.<app>``.
        shim_dir: the shim's ``nvmidl`` folder (other ``nvmidl`` folders are real ones).
    """
    from mmarctl.nvmidl_shim import mpi

    print(banner(app), file=sys.stderr, flush=True)
    try:
        real = _shadowed(shim_dir)
        if real:
            raise MmarError(f"a real nvmidl is installed at {real[0]}, and mmarctl's shim "
                            "hides it", hint="remove the shim to run Clara's own: mmarctl "
                                             "clara-shim uninstall")
        if app in NOT_MAPPED:
            raise UsageError(f"nvmidl.apps.{app}: not run by mmarctl's shim; {NOT_MAPPED[app]}")
        from mmarctl.nvmidl_shim.arguments import parse, usage
        from mmarctl.nvmidl_shim.mapping import PLANNERS

        if "-h" in argv or "--help" in argv:
            print(usage(app))
            return 0
        plan = PLANNERS[app](parse(app, argv))
        if app in ("train", "evaluate"):  # under mpirun: one rank of the job's workers
            mpi.prepare_worker()
    except MmarError as error:
        # Under mpirun every rank fails alike; one line from rank 0 is enough.
        return _fail(error) if mpi.rank() == 0 else int(error.exit_code)
    for note in plan.notes:
        print(f"note: {note}", file=sys.stderr, flush=True)
    code = 0
    for mmarctl_argv in plan.runs:
        print(f"as: mmarctl {shlex.join(mmarctl_argv)}", file=sys.stderr, flush=True)
        code = _run_mmarctl(mmarctl_argv)
        if code != 0:
            break
    return code


def main(app: str) -> None:
    """Entry point of the shim's ``nvmidl/apps/*.py`` modules; exits with mmarctl's code."""
    package = sys.modules.get("nvmidl")
    shim_dir = Path(package.__file__).parent if package and package.__file__ else None
    raise SystemExit(run(app, sys.argv[1:], shim_dir=shim_dir))
