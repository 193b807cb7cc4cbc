"""The global values of a training or validation config, read and range-checked without
TensorFlow.

One reader for both sides of the pre-flight: :class:`mmarctl.runtime.plan.TrainingPlan`
takes its epochs, learning rate and cadences from :func:`read_train_settings`, validate and
infer theirs from :func:`read_eval_settings`, and ``mmarctl check`` calls the same
functions, so they refuse the same values with the same message, file and JSON path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from mmarctl.errors import ConfigError
from mmarctl.runtime import argcheck

#: The largest seed: NumPy and TensorFlow (keras.utils.set_random_seed) take 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1

#: The globals :func:`read_train_settings` reads (each one's JSON path is its name).
GLOBAL_KEYS = ("epochs", "learning_rate", "num_training_epoch_per_valid",
               "train_summary_recording_interval", "use_amp", "determinism",
               "skip_bad_cases")


@dataclass(frozen=True)
class TrainSettings:
    """The checked globals of one training run.

    Attributes:
        epochs: ``epochs`` (>= 1, default 1).
        learning_rate: ``learning_rate`` (finite, > 0, default 1e-4).
        every: ``num_training_epoch_per_valid`` (>= 1, default 1).
        interval: ``train_summary_recording_interval`` (>= 1, default 1).
        use_amp: ``use_amp`` (default false).
        seed: from ``determinism`` (None when absent; ``--seed`` is applied by the caller).
        skip_bad_cases: ``skip_bad_cases`` (default false): a case whose file cannot be read
            or whose data is unusable is skipped with a warning instead of stopping the run.
    """

    epochs: int
    learning_rate: float
    every: int
    interval: int
    use_amp: bool
    seed: int | None
    skip_bad_cases: bool


#: The globals :func:`read_eval_settings` reads from a validation config.
EVAL_GLOBAL_KEYS = ("use_amp", "skip_bad_cases")


@dataclass(frozen=True)
class EvalSettings:
    """The checked globals of one validate/infer run.

    Attributes:
        use_amp: the validation config's ``use_amp``; None when it sets none (a checkpoint
            model then follows the training config's).
        skip_bad_cases: ``skip_bad_cases`` (default false): a case that cannot be read or is
            unusable is left out with one warning line instead of stopping the run.
    """

    use_amp: bool | None
    skip_bad_cases: bool


def read_train_settings(data: Mapping[str, Any], variables: Mapping[str, Any],
                        file: str) -> TrainSettings:
    """The globals of a resolved training config.

    Args:
        data: the config with placeholders substituted and ``--set`` applied.
        variables: the resolved variables (environment.json, ``--set``); the two cadences
            are read from there when the config does not set them (real MMARs such as
            chexpert keep them in environment.json).
        file: the config file, as shown in messages.

    Raises:
        ConfigError: the first value out of range, with the file and its JSON path.
    """
    def read(key: str, default: Any, check) -> Any:
        value = data.get(key, variables.get(key, default))
        try:
            return check(value)
        except ConfigError as error:
            raise ConfigError(error.message.removeprefix(f"{file}: "), file=file, json_path=key,
                              hint=error.hint) from None

    return TrainSettings(
        epochs=read("epochs", 1, lambda v: argcheck.as_int(
            v, component=file, arg="epochs", minimum=1)),
        learning_rate=read("learning_rate", 1e-4, lambda v: argcheck.as_float(
            v, component=file, arg="learning_rate", minimum=0, strict_min=True)),
        every=read("num_training_epoch_per_valid", 1, lambda v: argcheck.as_int(
            v, component=file, arg="num_training_epoch_per_valid", minimum=1)),
        interval=read("train_summary_recording_interval", 1, lambda v: argcheck.as_int(
            v, component=file, arg="train_summary_recording_interval", minimum=1)),
        use_amp=read("use_amp", False, lambda v: argcheck.as_bool(
            v, component=file, arg="use_amp")),
        seed=config_seed(data, file),
        skip_bad_cases=read("skip_bad_cases", False, lambda v: argcheck.as_bool(
            v, component=file, arg="skip_bad_cases")),
    )


def config_seed(config: Mapping[str, Any], file: str) -> int | None:
    """The seed ``determinism`` names (``random_seed``, else tf/numpy/python seed), or None."""
    determinism = config.get("determinism")
    if determinism is None:
        return None
    if not isinstance(determinism, Mapping):
        raise ConfigError("determinism must be an object such as {\"random_seed\": 123}; "
                          f"Received: determinism={determinism!r}", file=file,
                          json_path="determinism")
    for key in ("random_seed", "tf_seed", "numpy_seed", "python_seed"):
        if key in determinism:
            try:
                seed = int(determinism[key])  # python_seed is a string in Clara's files
            except (TypeError, ValueError, OverflowError):
                raise ConfigError(f"{key} must be an integer; Received: {key}="
                                  f"{determinism[key]!r}", file=file,
                                  json_path=f"determinism.{key}") from None
            if not 0 <= seed <= MAX_SEED:
                # The schema says so for integers; this catches Clara's string form too.
                raise ConfigError(f"{key} must be between 0 and {MAX_SEED}; Received: {key}="
                                  f"{determinism[key]!r}", file=file,
                                  json_path=f"determinism.{key}")
            return seed
    return None


def read_eval_settings(data: Mapping[str, Any], variables: Mapping[str, Any],
                       file: str) -> EvalSettings:
    """The globals of a resolved validation config (``config_validation.json``).

    Args:
        data: the config with placeholders substituted and ``--set`` applied.
        variables: the resolved variables; ``skip_bad_cases`` is read from there when the
            config does not set it (environment.json or ``--set``).
        file: the config file, as shown in messages.

    Raises:
        ConfigError: the first value that is not a boolean, with the file and its JSON path.
    """
    def read(key: str, value: Any) -> bool:
        try:
            return argcheck.as_bool(value, component=file, arg=key)
        except ConfigError as error:
            raise ConfigError(error.message.removeprefix(f"{file}: "), file=file,
                              json_path=key) from None

    use_amp = data.get("use_amp")
    return EvalSettings(
        use_amp=None if use_amp is None else read("use_amp", use_amp),
        skip_bad_cases=read("skip_bad_cases",
                            data.get("skip_bad_cases", variables.get("skip_bad_cases", False))))
