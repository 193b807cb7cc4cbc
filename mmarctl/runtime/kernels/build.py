"""Compile a kernel's C++ source against the installed TensorFlow, once, and load it.

A kernel is a ``<name>.cc`` file in this package. :func:`load` compiles it with the C++
compiler (``$CXX``, else ``c++``/``g++``) and TensorFlow's own compile and link flags, tuned
for this CPU (``-march=native``), into ``$MMARCTL_CACHE/kernels/<key>/`` (default
``~/.cache/mmarctl``). The key hashes the source, TensorFlow's version, the flags and the
CPU's flags, so a new TensorFlow, an edited source or another kind of machine sharing the
home directory gets its own build, while a machine of the same kind without a compiler
loads one built ahead of time (``mmarctl doctor --build-kernels``). A file lock keeps
Horovod's workers from compiling the same library at once; the library is written under a
temporary name and renamed, so a reader never sees half a file.

Kernels are an optimisation: :func:`load` never fails. Where no compiler is found, the
build fails (its log is kept as ``FAILED`` beside the library, and not retried until that
file is removed), ``$MMARCTL_CUSTOM_KERNELS`` is ``0``, or the graph being traced is
XLA-compiled (:func:`disabled`), it returns None and the caller uses plain TensorFlow
operations. Every reason is logged once per process.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import tensorflow as tf

log = logging.getLogger("mmarctl.runtime")

#: ``0`` turns the custom kernels off (plain TensorFlow operations everywhere).
SWITCH_ENV = "MMARCTL_CUSTOM_KERNELS"
SOURCE_DIR = Path(__file__).resolve().parent
#: Optimisation flags added to TensorFlow's own; ``-fopenmp-simd`` honours the sources'
#: ``#pragma omp simd`` (vector reductions) without linking an OpenMP runtime.
OPTIMISE = ("-O3", "-march=native", "-fopenmp-simd")
#: A compile takes about 8 s on 2 cores; past this something is wrong with the toolchain.
COMPILE_TIMEOUT_S = 600

#: Why no kernel can be built here, as :func:`build` and :func:`status` say it.
NO_COMPILER = "no C++ compiler (set CXX, or install g++)"

_LOADED: dict[str, Any] = {}
_REFUSED: dict[str, str] = {}
_DISABLED = contextvars.ContextVar("custom_kernels_disabled", default=False)


class KernelBuildError(RuntimeError):
    """The kernel could not be compiled or loaded; the message says why in one line."""


@contextlib.contextmanager
def disabled(when: bool = True) -> Iterator[None]:
    """Layers traced inside the block use plain TensorFlow operations (``when`` is true).

    XLA cannot compile an operation it has no kernel for, so the engine traces a
    ``jit_compile`` step inside ``disabled(jit)``.
    """
    token = _DISABLED.set(when or _DISABLED.get())
    try:
        yield
    finally:
        _DISABLED.reset(token)


def switched_off() -> bool:
    """Whether ``$MMARCTL_CUSTOM_KERNELS`` is ``0``."""
    return os.environ.get(SWITCH_ENV, "1").strip() == "0"


def cache_root() -> Path:
    """``$MMARCTL_CACHE`` or ``~/.cache/mmarctl``, then ``kernels/``."""
    from mmarctl.cache import cache_dir

    return cache_dir("kernels")


def compiler() -> str | None:
    """The C++ compiler to use: ``$CXX``, else ``c++`` or ``g++`` on the PATH."""
    given = os.environ.get("CXX")
    if given:
        return shutil.which(given)
    return shutil.which("c++") or shutil.which("g++")


def command(name: str, cxx: str, output: Path) -> list[str]:
    """The compiler command that builds kernel ``name`` into ``output``."""
    return [cxx, "-shared", "-fPIC", *OPTIMISE, "-w", str(SOURCE_DIR / f"{name}.cc"),
            "-o", str(output), *tf.sysconfig.get_compile_flags(),
            *tf.sysconfig.get_link_flags()]


def build_key(name: str) -> str:
    """What the library depends on, hashed: source, TensorFlow, flags and the CPU's flags
    (not the compiler, so that a machine without one can load a library built elsewhere
    for the same CPU, TensorFlow and source)."""
    from mmarctl.runtime.precision import cpu_flags

    digest = hashlib.sha256()
    for part in ((SOURCE_DIR / f"{name}.cc").read_bytes(), tf.__version__.encode(),
                 " ".join(command(name, "c++", Path("out"))[1:]).encode(),
                 " ".join(sorted(cpu_flags())).encode(), sys.platform.encode()):
        digest.update(part)
        digest.update(b"\0")
    return f"{name}-{digest.hexdigest()[:16]}"


def library_path(name: str) -> Path:
    """Where kernel ``name``'s library lives (built or not) for this machine."""
    return cache_root() / build_key(name) / f"mmarctl_{name}.so"


