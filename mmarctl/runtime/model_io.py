"""Build an MMAR's Keras model from its training config.

Training, validation, inference and export all need the same network: the one described
by ``config_train.json``'s ``train.model`` entry, built for the input the training
pipeline produces. :func:`input_spec` reads that input from the config;
:func:`build_network` builds the network component and its Keras model.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any, Mapping

from mmarctl.errors import ConfigError
from mmarctl.runtime import user_code

#: Networks whose Clara arguments say the spatial rank (e.g. SegAhnet ``n_spatial_dim``).
_SPATIAL_DIM_ARGS = ("n_spatial_dim", "spatial_dims")


def _data(config: Any) -> Mapping[str, Any]:
    """Accept a ResolvedConfig or the plain resolved dict."""
    data = getattr(config, "data", config)
    if not isinstance(data, Mapping):
        raise ConfigError("expected a training config object")
    return data


def _file(config: Any) -> str:
    return getattr(config, "file", "config_train.json")


def input_spec(train_config: Any) -> tuple[int, int, tuple[int | None, ...] | None]:
    """``(spatial_dims, in_channels, patch_size)`` of the network input, from the config.

    * ``spatial_dims``: ``train.image_pipeline.args.output_data_dims`` when given, else the
      length of ``output_crop_size``, else the model's ``n_spatial_dim``, else 3.
    * ``in_channels``: ``output_image_channels`` of the training pipeline (default 1).
    * ``patch_size``: ``output_crop_size`` with ``-1`` entries as None, or None when absent.

    Raises:
        ConfigError: the pipeline arguments contradict each other or are not integers.
    """
    data = _data(train_config)
    file = _file(train_config)
    train = data.get("train") if isinstance(data.get("train"), Mapping) else {}
    pipeline = train.get("image_pipeline") if isinstance(train.get("image_pipeline"), Mapping) else {}
    args = pipeline.get("args") or {}
    model_args = (train.get("model") or {}).get("args") or {} if isinstance(train.get("model"), Mapping) else {}
    where = "train.image_pipeline.args"

    crop = args.get("output_crop_size")
    patch: tuple[int | None, ...] | None = None
    if crop is not None:
        if not isinstance(crop, list) or not crop or not all(isinstance(v, int) for v in crop):
            raise ConfigError(f"output_crop_size must be a list of integers; Received: "
                              f"output_crop_size={crop!r}", file=file,
                              json_path=f"{where}.output_crop_size")
        patch = tuple(None if v <= 0 else v for v in crop)

    dims = args.get("output_data_dims")
    if dims is None and patch is not None:
        dims = len(patch)
    if dims is None:
        dims = next((model_args[k] for k in _SPATIAL_DIM_ARGS if k in model_args), 3)
    if not isinstance(dims, int) or dims not in (2, 3):
        raise ConfigError(f"the network input must be 2D or 3D; Received: output_data_dims={dims!r}",
                          file=file, json_path=f"{where}.output_data_dims")
    if patch is not None and len(patch) != dims:
        raise ConfigError(f"output_crop_size has {len(patch)} values but output_data_dims is "
                          f"{dims}", file=file, json_path=f"{where}.output_crop_size")

    channels = args.get("output_image_channels", 1)
    if not isinstance(channels, int) or channels < 1:
        raise ConfigError(f"output_image_channels must be a positive integer; Received: "
                          f"output_image_channels={channels!r}", file=file,
                          json_path=f"{where}.output_image_channels")
    return dims, channels, patch


def build_network(resolved_train_config: Any, root: Path | None = None,
                  builder: Any = None, checkpoint_follows: bool = False) -> tuple[Any, Any]:
    """The ``train.model`` component and its Keras model, built for :func:`input_spec`.

    Args:
        resolved_train_config: the training config (``ResolvedConfig`` or its ``data`` dict)
            with placeholders substituted.
        root: the MMAR root, where BYOC network code is looked up.
        builder: an existing :class:`ComponentBuilder` to reuse (so ``ref`` works); a new one
            is made when None.
        checkpoint_follows: the caller restores a checkpoint into the model next, so the
            network's ``pretrain_weight_name`` is not loaded (nor its absence warned of).

    Raises:
        ConfigError: the model entry is missing or cannot be built.
    """
    from mmarctl.runtime.builder import ComponentBuilder

    data = _data(resolved_train_config)
    file = _file(resolved_train_config)
    train = data.get("train")
    if not isinstance(train, Mapping) or "model" not in train:
        raise ConfigError("no model: train.model is missing", file=file, json_path="train")
    builder = builder or ComponentBuilder(file, root)
    network = builder.build("networks", train["model"], "train.model")
    if network is None:
        raise ConfigError("train.model is disabled; a model is required", file=file,
                          json_path="train.model")
    dims, channels, _ = input_spec(resolved_train_config)
    try:
        if checkpoint_follows:
            from mmarctl.runtime.networks.base import checkpoint_follows as skip_pretrained

            with skip_pretrained():
                model = network.build(dims, channels)
        else:
            model = network.build(dims, channels)
    except ConfigError as error:
        raise ConfigError(error.message, file=file, json_path="train.model",
                          hint=error.hint) from error
    except Exception as error:  # a network that cannot be built for this input
        in_user_code = user_code.failure(error, [network])
        if in_user_code is not None:
            raise ConfigError(in_user_code.message, hint=in_user_code.hint) from error
        raise ConfigError(f"{type(network).__name__} cannot be built for {dims}D input with "
                          f"{channels} channel(s): {error}", file=file,
                          json_path="train.model") from error
    _check_output_channels(train["model"], model, file)
    fingerprint = network_fingerprint(network, dims, channels)
    if fingerprint is not None:
        try:
            _FINGERPRINTS[model] = fingerprint
        except TypeError:  # a model that cannot be weakly referenced: no record
            pass
    origin = user_code.origin_of(network)
    if origin is not None:  # the model runs the user's code too (its layers, its call())
        user_code.remember(model, origin)
    return network, model


def _check_output_channels(entry: Any, model: Any, file: str) -> None:
    """Refuse a model whose output channels are not the config's ``num_classes``.

    A (BYOC) network that ignores ``num_classes`` would otherwise train against labels and
    a loss set up for another class count without a word. The channel axis is the last one,
    for segmentation ``(batch, *spatial, K)`` and classification ``(batch, K)`` alike.
    Nothing is checked when the args give no integer ``num_classes``, or when the model has
    several outputs or an open channel count.
    """
    args = entry.get("args") if isinstance(entry, Mapping) else None
    wanted = args.get("num_classes") if isinstance(args, Mapping) else None
    if isinstance(wanted, str) and wanted.strip().isdigit():
        wanted = int(wanted)  # Clara configs sometimes quote numbers
    if not isinstance(wanted, int) or isinstance(wanted, bool):
        return
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) != 1:
        return
    shape = tuple(outputs[0].shape)
    channels = shape[-1] if len(shape) >= 2 else None
    if channels is None or int(channels) == wanted:
        return
    raise ConfigError(f"train.model's network outputs {int(channels)} channel(s) (output "
                      f"shape {_shape(shape)}) but its args give num_classes={wanted}",
                      file=file, json_path="train.model.args.num_classes",
                      hint="make the network's last layer produce num_classes channels, or "
                           "set num_classes to what it produces")


def _shape(shape: tuple) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


#: Keras model -> the :func:`network_fingerprint` it was built from (save_checkpoint
#: records it beside the checkpoint; check compares it with the config's).
_FINGERPRINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def network_fingerprint(network: Any, dims: int, channels: int | None) -> dict | None:
    """What decides the variables of the Keras model ``network`` builds for ``dims``-D,
    ``channels``-channel input: its class and its arguments with their defaults (the
    ``_config`` mmarctl's networks keep). None for a network without ``_config`` (BYOC),
    or one whose arguments are not plain JSON values."""
    import json

    config = getattr(network, "_config", None)
    if not isinstance(config, Mapping):
        return None
    cls = type(network)
    fingerprint = {"network": f"{cls.__module__}.{cls.__qualname__}", "args": dict(config),
                   "dims": dims, "channels": channels}
    try:
        return json.loads(json.dumps(fingerprint))
    except (TypeError, ValueError):
        return None


def built_from(model: Any) -> dict | None:
    """The :func:`network_fingerprint` :func:`build_network` built ``model`` from, else None."""
    try:
        return _FINGERPRINTS.get(model)
    except TypeError:
        return None


def network_variable_shapes(network: Any, dims: int,
                            channels: int | None) -> dict[str, tuple[str, tuple[int, ...]]]:
    """The variables a checkpoint of the Keras model ``network`` builds would hold:
    checkpoint key -> (variable name, shape). Builds the model with TensorFlow (imported
    here, quietly), for ``check`` when the config's network is not the one a checkpoint
    records (see :func:`mmarctl.runtime.checkpoint.network_record`).

    Raises:
        Exception: whatever TensorFlow or the network raise (the caller skips the check).
    """
    from mmarctl.runtime.logs import quiet_tensorflow

    quiet_tensorflow()
    from mmarctl.runtime.checkpoint import model_variable_shapes
    from mmarctl.runtime.networks.base import checkpoint_follows as skip_pretrained

    with skip_pretrained():
        model = network.build(dims, channels or 1)
    return model_variable_shapes(model)
