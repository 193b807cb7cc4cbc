"""TensorRT engine (``models/model.trt``) built from the verified ONNX file.

TensorFlow 2.18+ has no TF-TRT, so Clara's ``model.trt.pb`` (a TF-TRT graph) cannot be made
any more; the modern equivalent is a serialized TensorRT engine built by the ``tensorrt``
package's ONNX parser. An engine is specific to the GPU and TensorRT version it was built
with, so it is only built on a machine with an NVIDIA GPU and TensorRT; elsewhere
:func:`missing` says what is absent and the exporter reports the format as skipped.

Optimisation profile: a fixed-shape export gets batch 1..max_batch at the patch size; a
dynamic one gets spatial sizes from half to twice the sample size (rounded to whole voxels),
optimised for the sample size. Verification runs the engine through ``cuda-python``
(``cuda.bindings.runtime``) for device memory.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mmarctl.errors import MissingDependency, RuntimeFailure


def missing() -> str | None:
    """Why no engine can be built here (``None`` when a GPU and TensorRT are present)."""
    reasons = []
    if not (os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/nvidia0")):
        reasons.append("no NVIDIA GPU")
    if _find("tensorrt") is None:
        reasons.append("the tensorrt package is not installed")
    elif _find("cuda.bindings") is None:
        # Without it the engine could be built but not run, so not verified.
        reasons.append("cuda-python (needed to verify the engine) is not installed")
    if not reasons:
        return None
    return " and ".join(reasons)


def _find(module: str):
    try:
        return importlib.util.find_spec(module)
    except ModuleNotFoundError:  # the parent package ("cuda") is absent
        return None


def profile_shapes(sample_shape: tuple[int, ...], input_shape: tuple[int | None, ...],
                   max_batch: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """``(min, opt, max)`` input shapes of the optimisation profile (see module docstring)."""
    spatial = sample_shape[1:-1]
    channels = sample_shape[-1]
    fixed = [dim is not None for dim in input_shape[1:-1]]
    low = tuple(s if f else max(1, s // 2) for s, f in zip(spatial, fixed))
    high = tuple(s if f else s * 2 for s, f in zip(spatial, fixed))
    return ((1, *low, channels), (1, *spatial, channels), (max(1, max_batch), *high, channels))


def build_engine(onnx_file: Path, path: Path, input_name: str, shapes: tuple) -> Path:
    """Parse ``onnx_file`` with TensorRT, build an FP32 engine for ``shapes`` and write ``path``."""
    trt = _tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_file).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeFailure(f"TensorRT cannot parse the ONNX model: {errors}", file=onnx_file)
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, *shapes)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeFailure("TensorRT could not build an engine (see its messages above)")
    Path(path).write_bytes(bytes(serialized))
    return Path(path)


def load_engine(path: Path, input_name: str,
                output_name: str) -> Callable[[np.ndarray], np.ndarray]:
    """A NumPy ``predict`` running the engine on the GPU (needs ``cuda-python``)."""
    trt = _tensorrt()
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        raise MissingDependency("running a TensorRT engine needs cuda-python",
                                hint="pip install cuda-python") from None
    logger = trt.Logger(trt.Logger.WARNING)
    engine = trt.Runtime(logger).deserialize_cuda_engine(Path(path).read_bytes())
    if engine is None:
        raise RuntimeFailure("TensorRT cannot load the engine", file=path)
    context = engine.create_execution_context()

    def check(result: Any) -> Any:
        error, *rest = result if isinstance(result, tuple) else (result,)
        if int(error) != 0:
            raise RuntimeFailure(f"CUDA call failed: {error}")
        return rest[0] if rest else None

    def predict(batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if not context.set_input_shape(input_name, batch.shape):
            raise RuntimeFailure(f"input of shape {batch.shape} is outside the engine's "
                                 "optimisation profile", file=path)
        out_shape = tuple(context.get_tensor_shape(output_name))
        result = np.empty(out_shape, dtype=np.float32)
        buffers = []  # device allocations, freed whatever happens
        try:
            d_in = check(cudart.cudaMalloc(batch.nbytes))
            buffers.append(d_in)
            d_out = check(cudart.cudaMalloc(result.nbytes))
            buffers.append(d_out)
            kind = cudart.cudaMemcpyKind
            check(cudart.cudaMemcpy(d_in, batch.ctypes.data, batch.nbytes,
                                    kind.cudaMemcpyHostToDevice))
            context.set_tensor_address(input_name, int(d_in))
            context.set_tensor_address(output_name, int(d_out))
            stream = check(cudart.cudaStreamCreate())
            if not context.execute_async_v3(int(stream)):
                raise RuntimeFailure("TensorRT execution failed", file=path)
            check(cudart.cudaStreamSynchronize(stream))
            check(cudart.cudaStreamDestroy(stream))
            check(cudart.cudaMemcpy(result.ctypes.data, d_out, result.nbytes,
                                    kind.cudaMemcpyDeviceToHost))
        finally:
            for pointer in buffers:
                cudart.cudaFree(pointer)
        return result

    predict.engine = engine  # type: ignore[attr-defined]
    return predict


def _tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError:
        raise MissingDependency("building a TensorRT engine needs the tensorrt package",
                                hint="pip install tensorrt (on a machine with an NVIDIA GPU)"
                                ) from None
    return tensorrt