def build(name: str) -> Path:
    """Compile kernel ``name`` unless its library is cached; its path.

    Raises:
        KernelBuildError: no compiler, an earlier failed build, or a failed compile.
    """
    library = library_path(name)
    failed = library.parent / "FAILED"
    if library.is_file():
        return library
    cxx = compiler()
    if cxx is None:
        raise KernelBuildError(NO_COMPILER)
    library.parent.mkdir(parents=True, exist_ok=True)
    with open(library.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be compiling it now
        if library.is_file():
            return library
        if failed.is_file():
            raise KernelBuildError(f"an earlier build failed; see {failed} (remove it to retry)")
        log.info("compiling mmarctl's %s kernel for this TensorFlow and CPU (once; cached in %s)",
                 name, library.parent)
        with tempfile.NamedTemporaryFile(dir=library.parent, suffix=".so", delete=False) as tmp:
            partial = Path(tmp.name)
        try:
            try:
                done = subprocess.run(command(name, cxx, partial), capture_output=True,
                                      text=True, timeout=COMPILE_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired) as error:
                failed.write_text(f"{' '.join(command(name, cxx, partial))}\n{error}\n")
                raise KernelBuildError(f"{Path(cxx).name} did not run to the end ({error}); "
                                       f"see {failed}") from None
            if done.returncode != 0:
                failed.write_text(done.stdout + done.stderr)
                raise KernelBuildError(f"{Path(cxx).name} exited with {done.returncode}; "
                                       f"the log is {failed}")
            os.replace(partial, library)
        finally:
            partial.unlink(missing_ok=True)
    return library


def load(name: str) -> Any | None:
    """Kernel ``name``'s loaded op module, building it first if needed; None where it cannot
    be used (module docstring), with the reason logged once per process."""
    if _DISABLED.get():
        return None
    if name in _LOADED:
        return _LOADED[name]
    reason = _REFUSED.get(name)
    if reason is None and switched_off():
        reason = f"{SWITCH_ENV}=0"
    if reason is None:
        try:
            _LOADED[name] = tf.load_op_library(str(build(name)))
            return _LOADED[name]
        except (KernelBuildError, OSError, tf.errors.OpError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    if name not in _REFUSED:
        _REFUSED[name] = reason
        log.warning("mmarctl's %s kernel is not used (%s); plain TensorFlow operations instead",
                    name, reason)
    return None


def loaded(name: str) -> Any:
    """Kernel ``name``'s op module, which :func:`load` must have returned earlier (gradients
    of ops already in a graph use it, even inside :func:`disabled`)."""
    return _LOADED[name]


def status(name: str) -> str:
    """One line for ``doctor``: built (where), to be built on first use, or why not."""
    if switched_off():
        return f"off ({SWITCH_ENV}=0)"
    library = library_path(name)
    if library.is_file():
        return f"built ({library})"
    if (library.parent / "FAILED").is_file():
        return f"build failed; see {library.parent / 'FAILED'}"
    cxx = compiler()
    if cxx is None:
        return f"unavailable: {NO_COMPILER}"
    return f"compiled on first use with {cxx}"
