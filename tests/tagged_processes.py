"""Finding the processes a test started, by a tag in their environment.

A multi-process job (launcher, mpirun, Horovod ranks) forks processes the test never sees
as children; the test puts ``MMARCTL_TEST_TAG=<tag>`` in the job's environment and finds
them through /proc (Linux only).
"""

from __future__ import annotations

from pathlib import Path

TAG_ENV = "MMARCTL_TEST_TAG"


def _tagged_environments(tag: str):
    """(pid, environment entries, command line) of each live process carrying the tag."""
    marker = f"{TAG_ENV}={tag}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if marker in env:
            yield int(entry.name), env, cmdline


def tagged_pids(tag: str) -> list[int]:
    """Every live process whose environment carries the tag."""
    return [pid for pid, _, _ in _tagged_environments(tag)]


def tagged_ranks(tag: str, rank_variable: str, command_part: bytes = b"") -> dict[int, int]:
    """rank -> pid of the tagged processes that have ``rank_variable`` (``HOROVOD_RANK``,
    ``OMPI_COMM_WORLD_RANK``) and whose command line holds ``command_part``."""
    prefix = f"{rank_variable}=".encode()
    found = {}
    for pid, env, cmdline in _tagged_environments(tag):
        ranks = [item for item in env if item.startswith(prefix)]
        if ranks and command_part in cmdline:
            found[int(ranks[0][len(prefix):])] = pid
    return found
