"""What this machine can run: TensorFlow, GPUs, mixed precision, Horovod, export tools.

:func:`diagnose` returns one :class:`Finding` per row of ``mmarctl doctor``'s table. Each probe
is a small function that never raises: a missing or broken package is a finding with a hint
(the exact command to fix it), not an error. TensorFlow and Horovod are imported inside the
probes, never at module level.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

__all__ = ["Finding", "OK", "MISSING", "INFO", "diagnose", "probe_python", "probe_cpu",
           "probe_tensorflow", "probe_kernels", "probe_horovod", "probe_launchers",
           "probe_export_tools", "build_kernels"]

#: mmarctl's own C++ kernels (mmarctl/runtime/kernels/<name>.cc).
KERNELS = ("prelu",)

#: Finding states, as the table's second column shows them.
OK, MISSING, INFO = "ok", "missing", "info"


@dataclass(frozen=True)
class Finding:
    """One row: what was checked, its state, the detail found and, if useful, what to do."""

    name: str
    state: str
    detail: str
    hint: str = ""


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def probe_python() -> list[Finding]:
    """The interpreter and mmarctl itself."""
    import mmarctl

    py = ".".join(map(str, sys.version_info[:3]))
    return [Finding("python", OK, f"{py} ({sys.executable})"),
            Finding("mmarctl", OK, mmarctl.__version__)]


def probe_cpu(flags: frozenset[str] | None = None) -> list[Finding]:
    """The CPU's native bfloat16 flags (no TensorFlow: ``--quick`` shows this row too)."""
    from mmarctl.runtime.precision import bf16_cpu_flags, cpu_flags, onednn_off

    native = bf16_cpu_flags(cpu_flags() if flags is None else flags)
    disabled = onednn_off()
    if native and disabled:
        return [Finding("cpu bfloat16", INFO, f"{', '.join(native)}, but {disabled} turns off "
                                              "oneDNN's bfloat16 kernels: use_amp trains in "
                                              "float32 without a GPU",
                        f"unset {disabled.partition('=')[0]} for bfloat16")]
    if native:
        return [Finding("cpu bfloat16", OK, f"{', '.join(native)}: use_amp trains in bfloat16 "
                                            "without a GPU")]
    return [Finding("cpu bfloat16", INFO, "no avx512_bf16 or amx_bf16: use_amp trains in "
                                          "float32 without a GPU")]


def _precision_row(flags: frozenset[str] | None,
                   capabilities: list[tuple[int, int]]) -> Finding:
    """What ``use_amp: true`` (or ``--amp``) gives here, from the one precision policy."""
    from mmarctl.runtime.precision import (GPU_DTYPE_ENV, cpu_flags, decide,
                                           gpu_dtype_setting, onednn_off)

    flags = cpu_flags() if flags is None else flags
    gpu_dtype, warning = gpu_dtype_setting()
    chosen = decide(True, None, flags=flags, gpus=capabilities, gpu_dtype=gpu_dtype,
                    onednn_disabled=onednn_off())
    detail = "use_amp -> " + chosen.reason.replace("use_amp is true", "use_amp", 1)
    # A win on CPUs with native bfloat16 and on GPUs with Tensor Cores (cc >= 7.0).
    fast = chosen.policy == "mixed_bfloat16" or (
        chosen.policy == "mixed_float16" and min(capabilities) >= (7, 0))
    if chosen.policy == "mixed_float16" and not fast:
        detail += "; gains little below cc 7.0 (no Tensor Cores)"
    if warning:  # a typo in the variable is not "ok", even where no GPU reads it
        return Finding("mixed precision", INFO, f"{detail}; {warning}",
                       f"{GPU_DTYPE_ENV}=bfloat16 (GPUs of cc >= 8.0) or unset it")
    if gpu_dtype and GPU_DTYPE_ENV not in detail:
        detail += f" ({GPU_DTYPE_ENV}={gpu_dtype})"
    return Finding("mixed precision", OK if fast else INFO, detail)


