"""TensorFlow checkpoints of an MMAR's model, written atomically.

Format: ``tf.train.Checkpoint(model=model[, optimizer=optimizer], <state>...)`` written at a
prefix such as ``models/model.ckpt``, i.e. the two files ``model.ckpt.index`` and
``model.ckpt.data-00000-of-00001``. Extra training state (``epoch=3``, ``best_metric=0.9``)
is stored in the same checkpoint as scalar variables named ``state_<key>``.

Atomic replacement. A checkpoint is a *pair* of files, and no filesystem renames two files
at once, so a write goes through these steps (each one leaves a loadable checkpoint):

1. write the new pair under a temporary prefix ``<prefix>.tmp-<pid>``;
2. hard-link (or copy) the current pair to the backup prefix ``<prefix>.bak``;
3. create the marker ``<prefix>.swapping`` (while it exists the main pair may be mixed);
4. rename the new files over the main pair;
5. remove the marker, then the backup.

:func:`checkpoint_prefix` picks what to read: the main pair unless the marker exists, in
which case the backup (complete since step 2 finished before step 3 began). A marker without
a backup is left by a first save (there was no pair to back up) killed before step 5: its
main pair, if complete, is that save's, whole; a later save backs it up before step 3.

A save that fails or is interrupted removes its temporary files (``<prefix>.tmp-<pid>.*`` and
TensorFlow's ``<prefix>.tmp-<pid>_temp/``); those of a process killed outright are removed by
the next save at that prefix, once that process is gone.

Reading while another process writes (``validate`` beside a running ``train``): a swap can
begin after the marker was looked at. Readers compare the pair's identity (inode, size,
mtime) before and after reading and read again when it changed, so they never keep weights
mixed from two saves (:func:`_read_settled`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from mmarctl.errors import RuntimeFailure, _shown, note_writing
from mmarctl.staging import process_alive

DATA_SUFFIX = ".data-00000-of-00001"
INDEX_SUFFIX = ".index"
#: Beside the pair: the network the checkpoint was saved from (:func:`network_record`).
NETWORK_SUFFIX = ".network.json"
_STATE_PREFIX = "state_"


def checkpoint_files(prefix: str | os.PathLike) -> list[Path]:
    """The two files of a checkpoint prefix: ``[index, data]``."""
    prefix = str(prefix)
    return [Path(prefix + INDEX_SUFFIX), Path(prefix + DATA_SUFFIX)]


def _exists(prefix: str) -> bool:
    return all(p.is_file() for p in checkpoint_files(prefix))


def _remove(prefix: str) -> None:
    for path in checkpoint_files(prefix):
        path.unlink(missing_ok=True)


def _backup(prefix: str) -> str:
    return prefix + ".bak"


def _marker(prefix: str) -> Path:
    return Path(prefix + ".swapping")


def checkpoint_prefix(prefix: str | os.PathLike) -> str | None:
    """The prefix to read for ``prefix``: itself, its backup after an interrupted write, or None.

    Accepts a prefix (``models/model.ckpt``) or a folder holding ``model.ckpt``.
    """
    prefix = str(prefix)
    if Path(prefix).is_dir():
        prefix = str(Path(prefix) / "model.ckpt")
    if prefix.endswith(INDEX_SUFFIX):
        prefix = prefix[: -len(INDEX_SUFFIX)]
    if _marker(prefix).exists() and _exists(_backup(prefix)):
        return _backup(prefix)
    return prefix if _exists(prefix) else None


def exists(prefix: str | os.PathLike) -> bool:
    """Whether a loadable checkpoint is at ``prefix`` (or its backup)."""
    return checkpoint_prefix(prefix) is not None


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # filesystems without hard links
        shutil.copyfile(src, dst)


def _make_checkpoint(model: Any, optimizer: Any = None, state: dict[str, Any] | None = None):
    import tensorflow as tf

    objects: dict[str, Any] = {"model": model}
    if optimizer is not None:
        objects["optimizer"] = optimizer
    for key, value in (state or {}).items():
        objects[_STATE_PREFIX + key] = tf.Variable(_state_value(key, value), trainable=False)
    return tf.train.Checkpoint(**objects)


def _state_value(key: str, value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, str)):
        return value
    try:  # NumPy scalars
        return value.item()
    except AttributeError:
        raise TypeError(f"checkpoint state {key}={value!r} is not a number or a string") from None


def save_checkpoint(prefix: str | os.PathLike, model: Any, optimizer: Any = None,
                    **state: Any) -> str:
    """Write ``model`` (and ``optimizer``, and scalar ``state``) at ``prefix``, atomically.

    Killed at any instant, the previous checkpoint at ``prefix`` still loads.

    Returns:
        the prefix written.
    """
    prefix = str(prefix)
    if optimizer is not None and not getattr(optimizer, "built", True):
        # Stopped before the first step: write the (zero) slots anyway, so that what
        # --resume builds finds every variable it expects
        optimizer.build(model.trainable_variables)
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(prefix)
    tmp = f"{prefix}{_TMP_TAG}{os.getpid()}"
    _remove_temporaries(tmp)
    try:
        _make_checkpoint(model, optimizer, state).write(tmp)
        _swap_in(tmp, prefix)
    except BaseException as error:
        # A full disk, a write error, Ctrl-C: what was written under the temporary prefix
        # is of no use to anyone, and nothing else would ever remove it.
        _remove_temporaries(tmp)
        note_writing(error, prefix)  # TensorFlow's error names the temporary, or nothing
        raise
    _write_network_record(prefix, model)
    return prefix


def index_digest(prefix: str) -> str | None:
    """The SHA-256 of the checkpoint's ``.index`` (None when it cannot be read)."""
    try:
        return hashlib.sha256(Path(prefix + INDEX_SUFFIX).read_bytes()).hexdigest()
    except OSError:
        return None


