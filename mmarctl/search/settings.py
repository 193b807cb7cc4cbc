"""``config/config_automl.json``: Clara's controller, handlers and executor, mapped onto a study.

Clara's file (3.1, the same in 4.x)::

    {"controller": {"name": "ReinforcementController", "args": {"max_rounds": 8}},
     "handlers": [{"name": "MMARHandler", "args": {"num_mmars_to_keep": 30,
                   "stop_threshold": 1.0, "train_config_file": "{trainconf}",
                   "key_mmar_content_only": true}},
                  {"name": "StatsHandler"}, {"name": "MMARStatsHandler"}],
     "executor": {"name": "MMARExecutor", "args": {"remove_search_augs": true}}}

Controllers: Clara's ``ReinforcementController`` was closed and has no public equivalent; it is
mapped onto Optuna's TPE sampler (a model-based sampler that, like it, proposes the next values
from the results so far). ``RandomController`` is Optuna's random sampler. An enum-only space
is searched exhaustively whatever the controller, as Clara did. A BYOC controller (``path``)
is refused in one line: mmarctl's studies run on Optuna samplers.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmarctl.errors import ConfigError
from mmarctl.jsonio import load_json
from mmarctl.problems import NOTE, Problem
from mmarctl.search.space import did_you_mean

AUTOML_CONFIG = "config_automl.json"

CONTROLLERS = {"ReinforcementController": "tpe", "RandomController": "random"}
HANDLER_ARGS: dict[str, dict[str, tuple[type, ...]]] = {
    "MMARHandler": {"num_mmars_to_keep": (int,), "stop_threshold": (int, float),
                    "train_config_file": (str,), "key_mmar_content_only": (bool,),
                    "work_dir": (str,)},
    "StatsHandler": {},
    "MMARStatsHandler": {},
    "MMARTensorboardHandler": {},
}
EXECUTOR_ARGS: dict[str, tuple[type, ...]] = {"remove_search_augs": (bool,),
                                               "msg_destination": (str,)}
CONTROLLER_ARGS: dict[str, tuple[type, ...]] = {"max_rounds": (int,)}

DEFAULT_ROUNDS = 8
DEFAULT_KEEP = 30


@dataclass(frozen=True)
class AutomlSettings:
    """What ``config_automl.json`` asks for, with Clara's defaults where it is silent.

    Attributes:
        sampler: ``tpe`` (ReinforcementController) or ``random`` (RandomController).
        controller: the controller's name as written.
        max_rounds: trials to run (``--rounds`` overrides it).
        num_mmars_to_keep: trial MMARs kept whole (checkpoints included), best first.
        stop_threshold: the study ends once a trial's key metric reaches it (None: never).
        train_config_file: the training config (``{trainconf}`` is the command line's).
        key_mmar_content_only: the other trials keep their config and metrics only.
        train_config_at: the JSON path of ``train_config_file`` in the file (None: not given).
        work_dir: where the study folder is made (None: ``MMAR/automl``).
        remove_search_augs: trial configs have their annotations removed (always true here).
        tensorboard: MMARTensorboardHandler is on (study scalars are written either way).
        file: the file read, or None for the defaults.
    """

    sampler: str = "tpe"
    controller: str = "ReinforcementController"
    max_rounds: int = DEFAULT_ROUNDS
    num_mmars_to_keep: int = DEFAULT_KEEP
    stop_threshold: float | None = None
    train_config_file: str = "{trainconf}"
    train_config_at: str | None = None
    key_mmar_content_only: bool = True
    work_dir: str | None = None
    remove_search_augs: bool = True
    tensorboard: bool = False
    file: str | None = None


def _type_name(types: tuple[type, ...]) -> str:
    return {(int,): "an integer", (int, float): "a number", (str,): "a string",
            (bool,): "true or false"}[types]


class _Reader:
    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.problems: list[Problem] = []
        self.values: dict[str, Any] = {"file": shown}

    def error(self, json_path: str, message: str) -> None:
        self.problems.append(Problem(self.shown, json_path, message))

    def args(self, spec: dict, allowed: dict[str, tuple[type, ...]], at: str) -> dict:
        args = spec.get("args", {})
        if not isinstance(args, dict):
            self.error(f"{at}.args", f"expected an object; Received: {type(args).__name__}")
            return {}
        good = {}
        for key, value in args.items():
            if key not in allowed:
                self.error(f"{at}.args.{key}", f"unknown argument{did_you_mean(key, list(allowed))}"
                                               f"; expected one of {', '.join(allowed) or 'none'}")
            elif (not isinstance(value, allowed[key])
                  or (isinstance(value, bool) and bool not in allowed[key])):
                self.error(f"{at}.args.{key}", f"expected {_type_name(allowed[key])}; "
                                               f"Received: {value!r}")
            else:
                good[key] = value
        return good

    def component(self, spec: Any, at: str) -> dict | None:
        if not isinstance(spec, dict):
            self.error(at, f"expected a component {{\"name\", \"args\"}}; Received: "
                           f"{type(spec).__name__}")
            return None
        for key in set(spec) - {"name", "path", "args"}:
            self.error(f"{at}.{key}", f"unknown key{did_you_mean(key, ['name', 'path', 'args'])}")
        return spec

    def controller(self, spec: Any) -> None:
        spec = self.component(spec, "controller")
        if spec is None:
            return
        if "path" in spec:
            self.error("controller.path", "a BYOC controller is not supported: mmarctl's "
                                          "studies run on Optuna samplers (use "
                                          "ReinforcementController for TPE, or RandomController)")
            return
        name = spec.get("name")
        if name not in CONTROLLERS:
            self.error("controller.name", f"unknown controller {name!r}"
                       f"{did_you_mean(str(name), list(CONTROLLERS))}; expected "
                       f"{' or '.join(CONTROLLERS)}")
            return
        args = self.args(spec, CONTROLLER_ARGS, "controller")
        if "max_rounds" in args and args["max_rounds"] < 1:
            self.error("controller.args.max_rounds", f"expected at least 1; Received: "
                                                     f"{args['max_rounds']}")
            args.pop("max_rounds")
        self.values.update(controller=name, sampler=CONTROLLERS[name], **args)

    def handlers(self, specs: Any) -> None:
        if not isinstance(specs, list):
            self.error("handlers", f"expected a list of handlers; Received: "
                                   f"{type(specs).__name__}")
            return
        for index, spec in enumerate(specs):
            at = f"handlers[{index}]"
            spec = self.component(spec, at)
            if spec is None:
                continue
            if "path" in spec:
                self.problems.append(Problem(self.shown, f"{at}.path",
                                             "BYOC AutoML handlers are not run by mmarctl; "
                                             "results.json and TensorBoard hold what they "
                                             "would see", NOTE))
                continue
            name = spec.get("name")
            if name not in HANDLER_ARGS:
                self.error(f"{at}.name", f"unknown handler {name!r}"
                                         f"{did_you_mean(str(name), list(HANDLER_ARGS))}")
                continue
            args = self.args(spec, HANDLER_ARGS[name], at)
            if name == "MMARTensorboardHandler":
                self.values["tensorboard"] = True
            if name != "MMARHandler":
                continue
            keep = args.get("num_mmars_to_keep")
            if keep is not None and keep < 1:
                self.error(f"{at}.args.num_mmars_to_keep", f"expected at least 1; Received: "
                                                           f"{keep}")
                args.pop("num_mmars_to_keep")
            threshold = args.get("stop_threshold")
            if threshold is not None and not math.isfinite(threshold):
                self.error(f"{at}.args.stop_threshold", f"expected a finite number; "
                                                        f"Received: {threshold}")
                args.pop("stop_threshold")
            if threshold is not None:
                args["stop_threshold"] = float(threshold)
            if "train_config_file" in args:
                self.values["train_config_at"] = f"{at}.args.train_config_file"
            work_dir = args.get("work_dir")
            if work_dir is not None and not _usable_work_dir(work_dir):
                # Clara 4's shipped /claraDevDay/AutoML/models: made silently, the study
                # would land in folders at the filesystem root.
                self.error(f"{at}.args.work_dir",
                           f"{work_dir}: its folder {Path(work_dir).parent} does not exist "
                           "(leave work_dir out for MMAR/automl, or create the folder)")
                args.pop("work_dir")
            self.values.update(args)

    def executor(self, spec: Any) -> None:
        spec = self.component(spec, "executor")
        if spec is None:
            return
        if spec.get("name") != "MMARExecutor" or "path" in spec:
            self.error("executor.name", f"unknown executor {spec.get('name')!r}"
                                        f"{did_you_mean(str(spec.get('name')), ['MMARExecutor'])}; "
                                        "expected MMARExecutor")
            return
        args = self.args(spec, EXECUTOR_ARGS, "executor")
        if args.get("remove_search_augs") is False:
            self.problems.append(Problem(self.shown, "executor.args.remove_search_augs",
                                         "trial configs always have their annotations "
                                         "removed in mmarctl (a concrete config per trial)",
                                         NOTE))


def _usable_work_dir(work_dir: str) -> bool:
    """An absolute ``work_dir`` must be in an existing folder (a relative one is under the
    MMAR). An empty one is refused."""
    if not work_dir.strip():
        return False
    path = Path(os.path.expanduser(work_dir))
    return not path.is_absolute() or path.parent.is_dir()


def read_settings(raw: Any, shown: str) -> tuple[AutomlSettings, list[Problem]]:
    """Settings from the parsed file and the problems found (errors and notes)."""
    reader = _Reader(shown)
    if not isinstance(raw, dict):
        reader.error("$", "expected a JSON object at the top level")
        return AutomlSettings(file=shown), reader.problems
    known = ("controller", "handlers", "executor")
    for key in raw:
        if key not in known:
            reader.error(key, f"unknown key{did_you_mean(key, list(known))}; expected "
                              f"{', '.join(known)}")
    if "controller" in raw:
        reader.controller(raw["controller"])
    if "handlers" in raw:
        reader.handlers(raw["handlers"])
    if "executor" in raw:
        reader.executor(raw["executor"])
    return AutomlSettings(**reader.values), reader.problems


def named_train_config(settings: AutomlSettings) -> str | None:
    """The training config ``train_config_file`` names, or None when it leaves the choice to
    the command line (``{trainconf}``, Clara's default)."""
    name = settings.train_config_file
    return None if name in ("{trainconf}", "") else name


def missing_train_config(settings: AutomlSettings, path: Path, shown: str) -> ConfigError:
    """The error for a ``train_config_file`` naming ``path`` (shown as ``shown``), which does
    not exist: it names the settings file and JSON path the name came from."""
    return ConfigError(f"names {shown}, which is not found", file=settings.file,
                       json_path=settings.train_config_at,
                       hint="name a training config in config/, or \"{trainconf}\" for "
                            "--config-train")


def check_settings_file(path: Path, shown: str) -> tuple[AutomlSettings, list[Problem]]:
    """Read and check a ``config_automl.json`` (a malformed file is one problem)."""
    try:
        raw = load_json(path, shown_as=shown)
    except ConfigError as error:
        return AutomlSettings(file=shown), [Problem.from_error(error)]
    return read_settings(raw, shown)


def load_settings(path: Path | None, shown: str = AUTOML_CONFIG) -> AutomlSettings:
    """The settings of ``path``, Clara's defaults when it is None or absent.

    Raises:
        ConfigError: the first error in the file.
    """
    if path is None or not Path(path).exists():
        if path is not None and Path(path).name != AUTOML_CONFIG:
            raise ConfigError("file not found", file=shown)  # named on the command line
        return AutomlSettings()
    settings, problems = check_settings_file(Path(path), shown)
    errors = [p for p in problems if p.severity != NOTE]
    if errors:
        raise ConfigError(errors[0].message, file=errors[0].file, json_path=errors[0].json_path)
    return settings
