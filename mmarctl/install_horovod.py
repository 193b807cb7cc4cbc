"""Build and install Horovod 0.28.1 against the installed TensorFlow, with a wheel cache.

``pip install horovod`` fails against TensorFlow 2.18+ because
``horovod/tensorflow/xla_mpi_ops.cc`` no longer compiles (the XLA headers it needs are
gone from the TensorFlow wheel). mmarctl does not use Horovod's XLA ops, so this module:

1. downloads the Horovod sdist with pip,
2. removes that one source from ``TF_SOURCES`` in ``horovod/tensorflow/CMakeLists.txt``,
3. builds a wheel with ``pip wheel --no-build-isolation`` (the build must see the
   TensorFlow that is installed, not a fresh one),
4. keeps the wheel under ``~/.cache/mmarctl/wheels/<key>/`` where the key names the Horovod,
   TensorFlow and Python versions and the GPU flavour, so a second install takes seconds,
5. installs it.

With NCCL headers and libraries on the machine (a GPU machine) the build sets
``HOROVOD_GPU_OPERATIONS=NCCL``; otherwise it builds the Gloo controller with CPU ops only.

Run it as ``python -m mmarctl.install_horovod`` (``scripts/install_horovod.sh`` and
``mmarctl doctor --install-horovod`` do exactly that). TensorFlow-free at import time.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from mmarctl.errors import MissingDependency, RuntimeFailure

__all__ = ["HOROVOD_VERSION", "INSTALL_COMMAND", "BuildPlan", "plan_build", "patch_cmakelists",
           "install", "main"]

#: The last Horovod release; pinned because the patch below is specific to it.
HOROVOD_VERSION = "0.28.1"

#: The one command the docs, ``doctor`` and error messages tell users to run.
INSTALL_COMMAND = "python -m mmarctl.install_horovod"

#: Horovod's own Python dependencies (the wheel is installed with --no-deps).
_RUNTIME_DEPS = ("cloudpickle", "psutil", "pyyaml", "packaging")

#: Folders searched for NCCL (header, library); CUDA images and the nvidia-nccl wheel differ.
_NCCL_PREFIXES = ("/usr", "/usr/local", "/usr/local/cuda", "/opt/nccl")


@dataclass(frozen=True)
class BuildPlan:
    """What will be built: versions, GPU flavour, the environment and where the wheel lives.

    Args:
        horovod: Horovod version.
        tensorflow: installed TensorFlow version (from package metadata, without importing it).
        python: ``cp311``-style tag of this interpreter.
        nccl_home: folder holding NCCL's ``include/nccl.h`` and ``lib*/libnccl.so*``, or None.
        mpi: also build the MPI controller (for ``--launcher mpirun``; needs an MPI install).
    """

    horovod: str
    tensorflow: str
    python: str
    nccl_home: str | None
    mpi: bool = False

    @property
    def key(self) -> str:
        """Cache key: one wheel per Horovod x TensorFlow x Python x flavour."""
        flavour = ("nccl" if self.nccl_home else "cpu") + ("-mpi" if self.mpi else "")
        return f"horovod-{self.horovod}-tf{self.tensorflow}-{self.python}-{flavour}"

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The build environment: TensorFlow + Gloo, no MPI/PyTorch/MXNet, NCCL when found."""
        env = dict(os.environ if base is None else base)
        env.update({
            "HOROVOD_WITH_TENSORFLOW": "1",
            "HOROVOD_WITH_GLOO": "1",
            "HOROVOD_WITHOUT_PYTORCH": "1",
            "HOROVOD_WITHOUT_MXNET": "1",
            # CMake 4 refuses third-party CMakeLists older than 3.5 (gloo's) without this.
            "CMAKE_POLICY_VERSION_MINIMUM": "3.5",
            "MAKEFLAGS": env.get("MAKEFLAGS", f"-j{os.cpu_count() or 1}"),
        })
        if self.mpi:
            env["HOROVOD_WITH_MPI"] = "1"
            env.pop("HOROVOD_WITHOUT_MPI", None)
        else:
            env["HOROVOD_WITHOUT_MPI"] = "1"
            env.pop("HOROVOD_WITH_MPI", None)
        if self.nccl_home:
            env["HOROVOD_GPU_OPERATIONS"] = "NCCL"
            env["HOROVOD_NCCL_HOME"] = self.nccl_home
        else:
            env.pop("HOROVOD_GPU_OPERATIONS", None)
        return env