def _write_network_record(prefix: str, model: Any) -> None:
    """Write ``<prefix>.network.json``: the network ``model`` was built from
    (:func:`mmarctl.runtime.model_io.network_fingerprint`) and the digest of the ``.index``
    just written. ``check`` compares it with the config's network without TensorFlow; a
    record whose digest is not the ``.index``'s (a save killed before this step) is ignored.
    A model built elsewhere (no fingerprint) gets no record, and a stale one is removed."""
    from mmarctl.runtime.model_io import built_from

    record_path = Path(prefix + NETWORK_SUFFIX)
    fingerprint, digest = built_from(model), index_digest(prefix)
    tmp = record_path.with_name(f"{record_path.name}{_TMP_TAG}{os.getpid()}")
    try:
        if fingerprint is None or digest is None:
            record_path.unlink(missing_ok=True)
            return
        tmp.write_text(json.dumps({**fingerprint, "index_sha256": digest}, indent=1) + "\n")
        os.replace(tmp, record_path)
    except OSError:  # only a shortcut for check: without it, check builds the network
        try:  # (a full disk) half a record must not stay behind, hidden from every save
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def network_record(prefix: str | os.PathLike) -> dict | None:
    """The network the checkpoint at ``prefix`` was saved from (``network``, ``args``,
    ``dims``, ``channels``), when ``<prefix>.network.json`` was written for this very
    ``.index``; else None. Reads no TensorFlow."""
    prefix = str(prefix)
    try:
        record = json.loads(Path(prefix + NETWORK_SUFFIX).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("index_sha256") != index_digest(prefix):
        return None
    return {k: v for k, v in record.items() if k != "index_sha256"}


_OPERATION_KEY = re.compile(r"^model/_operations/(\d+)/(.+)/\.ATTRIBUTES/VARIABLE_VALUE$")


def model_variable_shapes(model: Any) -> dict[str, tuple[str, tuple[int, ...]]]:
    """The model variables a checkpoint of ``model`` holds: key -> (the variable's name,
    e.g. ``enc0_conv/kernel``, and its shape). Writes one to a temporary folder to read
    TensorFlow's own keys."""
    from mmarctl.model_files.tf_table import checkpoint_entries

    operations = list(getattr(model, "_operations", None) or [])
    with tempfile.TemporaryDirectory(prefix="mmarctl-shapes-") as folder:
        _make_checkpoint(model).write(os.path.join(folder, "probe"))
        entries = checkpoint_entries(Path(folder) / f"probe{INDEX_SUFFIX}")
    shapes = {}
    for entry in entries:
        if entry.name.startswith("model/") and entry.name.endswith("/VARIABLE_VALUE"):
            shapes[entry.name] = (variable_name(entry.name, operations), tuple(entry.shape))
    return shapes


def variable_name(key: str, operations: list | None = None) -> str:
    """A checkpoint key as a variable name: ``model/_operations/1/_kernel/...`` ->
    ``enc0_conv/kernel`` (the layer's name when ``operations``, the model's layers, are
    given), else the key without its ``/.ATTRIBUTES/VARIABLE_VALUE``."""
    match = _OPERATION_KEY.match(key)
    if not match:
        return key.split("/.ATTRIBUTES/")[0]
    index, rest = int(match.group(1)), match.group(2)
    layer = (getattr(operations[index], "name", None)
             if operations and index < len(operations) else None)
    tail = "/".join(part.lstrip("_") for part in rest.split("/"))
    return f"{layer}/{tail}" if layer else f"layer {index}: {tail}"


def _swap_in(tmp: str, prefix: str) -> None:
    """Steps 2-5 of the module docstring: put the complete pair at ``tmp`` in place."""
    backup, marker = _backup(prefix), _marker(prefix)
    for dst in checkpoint_files(prefix):
        if dst.is_dir() and not dst.is_symlink():
            # Found before the marker: nothing is half-swapped, no marker is left behind.
            error = IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(dst))
            note_writing(error, dst)
            raise error
    if not marker.exists() or not _exists(backup):
        # The main pair is complete (or, marked without a backup, a killed first save's
        # whole pair): keep it as the backup until the new pair is in place.
        _remove(backup)
        if _exists(prefix):
            for src, dst in zip(checkpoint_files(prefix), checkpoint_files(backup)):
                _link_or_copy(src, dst)
    # else: an earlier write was interrupted mid-swap; the backup is the good copy, keep it.
    marker.touch()
    replaced = 0
    try:
        for src, dst in zip(checkpoint_files(tmp), checkpoint_files(prefix)):
            os.replace(src, dst)
            replaced += 1
    except OSError as error:
        # The main pair is whole if nothing was replaced yet, or whole again once the backup
        # is put back; only then may the marker go. Otherwise the marker stays and readers
        # keep using the backup.
        if replaced == 0 or _restore_backup(prefix):
            marker.unlink(missing_ok=True)
            _remove(backup)
        note_writing(error, error.filename2 or prefix)
        raise
    marker.unlink()
    _remove(backup)