def probe_tensorflow(importer: Callable[[str], object] = importlib.import_module,
                     flags: frozenset[str] | None = None) -> list[Finding]:
    """TensorFlow's version, the GPUs it sees (with compute capability) and mixed precision.

    The mixed-precision row is what ``use_amp: true`` means on this machine, decided by
    :func:`mmarctl.runtime.precision.decide`: float16 on GPUs (worth it from compute
    capability 7.0, Tensor Cores), bfloat16 on CPUs with ``avx512_bf16`` or ``amx_bf16``,
    float32 otherwise. ``flags``: the CPU's flags (default: read ``/proc/cpuinfo``).
    """
    # TensorFlow's C++ start-up chatter would bury the table.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if importer is importlib.import_module:
            from mmarctl.runtime.logs import quiet_tensorflow

            quiet_tensorflow()  # the import itself, with fd 2 muted while it loads
        tf = importer("tensorflow")
    except Exception as error:  # ImportError, or a broken install raising anything
        return [Finding("tensorflow", MISSING, f"cannot import ({error.__class__.__name__})",
                        "pip install -e '.[cpu]' in the mmarctl checkout"
                        " (or '.[gpu]' on an NVIDIA machine)")]
    findings = [Finding("tensorflow", OK, f"{tf.__version__} (Keras {_version('keras') or '?'})")]
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        findings.append(Finding("gpus", INFO, "no GPU visible to TensorFlow (CPU only)"))
        findings.append(_precision_row(flags, []))
        return findings
    names, capabilities = [], []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        cc = details.get("compute_capability") or (0, 0)
        capabilities.append(tuple(cc))
        names.append(f"{details.get('device_name', gpu.name)} (cc {cc[0]}.{cc[1]})")
    findings.append(Finding("gpus", OK, f"{len(gpus)}: " + "; ".join(names)))
    findings.append(_precision_row(flags, capabilities))
    return findings


def probe_horovod(importer: Callable[[str], object] = importlib.import_module) -> list[Finding]:
    """Horovod's version, which controllers (gloo, mpi) and GPU ops (nccl) were built in."""
    from mmarctl.install_horovod import INSTALL_COMMAND

    version = _version("horovod")
    if version is None:
        return [Finding("horovod", MISSING, "not installed (needed for --gpus N, --hosts)",
                        INSTALL_COMMAND)]
    try:
        hvd = importer("horovod.tensorflow")
    except Exception as error:
        return [Finding("horovod", MISSING, f"{version} installed but horovod.tensorflow fails to "
                        f"import ({error.__class__.__name__}: {str(error)[:120]})",
                        f"{INSTALL_COMMAND} --rebuild  (rebuild against this TensorFlow)")]

    def built(flag: str) -> bool:
        probe = getattr(hvd, flag, None)
        try:
            return bool(probe()) if probe is not None else False
        except Exception:  # a probe that needs an initialised Horovod counts as absent
            return False

    controllers = [name for name in ("gloo", "mpi") if built(f"{name}_built")]
    ops = [name for name in ("nccl", "mpi", "gloo", "ddl", "ccl") if built(f"{name}_built")]
    findings = [Finding("horovod", OK, version)]
    findings.append(Finding("horovod controllers", OK if controllers else MISSING,
                            ", ".join(controllers) or "none",
                            "" if controllers else f"{INSTALL_COMMAND} --rebuild"))
    gpu_ops = "nccl" in ops
    findings.append(Finding("horovod ops", OK, ", ".join(ops) + ("" if gpu_ops else
                            " (CPU collectives only; GPU tensors go through host memory)")))
    return findings


