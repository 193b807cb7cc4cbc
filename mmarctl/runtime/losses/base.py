"""What the segmentation losses share: turning Clara's label map into per-class targets."""

from __future__ import annotations

from mmarctl.runtime.lazy import tf

from mmarctl.errors import ConfigError, DataError
from mmarctl.runtime.component import Component


class Loss(Component):
    """Base class of losses: ``loss(y_true, y_pred)`` returns a scalar float32 tensor."""

    def __call__(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError


def targets_like(y_true: tf.Tensor, y_pred: tf.Tensor, is_onehot: bool) -> tf.Tensor:
    """``y_true`` shaped like ``y_pred`` (float32).

    A class-index map ``(B, *S, 1)`` is one-hot encoded to ``y_pred``'s channel count; with a
    single output channel (sigmoid networks) the map is already the foreground target.
    One-hot targets (``is_onehot``) are only cast.
    """
    y_true = tf.convert_to_tensor(y_true)
    channels = y_pred.shape[-1]
    rank = y_pred.shape.rank
    if not is_onehot and y_true.shape.rank is not None and rank is not None \
            and y_true.shape.rank == rank - 1:
        y_true = y_true[..., None]  # a class map without its channel axis
    given = y_true.shape[-1] if y_true.shape.rank else None
    if is_onehot and given == 1 and channels is not None and channels > 1:
        # One channel is a class-index map: every case hits this, so it is the config's
        # mistake (a ConfigError, not a bad case that skip_bad_cases could skip).
        raise ConfigError(f"is_onehot_targets is true, but the labels have 1 channel (class "
                          f"indices) and the prediction {channels} (the network's "
                          "num_classes)", hint="set the loss's is_onehot_targets to false")
    if is_onehot and given is not None and channels is not None and given != channels:
        raise DataError(f"one-hot targets have {given} channels but the prediction has "
                        f"{channels}", hint="set is_onehot_targets to false for a class-index "
                        "label, or match the network's num_classes to the label channels")
    if not is_onehot and given is not None and channels is not None and given == channels > 1:
        # A label of one value per class (Clara's classification label_format, a one-hot
        # file): every case has it, so it is the config's mistake, not a bad case.
        raise ConfigError(f"is_onehot_targets is false, but the labels have {given} "
                          f"channels, one per class of the prediction (not 1 class index)",
                          hint="set the loss's is_onehot_targets to true for one-hot labels")
    if not is_onehot and given is not None and given != 1:
        # Also under one output channel: a 3-channel label (an RGB mask PNG, a one-hot
        # file) would broadcast against the sigmoid output and train on nonsense.
        hint = ("set is_onehot_targets to true for one-hot labels" if channels != 1 else
                "save each mask as one grey (class-index) channel: an RGB mask PNG or a "
                "one-hot label file has several")
        raise DataError(f"a class-index label needs one channel, got {given} (prediction has "
                        f"{channels})", hint=hint)
    if is_onehot or channels == 1:
        return tf.cast(y_true, tf.float32)
    labels = tf.cast(tf.round(y_true[..., 0]), tf.int32)
    return tf.one_hot(labels, depth=channels, dtype=tf.float32)
