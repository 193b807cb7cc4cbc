"""mmarctl's fused PReLU kernel against Keras' PReLU, in MONAI's tutorial UNet and alone.

Three copies of the tutorial UNet (``ResidualUnet`` 16-256, 2 residual units, batch norm;
the network of row 4 of ``benchmarks.monai``) are built in one process, identical but for
their activation: Keras' ``PReLU`` (five element-wise operations forward, about eight
backward), mmarctl's ``PReLU`` (the kernel of ``mmarctl/runtime/kernels/prelu.cc``), and
ReLU in the same places, the floor a one-pass activation can reach. Their training steps
(Dice loss, Adam, batch 2 x 48^3) are timed in alternation, so that a busy moment of a
shared host falls on all three alike; the table gives each one's best and median step.
Then the activation alone, forward and backward, at the UNet's first-level shape.

    python benchmarks/prelu_kernel.py                       # bfloat16 (Keras mixed_bfloat16)
    python benchmarks/prelu_kernel.py --precision float32
    python benchmarks/prelu_kernel.py --levels 2 --patch 16   # a quick look (the tests' run)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FORMS = ("keras", "kernel", "relu")


def build_steps(policy: str, patch: int, levels: int = 5):
    """{form: compiled training step} and the batch they train on; ``levels`` < 5 keeps the
    tutorial UNet's first ``levels`` levels (16, 32, ... channels), a graph quicker to trace."""
    import keras
    import tensorflow as tf

    import mmarctl.runtime.networks.prelu as prelu_layer
    from mmarctl.runtime.losses.dice import Dice
    from mmarctl.runtime.networks.resunet import ResidualUnet

    keras.mixed_precision.set_global_policy(policy)
    fused = prelu_layer.PReLU
    rng = np.random.default_rng(0)
    images = tf.constant(rng.normal(size=(2, patch, patch, patch, 1)).astype(np.float32))
    labels = tf.constant((rng.random((2, patch, patch, patch, 1)) > 0.5).astype(np.float32))
    steps = {}
    for form in FORMS:
        # ResidualUnet imports the layer class from its module when it builds
        prelu_layer.PReLU = keras.layers.PReLU if form == "keras" else fused
        keras.utils.set_random_seed(0)
        model = ResidualUnet(num_classes=2, channels=[16 * 2 ** i for i in range(levels)],
                             strides=[2] * (levels - 1), num_res_units=2, norm="batch",
                             act="relu" if form == "relu" else "prelu").build(3, 1)
        steps[form] = _step(model, Dice(skip_background=True), keras.optimizers.Adam(1e-4))
    prelu_layer.PReLU = fused
    for form in FORMS:
        for _ in range(3):  # tracing and oneDNN's kernel choice stay out of the figures
            steps[form](images, labels).numpy()
    return steps, images, labels


def _step(model, loss_fn, optimizer):
    import tensorflow as tf

    @tf.function
    def step(images, labels):
        with tf.GradientTape() as tape:
            loss = tf.cast(loss_fn(labels, model(images, training=True)), tf.float32)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss
    return step


def time_steps(steps, images, labels, rounds: int, per_round: int) -> dict[str, list[float]]:
    """Milliseconds per step of each form, ``rounds`` times, the order reversed each round."""
    times = {form: [] for form in steps}
    for index in range(rounds):
        for form in (FORMS if index % 2 == 0 else FORMS[::-1]):
            start = time.perf_counter()
            for _ in range(per_round):
                steps[form](images, labels).numpy()
            times[form].append((time.perf_counter() - start) / per_round * 1e3)
    return times