def _restore_backup(prefix: str) -> bool:
    """Put the backup pair back over a mixed main pair; whether that worked."""
    backup = _backup(prefix)
    if not _exists(backup):
        return False
    try:
        for src, dst in zip(checkpoint_files(backup), checkpoint_files(prefix)):
            _link_or_copy_over(src, dst)
    except OSError:
        return False
    return True


def _link_or_copy_over(src: Path, dst: Path) -> None:
    # The backup stays complete while it is put back: readers may still be using it.
    staged = dst.with_name(dst.name + f".restore-{os.getpid()}")
    staged.unlink(missing_ok=True)
    try:
        _link_or_copy(src, staged)
        os.replace(staged, dst)
    finally:
        staged.unlink(missing_ok=True)


#: Between a checkpoint prefix and the id of the process writing it: ``model.ckpt.tmp-123``.
_TMP_TAG = ".tmp-"


def _temporaries(tmp: str) -> list[Path]:
    """What TensorFlow writes for the prefix ``tmp``: ``tmp.index``, ``tmp.data-*`` and,
    while it writes, the folder ``tmp_temp/`` (other prefixes that merely start alike, such
    as another process's ``tmp-1234`` beside ``tmp-12``, are not included)."""
    folder, name = Path(tmp).parent, Path(tmp).name
    if not folder.is_dir():
        return []
    return [entry for entry in folder.iterdir()
            if entry.name.startswith(name)
            and (entry.name[len(name):] == "" or entry.name[len(name)] in "._")]


