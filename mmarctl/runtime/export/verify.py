"""Check an exported artifact against the checkpoint model on the same seeded input.

The sample is drawn once per export from ``numpy.random.default_rng(seed)`` (standard
normal, float32, shape ``(1, *patch, C)``); the checkpoint model's output on it is the
reference. Each artifact is loaded back from disk and run on the same sample; the largest
absolute difference of the probabilities must not exceed the tolerance (default ``1e-4``
for float32, where the formats tested here differ by about ``1e-7``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from mmarctl.errors import RuntimeFailure

DEFAULT_TOLERANCE = 1e-4
DEFAULT_SEED = 0


def sample_input(shape: tuple[int, ...], seed: int = DEFAULT_SEED) -> np.ndarray:
    """A repeatable float32 input batch of ``shape``."""
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@dataclass(frozen=True)
class Verification:
    """One artifact's comparison with the checkpoint model."""

    format: str
    max_abs_diff: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return bool(self.max_abs_diff <= self.tolerance)


def max_abs_diff(reference: np.ndarray, output: np.ndarray) -> float:
    """Largest absolute difference; a shape mismatch or a NaN counts as infinitely far."""
    output = np.asarray(output)
    if output.shape != reference.shape:
        return float("inf")
    diff = np.abs(output.astype(np.float64) - reference.astype(np.float64))
    return float("inf") if np.isnan(diff).any() else float(diff.max(initial=0.0))


def verify(fmt: str, predict: Callable[[np.ndarray], np.ndarray], sample: np.ndarray,
           reference: np.ndarray, tolerance: float = DEFAULT_TOLERANCE,
           file: str | None = None) -> Verification:
    """Run ``predict`` on ``sample`` and compare with ``reference``.

    Raises:
        RuntimeFailure: the difference exceeds ``tolerance`` or the shapes differ.
    """
    output = np.asarray(predict(sample))
    result = Verification(fmt, max_abs_diff(reference, output), tolerance)
    if output.shape != reference.shape:
        raise RuntimeFailure(f"{fmt}: output shape {output.shape} differs from the "
                             f"checkpoint model's {reference.shape}", file=file)
    if not result.passed:
        raise RuntimeFailure(f"{fmt}: output differs from the checkpoint model by "
                             f"{result.max_abs_diff:.3g} (tolerance {tolerance:g})", file=file,
                             hint="the artifact was not written; pass --tolerance to accept it")
    return result
