"""Is an http(s) tracking server listening? Asked with a bare TCP connect, before MLflow.

Importing ``mlflow`` takes a second or two of CPU, and the import holds the GIL against the
training thread, which is itself importing TensorFlow or tracing its first step then. For a
server that is not there (nothing on the port, an unknown host) that cost buys nothing, so
the tracking thread first opens and closes one TCP connection to the server's host and port,
on the schedule MLflow's HTTP client (urllib3) would retry with:
``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` more tries, the first at once, then
``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR`` x 2, 4, 8... s apart, each waiting at most
``MLFLOW_HTTP_REQUEST_TIMEOUT`` s. Only when it answers is MLflow imported.

No probe is made through a proxy: when ``HTTP(S)_PROXY`` applies to the host (urllib's reading
of the proxy variables, NO_PROXY included), the server may well be reachable only through it,
and MLflow's own requests find out.
"""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def probe_address(uri: str) -> tuple[str, int] | None:
    """(host, port) to try for an http(s) ``uri``; None for other schemes, or behind a proxy."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    import urllib.request  # 30 ms: here, in the tracking thread, not on every CLI start

    proxies = urllib.request.getproxies_environment()
    if (proxies.get(scheme) or proxies.get("all")) and \
            not urllib.request.proxy_bypass_environment(parts.hostname, proxies):
        return None
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:  # a port out of range: MLflow's own error says it better
        return None
    return parts.hostname, port


def wait_until_listening(host: str, port: int, *, tries: int, timeout: float,
                         backoff: float, stop: threading.Event | None = None) -> None:
    """Return once a TCP connection to ``host:port`` opens; raise the last error after
    ``tries`` refused or timed-out tries (or as soon as ``stop`` is set between tries).

    Raises:
        OSError: its text names the host and port and what the last try met
            (``Connection refused``, ``Name or service not known``, ``timed out``...).
    """
    stop = stop or threading.Event()
    for attempt in range(max(1, tries)):
        if attempt and stop.wait(0.0 if attempt == 1 else backoff * 2 ** (attempt - 1)):
            break
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return
        except OSError as error:
            last = error
    reason = str(last) or type(last).__name__
    raise OSError(f"host='{host}' port={port}: {reason}") from last


def wait_for_server(uri: str, stop: threading.Event | None = None) -> None:
    """:func:`wait_until_listening` for a tracking ``uri`` with MLflow's HTTP settings from
    the environment; nothing for schemes other than http(s) or behind a proxy."""
    address = probe_address(uri)
    if address is None:
        return
    setting = os.environ.get  # MLflow's own defaults where unset
    wait_until_listening(*address, tries=1 + int(setting("MLFLOW_HTTP_REQUEST_MAX_RETRIES", 7)),
                         timeout=float(setting("MLFLOW_HTTP_REQUEST_TIMEOUT", 120)),
                         backoff=float(setting("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", 2)),
                         stop=stop)
