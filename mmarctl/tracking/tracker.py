"""One MLflow run, fed from a bounded queue by a daemon thread: the caller never waits.

Every ``log_*`` call only puts an item in a queue (dropped when the queue is full: the run
never blocks on it). A daemon thread imports ``mlflow`` (a second or two, off the caller's
thread), creates or finds the experiment, creates the run, then sends what arrives in
batches (``log_batch``: 100 params/tags, 1000 metrics per call). On the first error (a
server that is down, goes away, refuses a value) it prints one warning line and switches
itself off: the rest of the queue is dropped, and so is everything logged afterwards.
:meth:`Tracker.close` ends the run and waits for the thread at most ``timeout`` seconds.

MLflow's "View run / View experiment" lines are switched off
(``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT``): mmarctl owns its output.

HTTP calls are short: unless the environment says otherwise, ``MLFLOW_HTTP_REQUEST_TIMEOUT``
is 5 s and ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` 2 (MLflow's own defaults, 120 s and 7 retries
with backoff, would hold a dead server's run for minutes). An http(s) server is first asked
for a bare TCP connection on that schedule (:mod:`.reach`): MLflow is imported only once
something listens, so a server that is down costs the training no CPU.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from mmarctl.tracking.params import MAX_TAG_VALUE, finite_metrics, safe_key, safe_value
from mmarctl.tracking.reach import wait_for_server
from mmarctl.tracking.settings import TrackingSettings

log = logging.getLogger("mmarctl.tracking")

#: Applied with setdefault before mlflow is imported (see the module docstring).
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "5", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
                 "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
                 # set_terminated on an http store writes "View run ... / View experiment ..."
                 # straight to stdout, between mmarctl's own lines and into trial logs.
                 "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
QUEUE_SIZE = 10_000
_END = object()


def _default_warn(line: str) -> None:
    from mmarctl.console import err

    err.print(line, highlight=False, soft_wrap=True)


#: (text in an MLflow/HTTP error, what the warning line says), first match wins. urllib3
#: wraps every connection error in "Max retries exceeded", so the causes come first.
_REASONS = (
    ("filesystem tracking backend", "MLflow 3 refuses the folder store (file:); use "
                                    "sqlite:///PATH/mlflow.db, or set "
                                    "MLFLOW_ALLOW_FILE_STORE=true"),
    ("Connection refused", "connection refused"),
    ("NameResolutionError", "unknown host"),
    ("Name or service not known", "unknown host"),
    ("nodename nor servname", "unknown host"),
    ("Temporary failure in name resolution", "unknown host"),
    ("getaddrinfo failed", "unknown host"),
    ("SSLError", "TLS handshake failed (is it http://?)"),
    ("SSL:", "TLS handshake failed (is it http://?)"),
    ("Read timed out", "timed out: the server accepted the connection but did not answer"),
    ("timed out", "timed out"),
    ("Max retries exceeded", "server unreachable"),
)
#: The longest reason told as it is (longer ones end at a sentence or word, with "...").
REASON_LENGTH = 160


def short_reason(error: BaseException) -> str:
    """One short line for an MLflow/HTTP error (their messages span whole stack traces):
    the cause (connection refused, unknown host, TLS, timed out, an HTTP status), else the
    message's first sentence, never cut inside a word."""
    import re

    text = " ".join(str(error).split()) or type(error).__name__
    for needle, said in _REASONS:
        if needle in text:
            if said == "unknown host":
                host = re.search(r"host='([^']+)'", text)
                return f"unknown host {host.group(1)}" if host else said
            return said
    status = re.search(r"error code (\d{3}) != 200", text)
    if status:
        code = status.group(1)
        return f"HTTP {code} from the server" + (
            " (is the URI the server's root?)" if code in ("404", "405") else "")
    sentence = re.match(r"(.+?[.!?])(\s|$)", text)
    if sentence and len(sentence.group(1)) <= REASON_LENGTH:
        return sentence.group(1).rstrip(".")
    if len(text) <= REASON_LENGTH:
        return text
    return text[:REASON_LENGTH].rsplit(" ", 1)[0].rstrip(" ,;:(") + "..."