def time_activation(policy: str, shape: tuple[int, ...], repeats: int = 50) -> dict[str, float]:
    """Best milliseconds of Keras' PReLU formula and of the kernel: forward alone
    (``* forward``), and forward with both gradients (``* backward``)."""
    import tensorflow as tf

    from mmarctl.runtime.kernels import prelu

    ops = prelu.library()
    dtype = tf.bfloat16 if policy == "mixed_bfloat16" else tf.float32
    rng = np.random.default_rng(0)
    x = tf.cast(rng.normal(size=shape).astype(np.float32), dtype)
    dy = tf.cast(rng.normal(size=shape).astype(np.float32), dtype)
    alpha = tf.constant([0.25])

    def keras_form(x, alpha):
        return tf.nn.relu(x) - tf.cast(alpha, x.dtype) * tf.nn.relu(-x)

    def backward(form):
        @tf.function
        def run():
            with tf.GradientTape() as tape:
                tape.watch([x, alpha])
                y = form(x, alpha)
            return tape.gradient(y, [x, alpha], output_gradients=dy)
        return run

    kernel_form = lambda x, alpha: prelu.prelu(x, alpha, ops)  # noqa: E731
    runs = {"keras forward": tf.function(lambda: keras_form(x, alpha)),
            "kernel forward": tf.function(lambda: kernel_form(x, alpha)),
            "keras backward": backward(keras_form), "kernel backward": backward(kernel_form)}
    best = {}
    for name, run in runs.items():
        run()
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            samples.append((time.perf_counter() - start) * 1e3)
        best[name] = min(samples)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", choices=("bfloat16", "float32"), default="bfloat16")
    parser.add_argument("--patch", type=int, default=48, help="patch edge (default 48)")
    parser.add_argument("--rounds", type=int, default=16,
                        help="alternating rounds (default 16)")
    parser.add_argument("--steps", type=int, default=4, help="steps per round (default 4)")
    parser.add_argument("--levels", type=int, choices=range(2, 6), default=5,
                        help="UNet levels, 16 channels doubling (default 5: the tutorial's)")
    args = parser.parse_args(argv)

    from mmarctl.runtime.kernels import prelu
    from mmarctl.runtime.precision import cpu_flags

    if prelu.library() is None:
        print("the PReLU kernel cannot be built here (see the warning above); nothing to compare")
        return 1
    policy = "mixed_bfloat16" if args.precision == "bfloat16" else "float32"
    steps, images, labels = build_steps(policy, args.patch, args.levels)
    times = time_steps(steps, images, labels, args.rounds, args.steps)
    flags = ", ".join(sorted(cpu_flags() & {"avx512f", "avx512_bf16", "amx_bf16"})) or "none"
    unet = "MONAI tutorial UNet" if args.levels == 5 else \
        f"MONAI tutorial UNet cut to {args.levels} levels"
    print(f"{unet} training step, {args.precision}, batch 2 x {args.patch}^3; "
          f"{args.rounds} alternating rounds of {args.steps} steps; CPU flags: {flags}")
    print("| activation | best ms | median ms | vs Keras' PReLU (median) |")
    print("|---|---:|---:|---:|")
    base = statistics.median(times["keras"])
    names = {"keras": "Keras PReLU (baseline)", "kernel": "mmarctl PReLU kernel",
             "relu": "ReLU (floor)"}
    for form in FORMS:
        median = statistics.median(times[form])
        print(f"| {names[form]} | {min(times[form]):.1f} | {median:.1f} | {base / median:.2f}x |")

    half = max(args.patch // 2, 1)
    shape = (2, half, half, half, 16)
    alone = time_activation(policy, shape)
    print(f"\nthe activation alone, {args.precision}, {'x'.join(map(str, shape))}, best of 50:")
    print("| pass | Keras PReLU ms | kernel ms | speed-up |")
    print("|---|---:|---:|---:|")
    for direction, label in (("forward", "forward"), ("backward", "forward and backward")):
        keras_ms, kernel_ms = alone[f"keras {direction}"], alone[f"kernel {direction}"]
        print(f"| {label} | {keras_ms:.3f} | {kernel_ms:.3f} | {keras_ms / kernel_ms:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
