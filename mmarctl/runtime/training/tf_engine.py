"""The TensorFlow side of training: the compiled step, prediction and in-training validation.

The loop and its hooks are in :mod:`.contract`; this module only computes. One
``tf.function`` step per batch: forward, loss (+ the model's regularisation losses),
gradients, all-reduce across processes (``backend.allreduce_gradients``, identity on one
process), update. The precision is decided before the model is built
(:mod:`mmarctl.runtime.precision`); under float16 the optimizer is Keras'
``LossScaleOptimizer``, under bfloat16 no scaling is needed. Either way the networks keep
their last activation in float32 and the loss is cast to float32.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterator

import numpy as np
import tensorflow as tf
import keras

from mmarctl.errors import DataError, MmarError, RuntimeFailure
from mmarctl.runtime import user_code
from mmarctl.runtime.kernels import build as kernel_build
from mmarctl.runtime.networks.fused_kernels import fused_inference
from mmarctl.runtime.tf_errors import telling_line

log = logging.getLogger("mmarctl.train")


def current_lr(optimizer: Any) -> float:
    """The learning rate the optimizer uses at its current iteration."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    lr = inner.learning_rate
    try:
        return float(keras.ops.convert_to_numpy(lr))
    except Exception:  # a schedule object
        return float(inner._learning_rate(inner.iterations))


def make_predict(model: Any, jit: bool = False):
    """``predict(batch) -> probabilities`` (NumPy in, NumPy out), compiled once per rank."""
    @tf.function(reduce_retracing=True, jit_compile=jit)
    def _predict(x):
        # inference-only kernels, never exported; XLA compiles none of mmarctl's own ops
        with fused_inference(), kernel_build.disabled(jit):
            return tf.cast(model(x, training=False), tf.float32)

    def predict(batch: np.ndarray) -> np.ndarray:
        return _predict(tf.convert_to_tensor(batch, tf.float32)).numpy()

    return predict


def _any_batch(tensor: Any) -> Any:
    """``tensor``'s spec with the batch dimension left open."""
    return tf.TensorSpec([None, *tensor.shape[1:]], tensor.dtype)


def make_aux(loss_fn: Any, aux_ops: list[Any]):
    """``aux(y_true, y_pred) -> {tag: array}``: Clara aux ops on a validation batch.

    Aux ops follow ``op(y_true, y_pred, loss) -> {tag: tensor}`` (channels-last batches, the
    batch's loss); their tags become sample fields that metrics such as ``ComputeAverage``
    or ``ComputeAUC`` read. Nothing is averaged here: a scalar tag comes back as a 0-d
    array, a per-sample tag (ComputeBinaryPreds' ``(B, K)`` scores and labels) as the whole
    ``(B, ...)`` array; :func:`aux_fields` gives one sample's share, and metrics such as
    ComputeAUC gather the cases' rows themselves.
    """
    if not aux_ops:
        return None

    @tf.function(reduce_retracing=True)
    def _aux(y_true, y_pred):
        loss = tf.cast(loss_fn(y_true, y_pred), tf.float32)
        values = {}
        for op in aux_ops:
            values.update(op(y_true, y_pred, loss))
        return values

    def aux(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, np.ndarray]:
        out = _aux(tf.convert_to_tensor(y_true, tf.float32), tf.convert_to_tensor(y_pred))
        return {tag: np.asarray(value, np.float32) for tag, value in out.items()}

    return aux


def aux_fields(values: dict[str, np.ndarray], index: int, batch: int) -> dict[str, np.ndarray]:
    """The aux-op values of sample ``index`` of a batch of ``batch`` samples.

    A value whose first axis is the batch gives that sample's row (``(K,)`` scores for
    ComputeAUC); a scalar, or any other array, belongs to the whole batch and is kept as is.
    """
    out = {}
    for tag, value in values.items():
        value = np.asarray(value, np.float32)
        out[tag] = value[index] if value.ndim >= 1 and value.shape[0] == batch else value
    return out


