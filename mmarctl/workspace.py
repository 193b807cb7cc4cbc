"""The MMAR workspace: where it is, its files, and its configs with variables resolved.

Layout (Clara Train 3.x)::

    ROOT/config/     config_train.json  config_validation.json  environment.json  dataset_0.json
    ROOT/commands/   set_env.sh train.sh train_finetune.sh train_2gpu*.sh validate.sh infer.sh export.sh
    ROOT/resources/  log.config
    ROOT/docs/  ROOT/models/  ROOT/eval/

Path rule: a relative path value in ``environment.json`` (or in ``--set``) under a path-like
key (``DATA_ROOT``, ``DATASET_JSON``, ``MMAR_CKPT_DIR``, ``MMAR_EVAL_OUTPUT_PATH``,
``MMAR_CKPT``, any key ending in ``_ROOT``, ``_DIR``, ``_JSON``, ``_PATH`` or ``_FILE``)
is relative to the MMAR root (a ``../`` path that only exists from ``commands/``, where
Clara's scripts ran, is read from there). Absolute paths are kept as they are.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmarctl.errors import ConfigError, WorkspaceError
from mmarctl.jsonio import load_json
from mmarctl.variables import global_values, substitute

TRAIN_CONFIG = "config_train.json"
VALIDATION_CONFIG = "config_validation.json"
ENVIRONMENT = "environment.json"
#: Files an MMAR has by these names, looked up in it alone (:meth:`Workspace.config_path`).
_OWN_FILES = frozenset({TRAIN_CONFIG, VALIDATION_CONFIG, ENVIRONMENT, "config_automl.json"})
#: What every verb says of a Clara 4.x MMAR (``check`` as a problem, the others refusing).
CLARA4_MESSAGE = "Clara 4.x (PyTorch/MONAI) MMAR: not supported by mmarctl, which runs 3.x"

_PATH_KEYS = {"MMAR_CKPT", "MMAR_EVAL_OUTPUT_PATH", "MMAR_TORCHSCRIPT"}
_PATH_SUFFIXES = ("_ROOT", "_DIR", "_JSON", "_PATH", "_FILE")


def is_path_key(key: str) -> bool:
    """Whether a variable holds a filesystem path (and so follows the path rule)."""
    return key in _PATH_KEYS or key.upper().endswith(_PATH_SUFFIXES)


@dataclass(frozen=True)
class ResolvedConfig:
    """A config file with every ``{VAR}`` replaced.

    Attributes:
        file: the file, relative to the MMAR root (for messages).
        raw: the JSON as written (an AutoML config: its written values, annotations removed).
        data: the JSON with placeholders substituted and globals overridden.
        variables: every variable visible to the config, after precedence.
    """

    file: str
    raw: dict
    data: dict
    variables: dict = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """A global's effective value (config, then environment.json, then ``--set``)."""
        return self.variables.get(key, default)


