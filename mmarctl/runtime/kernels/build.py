"""Compile a kernel's C++ source against the installed TensorFlow, once, and load it.

A kernel is a ``<name>.cc`` file in this package. :func:`load` compiles it with the C++
compiler (``$CXX``, else ``c++``/``g++``) and TensorFlow's own compile and link flags, tuned
for this CPU (``-march=native``), into ``$MMARCTL_CACHE/kernels/<key>/`` (default
``~/.cache/mmarctl``). The key hashes the source, TensorFlow's version, the flags and the
CPU's flags, so a new TensorFlow, an edited source or another kind of machine sharing the
home directory gets its own build, while a machine of the same kind without a compiler
loads one built ahead of time (``mmarctl doctor --build-kernels``). A file lock keeps
Horovod's workers from compiling the same library at once; the library is written under a
temporary name and renamed, so a reader never sees half a file. Its size and SHA-256 are
recorded beside it (``<library>.sha256``) and checked before every load: loading a cut-off
or damaged library (a restored backup, an interrupted copy of the cache) kills the process
with SIGBUS, which no ``except`` can catch, so a library that does not match is rebuilt, or,
without a compiler, not used.

Kernels are an optimisation: :func:`load` never fails. Where no compiler is found, the
build fails (its log is kept as ``FAILED`` beside the library, and not retried until that
file is removed, unless the machine was to blame: no space left, a disk quota or a
read-only file system, see :data:`ENVIRONMENT_FAILURES`, which the next run retries),
``$MMARCTL_CUSTOM_KERNELS`` is ``0``, or the graph being traced is XLA-compiled
(:func:`disabled`), it returns None and the caller uses plain TensorFlow operations. Every
reason is logged once per process.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
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
#: Compiler output (or OSError numbers) that blame the machine, not the source, as said in
#: one line: such a failed build is retried by the next run instead of kept as failed.
ENVIRONMENT_FAILURES = {"No space left on device": "no space left on the device",
                        "Disk quota exceeded": "the disk quota is exceeded",
                        "Read-only file system": "the file system is read-only"}
_ENVIRONMENT_ERRNOS = {errno.ENOSPC: "no space left on the device",
                       errno.EDQUOT: "the disk quota is exceeded",
                       errno.EROFS: "the file system is read-only"}

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


def record_path(library: Path) -> Path:
    """Where ``library``'s size and SHA-256 are recorded (``<library>.sha256``)."""
    return library.with_name(library.name + ".sha256")


def _fingerprint(data: bytes) -> str:
    return f"{len(data)} {hashlib.sha256(data).hexdigest()}"


def damage(library: Path) -> str | None:
    """Why the cached ``library`` must not be loaded, or None where it is intact.

    Checked against the size and SHA-256 recorded when it was built; a library built before
    mmarctl recorded them is checked for a whole ELF file instead (its section table, which
    the linker writes last, lies inside the file).
    """
    try:
        data = library.read_bytes()
        record = record_path(library)
        if record.is_file():
            if record.read_text().strip() != _fingerprint(data):
                return f"cached library {library} is damaged"
            return None
    except OSError as error:
        return f"cached library {library} cannot be read ({error.strerror or error})"
    if not _whole_elf(data):
        return f"cached library {library} is damaged"
    return None


