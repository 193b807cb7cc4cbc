"""The roofline of a training step: counted multiply-adds against the machine's matmul rate.

* :func:`count_macs` counts a Keras model's forward multiply-adds per sample from its
  layers: every convolution (``out voxels x out channels x kernel volume x in channels /
  groups``), every transposed convolution (``in voxels x in channels x kernel volume x out
  channels``) and every dense layer (``in x out`` per row). Shapes are recorded by running
  the model once on a zero batch. Normalisation, activations, pooling and upsampling are
  not counted: on these networks they are well under 5 % of the arithmetic (they are
  memory-bound, which is exactly what a roofline row should show as lost time).
* A training step costs about **3 x the forward multiply-adds**: the forward pass, the
  gradient with respect to each layer's input and the gradient with respect to its weights
  are each one pass of the same size (the first layer's input gradient, which is not
  needed, is counted too: a slight overcount). One multiply-add is 2 FLOPs.
* :func:`matmul_gflops` measures the machine's limit in the same precision: NumPy's
  float32 matmul (BLAS), or TensorFlow's ``tf.linalg.matmul`` on bfloat16 tensors (oneDNN's
  bf16 GEMM on AVX-512 BF16 / AMX), best of several square products; on a GPU, TensorFlow's
  matmul in every precision (the GPU's practical peak). A small product (256^2 takes a
  fifth of a millisecond) is timed as often as half a second allows, and the best one kept:
  on a loaded machine most calls wait for a time slice.

Used by ``benchmarks/training_throughput.py`` (in a process of its own, before any training
thread pool exists: measured inside a training process, NumPy's 256^2 float32 product came
out 100x slow); run alone for the matmul rates (from the checkout's root)::

    .venv/bin/python benchmarks/roofline.py [--n 2048] [--dtypes float32,bfloat16]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from typing import Any

import numpy as np

#: Forward + input gradient + weight gradient: each one pass of the forward's size.
TRAINING_PASSES = 3


def _conv_kind(layer: Any) -> str | None:
    import keras

    layers = keras.layers
    transposed = (layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)
    if isinstance(layer, transposed):
        return "transpose"
    if isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D)):
        return "conv"
    if isinstance(layer, layers.Dense):
        return "dense"
    return None


def count_macs(model: Any, sample_shape: tuple[int, ...], as_computed: bool = False) -> int:
    """Forward multiply-adds of ``model`` for ONE sample of ``sample_shape`` (no batch axis).

    Runs the model once on zeros of shape ``(1, *sample_shape)`` with each counted layer's
    ``call`` wrapped to record its input and output shapes, then restores the layers.

    By default the count is the network's as defined (what any framework's plain graph
    computes). With ``as_computed`` the model runs its runtime graph (inside
    ``fused_inference``, as predict does; training takes the same forms), where a decoder
    join may go through ``upsampled_join`` with fewer multiply-adds: those are counted as
    that form computes them.
    """
    from mmarctl.runtime.networks.fused_kernels import fused_inference

    counted = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
               if _conv_kind(layer)]
    shapes: dict[int, tuple[tuple, tuple]] = {}
    joins: dict[int, tuple[tuple, tuple, tuple]] = {}
    for layer in counted:
        def recording(inputs, *args, _layer=layer, _call=layer.call, **kwargs):
            outputs = _call(inputs, *args, **kwargs)
            shapes[id(_layer)] = (tuple(inputs.shape), tuple(outputs.shape))
            return outputs

        object.__setattr__(layer, "call", recording)
        if hasattr(layer, "call_joined"):
            def recording_join(low, skip, *args, _layer=layer, _call=layer.call_joined,
                               **kwargs):
                outputs = _call(low, skip, *args, **kwargs)
                joins[id(_layer)] = (tuple(low.shape), tuple(skip.shape), tuple(outputs.shape))
                return outputs

            object.__setattr__(layer, "call_joined", recording_join)
    try:
        with fused_inference() if as_computed else contextlib.nullcontext():
            model(np.zeros((1, *sample_shape), np.float32), training=False)
    finally:
        for layer in counted:
            object.__delattr__(layer, "call")
            if hasattr(type(layer), "call_joined"):
                object.__delattr__(layer, "call_joined")
    total = sum(_join_macs(*shapes) for shapes in joins.values())
    for layer in counted:
        if id(layer) not in shapes:
            continue  # a layer the forward pass did not use (or took as a join)
        (in_shape, out_shape), kind = shapes[id(layer)], _conv_kind(layer)
        in_channels, out_channels = int(in_shape[-1]), int(out_shape[-1])
        if kind == "dense":
            total += int(np.prod(in_shape[1:-1] or (1,))) * in_channels * out_channels
            continue
        kernel = int(np.prod(layer.kernel_size))
        groups = int(getattr(layer, "groups", 1) or 1)
        if kind == "conv":
            voxels = int(np.prod(out_shape[1:-1]))
            total += voxels * out_channels * kernel * in_channels // groups
        else:
            voxels = int(np.prod(in_shape[1:-1]))
            total += voxels * in_channels * kernel * out_channels
    return total


def _join_macs(low: tuple, skip: tuple, out: tuple) -> int:
    """``upsampled_join``'s work: a 2^d convolution over the low input padded by one into
    2^d x C_out channels, and the skip's 3^d convolution at full resolution."""
    dims = len(low) - 2
    pairs = int(np.prod([n + 1 for n in low[1:-1]]))
    low_part = pairs * 2 ** dims * int(low[-1]) * 2 ** dims * int(out[-1])
    skip_part = int(np.prod(out[1:-1])) * 3 ** dims * int(skip[-1]) * int(out[-1])
    return low_part + skip_part


