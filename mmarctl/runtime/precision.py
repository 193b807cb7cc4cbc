"""The numeric precision of a run: float32, bfloat16 or float16, decided in one place.

:func:`decide` is the policy, a pure function of what was asked (the config's ``use_amp``,
``--amp``/``--no-amp``) and what the machine has (the CPU's flags, the GPUs' compute
capabilities). It returns a :class:`Precision`: the Keras dtype policy name and a one-line
reason that the run's first log line and ``mmarctl doctor`` print.

=================================  ===================================================
asked for mixed precision, and...  precision
=================================  ===================================================
a GPU (any compute capability)     ``mixed_float16`` with loss scaling (Clara's AMP)
a GPU of cc >= 8.0 and             ``mixed_bfloat16`` (no loss scaling needed)
``MMARCTL_GPU_AMP=bfloat16``
no GPU, CPU with ``avx512_bf16``   ``mixed_bfloat16`` (oneDNN's native bf16 kernels)
or ``amx_bf16``
no GPU, ``TF_ENABLE_ONEDNN_OPTS``  ``float32`` (no oneDNN: bf16 would be emulated, about
is ``0`` or ``false``              4x slower than float32, measured on Zen 4)
no GPU, neither flag               ``float32`` (bf16 would be emulated: slower)
not asked                          ``float32``
=================================  ===================================================

Under a mixed policy only the compute is in low precision: variables (and so checkpoints)
stay float32, the networks' last activation runs in float32 (``networks/base.py``) and the
engine casts losses and metrics to float32. A checkpoint therefore loads under any policy.

Reading the machine (:func:`cpu_flags`, :func:`bf16_cpu_flags`) needs no TensorFlow, so
``doctor`` and tests can call it with a fake ``/proc/cpuinfo``; only :func:`gpu_capabilities`
and :func:`apply` import TensorFlow/Keras, inside the function.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

__all__ = ["Precision", "FLOAT32", "BF16_CPU_FLAGS", "GPU_DTYPE_ENV", "GPU_DTYPES",
           "ONEDNN_ENV", "cpu_flags", "bf16_cpu_flags", "onednn_off", "gpu_dtype_setting",
           "gpu_capabilities", "decide", "for_this_machine", "apply", "for_run",
           "float32_scope"]

#: CPU flags (``/proc/cpuinfo``) with native bfloat16 arithmetic: AVX-512 BF16 (Cooper
#: Lake, Sapphire Rapids, Zen 4 and later) and AMX (Sapphire Rapids and later).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")

#: Environment variable: ``bfloat16`` asks for bfloat16 instead of float16 on GPUs of
#: compute capability 8.0 and later (Ampere, Hopper), which have bfloat16 Tensor Cores.
GPU_DTYPE_ENV = "MMARCTL_GPU_AMP"

#: The values :data:`GPU_DTYPE_ENV` accepts (unset: float16, as Clara's AMP).
GPU_DTYPES = ("bfloat16", "float16")

#: TensorFlow's switch for oneDNN on x86 CPUs, the library whose kernels are the CPU's native
#: bfloat16 (TensorFlow's start-up line suggests setting it to 0).
ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"

#: GPUs from this compute capability run bfloat16 on Tensor Cores.
BF16_GPU_CC = (8, 0)


@dataclass(frozen=True)
class Precision:
    """A decided precision.

    Attributes:
        policy: the Keras dtype policy name: ``float32``, ``mixed_bfloat16`` or
            ``mixed_float16``.
        reason: one line saying which precision and why, e.g. ``"bfloat16: use_amp is true
            and the CPU has avx512_bf16"``.
    """

    policy: str
    reason: str

    @property
    def compute_dtype(self) -> str:
        """``float32``, ``bfloat16`` or ``float16``: the dtype the layers compute in."""
        return self.policy.removeprefix("mixed_")

    @property
    def loss_scaling(self) -> bool:
        """float16 needs loss scaling (its range underflows small gradients); bfloat16 not."""
        return self.policy == "mixed_float16"

    def wrap_optimizer(self, optimizer: Any) -> Any:
        """``optimizer`` in Keras' ``LossScaleOptimizer`` under float16, else unchanged."""
        if not self.loss_scaling:
            return optimizer
        import keras

        return keras.optimizers.LossScaleOptimizer(optimizer)