def _whole_elf(data: bytes) -> bool:
    """Whether ``data`` is a 64-bit little-endian ELF file whose section table fits in it."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return False
    table = int.from_bytes(data[0x28:0x30], "little")
    entry = int.from_bytes(data[0x3A:0x3C], "little")
    count = int.from_bytes(data[0x3C:0x3E], "little")
    return 0 < table and table + entry * count <= len(data)


def environment_cause(text: str) -> str | None:
    """The machine's fault a compiler's output names (no space, a quota, a read-only file
    system), in a few words; None where the build failed for another reason."""
    for needle, words in ENVIRONMENT_FAILURES.items():
        if needle in text:
            return words
    return None


def _environment_error(error: OSError, folder: Path) -> KernelBuildError:
    """A one-line error for an OSError writing into the kernel cache ``folder``."""
    words = _ENVIRONMENT_ERRNOS.get(error.errno or 0, error.strerror or str(error))
    return KernelBuildError(f"{words} in {folder}; the next run tries again")


def build(name: str) -> Path:
    """Compile kernel ``name`` unless an intact library is cached; its path.

    A cached library that fails :func:`damage` is compiled again (or refused, without a
    compiler); a build that failed because of the machine (:func:`environment_cause`) is
    retried, any other failed build is not.

    Raises:
        KernelBuildError: no compiler, an earlier failed build, a failed compile, or a
            damaged library and no compiler to rebuild it.
    """
    library = library_path(name)
    failed = library.parent / "FAILED"
    if library.is_file() and damage(library) is None:
        return library
    cxx = compiler()
    if cxx is None:
        broken = damage(library) if library.is_file() else None
        if broken:
            raise KernelBuildError(f"{broken}; delete it to rebuild")
        raise KernelBuildError(NO_COMPILER)
    try:
        library.parent.mkdir(parents=True, exist_ok=True)
        lock_file = open(library.parent / ".lock", "w")
    except OSError as error:
        raise _environment_error(error, library.parent) from None
    with lock_file as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be compiling it now
        if library.is_file():
            broken = damage(library)
            if broken is None:
                return library
            log.warning("%s; compiling it again", broken)
        if failed.is_file():
            cause = environment_cause(failed.read_text(errors="replace"))
            if cause is None:
                raise KernelBuildError(f"an earlier build failed; see {failed} "
                                       "(remove it to retry)")
            log.info("the last build of mmarctl's %s kernel failed because %s; trying again",
                     name, cause)
        log.info("compiling mmarctl's %s kernel for this TensorFlow and CPU (once; cached in %s)",
                 name, library.parent)
        try:
            with tempfile.NamedTemporaryFile(dir=library.parent, suffix=".so",
                                             delete=False) as tmp:
                partial = Path(tmp.name)
        except OSError as error:
            raise _environment_error(error, library.parent) from None
        try:
            try:
                done = subprocess.run(command(name, cxx, partial), capture_output=True,
                                      text=True, timeout=COMPILE_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired) as error:
                _keep_log(failed, f"{' '.join(command(name, cxx, partial))}\n{error}\n")
                raise KernelBuildError(f"{Path(cxx).name} did not run to the end ({error}); "
                                       f"see {failed}") from None
            if done.returncode != 0:
                _keep_log(failed, done.stdout + done.stderr)
                cause = environment_cause(done.stdout + done.stderr)
                if cause is not None:  # the machine's fault: the next run retries
                    raise KernelBuildError(f"{cause} in {library.parent}; free space there "
                                           "and the next run builds it")
                raise KernelBuildError(f"{Path(cxx).name} exited with {done.returncode}; "
                                       f"the log is {failed}")
            try:
                record = record_path(library)
                staged = record.with_name(record.name + ".tmp")
                staged.write_text(_fingerprint(partial.read_bytes()) + "\n")
                os.replace(staged, record)  # before the library: a reader checks both
                os.replace(partial, library)
            except OSError as error:
                raise _environment_error(error, library.parent) from None
            failed.unlink(missing_ok=True)
        finally:
            partial.unlink(missing_ok=True)
    return library


def _keep_log(failed: Path, text: str) -> None:
    """Write a failed build's log to ``failed``; on a full disk, do without it."""
    try:
        failed.write_text(text)
    except OSError:
        failed.unlink(missing_ok=True)


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
    cxx = compiler()
    if library.is_file():
        broken = damage(library)
        if broken is None:
            return f"built ({library})"
        if cxx is None:
            return f"{broken}; delete it to rebuild"
        return f"{broken}; compiled again on first use with {cxx}"
    failed = library.parent / "FAILED"
    if failed.is_file():
        cause = environment_cause(failed.read_text(errors="replace"))
        if cause is None:
            return f"build failed; see {failed}"
        return f"the last build failed because {cause} in {library.parent}; retried on next use"
    if cxx is None:
        return f"unavailable: {NO_COMPILER}"
    return f"compiled on first use with {cxx}"