def _remove_temporaries(tmp: str) -> None:
    for entry in _temporaries(tmp):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _remove_stale_temporaries(prefix: str) -> None:
    """Remove the temporary files of earlier saves at ``prefix`` by processes that are gone
    (killed mid-save, say): a live process's are its save in progress."""
    folder, head = Path(prefix).parent, Path(prefix).name + _TMP_TAG
    pids = set()
    for entry in folder.iterdir():
        if entry.name.startswith(head):
            digits = entry.name[len(head):]
            end = next((i for i, c in enumerate(digits) if not c.isdigit()), len(digits))
            if end:
                pids.add(int(digits[:end]))
    for pid in pids:
        if pid != os.getpid() and not process_alive(pid):
            _remove_temporaries(f"{prefix}{_TMP_TAG}{pid}")


def _require(prefix: str | os.PathLike, what: str) -> str:
    found = checkpoint_prefix(prefix)
    if found is None:
        shown = str(prefix)
        # validate, infer and export read MMAR_CKPT_DIR's model.ckpt (finetune's own message
        # names MMAR_CKPT before it gets here)
        hint = ("train first (`mmarctl train`), or point MMAR_CKPT_DIR at the folder "
                "that holds one (--set MMAR_CKPT_DIR=FOLDER)")
        if Path(shown + ".meta").exists():
            hint = ("a Clara TF1 checkpoint's graph (model.ckpt.meta) is here without its "
                    ".index/.data files: copy them beside it, or use model.fzn.pb "
                    "(--model fzn)")
        raise RuntimeFailure(f"no {what} checkpoint at {shown} "
                             f"({shown}{INDEX_SUFFIX} not found)", hint=hint)
    return found


#: What TensorFlow's reader says of a checkpoint file cut short or overwritten, as opposed to
#: one written for another network (compared in lower case: TensorFlow writes "Checksum").
_DAMAGE_SIGNS = ("read less bytes than requested", "data loss", "dataloss", "corrupted",
                 "truncated record", "checksum")
#: TensorFlow's wrapping of a failed op: ``{{function_node __wrapped__RestoreV2...}}`` before
#: the message, `` [Op:RestoreV2]`` after it, and the bundle's path.
_TF_WRAPPING = re.compile(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\]|"
                          r"TensorBundle at \S+ (?=shard)")


def damage_reason(text: str, prefix: str) -> str:
    """TensorFlow's first line about a damaged checkpoint without its op wrapping and with
    the checkpoint's path left out (the error names the file): ``a tensor of 1728 bytes in
    shard 0: checksum does not match: stored ... vs. calculated on the restored bytes ...``."""
    first = text.strip().splitlines()[0] if text.strip() else "unreadable"
    first = _TF_WRAPPING.sub("", first).replace(f"{prefix}{DATA_SUFFIX}", Path(
        f"{prefix}{DATA_SUFFIX}").name).replace(str(prefix), Path(prefix).name)
    first = re.sub(r"^shard (\d+) \((\d+) bytes\): ", r"a tensor of \2 bytes in shard \1: ",
                   first)
    return first.replace("Checksum does not match", "checksum does not match")[:300]


def _read(checkpoint: Any, prefix: str, what: str):
    status = None
    try:
        status = checkpoint.read(prefix)
        status.assert_existing_objects_matched()
    except Exception as error:  # shape/dtype mismatch, missing variables, corrupt file
        text = str(error).strip()
        first = text.splitlines()[0] if text else type(error).__name__
        # The failed restore is abandoned: without this TensorFlow warns, after mmarctl's
        # error line, of "unrestored values" (at exit, when its objects are deleted).
        if status is not None:
            status.expect_partial()
        _quiet_abandoned_restore()
        if any(sign in text.lower() for sign in _DAMAGE_SIGNS):
            # check's words for the file (inventory.DAMAGED_HINT); never "another config"
            raise RuntimeFailure(f"damaged: {damage_reason(text, prefix)}", file=_shown(prefix),
                                 hint="copy it again, or train again") from error
        raise RuntimeFailure(f"checkpoint {prefix} does not match the {what}: "
                             f"{_mismatch(text, first)}",
                             hint="it was trained with another model config: set train.model "
                                  "back to the args it was trained with, or train again "
                                  "with this config") from error
    return status


