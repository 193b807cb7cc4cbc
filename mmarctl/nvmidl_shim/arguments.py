"""Read the command line of Clara's ``nvmidl.apps.*`` the way Clara's scripts write it.

Forms seen in Clara 3.x MMARs (docs/compatibility.md, "Clara's own commands/")::

    nvmidl.apps.train     -m ROOT -c config/config_train.json -e config/environment.json
                          --set KEY=VAL KEY=VAL ... [--write_train_stats]
    nvmidl.apps.evaluate  -m ROOT -c config/config_validation.json -e ...
                          --set do_validation=true output_infer_result=false ...
    nvmidl.apps.export    --model_file_format CKPT --model_file_path ROOT/models
                          --model_name model --input_node_names NV_MODEL_INPUT
                          --output_node_names NV_MODEL_OUTPUT --trt_min_seg_size 50
                          [--trtis_export --trtis_model_name NAME --trtis_input_shape ...]

``--set`` takes every following word up to the next flag, as Clara's did, so a script's
``${additional_options}`` (``./train.sh epochs=5``) joins it. ``--flag=value`` is accepted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mmarctl.errors import UsageError

#: Flags that take a value, per app: Clara's spelling -> the field it fills.
_COMMON = {"-m": "mmar", "--mmar": "mmar", "-c": "config", "--config": "config",
           "-e": "environment", "--env": "environment", "--environment": "environment"}
VALUE_FLAGS = {
    "train": dict(_COMMON),
    "evaluate": dict(_COMMON),
    "export": {**_COMMON,
               "--model_file_format": "model_file_format",
               "--model_file_path": "model_file_path",
               "--model_name": "model_name",
               "--input_node_names": "input_node_names",
               "--output_node_names": "output_node_names",
               "--trt_min_seg_size": "trt_min_seg_size",
               "--trtis_model_name": "trtis_model_name",
               "--trtis_input_shape": "trtis_input_shape"},
}
#: Flags without a value, per app.
SWITCHES = {"train": {"--write_train_stats"}, "evaluate": set(), "export": {"--trtis_export"}}
SET_FLAGS = ("--set", "-s")
#: Fields that name a folder: an unquoted one with a space splits into several words.
_FOLDER_FIELDS = ("mmar", "model_file_path")
#: Why ``-m`` has no value in a Clara script: ``-m $MMAR_ROOT`` with MMAR_ROOT empty.
_EMPTY_ROOT = ("MMAR_ROOT is empty? Clara's commands/set_env.sh sets it, and its "
               "`. $my_dir/set_env.sh` fails on a path with a space")
_SPACED_HINT = ("quote it in the script (\"$MMAR_ROOT\"), or let `mmarctl commands MMAR "
                "--force` write scripts that handle it")


@dataclass
class ClaraCall:
    """One ``nvmidl.apps.<app>`` command line, read.

    Attributes:
        app: ``train``, ``evaluate`` or ``export``.
        values: flag values by field name (``mmar``, ``config``, ``model_file_path`` ...).
        switches: the value-less flags given (``--write_train_stats``).
        sets: the ``--set`` items in order, as written (``KEY=VALUE``).
    """

    app: str
    values: dict[str, str] = field(default_factory=dict)
    switches: set[str] = field(default_factory=set)
    sets: list[str] = field(default_factory=list)

    def set_values(self) -> dict[str, str]:
        """``--set`` items as KEY -> VALUE text (the last one of a key wins, as in Clara).

        Raises:
            UsageError: an item without ``=`` or without a key.
        """
        values: dict[str, str] = {}
        for item in self.sets:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise UsageError(f"nvmidl.apps.{self.app}: --set {item!r}: expected KEY=VALUE")
            values[key.strip()] = value
        return values


def accepted_flags(app: str) -> list[str]:
    """Every flag the shim reads for ``app``, for messages."""
    return [*dict.fromkeys(VALUE_FLAGS[app]), *sorted(SWITCHES[app]), "--set"]


#: The mmarctl verbs each app's command line becomes (mmarctl.nvmidl_shim.mapping).
VERBS = {"train": ("train", " (finetune when MMAR_CKPT is set)"),
         "evaluate": ("validate", " (infer with --set output_infer_result=true)"),
         "export": ("export", "")}


def usage(app: str) -> str:
    """What ``nvmidl.apps.<app> --help`` prints: the flags read and the verb run."""
    flags = " ".join(f"[{flag} VALUE]" if flag in VALUE_FLAGS[app] else f"[{flag}]"
                     for flag in accepted_flags(app) if flag != "--set")
    verb, also = VERBS[app]
    return (f"usage: python3 -m nvmidl.apps.{app} {flags} [--set KEY=VALUE ...]\n"
            f"mmarctl's shim runs `mmarctl {verb}` for it{also}; `mmarctl {verb} --help` "
            "describes the run")


def _spaced_folder(argv: list[str], index: int) -> str | None:
    """The folder that ``argv[index]`` and the plain words after it name when joined by
    spaces, if the word alone names nothing: an unquoted ``$MMAR_ROOT`` with a space."""
    joined = argv[index]
    if os.path.exists(joined):
        return None
    for word in argv[index + 1:]:
        if word.startswith("-"):
            break
        joined = f"{joined} {word}"
        if os.path.isdir(joined):
            return joined
    return None


def _needs_value(app: str, flag: str, field_name: str, got: str | None) -> UsageError:
    """A value flag at the end, or followed by another flag (``-m -c ...``)."""
    said = f"nvmidl.apps.{app}: {flag} needs a value" + (f", but {got} follows it" if got
                                                         else "")
    return UsageError(said, hint=_EMPTY_ROOT if field_name == "mmar" else None)


def parse(app: str, argv: list[str]) -> ClaraCall:
    """Read ``argv`` (without the program name) for ``app``.

    Raises:
        UsageError: unknown flags or stray words (all named in one line), or a flag
            without its value.
    """
    call = ClaraCall(app)
    values, switches = VALUE_FLAGS[app], SWITCHES[app]
    unknown: list[str] = []
    in_set = False
    index = 0
    while index < len(argv):
        word = argv[index]
        index += 1
        flag, eq, inline = word.partition("=") if word.startswith("--") else (word, "", "")
        if word in SET_FLAGS:
            in_set = True
        elif flag in values:
            in_set = False
            known = (*values, *switches, *SET_FLAGS)
            if eq:
                call.values[values[flag]] = inline
            elif index < len(argv) and argv[index].split("=")[0] not in known:
                if values[flag] in _FOLDER_FIELDS and _spaced_folder(argv, index):
                    raise UsageError(f"nvmidl.apps.{app}: {flag} {argv[index]}: the path has a "
                                     f"space ({_spaced_folder(argv, index)}), and the script "
                                     "does not quote it", hint=_SPACED_HINT)
                call.values[values[flag]] = argv[index]
                index += 1
            else:
                raise _needs_value(app, flag, values[flag],
                                   argv[index] if index < len(argv) else None)
        elif word in switches:
            in_set = False
            call.switches.add(word)
        elif in_set and not word.startswith("-"):
            call.sets.append(word)
        else:
            in_set = False
            if word.startswith("-") and index < len(argv) and not argv[index].startswith("-"):
                word = f"{word} {argv[index]}"  # an unknown flag's value goes with it
                index += 1
            unknown.append(word)
    if unknown:
        what = "flag(s)" if all(u.startswith("-") for u in unknown) else "argument(s)"
        raise UsageError(f"nvmidl.apps.{app}: unknown {what} {', '.join(unknown)} "
                         f"(mmarctl's shim reads {', '.join(accepted_flags(app))})")
    return call