def step_gflops(forward_macs_per_sample: int, samples_per_s: float) -> float:
    """Achieved GFLOP/s of training: 2 FLOPs x 3 passes x forward MACs x samples/s."""
    return 2.0 * TRAINING_PASSES * forward_macs_per_sample * samples_per_s / 1e9


def _best_seconds(product: Any, repeats: int, min_total_s: float) -> float:
    """Best seconds of one ``product()`` after a warm-up call, over at least ``repeats``
    timed calls and at least ``min_total_s`` of them (at most 10,000): on a loaded machine a
    small product's BLAS threads can each wait for a time slice, so the best of many calls
    is the one that ran undisturbed."""
    product()
    best, spent, count = float("inf"), 0.0, 0
    while count < repeats or (spent < min_total_s and count < 10_000):
        started = time.perf_counter()
        product()
        elapsed = time.perf_counter() - started
        best, spent, count = min(best, elapsed), spent + elapsed, count + 1
    return best


def matmul_gflops(dtype: str = "float32", n: int = 2048, repeats: int = 7,
                  backend: str = "auto", min_total_s: float = 0.5) -> float:
    """The machine's best square-matmul rate in ``dtype``, GFLOP/s: the best of at least
    ``repeats`` timed products (and ``min_total_s`` of them) after a warm-up.

    ``backend``: ``numpy`` (BLAS, float32 only), ``tf`` (TensorFlow: oneDNN on CPU, cuBLAS
    on a GPU, where float32 uses TF32 Tensor Cores from compute capability 8.0 as
    TensorFlow's convolutions do) or ``auto``: NumPy for float32 without a GPU, else TF.
    Call it in a process that has not trained: TensorFlow's busy thread pools slow BLAS.
    """
    flops = 2.0 * n ** 3
    if backend == "auto":
        backend = "numpy" if dtype == "float32" and not _has_gpu() else "tf"
    if backend == "numpy":
        rng = np.random.default_rng(0)
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        return flops / _best_seconds(lambda: a @ b, repeats, min_total_s) / 1e9
    import tensorflow as tf

    a = tf.cast(tf.random.stateless_normal((n, n), seed=(0, 1)), dtype)
    b = tf.cast(tf.random.stateless_normal((n, n), seed=(0, 2)), dtype)

    @tf.function
    def product(a, b):
        # One element comes back: the timing is the product, not an n x n copy to the host.
        return tf.linalg.matmul(a, b)[0, 0]

    # .numpy() waits for the device
    return flops / _best_seconds(lambda: product(a, b).numpy(), repeats, min_total_s) / 1e9


def matmul_source(dtype: str) -> str:
    """Which matmul :func:`matmul_gflops` times for ``dtype`` on this machine."""
    return "numpy float32" if dtype == "float32" and not _has_gpu() else f"tf {dtype}"


def _has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def main() -> int:
    parser = argparse.ArgumentParser(description="Matmul GFLOP/s in float32 and bfloat16.")
    parser.add_argument("--n", type=int, default=2048, help="square matrix size (default 2048)")
    parser.add_argument("--dtypes", help="comma-separated (default float32,bfloat16, and "
                                         "float16 on a GPU)")
    parser.add_argument("--result", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    dtypes = [d.strip() for d in args.dtypes.split(",")] if args.dtypes else \
        ["float32", "bfloat16"] + (["float16"] if _has_gpu() else [])
    # float32 first: NumPy's BLAS before TensorFlow has started any thread pool.
    dtypes.sort(key=lambda d: d != "float32")
    rates = {}
    for dtype in dtypes:
        rates[dtype] = {"gflops": matmul_gflops(dtype, args.n), "source": matmul_source(dtype)}
        if not args.result:
            print(f"{dtype:<9} matmul {args.n}x{args.n}: {rates[dtype]['gflops']:8.1f} GFLOP/s "
                  f"({rates[dtype]['source']})")
    if args.result:  # training_throughput.py's measuring child
        from train_meter import print_result  # beside this script, on sys.path when run

        print_result(rates)
    return 0


if __name__ == "__main__":
    sys.exit(main())
