"""Checkpoints a run would replace, kept in ``previous_runs/`` instead of lost.

Two cases. A finetune's start (``model.ckpt`` by default) is replaced by the finetune's own
best, however low. And a Clara MMAR's pretrained TF1 checkpoint (``model.ckpt.meta`` with its
``.index``/``.data-*``, as NGC shipped them) is replaced by a ``train`` run's first save:
without this, the user's pretrained model would be gone, and the Clara graph (``.meta``)
would stay beside weights it no longer describes.

Both are hard-linked (copied where links are refused) into
``previous_runs/<the checkpoint's last write, UTC>/``, beside the earlier runs' TensorBoard
events: the saves replace ``model.ckpt`` by rename, so the links keep the old files whole.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

from mmarctl.runtime import checkpoint

log = logging.getLogger("mmarctl.train")

#: The checkpoints a run writes in its models folder: the best and the final.
BEST = "model.ckpt"
FINAL = "model_final.ckpt"
#: A TF1 Saver checkpoint's graph, beside its ``.index``/``.data-*`` (Clara 3.x).
META_SUFFIX = ".meta"


def keep_in_previous_runs(models_dir: Path, found: str, name: str) -> Path:
    """Link (or copy) the checkpoint at prefix ``found``, with its network record and TF1
    graph where it has them, to ``<models_dir>/previous_runs/<stamp>/<name>``.

    A checkpoint kept there before (the same ``.index``) is not kept twice. Returns the kept
    prefix; raises OSError when the files cannot be written (a full disk).
    """
    from mmarctl.runtime.training.summaries import PREVIOUS_RUNS

    files = checkpoint.checkpoint_files(found)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(files[0].stat().st_mtime))
    digest = checkpoint.index_digest(found)
    folder, number = Path(models_dir) / PREVIOUS_RUNS / stamp, 1
    while checkpoint.exists(folder / name):
        if checkpoint.index_digest(str(folder / name)) == digest:
            return folder / name  # kept earlier (a finetune from the same checkpoint)
        number += 1
        folder = Path(models_dir) / PREVIOUS_RUNS / f"{stamp}-{number}"
    kept = folder / name
    folder.mkdir(parents=True, exist_ok=True)
    # The graph and the data file first: a set whose .index is there is whole.
    extras = [suffix for suffix in (META_SUFFIX, checkpoint.NETWORK_SUFFIX)
              if Path(found + suffix).is_file()]
    sources = [Path(found + suffix) for suffix in extras] + list(reversed(files))
    targets = [Path(f"{kept}{suffix}") for suffix in extras] + list(
        reversed(checkpoint.checkpoint_files(kept)))
    for source, target in zip(sources, targets):
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
    return kept


def set_aside_tf1_graph(prefix: Path) -> Path | None:
    """Before a run's first save at ``prefix``: when a TF1 checkpoint is there (a Clara
    pretrained model, its ``.meta`` beside), keep it in ``previous_runs/`` and log where.
    Returns the kept prefix, or None (no TF1 checkpoint there, or it could not be kept: the
    save goes on, with a warning)."""
    meta = Path(f"{prefix}{META_SUFFIX}")
    found = checkpoint.checkpoint_prefix(prefix)
    if not meta.is_file() or found is None:
        return None
    models_dir = Path(prefix).parent
    try:
        kept = keep_in_previous_runs(models_dir, found, Path(prefix).name)
    except OSError as error:
        log.warning("could not keep the TF1 checkpoint %s in %s (%s): this run's model "
                    "replaces it", prefix, models_dir, error.strerror or error)
        return None
    # A warning, not an info line: the model the MMAR came with moves out of models/.
    log.warning("%s was a TF1 checkpoint (Clara's pretrained model): kept as %s, with its "
                ".meta graph; this run's model replaces it", prefix, kept)
    return kept


def remove_tf1_graph(prefix: Path) -> None:
    """After a save at ``prefix``: the ``.meta`` an earlier TF1 checkpoint left there
    describes weights that are gone (kept by :func:`set_aside_tf1_graph`)."""
    try:
        Path(f"{prefix}{META_SUFFIX}").unlink(missing_ok=True)
    except OSError as error:
        log.warning("could not remove %s%s (%s): it is the earlier TF1 checkpoint's graph, "
                    "not this run's", prefix, META_SUFFIX, error.strerror or error)


def keep_finetune_start(models_dir: Path, start: str) -> Path | None:
    """Keep the checkpoint a finetune starts from when the run would replace it (its
    ``model.ckpt`` or ``model_final.ckpt``: finetune's default start is ``model.ckpt``, and
    the finetune's best, however low, is saved there), with one log line saying where.
    Returns the kept prefix, or None (nothing to keep)."""
    found = checkpoint.checkpoint_prefix(start)
    if found is None:
        return None
    name = Path(start).name if Path(start).name in (BEST, FINAL) else BEST
    own = {(models_dir / BEST).resolve(), (models_dir / FINAL).resolve()}
    if Path(start).resolve() not in own and not (Path(start).is_dir()
                                                 and Path(start).resolve() == models_dir.resolve()):
        return None  # elsewhere: this run writes nothing over it
    try:
        kept = keep_in_previous_runs(models_dir, found, name)
    except OSError as error:
        log.warning("could not keep the finetune's starting checkpoint %s in %s (%s): this "
                    "run's best replaces it", found, models_dir, error.strerror or error)
        return None
    log.info("finetune starts from %s: kept as %s (this run's best replaces %s)", found, kept,
             name)
    return kept
