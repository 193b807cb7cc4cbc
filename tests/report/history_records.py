"""Writes ``models/metrics_history.jsonl`` records the way HistoryWriter does, for the
report tests (no training)."""

from __future__ import annotations

import json
from pathlib import Path


def record(epoch: int, *, phase: str = "train", loss: float = 1.0, lr: float = 1e-3,
           metrics: dict | None = None, best: tuple[int, float] | None = None,
           seconds: float = 0.0, key: str = "mean_dice") -> dict:
    """One epoch record."""
    return {"epoch": epoch, "epochs": 10, "phase": phase, "loss": loss, "learning_rate": lr,
            "metrics": metrics or {}, "key_metric": key,
            "best_metric": best[1] if best else None, "best_epoch": best[0] if best else None,
            "seconds": seconds}


def write_history(models_dir: Path, records: list[dict], *, append: bool = False) -> Path:
    """Write (or append) ``records`` as metrics_history.jsonl in ``models_dir``."""
    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / "metrics_history.jsonl"
    with open(path, "a" if append else "w", encoding="utf-8") as stream:
        for item in records:
            stream.write(json.dumps(item) + "\n")
    return path


def train_run(epochs: int, dice: list[float], *, phase: str = "train", start: int = 1,
              lr: float = 1e-3, seconds_per_epoch: float = 2.0) -> list[dict]:
    """Records of a run validating every epoch: ``dice[i]`` at epoch ``start + i``."""
    out, best = [], None
    for i in range(epochs):
        epoch = start + i
        if best is None or dice[i] > best[1]:
            best = (epoch, dice[i])
        out.append(record(epoch, phase=phase, loss=1.0 / epoch, lr=lr,
                          metrics={"mean_dice": dice[i]}, best=best,
                          seconds=seconds_per_epoch * (i + 1)))
    return out