_INCOMPATIBLE = re.compile(r"incompatible tensor with shape \(([^)]*)\) when attempting to "
                           r"restore variable with shape \(([^)]*)\) and name ([^\s]+?)(?::\d+)?\.?(?:\s|$)")
_UNBOUND = re.compile(r"Found (\d+) Python objects that were not bound")
_UNBOUND_VARIABLE = re.compile(r"<Variable path=([^,]+), shape=\(([^)]*)\)")


def _mismatch(text: str, first: str) -> str:
    """TensorFlow's restore failure in mmarctl's words: the variable, its shape in the
    checkpoint and in the network (never TensorFlow's dump of variable values)."""
    found = _INCOMPATIBLE.search(text)
    if found:
        saved, wanted, name = found.groups()
        return (f"{name} is ({saved}) in the checkpoint but ({wanted}) in the network "
                "the training config describes")
    unbound = _UNBOUND.search(text)
    if unbound:
        names = [f"{path} ({shape.rstrip(',')})" for path, shape in
                 _UNBOUND_VARIABLE.findall(text)]
        shown = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
        return (f"the network has {unbound.group(1)} variable(s) the checkpoint lacks"
                + (f": {shown}" if shown else "")
                + " (another layer type, e.g. batch instead of group norm?)")
    return first[:300]


#: What TensorFlow logs about an abandoned restore (dropped once mmarctl has said why).
_ABANDONED_RESTORE = ("Detecting that an object or model or tf.train.Checkpoint is being "
                      "deleted with unrestored values",
                      "Value in checkpoint could not be found in the restored object")


class _DropAbandonedRestore(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler
            return True
        return not message.startswith(_ABANDONED_RESTORE)


def _quiet_abandoned_restore() -> None:
    """Drop TensorFlow's warnings about the restore that failed: the restored objects still
    reference it and warn when deleted (at exit), after the one-line error."""
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _DropAbandonedRestore) for f in logger.filters):
        logger.addFilter(_DropAbandonedRestore())


#: How often a reader starts over when the checkpoint is replaced while it reads.
_READ_ATTEMPTS = 5


def _identity(prefix: str) -> tuple | None:
    """What changes when a save replaces the pair at ``prefix`` (None: a file is missing)."""
    try:
        stats = [path.stat() for path in checkpoint_files(prefix)]
    except FileNotFoundError:
        return None
    return tuple((st.st_ino, st.st_size, st.st_mtime_ns) for st in stats)


def _read_settled(prefix: str | os.PathLike, what: str, read: Callable[[str], Any]) -> Any:
    """``read(found)`` on the pair :func:`checkpoint_prefix` picks, again if a concurrent save
    replaced it meanwhile (a failed or mixed read); the result of the first undisturbed read.

    Raises:
        RuntimeFailure: no checkpoint, it does not fit, or it kept changing on every attempt.
    """
    for _ in range(_READ_ATTEMPTS):
        found = _require(prefix, what)
        before = _identity(found)
        try:
            result = read(found)
        except RuntimeFailure:
            if _identity(found) == before and checkpoint_prefix(prefix) == found:
                raise  # the files did not move: the failure is the checkpoint's own
            continue
        if _identity(found) == before and checkpoint_prefix(prefix) == found:
            return result
    raise RuntimeFailure(f"the checkpoint at {prefix} was replaced {_READ_ATTEMPTS} times "
                         "while it was being read", hint="a run is saving there; try again")