def run_inferer(inferer: Any, predict, image: np.ndarray, classification: bool) -> np.ndarray:
    """The inferer's output for one image; a classification network is called directly.

    Clara's classification MMARs name ``TFSimpleInferer``, which only runs the network; the
    inferers' contract is about segmentation maps (output keeps the spatial shape), so for a
    network with one value per class the call goes straight to ``predict``.
    """
    if classification:
        from mmarctl.runtime.inferers.base import call_network

        # Its failures are said as the inferers say theirs (a Ctrl-C while tracing too).
        return call_network(predict, image, "network")
    return np.asarray(inferer(predict, image), np.float32)


def put_prediction(sample: dict[str, Any], probabilities: np.ndarray, task: str) -> None:
    """Store one case's network output ``(*spatial, K)`` as field ``"model"``.

    The layout follows the image's: channels first (Clara's default) unless the image is
    channels last (``ConvertToChannelsLast`` ran, as in channels_last MMARs), so that the
    post transforms and metrics compare ``"model"`` with a label of the same layout. A
    classification output stays a vector ``(K,)``.
    """
    meta = sample.setdefault("meta", {})
    if task == "classification" or probabilities.ndim < 2:
        sample["model"] = probabilities.reshape(-1)
        meta.setdefault("model", {})["channel_axis"] = 0
        return
    image_props = meta.get("image")
    last = isinstance(image_props, dict) and image_props.get("channel_axis") == -1
    sample["model"] = probabilities if last else np.moveaxis(probabilities, -1, 0)
    meta.setdefault("model", {})["channel_axis"] = -1 if last else 0


class Validator:
    """Runs the inferer over the validation pipeline and computes the metrics.

    Args:
        pipeline: the validation pipeline (samples in Clara layout).
        inferer: ``inferer(predict, image) -> (1, *spatial, K)``.
        metrics: metric components (``update``, ``result``, ``reset``, ``name``).
        aux: from :func:`make_aux` (None without aux ops); its tags become sample fields.
        backend: the distributed backend (metrics averaged over processes).
    """

    def __init__(self, pipeline: Any, inferer: Any, metrics: list[Any], aux: Any,
                 backend: Any) -> None:
        self.pipeline = pipeline
        self.inferer = inferer
        self.metrics = metrics
        self.aux = aux
        self.backend = backend

    def run(self, predict) -> dict[str, float]:
        for metric in self.metrics:
            with user_code.calling(metric):
                metric.reset()
        cases = 0
        for sample in self.pipeline.samples(0, order=range(len(self.pipeline.items()))):
            cases += 1
            arrays = self.pipeline.batch_arrays(sample)
            probabilities = run_inferer(self.inferer, predict, arrays["image"][None],
                                        self.pipeline.task == "classification")
            if self.aux is not None and "label" in arrays:
                values = self.aux(arrays["label"][None], probabilities)
                sample.update(aux_fields(values, 0, batch=1))
            put_prediction(sample, probabilities[0], self.pipeline.task)
            for metric in self.metrics:
                with user_code.calling(metric):
                    metric.update(sample)
        if self.backend.size > 1:
            return self._job_results(cases)
        results = {}
        for metric in self.metrics:
            with user_code.calling(metric):
                results[metric.name] = float(metric.result())
        return results

    def _job_results(self, cases: int) -> dict[str, float]:
        """The metrics over every rank's cases (each rank validates its own, none twice):
        mmarctl's metrics gather the per-case values, a BYOC metric's results are weighted
        by the ranks' case counts (:mod:`mmarctl.runtime.evaluation_ranks`). Rank 0 alone
        writes a metric's ``report_path`` file."""
        from mmarctl.runtime.evaluation_ranks import job_metric_values, metric_state
        from mmarctl.runtime.metrics.base import Metric

        def result(metric: Any) -> float:
            with user_code.calling(metric):
                if isinstance(metric, Metric) and not self.backend.is_chief:
                    return metric.value()
                return metric.result()

        mine = [metric_state(metric, cases, result) for metric in self.metrics]
        return job_metric_values(self.metrics, self.backend.gather_objects(mine), None, result)