def probe_launchers() -> list[Finding]:
    """Process launchers and GPU tools on PATH."""
    from mmarctl.launcher import horovod_status

    status = horovod_status()
    findings = [Finding("launcher gloo", OK if status["runner"] else MISSING,
                        "horovod.runner (horovodrun --gloo)" if status["runner"] else "absent",
                        "" if status["runner"] else "python -m mmarctl.install_horovod")]
    mpirun = shutil.which("mpirun")
    if mpirun and status["installed"] and status.get("mpi") is False:
        # Under mpirun a Gloo-only Horovod would run N jobs of one process each.
        findings.append(Finding("launcher mpirun", MISSING,
                                f"{mpirun}, but Horovod was built without MPI",
                                "python -m mmarctl.install_horovod --mpi"))
    else:
        findings.append(Finding("launcher mpirun", OK if mpirun else INFO,
                                mpirun or "not installed (only needed for --launcher mpirun)"))
    smi = shutil.which("nvidia-smi")
    findings.append(Finding("nvidia-smi", OK if smi else INFO,
                            smi or "not found (no NVIDIA driver)"))
    return findings


def _tensorrt_hint() -> str:
    """How to get TensorRT: pip only helps where an NVIDIA driver is (nvidia-smi found)."""
    if shutil.which("nvidia-smi"):
        return "pip install tensorrt"
    return "needs an NVIDIA GPU and driver; nothing to install here"


def probe_export_tools() -> list[Finding]:
    """onnxruntime, tf2onnx and tensorrt (versions from package metadata, no import)."""
    findings = []
    for dist, purpose, hint in (
            ("tf2onnx", "ONNX export", "pip install -e '.[export]' in the mmarctl checkout"),
            ("onnxruntime", "ONNX verification",
             "pip install -e '.[export]' in the mmarctl checkout"),
            ("tensorrt", "TensorRT engines (NVIDIA GPU only)", _tensorrt_hint())):
        version = _version(dist) or (_version("onnxruntime-gpu") if dist == "onnxruntime" else None)
        if version:
            findings.append(Finding(dist, OK, f"{version} ({purpose})"))
        else:
            findings.append(Finding(dist, MISSING if dist != "tensorrt" else INFO,
                                    f"not installed ({purpose})", hint))
    return findings


def probe_kernels(names: tuple[str, ...] = KERNELS) -> list[Finding]:
    """mmarctl's own C++ kernels (:mod:`mmarctl.runtime.kernels`): built, built on first use,
    or why they are not used (plain TensorFlow operations then; only slower)."""
    try:
        from mmarctl.runtime.kernels import build
    except Exception as error:  # TensorFlow missing or broken: its own row says so
        return [Finding("cpu kernels", INFO, f"not checked ({error.__class__.__name__})")]
    findings = []
    for name in names:
        state = build.status(name)
        usable = state.startswith(("built", "compiled on first use"))
        hint = "apt-get install g++  (then rerun)" if build.NO_COMPILER in state else ""
        findings.append(Finding(f"kernel {name}", OK if usable else INFO, state, hint))
    return findings


def build_kernels(names: tuple[str, ...] = KERNELS) -> list[tuple[str, str]]:
    """Compile each of mmarctl's kernels now (cached ones are kept); ``(name, library)``.

    Raises:
        MissingDependency: no C++ compiler.
        RuntimeFailure: a kernel failed to compile (the message names its log).
    """
    from mmarctl.errors import MissingDependency, RuntimeFailure

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    from mmarctl.runtime.kernels import build

    built = []
    for name in names:
        try:
            built.append((name, str(build.build(name))))  # a cached library needs no compiler
        except build.KernelBuildError as error:
            if build.compiler() is None:
                raise MissingDependency("no C++ compiler to build mmarctl's kernels",
                                        hint="apt-get install g++, or set CXX") from None
            raise RuntimeFailure(f"kernel {name} did not build: {error}",
                                 hint="runs still work, with plain TensorFlow operations") from None
    return built


def diagnose(tensorflow: bool = True) -> list[Finding]:
    """All findings, in table order. ``tensorflow=False`` skips the probes that import it."""
    findings = probe_python() + probe_cpu()
    if tensorflow:
        findings += probe_tensorflow()
        findings += probe_kernels()
        findings += probe_horovod()
    findings += probe_launchers()
    findings += probe_export_tools()
    return findings