def rehome_embedded_store(uri: str, artifacts: str) -> str | None:
    """Point an embedded store that was copied or moved with its MMAR at its own artifacts.

    MLflow keeps absolute artifact locations in the store (``file:///old/MMAR/mlartifacts``
    per experiment, ``.../<run>/artifacts`` per run): a copied MMAR would upload into the
    original's ``mlartifacts/`` (or recreate it once deleted), and ``mlflow ui`` on the copy
    would look for the files there. The ``mlartifacts/`` that came with the copy holds
    those files, so every location under another MMAR's ``mlartifacts`` is rewritten to
    ``artifacts`` (this MMAR's). Plain SQLite, before MLflow opens the file.

    Returns:
        the old location (for a note), or None when nothing was rewritten (a new store, one
        in place, or one that cannot be read: MLflow then says what is wrong).
    """
    import sqlite3

    database = Path(uri.split(":///", 1)[1]) if ":///" in uri else None
    if database is None or not database.is_file():
        return None
    try:
        with sqlite3.connect(database, timeout=30) as connection:
            rows = connection.execute(
                "SELECT artifact_location FROM experiments").fetchall()
            old = sorted({location for (location,) in rows
                          if isinstance(location, str) and location != artifacts
                          and location.rstrip("/").endswith("/mlartifacts")
                          and location.startswith("file:")})
            for location in old:
                connection.execute(
                    "UPDATE experiments SET artifact_location = ? WHERE artifact_location = ?",
                    (artifacts, location))
                connection.execute(
                    "UPDATE runs SET artifact_uri = ? || substr(artifact_uri, ?) "
                    "WHERE substr(artifact_uri, 1, ?) = ?",
                    (artifacts, len(location) + 1, len(location) + 1, location + "/"))
    except sqlite3.Error:
        return None
    return old[0] if old else None