FLOAT32 = Precision("float32", "float32")


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (its first ``flags`` line).

    Args:
        cpuinfo: the file to read, or its text (a string holding a newline), so tests can
            pass a fake one.

    Returns the empty set where the file cannot be read (not Linux, a sandbox): the policy
    then treats the CPU as having no bfloat16, which is the safe side (float32).
    """
    if isinstance(cpuinfo, str) and "\n" in cpuinfo:
        text = cpuinfo
    else:
        try:
            text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return frozenset()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        # x86 says "flags"; arm64 says "Features" (its bf16 flag is not used here: TF's
        # arm64 bf16 path goes through ACL fast-math, which mmarctl has not measured).
        if sep and key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def bf16_cpu_flags(flags: frozenset[str] | None = None) -> list[str]:
    """Which of :data:`BF16_CPU_FLAGS` the CPU has (``flags`` default: this machine's)."""
    flags = cpu_flags() if flags is None else flags
    return [flag for flag in BF16_CPU_FLAGS if flag in flags]


def onednn_off(environ: Mapping[str, str] | None = None) -> str | None:
    """``"TF_ENABLE_ONEDNN_OPTS=0"`` (as set) where it turns oneDNN off, else None.

    TensorFlow reads the variable as a boolean: ``0`` or ``false`` in any case turn oneDNN
    off (checked against ``IsMklEnabled`` of TensorFlow 2.21); any other value leaves it on.
    """
    value = (os.environ if environ is None else environ).get(ONEDNN_ENV)
    if value is not None and value.lower() in ("0", "false"):
        return f"{ONEDNN_ENV}={value}"
    return None


def gpu_dtype_setting(environ: Mapping[str, str] | None = None) -> tuple[str | None, str]:
    """``$MMARCTL_GPU_AMP`` read: (the dtype it asks for or None, a warning or "").

    Unset or empty is None (float16 on GPUs). A value other than :data:`GPU_DTYPES` (a typo,
    ``bf16``) is None too, with a one-line warning naming the variable and the accepted values,
    so it is never silently float16.
    """
    raw = (os.environ if environ is None else environ).get(GPU_DTYPE_ENV, "")
    value = raw.strip().lower()
    if not value:
        return None, ""
    if value in GPU_DTYPES:
        return value, ""
    return None, (f"{GPU_DTYPE_ENV}={raw}: expected {' or '.join(GPU_DTYPES)}; "
                  "ignored, so GPUs use float16")


def gpu_capabilities() -> list[tuple[int, int]]:
    """The compute capability of each GPU TensorFlow sees (empty on a CPU-only machine)."""
    import tensorflow as tf

    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capabilities.append(tuple(details.get("compute_capability") or (0, 0)))
    return capabilities


def decide(use_amp: bool, amp: bool | None, *, flags: frozenset[str],
           gpus: Sequence[tuple[int, int]], gpu_dtype: str | None = None,
           onednn_disabled: str | None = None) -> Precision:
    """The precision policy (see the module's table).

    Args:
        use_amp: the config's ``use_amp``.
        amp: ``--amp`` (True), ``--no-amp`` (False) or neither (None); overrides ``use_amp``.
        flags: the CPU's flags (:func:`cpu_flags`).
        gpus: the compute capability of each visible GPU (empty: CPU only).
        gpu_dtype: ``"bfloat16"`` to prefer bfloat16 on GPUs of cc >= 8.0 (else float16).
        onednn_disabled: the setting that turns oneDNN off (:func:`onednn_off`), or None.
    """
    asked = use_amp if amp is None else amp
    why = ("--amp" if amp else "--no-amp") if amp is not None else \
        f"use_amp is {'true' if use_amp else 'false'}"
    if not asked:
        return Precision("float32", f"float32: {why}")
    if gpus:
        lowest = min(gpus)
        cc = f"cc {lowest[0]}.{lowest[1]}"
        if gpu_dtype == "bfloat16":
            if lowest >= BF16_GPU_CC:
                return Precision("mixed_bfloat16", f"bfloat16: {why}, GPU {cc} has bfloat16 "
                                                   f"Tensor Cores ({GPU_DTYPE_ENV}=bfloat16)")
            return Precision("mixed_float16", f"float16 with loss scaling: {why}; "
                                              f"{GPU_DTYPE_ENV}=bfloat16 needs cc >= 8.0, "
                                              f"the GPU has {cc}")
        return Precision("mixed_float16", f"float16 with loss scaling: {why} and a GPU ({cc})")
    native = bf16_cpu_flags(flags)
    if native and onednn_disabled:
        # Without oneDNN TensorFlow's CPU kernels emulate bfloat16: a spleen epoch took 4x
        # float32's time on a Zen 4 with avx512_bf16, so float32 is the faster answer.
        return Precision("float32", f"float32: {why} but {onednn_disabled} turns off oneDNN, "
                                    f"whose kernels are the CPU's native bfloat16 "
                                    "(bfloat16 would be emulated, slower)")
    if native:
        return Precision("mixed_bfloat16", f"bfloat16: {why} and the CPU has {native[0]}")
    return Precision("float32", f"float32: {why} but there is no GPU and the CPU has neither "
                                "avx512_bf16 nor amx_bf16 (bfloat16 would be emulated, slower)")


def for_this_machine(use_amp: bool, amp: bool | None = None) -> Precision:
    """:func:`decide` with this machine's CPU flags, GPUs, ``$MMARCTL_GPU_AMP`` and
    ``$TF_ENABLE_ONEDNN_OPTS``."""
    asked = use_amp if amp is None else amp
    # Listing GPUs initialises TensorFlow's devices: only worth it when the answer matters.
    gpus = gpu_capabilities() if asked else []
    return decide(use_amp, amp, flags=cpu_flags(), gpus=gpus,
                  gpu_dtype=gpu_dtype_setting()[0], onednn_disabled=onednn_off())


def apply(precision: Precision) -> Precision:
    """Set Keras' global dtype policy; models built afterwards compute in that precision.

    Under bfloat16 the guard around oneDNN's wrong bfloat16 filter gradients is installed
    first (:mod:`mmarctl.runtime.onednn_guards`).
    """
    import keras

    if precision.compute_dtype == "bfloat16":
        from mmarctl.runtime import onednn_guards

        onednn_guards.install()
    keras.mixed_precision.set_global_policy(precision.policy)
    return precision


def for_run(use_amp: bool, amp: bool | None, logger: Any) -> Precision:
    """Decide for this machine, set Keras' policy and log the reason (a run's first line).

    The one call that training, validation and inference make before building a model.
    A bad ``$MMARCTL_GPU_AMP`` is a warning line first.
    """
    warning = gpu_dtype_setting()[1]
    if warning:
        logger.warning("%s", warning)
    precision = apply(for_this_machine(use_amp, amp))
    logger.info("precision %s", precision.reason)
    return precision


@contextmanager
def float32_scope() -> Iterator[None]:
    """Build models in float32 inside the block (exports), then restore the global policy."""
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