def shown_from_here(path: Path | str) -> str:
    """A path the user can open from the current folder, for lines that say where outputs
    went: relative to it when under it (``my-exp/eval/report.html``), else absolute.

    Messages about a workspace's own files use :meth:`Workspace.display` (relative to the
    MMAR root), which read wrong from anywhere but the MMAR itself for outputs."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):  # outside the current folder, or the folder is gone
        return str(resolved)


def _mmar_holding(folder: Path) -> Path | None:
    """The MMAR (a folder with ``config/``) that is ``folder`` or holds it, or None."""
    for candidate in (folder, *folder.parents):
        if (candidate / "config").is_dir():
            return candidate
    return None


#: Set to a worker's rank by horovodrun and mpirun: only rank 0 (or no launcher) speaks.
_RANK_VARS = ("HOROVOD_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK")


def _note_mmar_root_elsewhere(root: Path) -> None:
    """One note when ``$MMAR_ROOT`` (a sourced set_env.sh, an old ``export`` in ~/.bashrc)
    picks ``root`` while the current folder is inside another MMAR: the verb would otherwise
    silently work on an MMAR the user is not standing in."""
    if any(os.environ.get(name, "0") != "0" for name in _RANK_VARS):
        return
    try:
        here = _mmar_holding(Path.cwd().resolve())
    except OSError:  # the current folder was deleted: nothing to compare with
        return
    if here is None or here == root:
        return
    from mmarctl.console import err

    err.print(f"note: using $MMAR_ROOT={root}, not {here} where you are (give the MMAR as an "
              "argument, or unset MMAR_ROOT)", highlight=False, markup=False)


@dataclass(frozen=True)
class Workspace:
    """An MMAR folder on disk."""

    root: Path

    @classmethod
    def locate(cls, path: str | os.PathLike | None = None,
               environ: Mapping[str, str] | None = None) -> "Workspace":
        """Find the MMAR from a path argument, else ``$MMAR_ROOT``, else the current folder.

        A path inside an MMAR (``my-exp/config``) finds the MMAR that holds it. When
        ``$MMAR_ROOT`` decides while the current folder is inside another MMAR, a note on
        stderr names both.

        Raises:
            WorkspaceError: when no MMAR is found.
        """
        environ = os.environ if environ is None else environ
        from_env = not path and bool(environ.get("MMAR_ROOT"))
        start = Path(path) if path else Path(environ.get("MMAR_ROOT") or os.getcwd())
        # A folder from $MMAR_ROOT is named as such: the user typed no path to look at.
        where = f"$MMAR_ROOT={start}" if from_env else start
        env_hint = "unset MMAR_ROOT or give the MMAR as an argument"
        if not start.exists():
            raise WorkspaceError("no such folder", file=where,
                                 hint=env_hint if from_env else None)
        start = start.resolve()
        trials = study_trials(start)
        if trials:  # else the source MMAR above it would be trained or validated instead
            raise WorkspaceError(
                f"an AutoML study folder, not an MMAR ({len(trials)} trial MMARs in it)",
                file=where, hint=f"give one of its trials ({trials[0].name} ...); "
                                 "`mmarctl compare` takes the study folder itself")
        root = _mmar_holding(start)
        if root is not None:
            if from_env:
                _note_mmar_root_elsewhere(root)
            return cls(root)
        raise WorkspaceError(
            "not an MMAR: no config/ folder here or above",
            file=f"$MMAR_ROOT={start}" if from_env else start,
            hint=env_hint if from_env
            else "create one with `mmarctl init DIR` or `mmarctl clone spleen DIR`")

    # -- places ---------------------------------------------------------------------------
    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def commands_dir(self) -> Path:
        return self.root / "commands"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def checkpoint_dir(self, variables: Mapping[str, Any] | None = None) -> Path:
        """The folder of this MMAR's checkpoints: ``MMAR_CKPT_DIR``, else ``models/``.

        Training writes its checkpoints, resume state, history and event files there;
        finetune, validate, infer and export read the checkpoint from there, as Clara's
        scripts do.

        Args:
            variables: the variables a config sees (:meth:`variables`, or a resolved
                config's ``variables``: globals, environment.json, ``--set``); None reads
                environment.json alone.

        Raises:
            ConfigError: environment.json is not an object.
        """
        values = self.environment() if variables is None else variables
        folder = values.get("MMAR_CKPT_DIR")
        if not isinstance(folder, str) or not folder.strip():
            return self.models_dir  # absent, or not a path (the schema check reports that)
        # Taken as written, as validate/infer/export and `check` take it: a "{VAR}" inside
        # is not substituted (placeholders live in configs, not in environment values).
        path = Path(os.path.expanduser(folder))
        return path if path.is_absolute() else (self.root / path).resolve()

    @property
    def eval_dir(self) -> Path:
        return self.root / "eval"

    @property
    def log_config(self) -> Path:
        return self.root / "resources" / "log.config"

    def config_path(self, name: str) -> Path:
        """A config file by name (``config_train.json``, in ``config/``), by a path relative
        to the root (``config/trn_alt.json``), else by a path relative to the current folder
        (``my-exp/config/trn_alt.json``, tab-completed from where the user stands).

        Every verb's ``-c``/``--config`` goes through here, so train, validate and infer
        take the same paths ``check`` takes. The MMAR's own files (``environment.json``,
        ``config_train.json``, ...) are never taken from the current folder: standing in
        another MMAR's config/ must not lend its files to an MMAR that lacks them.
        """
        candidate = Path(name)
        if candidate.is_absolute():
            return candidate
        inside = self.root / candidate if len(candidate.parts) > 1 else self.config_dir / candidate
        if (not inside.exists() and not inside.is_symlink() and name not in _OWN_FILES
                and candidate.exists()):
            return candidate.resolve()
        return inside

    def display(self, path: Path) -> str:
        """A path as shown in messages: relative to the MMAR root when inside it (a link
        in the MMAR, such as a config linked elsewhere, is shown where it is)."""
        path = Path(path)
        for candidate in (Path(os.path.normpath(path.absolute())), path.resolve()):
            try:
                return str(candidate.relative_to(self.root))
            except ValueError:
                continue
        return str(path)

    # -- loading --------------------------------------------------------------------------
    def load(self, name: str) -> Any:
        """Parse one JSON file of the workspace (``file:line:col`` on a syntax error)."""
        path = self.config_path(name)
        return load_json(path, shown_as=self.display(path))

    def environment(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``environment.json`` (empty if absent) plus ``overrides``, with the path rule applied."""
        path = self.config_path(ENVIRONMENT)
        env = self.load(ENVIRONMENT) if path.exists() else {}
        if not isinstance(env, dict):
            raise self._not_an_object(path, env)
        env = dict(env)
        env.update(overrides or {})
        return {k: self.resolve_path_value(k, v) for k, v in env.items()}

    def _not_an_object(self, path: Path, data: Any) -> ConfigError:
        """The error for a config file whose top level is not a JSON object: the line
        `mmarctl check` prints for it (the environment schema's own message)."""
        from mmarctl.schemas.validator import validate

        shown = self.display(path)
        problems = validate("environment", data, shown)
        message = problems[0].message if problems else "expected object"
        return ConfigError(message, file=shown, json_path="$")

    def resolve_path_value(self, key: str, value: Any) -> Any:
        """Apply the path rule to one variable.

        A relative path that climbs out of the MMAR (``../config/dataset_0.json``) and finds
        nothing there, but names a file inside it when read from ``commands/``, is read
        from ``commands/``: Clara's scripts ran there, and MMARs written against that
        working folder exist (one of the public Clara spleen MMARs sets ``DATASET_JSON`` so).
        """
        if isinstance(value, str) and value and is_path_key(key) and "{" not in value:
            path = Path(os.path.expanduser(value))
            if not path.is_absolute():
                resolved = (self.root / path).resolve()
                if path.parts[:1] == ("..",) and not resolved.exists():
                    from_commands = (self.root / "commands" / path).resolve()
                    if from_commands.exists() and from_commands.is_relative_to(
                            self.root.resolve()):
                        return str(from_commands)
                return str(resolved)
        return value

    def built_in_variables(self) -> dict[str, Any]:
        """What a config may name without defining it: ``MMAR_ROOT``, and the output folders
        ``MMAR_CKPT_DIR`` (``models/``) and ``MMAR_EVAL_OUTPUT_PATH`` (``eval/``) that
        environment.json or ``--set`` may move, as training already defaults them."""
        return {"MMAR_ROOT": str(self.root), "MMAR_CKPT_DIR": str(self.models_dir),
                "MMAR_EVAL_OUTPUT_PATH": str(self.eval_dir)}

    def variables(self, config: Mapping[str, Any],
                  overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every variable a config sees: the built-in ones (:meth:`built_in_variables`), its
        globals, then environment.json, then ``--set``."""
        values: dict[str, Any] = self.built_in_variables()
        values.update(global_values(config))
        values.update(self.environment())
        for key, value in (overrides or {}).items():
            values[key] = self.resolve_path_value(key, value)
        return values

    def resolve(self, name: str, overrides: Mapping[str, Any] | None = None) -> ResolvedConfig:
        """Load a config and substitute its placeholders.

        Globals named in ``overrides`` (``--set epochs=5``) or in environment.json replace
        the config's own top-level values.

        Raises:
            ConfigError: malformed JSON or an unresolved placeholder.
        """
        path = self.config_path(name)
        shown = self.display(path)
        raw = self.load(name)
        if not isinstance(raw, dict):
            raise ConfigError("expected a JSON object at the top level", file=shown, json_path="$")
        from mmarctl.search.space import has_annotations

        if has_annotations(raw):
            # An AutoML config outside a study: the values written in it, search ignored.
            from mmarctl.search.concrete import written_values

            raw = written_values(raw, shown)
        variables = self.variables(raw, overrides)
        data = substitute(raw, variables, file=shown)
        for key in global_values(raw):
            data[key] = variables[key]
        for key, value in (overrides or {}).items():
            if key not in data:
                data[key] = variables[key]
        return ResolvedConfig(file=shown, raw=raw, data=data, variables=variables)

    def clara_major_version(self) -> int:
        """3 for a Clara 3.x (TensorFlow) MMAR, 4 for a Clara 4.x (PyTorch/MONAI) one."""
        env_path = self.config_path(ENVIRONMENT)
        env = {}
        if env_path.exists():
            try:
                env = self.load(ENVIRONMENT) or {}
            except Exception:  # a malformed file is reported by `check`, not here
                env = {}
            if not isinstance(env, dict):  # likewise a file that is not an object
                env = {}
        if str(env.get("CLARA_TRAIN_VERSION", "")).startswith("4"):
            return 4
        if str(env.get("MMAR_CKPT", "")).endswith(".pt") or "MMAR_TORCHSCRIPT" in env:
            return 4
        train_path = self.config_path(TRAIN_CONFIG)
        if train_path.exists():
            try:
                train = self.load(TRAIN_CONFIG)
            except Exception:
                return 3
            section = train.get("train") if isinstance(train, dict) else None
            if isinstance(section, dict) and ({"dataset", "dataloader", "trainer"} & set(section)):
                return 4
        return 3

    def require_clara3(self) -> None:
        """Refuse a Clara 4.x MMAR before a verb writes or runs anything for it.

        Raises:
            WorkspaceError: naming the MMAR, in the words ``check`` uses.
        """
        if self.clara_major_version() == 4:
            raise WorkspaceError(CLARA4_MESSAGE, file=str(self.root))


def study_trials(path: str | Path) -> list[Path] | None:
    """The trial MMARs of an AutoML study folder (``automl/<run_id>``: no ``config/`` of
    its own, ``trial_NNN`` MMARs in it), in order; None when ``path`` is not one."""
    folder = Path(path)
    if not folder.is_dir() or (folder / "config").is_dir():
        return None
    trials = sorted(child for child in folder.iterdir()
                    if re.fullmatch(r"trial_\d+", child.name) and (child / "config").is_dir())
    return trials or None
