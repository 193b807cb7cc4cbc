"""The options that start Horovod workers (``--gpus``, ``--cpu``, ``--hosts``, ``--hostfile``,
``--launcher``), shared by train, finetune, validate and infer; the config's ``multi_gpu``,
which asks for them too; and their one rule when no worker is started."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mmarctl.commands._common import completing, one_of

GpusOption = Annotated[int, typer.Option(
    "--gpus", min=1, metavar="N",
    help="Processes (GPUs) on this machine; more than 1 launches that many Horovod "
         "workers, each on its share of the data (train: data-parallel; sets multi_gpu).")]
CpuOption = Annotated[bool, typer.Option(
    "--cpu", help="With --gpus N: run N CPU processes instead (for testing multi-process runs).")]


def _hosts(value: Optional[str]) -> Optional[str]:
    """``--hosts`` read as it is parsed: a malformed list is a usage error before any MMAR
    is looked for (the launcher reads it again)."""
    if value is None:
        return value
    from mmarctl.errors import UsageError
    from mmarctl.launcher import parse_hosts

    try:
        parse_hosts(value)
    except UsageError as error:
        if error.message.startswith("--hosts entries"):
            raise typer.BadParameter(f"must be HOST:SLOTS entries with SLOTS >= 1, e.g. "
                                     f"node1:4,node2:4 (got {value})") from None
        raise typer.BadParameter(error.message.removeprefix("--hosts ")) from None
    return value


HostsOption = Annotated[Optional[str], typer.Option(
    "--hosts", metavar="HOST:N,...", callback=_hosts,
    help="Hosts and slots for a run over several machines, e.g. node1:4,node2:4.")]
HostfileOption = Annotated[Optional[Path], typer.Option(
    "--hostfile", metavar="FILE", help="A Horovod/MPI hostfile instead of --hosts.")]
LauncherOption = Annotated[str, typer.Option(
    "--launcher", metavar="gloo|mpirun", callback=one_of("gloo", "mpirun"),
    autocompletion=completing("gloo", "mpirun"),
    help="How the processes of --gpus N / --hosts are started: gloo (horovodrun --gloo) or "
         "mpirun.")]


def refuse_idle_launch_options(cpu: bool, launcher: str) -> None:
    """Refuse ``--cpu`` or ``--launcher`` in a run that starts no workers: they would be
    ignored without a word.

    Raises:
        UsageError: naming the option and what it needs.
    """
    from mmarctl.errors import UsageError

    if cpu:
        raise UsageError("--cpu runs N CPU processes with --gpus N (N > 1); alone it "
                         "changes nothing", hint="add --gpus 2, or leave --cpu out")
    if launcher != "gloo":
        raise UsageError(f"--launcher {launcher} starts the workers of --gpus N "
                         "(N > 1) or --hosts; alone it changes nothing",
                         hint="add --gpus 2, or leave --launcher out")


def worker_argv(verb: str, root: Path, set_items: list[str] | None, amp: bool | None = None,
                **flags: Any) -> list[str]:
    """The command line each worker runs: ``verb root``, the ``--set`` items, then each flag
    (``--name value``; True as ``--name``; a list as one ``--name value`` per value; None
    and False left out), and ``--amp``/``--no-amp`` when given."""
    argv = [verb, str(root)]
    for item in set_items or []:
        argv += ["--set", item]
    for name, value in flags.items():
        if value is None or value is False:
            continue
        option = "--" + name.replace("_", "-")
        if value is True:
            argv.append(option)
        elif isinstance(value, (list, tuple)):
            for each in value:
                argv += [option, str(each)]
        else:
            argv += [option, str(value)]
    if amp is not None:  # a tri-state flag: --no-amp must reach the workers too
        argv.append("--amp" if amp else "--no-amp")
    return argv


def multi_gpu_requested(workspace: Any, config: str, overrides: dict[str, Any],
                        doing: str = "training") -> bool:
    """The resolved ``multi_gpu`` global of the training config (or of the validation
    config validate and infer read; ``doing`` words the warning) (False when absent).

    Outside a launched worker, a true value on a machine with fewer than two GPUs means one
    process (:func:`mmarctl.launcher.processes_for`); that is said in one warning line.

    Raises:
        ConfigError: the config cannot be resolved, or ``multi_gpu`` is not a boolean.
    """
    from mmarctl import launcher
    from mmarctl.errors import ConfigError

    resolved = workspace.resolve(config, overrides)
    value = resolved.data.get("multi_gpu", False)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        value = value.strip().lower() == "true"
    if not isinstance(value, bool):
        # A --set value is the command line's mistake, not the file's (which may say false).
        raise ConfigError(f"multi_gpu must be true or false; Received: multi_gpu={value!r}",
                          file="--set" if "multi_gpu" in overrides else resolved.file,
                          json_path="multi_gpu")
    if value and not launcher.is_worker():
        found = launcher.count_gpus()
        if found < 2:
            from mmarctl.console import err

            err.print(f"warning: multi_gpu is true but this machine has {found} GPU(s): "
                      f"{doing} in one process (--gpus N --cpu runs N CPU workers)",
                      highlight=False)
    return value