class Tracker:
    """One MLflow run (see the module docstring).

    Args:
        settings: from :func:`mmarctl.tracking.settings.resolve_settings` (enabled).
        run_name: the run's name in the MLflow UI.
        tags: set when the run is created (``mlflow.parentRunId`` comes from ``settings``).
        warn: prints the one warning line (default: stderr).
        on_run: called in the thread with the run id once the run exists.
        resume_run_id: a run to continue (set RUNNING again) rather than create; a new run
            is created when it no longer exists. Params it already has keep their first
            value (MLflow params cannot change); a changed one is set as a tag instead.
    """

    def __init__(self, settings: TrackingSettings, *, run_name: str,
                 tags: Mapping[str, str] | None = None,
                 warn: Callable[[str], None] | None = None,
                 on_run: Callable[[str], None] | None = None,
                 resume_run_id: str | None = None) -> None:
        self.settings = settings
        self.resume_run_id = resume_run_id
        self._known_params: dict[str, str] = {}
        self.run_name = run_name
        self.tags = dict(tags or {})
        self.warn = warn or _default_warn
        self.on_run = on_run
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.dropped = 0
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self._failed = threading.Event()
        self._run_ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()  # also ends the wait for a server that is not up

    # -- the caller's side: never blocks ----------------------------------------------------
    @property
    def active(self) -> bool:
        """Started, not closed, and not switched off by an error."""
        return (self._thread is not None and not self._closed.is_set()
                and not self._failed.is_set())

    def start(self) -> "Tracker":
        """Start the thread (it connects and creates the run). Returns self."""
        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
        self._thread = threading.Thread(target=self._work, name="mmarctl-tracking", daemon=True)
        self._thread.start()
        return self

    def _put(self, item: tuple) -> None:
        if not self.active:
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1  # a slow server loses step points, never the run's time

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Params (text; see :mod:`.params` for the limits)."""
        self._put(("params", {safe_key(k): safe_value(v) for k, v in params.items()}))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Tags (text)."""
        self._put(("tags", {safe_key(k): safe_value(v, MAX_TAG_VALUE)
                            for k, v in tags.items()}))

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        """Finite numeric values at ``step``, timestamped now."""
        values = finite_metrics(metrics)
        if values:
            self._put(("metrics", values, int(step), int(time.time() * 1000)))

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """A file or a folder, uploaded when the thread gets to it (if it still exists)."""
        self._put(("artifact", str(path), artifact_path))

    def wait_for_run(self, timeout: float) -> str | None:
        """The run id once the run exists (None after ``timeout`` s or on failure)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._failed.is_set():
            if self._run_ready.wait(0.1):
                return self.run_id
        return self.run_id

    def close(self, status: str = "FINISHED", timeout: float = 20.0) -> None:
        """End the run with ``status`` (FINISHED, FAILED, KILLED); wait at most ``timeout`` s.

        Safe to call twice; the second call does nothing.
        """
        if self._thread is None or self._closed.is_set():
            self._closed.set()
            return
        if not self._failed.is_set():
            try:
                self._queue.put(("end", status), timeout=1.0)
            except queue.Full:
                self._queue = queue.Queue()  # give the thread a way out
                self._queue.put(("end", status))
        self._closed.set()
        self._thread.join(timeout)
        if self._thread.is_alive() and not self._failed.is_set():
            self._failed.set()
            self.warn(f"warning: MLflow tracking to {self.settings.uri} did not finish "
                      f"within {timeout:.0f} s; the rest of this run is not tracked")
        if self.dropped:
            log.debug("tracking: %d queued items were dropped (queue full)", self.dropped)

    # -- the thread's side --------------------------------------------------------------------
    def _fail(self, error: BaseException) -> None:
        if self._failed.is_set():
            return
        self._failed.set()
        where = self.settings.uri
        self.warn(f"warning: MLflow tracking to {where} failed ({short_reason(error)}); "
                  "going on untracked")
        log.debug("tracking failure", exc_info=error)

    def _connect(self) -> Any:
        wait_for_server(self.settings.uri or "", stop=self._closed)
        from mlflow.tracking import MlflowClient

        for name in ("mlflow", "alembic"):  # their INFO lines (table creation) are noise here
            logging.getLogger(name).setLevel(logging.WARNING)
        if self.settings.source == "embedded" and self.settings.artifact_location:
            old = rehome_embedded_store(self.settings.uri or "",
                                        self.settings.artifact_location)
            if old:
                self.warn(f"note: the MMAR's MLflow store was copied or moved: its artifact "
                          f"locations now point into {self.settings.artifact_location} "
                          f"(were {old})")
        client = MlflowClient(tracking_uri=self.settings.uri)
        experiment_id = self.settings.experiment_id or self._experiment(client)
        tags = dict(self.tags)
        if self.settings.parent_run_id:
            tags["mlflow.parentRunId"] = self.settings.parent_run_id
        run = self._resumed_run(client)
        if run is not None:
            experiment_id = run.info.experiment_id
            self._known_params = dict(run.data.params)
            client.update_run(run.info.run_id, status="RUNNING")
        else:
            run = client.create_run(experiment_id, run_name=self.run_name,
                                    tags={safe_key(k): safe_value(v, MAX_TAG_VALUE)
                                          for k, v in tags.items()})
        self.experiment_id = experiment_id
        self.run_id = run.info.run_id
        self._run_ready.set()
        if self.on_run is not None:
            self.on_run(self.run_id)
        return client

    def _resumed_run(self, client: Any) -> Any:
        """The run to continue, or None (none asked, deleted, or gone from the server)."""
        if not self.resume_run_id:
            return None
        try:
            run = client.get_run(self.resume_run_id)
        except Exception:  # noqa: BLE001 - gone: a new run is created instead
            return None
        return run if run.info.lifecycle_stage == "active" else None

    def _experiment(self, client: Any) -> str:
        name = self.settings.experiment_name
        found = client.get_experiment_by_name(name)
        if found is None:
            try:
                return client.create_experiment(
                    name, artifact_location=self.settings.artifact_location)
            except Exception:
                found = client.get_experiment_by_name(name)  # another process made it
                if found is None:
                    raise
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return found.experiment_id

    def _work(self) -> None:
        try:
            client = self._connect()
        except BaseException as error:  # noqa: BLE001 - any failure only switches tracking off
            self._fail(error)
            self._drain()
            return
        while True:
            item = self._queue.get()
            items = [item]
            while item[0] != "end" and len(items) < 2000:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                items.append(item)
            try:
                self._send(client, items)
            except BaseException as error:  # noqa: BLE001
                self._fail(error)
                self._drain()
                return
            if items[-1][0] == "end":
                return

    def _drain(self) -> None:
        """After a failure: empty the queue until close() says end (or the process exits)."""
        while True:
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                if self._closed.is_set():
                    return
                continue
            if item[0] == "end":
                return

    def _send(self, client: Any, items: list[tuple]) -> None:
        from mlflow.entities import Metric, Param, RunTag

        params: list[Any] = []
        tags: list[Any] = []
        metrics: list[Any] = []

        def flush() -> None:
            while params or tags or metrics:
                # MLflow's batch limits: 100 params + tags, 1000 entities in all.
                chunk_p = params[:100]
                chunk_t = tags[:100 - len(chunk_p)]
                chunk_m = metrics[:1000 - len(chunk_p) - len(chunk_t)]
                client.log_batch(self.run_id, metrics=chunk_m, params=chunk_p, tags=chunk_t)
                del params[:len(chunk_p)], tags[:len(chunk_t)], metrics[:len(chunk_m)]

        for item in items:
            kind = item[0]
            if kind == "params":
                for key, value in item[1].items():
                    if key not in self._known_params:
                        params.append(Param(key, value))
                    elif self._known_params[key] != value:  # a param cannot change
                        tags.append(RunTag(key, value))
            elif kind == "tags":
                tags += [RunTag(k, v) for k, v in item[1].items()]
            elif kind == "metrics":
                _, values, step, stamp = item
                metrics += [Metric(k, v, stamp, step) for k, v in values.items()]
            elif kind == "artifact":
                flush()
                path, artifact_path = Path(item[1]), item[2]
                if path.is_dir():
                    client.log_artifacts(self.run_id, str(path), artifact_path)
                elif path.is_file():
                    client.log_artifact(self.run_id, str(path), artifact_path)
            elif kind == "end":
                flush()
                client.set_terminated(self.run_id, item[1])
        flush()