def restore_model(prefix: str | os.PathLike, model: Any) -> str:
    """Load the weights at ``prefix`` into ``model`` (which must already be built).

    Returns:
        the prefix actually read (the backup after an interrupted write).

    Raises:
        RuntimeFailure: no checkpoint there, or it does not fit the network.
    """
    def read(found: str) -> str:
        status = _read(_make_checkpoint(model), found, "network")
        status.expect_partial()  # an optimizer or state saved beside the model is fine
        return found

    return _read_settled(prefix, "model", read)


def read_state(prefix: str | os.PathLike) -> dict[str, Any]:
    """The scalar training state saved with a checkpoint (``{"epoch": 3, ...}``)."""
    return _read_settled(prefix, "training", _read_state)


def _read_state(found: str) -> dict[str, Any]:
    import tensorflow as tf

    state: dict[str, Any] = {}
    try:
        reader = tf.train.load_checkpoint(found)
        for name in reader.get_variable_to_shape_map():
            head, _, rest = name.partition("/")
            if head.startswith(_STATE_PREFIX) and rest == ".ATTRIBUTES/VARIABLE_VALUE":
                value = reader.get_tensor(name)
                value = value.item() if hasattr(value, "item") else value
                if isinstance(value, bytes):
                    value = value.decode()
                state[head[len(_STATE_PREFIX):]] = value
    except Exception as error:  # a truncated file, or one replaced while read
        raise RuntimeFailure(f"checkpoint {found} cannot be read: "
                             f"{str(error).strip()[:300] or type(error).__name__}") from error
    return state


def restore_training_state(prefix: str | os.PathLike, model: Any,
                           optimizer: Any = None) -> dict[str, Any]:
    """Restore model and optimizer (with its moments and iteration count) for ``--resume``.

    The optimizer is built on the model's trainable variables first, so that its slot
    variables exist and receive the saved values.

    Returns:
        the saved scalar state (epoch, best metric ...).
    """
    if optimizer is not None and not getattr(optimizer, "built", True):
        optimizer.build(model.trainable_variables)

    def read(found: str) -> dict[str, Any]:
        state = _read_state(found)
        # The network first, so that a mismatch there is told as one (another model
        # config); what fails after it is the optimizer's part.
        _read(_make_checkpoint(model), found, "network").expect_partial()
        checkpoint = _make_checkpoint(model, optimizer, {k: v for k, v in state.items()})
        try:
            status = _read(checkpoint, found, "network and optimizer")
        except RuntimeFailure as error:
            if optimizer is None or "damaged" in error.message:
                raise
            raise _optimizer_mismatch(found, optimizer, error) from error
        status.expect_partial()
        return state

    return _read_settled(prefix, "training", read)


def _saved_optimizer_variables(found: str) -> int:
    """How many of its own variables (iterations, moments ...) the optimizer saved at
    ``found``; the model variables it refers to are not counted."""
    import tensorflow as tf

    names = tf.train.load_checkpoint(found).get_variable_to_shape_map()
    return sum(1 for name in names
               if name.startswith("optimizer/") and "/_trainable_variables/" not in name
               and name.endswith("/.ATTRIBUTES/VARIABLE_VALUE"))


def _optimizer_mismatch(found: str, optimizer: Any, error: RuntimeFailure) -> RuntimeFailure:
    """The error for a resume state whose network fits but whose optimizer part does not:
    incomplete (fewer variables than the optimizer has: saved before it was set up), or
    written by another optimizer."""
    expected = len(getattr(optimizer, "variables", []))
    try:
        saved = _saved_optimizer_variables(found)
    except Exception:  # unreadable: the reader's own message says more
        return error
    if saved < expected:
        return RuntimeFailure(f"the resume state {found} is incomplete: it holds {saved} of "
                              f"the optimizer's {expected} variables (saved before the "
                              "optimizer was set up)",
                              hint="start a fresh run without --resume")
    return RuntimeFailure(f"the resume state {found} does not match the optimizer: "
                          f"{error.message.split(': ', 1)[-1]}",
                          hint="was train.optimizer changed since the run was stopped? "
                               "resume with the same config, or start a fresh run")