def _tensorflow_version() -> str:
    for dist in ("tensorflow", "tensorflow-cpu"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    raise MissingDependency(
        "TensorFlow is not installed, and Horovod is built against it",
        hint="pip install -e '.[cpu]' (or '.[gpu]') in the mmarctl checkout first")


def find_nccl(prefixes: tuple[str, ...] = _NCCL_PREFIXES) -> str | None:
    """The first prefix that has both ``include/nccl.h`` and a ``libnccl.so``, else None."""
    for prefix in prefixes:
        if not Path(prefix, "include", "nccl.h").is_file():
            continue
        # Shallow look only: a recursive glob over /usr/lib takes minutes.
        for libdir in ("lib", "lib64", "lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu"):
            if glob.glob(os.path.join(prefix, libdir, "libnccl.so*")):
                return prefix
    return None


def plan_build(nccl: bool | None = None, mpi: bool = False) -> BuildPlan:
    """Decide what to build on this machine. ``nccl=None`` auto-detects NCCL."""
    nccl_home = find_nccl() if nccl is None else (find_nccl() if nccl else None)
    if nccl and nccl_home is None:
        raise MissingDependency("NCCL was requested but nccl.h / libnccl.so were not found",
                                hint="install NCCL (e.g. apt install libnccl-dev) or drop --nccl")
    py = f"cp{sys.version_info.major}{sys.version_info.minor}"
    if mpi and shutil.which("mpicxx") is None and shutil.which("mpirun") is None:
        raise MissingDependency(
            "an MPI build was requested but no MPI (mpicxx/mpirun) is installed",
            hint="install Open MPI (e.g. apt install libopenmpi-dev) or drop --mpi")
    return BuildPlan(HOROVOD_VERSION, _tensorflow_version(), py, nccl_home, mpi)


def patch_cmakelists(path: Path) -> bool:
    """Drop ``xla_mpi_ops.cc`` from ``TF_SOURCES``; return True if the file changed.

    Only the ``list(APPEND TF_SOURCES ...xla_mpi_ops.cc)`` line goes; running it twice is
    harmless. A CMakeLists without the line (a newer Horovod) is left alone.
    """
    text = path.read_text()
    kept = [line for line in text.splitlines(keepends=True)
            if not ("TF_SOURCES" in line and "xla_mpi_ops.cc" in line)]
    new = "".join(kept)
    if new == text:
        return False
    path.write_text(new)
    return True


def cache_root() -> Path:
    """``$MMARCTL_CACHE`` or ``~/.cache/mmarctl``, then ``wheels/``."""
    from mmarctl.cache import cache_dir

    return cache_dir("wheels")


def cached_wheel(plan: BuildPlan, root: Path | None = None) -> Path | None:
    """The wheel built earlier for this plan, if any."""
    folder = (root or cache_root()) / plan.key
    wheels = sorted(folder.glob("horovod-*.whl"))
    return wheels[-1] if wheels else None


def _run(cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> None:
    print("+ " + " ".join(cmd), flush=True)
    code = subprocess.call(cmd, env=env, cwd=cwd)
    if code != 0:
        raise RuntimeFailure(f"command failed with exit code {code}: {' '.join(cmd[:4])} ...",
                             hint="read the build log above; g++ and cmake must be installed")


def build_wheel(plan: BuildPlan, dest: Path) -> Path:
    """Download, patch and build the Horovod wheel into ``dest``; return its path."""
    pip = [sys.executable, "-m", "pip"]
    # Without build isolation the build tools must be in this environment already; cmake
    # comes from PyPI so that a machine without a system cmake needs nothing else.
    _run(pip + ["install", "--quiet", "cmake", "setuptools", "wheel", *_RUNTIME_DEPS])
    if shutil.which("g++") is None and shutil.which("c++") is None:
        raise MissingDependency("a C++ compiler is needed to build Horovod",
                                hint="install g++ (e.g. apt install g++)")
    with tempfile.TemporaryDirectory(prefix="mmarctl-horovod-") as tmp:
        _run(pip + ["download", "--no-deps", "--no-binary", ":all:", "-d", tmp,
                    f"horovod=={plan.horovod}"])
        sdists = list(Path(tmp).glob("horovod-*.tar.gz"))
        if not sdists:
            raise RuntimeFailure("pip download did not produce a Horovod sdist")
        with tarfile.open(sdists[0]) as archive:
            archive.extractall(tmp, filter="data")
        src = Path(tmp, f"horovod-{plan.horovod}")
        patch_cmakelists(src / "horovod" / "tensorflow" / "CMakeLists.txt")
        out = Path(tmp, "wheel")
        env = plan.env()
        # The venv's cmake (pip install cmake) must win over an older system one.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        _run(pip + ["wheel", "--no-build-isolation", "--no-deps", "-w", str(out), str(src)],
             env=env)
        built = list(out.glob("horovod-*.whl"))
        if not built:
            raise RuntimeFailure("pip wheel finished without producing a Horovod wheel")
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / built[0].name
        shutil.copy2(built[0], target)
        return target


def install(nccl: bool | None = None, rebuild: bool = False, mpi: bool = False) -> Path:
    """Install Horovod from the cache, building the wheel first when needed; return the wheel."""
    plan = plan_build(nccl, mpi)
    wheel = None if rebuild else cached_wheel(plan)
    if wheel is None:
        print(f"building {plan.key} (several minutes) ...", flush=True)
        wheel = build_wheel(plan, cache_root() / plan.key)
    else:
        print(f"using cached wheel {wheel}", flush=True)
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--force-reinstall", str(wheel)])
    _run([sys.executable, "-m", "pip", "install", "--quiet", *_RUNTIME_DEPS])
    return wheel


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: ``python -m mmarctl.install_horovod [--nccl|--no-nccl]``."""
    parser = argparse.ArgumentParser(prog="python -m mmarctl.install_horovod",
                                     description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--nccl", dest="nccl", action="store_true", default=None,
                       help="require NCCL GPU operations (default: when NCCL is found)")
    group.add_argument("--no-nccl", dest="nccl", action="store_false",
                       help="build Gloo with CPU operations only")
    parser.add_argument("--mpi", action="store_true",
                        help="also build the MPI controller (for --launcher mpirun)")
    parser.add_argument("--rebuild", action="store_true", help="ignore the cached wheel")
    parser.add_argument("--print-key", action="store_true",
                        help="print the cache key for this machine and exit")
    args = parser.parse_args(argv)
    try:
        if args.print_key:
            print(plan_build(args.nccl, args.mpi).key)
            return 0
        wheel = install(args.nccl, args.rebuild, args.mpi)
    except (MissingDependency, RuntimeFailure) as error:
        print(f"error: {error}", file=sys.stderr)
        return int(error.exit_code)
    print(f"horovod {HOROVOD_VERSION} installed from {wheel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
