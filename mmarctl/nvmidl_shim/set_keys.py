"""The ``--set`` keys of one Clara call, screened before mmarctl runs it.

Clara's nvmidl apps ignored a ``--set`` key that no config read; mmarctl refuses one (a
typo such as ``epoch=5`` would change nothing). Clara's own scripts pass runtime keys of
nvmidl's that no config reads (``dont_load_ts_model=false``, ``num_interval_per_valid=20``):
the shim leaves those out with a note naming them, so the scripts run unchanged
(docs/compatibility.md), and so are the keys of a ``-e`` file that no config reads (it
stands for environment.json, where such keys are no mistake). Every other key mmarctl
would refuse is named here, all of them, with where it was written: the script's ``--set``
words, or the ``-e`` file whose values the shim passes as ``--set`` items. ``mmarctl check
MMAR`` sees neither, so the messages do not send the user there.
"""

from __future__ import annotations

import sys
from typing import Any

from mmarctl.errors import ConfigError, MmarError
from mmarctl.problems import Problem
from mmarctl.variables import parse_set_items
from mmarctl.workspace import TRAIN_CONFIG, Workspace

#: nvmidl's own runtime ``--set`` keys that no config reads, and what mmarctl does instead.
CLARA_RUNTIME_KEYS = {
    "dont_load_ts_model": "validate and infer load the model the config's model_loader names",
    "dont_load_ckpt_model": "validate and infer load the model the config's model_loader names",
    "cross_validation": "mmarctl trains on the data list's folds as the config names them",
    "num_interval_per_valid": "Clara 4's name; mmarctl validates every "
                              "num_training_epoch_per_valid epochs",
}


def _problem_key(problem: Problem) -> str:
    return problem.json_path.split(".")[0].split("[")[0]


def screen(workspace: Workspace, configs: list[tuple[str, str]], sets: dict[str, str],
           env_items: dict[str, str], env_file: str | None) -> tuple[dict[str, str], list[str]]:
    """The ``--set`` items to pass on (``-e`` values first, the script's winning), and notes.

    Args:
        workspace: the MMAR.
        configs: ``(kind, name)`` of the configs the verb reads (``train``/``validation``).
        sets: the script's ``--set`` items, KEY -> VALUE text.
        env_items: the ``-e`` file's values as ``--set`` text (empty for environment.json).
        env_file: the ``-e`` file as shown to the user, when its values are in ``env_items``.

    Raises:
        ConfigError: a key mmarctl would refuse (the others printed before it, one a line).
    """
    from mmarctl.check.mmar import CheckReport, check_overrides, read_environment

    items = {**env_items, **sets}
    try:
        overrides = parse_set_items([f"{key}={value}" for key, value in items.items()])
        env = read_environment(workspace, CheckReport())
        paths = [(kind, workspace.config_path(name)) for kind, name in configs]
        paths = [(kind, path) for kind, path in paths if path.is_file()]
        unknown = check_overrides(overrides, env, paths, workspace)
    except MmarError:
        return items, []  # the verb reports it, with its file
    ignored = [p for p in unknown if _problem_key(p) in CLARA_RUNTIME_KEYS]
    # The -e file stands for environment.json, whose keys no config reads are no mistake.
    unread_env = [p for p in unknown if p not in ignored and _problem_key(p) in env_items
                  and _problem_key(p) not in sets]
    problems = [p for p in unknown if p not in ignored and p not in unread_env]
    if env_items and env_file:
        # The -e file's values: what the verb would refuse, said of that file (the verb
        # sees them as --set items, and `mmarctl check` does not read the file).
        problems += _value_problems(workspace, configs, overrides,
                                    {_problem_key(p) for p in unknown})
    notes = [f"--set {_problem_key(p)}: read by no config, so left out as Clara ignored it "
             f"({CLARA_RUNTIME_KEYS[_problem_key(p)]})" for p in ignored]
    if unread_env:
        notes.append(f"{env_file}: {', '.join(_problem_key(p) for p in unread_env)}: read by "
                     "no config, so left out (as unread keys of environment.json are)")
    for problem in [*ignored, *unread_env]:
        items.pop(_problem_key(problem), None)
    if problems:
        _refuse(problems, sets, env_file)
    return items, notes


def _value_problems(workspace: Workspace, configs: list[tuple[str, str]],
                    overrides: dict[str, Any], seen: set[str]) -> list[Problem]:
    """``check``'s problems with ``--set`` values (bad types, paths), keys in ``seen`` left out."""
    from mmarctl.check.mmar import check_mmar

    train = [name for kind, name in configs if kind == "train"]
    validation = [name for kind, name in configs if kind == "validation"]
    try:
        report = check_mmar(workspace, overrides,
                            train_config=train[0] if train and not validation else None,
                            validation_configs=validation or None)
    except MmarError:
        return []
    return [p for p in report.problems if p.file == "--set" and _problem_key(p) not in seen]


def _refuse(problems: list[Problem], sets: dict[str, str], env_file: str | None) -> None:
    """Print every problem but the last on its own line; raise the last with the hint."""
    from mmarctl.problems import ERROR

    def origin(problem: Problem) -> str:
        return "--set" if _problem_key(problem) in sets or not env_file else env_file

    placed = [Problem(origin(p), p.json_path, p.message, ERROR) for p in problems]
    where = []
    if any(p.file == "--set" for p in placed):
        where.append("the script's --set line or the words you passed it")
    if env_file and any(p.file == env_file for p in placed):
        where.append(f"{env_file}, the -e file")
    # `mmarctl check MMAR` sees neither a script's --set nor another -e file.
    them = "them" if len(placed) > 1 else "it"
    hint = (f"fix or remove {them} in {' and in '.join(where)}; `mmarctl check` does not "
            f"see {them}")
    from mmarctl.nvmidl_shim.mpi import rank

    if rank() == 0:  # under mpirun every rank finds the same; the shim's last line is rank 0's
        for problem in placed[:-1]:
            print(f"error: {problem}", file=sys.stderr, flush=True)
    last = placed[-1]
    raise ConfigError(last.message, file=last.file, json_path=last.json_path, hint=hint)


def configs_read(workspace: Workspace, app: str, config: str | None) -> list[tuple[str, str]]:
    """The configs whose keys a ``--set`` of ``app`` can set: the one ``-c`` names, and
    config_train.json for evaluate (validate builds the network from it)."""
    if app == "evaluate":
        named = [("validation", config or "config_validation.json")]
        return named + [("train", TRAIN_CONFIG)]
    return [("train", config or TRAIN_CONFIG)]