class TFEngine:
    """Trains a Keras model on a pipeline with a compiled step.

    Args:
        model, loss, optimizer: built Keras model, loss callable, Keras optimizer.
        pipeline: the training pipeline (its ``dataset(epoch)`` gives the batches).
        validator: a :class:`Validator`, or None.
        backend: the distributed backend (rank/size, gradient all-reduce).
        jit: XLA-compile the step (``jit_compile``).
    """

    def __init__(self, model: Any, loss: Any, optimizer: Any, pipeline: Any,
                 validator: Validator | None, backend: Any,
                 jit: bool = False, aux_ops: Any = ()) -> None:
        self.model = model
        self.loss = loss
        self.optimizer = optimizer
        self.pipeline = pipeline
        self.validator = validator
        self.backend = backend
        self.jit = jit
        self.aux_ops = list(aux_ops)
        self.amp = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        self.wait_s = 0.0  # time spent waiting for input batches
        self.step_s = 0.0  # time spent in the compiled step
        self.samples_seen = 0
        self._step = self._make_step()
        self._step_traced = False
        self._predict = None
        self._finite_flags = None

    def _make_step(self):
        model, loss_fn, optimizer, backend, amp = (self.model, self.loss, self.optimizer,
                                                   self.backend, self.amp)
        aux_ops = self.aux_ops

        @tf.function(reduce_retracing=True, jit_compile=self.jit)
        def step(images, labels):
            # XLA has no kernel for mmarctl's own ops: a jit-compiled step traces without them
            with tf.GradientTape() as tape, kernel_build.disabled(self.jit):
                predictions = model(images, training=True)
                loss = tf.cast(loss_fn(labels, predictions), tf.float32)
                if model.losses:
                    loss += tf.add_n([tf.cast(x, tf.float32) for x in model.losses])
                scaled = optimizer.scale_loss(loss) if amp else loss
            variables = model.trainable_variables
            gradients = tape.gradient(scaled, variables)
            gradients = backend.allreduce_gradients(gradients)
            optimizer.apply_gradients(zip(gradients, variables))
            if not aux_ops:
                return loss
            aux = {}
            for op in aux_ops:  # Clara aux ops: extra per-batch values, logged by tag
                for tag, value in op(labels, predictions, loss).items():
                    if value.shape.rank == 0:  # vectors (ComputeBinaryPreds) are for metrics
                        aux[tag] = tf.cast(value, tf.float32)
            return loss, aux

        return step

    def train_epoch(self, epoch: int) -> Iterator[dict[str, float]]:
        """One epoch of steps; yields ``{"loss", "learning_rate", <aux-op tags>}`` after each.

        With several processes the loss and the scalar aux-op tags are means over ranks.
        """
        batches = self.pipeline.dataset(epoch)
        while True:
            waited = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                return
            started = time.perf_counter()
            self.wait_s += started - waited
            if "label" not in batch:
                raise DataError("training items need a \"label\"",
                                hint="add labels to the datalist's training items")
            # The rate this step uses: the step advances the optimizer's iterations, after
            # which a schedule gives the next step's rate.
            rate = current_lr(self.optimizer)
            try:
                result = self._run_step(batch["image"], batch["label"])
            except (ValueError, TypeError, tf.errors.OpError) as error:
                # Shape/dtype mismatches between data, network and loss surface here; when
                # the failing line is the MMAR's own code, that line is named first.
                in_user_code = user_code.failure(error, [self.loss, self.model, *self.aux_ops])
                where = in_user_code.message.split(": ")[0] + ": " if in_user_code else ""
                raise RuntimeFailure(f"{where}the training step failed on a batch of images "
                                     f"{tuple(batch['image'].shape)} and labels "
                                     f"{tuple(batch['label'].shape)}: {telling_line(error)}",
                                     hint="check num_classes, the channels, the label "
                                          "format and output_crop_size against the network "
                                          "and loss") from error
            except Exception as error:  # a bug in a BYOC loss, network or aux op
                carried = carried_error(error)
                if carried is not None:
                    raise carried from None
                in_user_code = user_code.failure(error, [self.loss, self.model, *self.aux_ops])
                if in_user_code is None:
                    raise
                raise in_user_code from error
            # The step returns the loss alone, or (loss, {tag: value}) when there are aux ops.
            loss, aux = result if isinstance(result, tuple) else (result, {})
            if loss.shape.rank != 0:  # a BYOC loss that forgot its reduction
                raise user_code.not_a_scalar(self.loss, loss.shape)
            loss_value = float(loss)
            self.step_s += time.perf_counter() - started
            self.samples_seen += int(batch["image"].shape[0])
            values = {"loss": loss_value, **{tag: float(value) for tag, value in aux.items()}}
            if self.backend.size > 1:
                # What rank 0 logs, draws and writes is the mean over ranks, not its own
                # shard's loss; every rank joins this collective (one per step), so a NaN on
                # any rank stops all of them at the same step.
                values = self.backend.allreduce_mean(values)
            yield {"learning_rate": rate, **values}

    def _run_step(self, images: Any, labels: Any) -> Any:
        """The compiled step on one batch; traced once for every batch size when the epoch
        ends on a smaller batch.

        The step's graph is traced for the first batch's shapes. An epoch whose items do not
        fill its last batch (30 images in batches of 8) then makes ``reduce_retracing``
        trace it a second time, for any batch size: as long as the first trace again (18 s
        of a DenseNet121 step's 35 on a 2-vCPU EPYC). That second graph is traced first
        instead, and serves every batch.
        """
        if not self._step_traced:
            self._step_traced = True
            if self._epoch_ends_short():
                self._step.get_concrete_function(_any_batch(images), _any_batch(labels))
        return self._step(images, labels)

    def _epoch_ends_short(self) -> bool:
        """Whether this process's epoch ends on a batch smaller than the others (items
        skipped during the run aside, which can only add that trace back)."""
        try:
            patches = len(self.pipeline.epoch_order(0)) * self.pipeline.patches_per_item
            return patches % self.pipeline.batch_size != 0
        except (AttributeError, TypeError):  # a pipeline that does not tell its sizes
            return False

    def nonfinite_weights(self) -> list[str]:
        """Paths of the model's weights (batch-norm statistics included) holding a NaN or an
        infinity: one compiled pass over the weights."""
        weights = self.model.weights
        if self._finite_flags is None:
            @tf.function
            def finite_flags():
                return tf.stack([tf.reduce_all(tf.math.is_finite(w)) for w in weights])

            self._finite_flags = finite_flags
        flags = self._finite_flags().numpy()
        return [weight.path for weight, finite in zip(weights, flags) if not finite]

    def predict(self, batch: np.ndarray) -> np.ndarray:
        if self._predict is None:
            self._predict = make_predict(self.model)
        return self._predict(batch)

    def validate(self, epoch: int) -> dict[str, float]:
        """Metrics on the validation pipeline ({} when there is none)."""
        if self.validator is None:
            return {}
        return self.validator.run(self.predict)


def carried_error(error: BaseException) -> MmarError | None:
    """The MmarError (a component's ConfigError, say Dice's skip_background) that
    autograph wrapped while tracing the step: it re-raises an exception whose constructor
    it cannot call as a StagingError ("in user code: ..."), leaving the original as the
    context. None when there is none, so the error is handled as before."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, MmarError):
            return error
        error = error.__cause__ or error.__context__
    return None
