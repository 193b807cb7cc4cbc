"""The bare TCP probe that keeps MLflow's import (and its CPU) away from a server that is not
there: the address it tries, its retry schedule, its early stop, and a dead server seen from a
fresh process, which never imports mlflow."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from mmarctl.tracking import reach
from mmarctl.tracking.tracker import short_reason


@pytest.fixture(autouse=True)
def no_proxy_settings(monkeypatch):
    """The tests' own proxy variables only, whatever the machine's shell sets."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # released on exit: nothing listens there


@pytest.mark.parametrize("uri, environ, address", [
    ("http://127.0.0.1:5000", {}, ("127.0.0.1", 5000)),
    ("https://mlflow.example.org/", {}, ("mlflow.example.org", 443)),
    ("http://tracker", {}, ("tracker", 80)),
    ("sqlite:////tmp/mlruns.db", {}, None),
    ("postgresql://u@db/mlflow", {}, None),
    ("databricks", {}, None),
    ("http://tracker:5000", {"HTTP_PROXY": "http://proxy:3128"}, None),
    ("https://tracker", {"https_proxy": "http://proxy:3128"}, None),
    ("http://tracker", {"ALL_PROXY": "socks5://proxy:1080"}, None),
    ("http://tracker:5000", {"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "tracker"},
     ("tracker", 5000)),
    ("http://a.tracker.lan", {"http_proxy": "http://proxy:3128", "no_proxy": ".tracker.lan"},
     ("a.tracker.lan", 80)),
    ("http://tracker:5000", {"HTTPS_PROXY": "http://proxy:3128"}, ("tracker", 5000)),
    ("http://tracker:99999", {}, None),
])
def test_the_address_it_probes(uri, environ, address, monkeypatch):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert reach.probe_address(uri) == address


def test_a_listening_server_answers_on_the_first_try():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        reach.wait_for_server(f"http://127.0.0.1:{port}")


def test_retries_on_mlflow_s_schedule_then_names_the_cause(monkeypatch):
    tries, waits = [], []

    def refuse(address, timeout):
        tries.append((address, timeout))
        raise ConnectionRefusedError(111, "Connection refused")

    class Clock(threading.Event):
        def wait(self, seconds=None):
            waits.append(seconds)
            return False

    monkeypatch.setattr(reach.socket, "create_connection", refuse)
    for name, value in {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
                        "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
                        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(OSError) as raised:
        reach.wait_for_server("http://tracker:5000", stop=Clock())
    assert tries == [(("tracker", 5000), 5.0)] * 4
    assert waits == [0.0, 2.0, 4.0]  # urllib3's: the first retry at once
    assert str(raised.value) == "host='tracker' port=5000: [Errno 111] Connection refused"
    assert short_reason(raised.value) == "connection refused"


def test_a_stop_ends_the_wait_between_tries():
    stop = threading.Event()
    stop.set()
    port = closed_port()
    with pytest.raises(OSError, match="Connection refused"):
        reach.wait_until_listening("127.0.0.1", port, tries=50, timeout=1, backoff=60,
                                   stop=stop)  # one try, then the stop: no minute-long sleep


def test_an_unknown_host_is_named(monkeypatch):
    def unknown(address, timeout):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(reach.socket, "create_connection", unknown)
    with pytest.raises(OSError) as raised:
        reach.wait_until_listening("nohost.invalid", 80, tries=1, timeout=1, backoff=0)
    assert short_reason(raised.value) == "unknown host nohost.invalid"


SCRIPT = """
import json, sys, threading
from mmarctl.tracking.settings import TrackingSettings
from mmarctl.tracking.tracker import Tracker
said = []
settings = TrackingSettings(True, uri=sys.argv[1], source="--tracking-uri",
                            experiment_name="dead")
tracker = Tracker(settings, run_name="r", warn=said.append).start()
tracker.log_metrics({"loss": 1.0}, step=0)
tracker.close(timeout=30)
print(json.dumps({"said": said, "mlflow": "mlflow" in sys.modules}))
"""


def test_a_dead_server_is_given_up_without_importing_mlflow():
    uri = f"http://127.0.0.1:{closed_port()}"
    done = subprocess.run([sys.executable, "-c", SCRIPT, uri], capture_output=True,
                          text=True, timeout=120,
                          env={"PATH": "", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report == {"said": [f"warning: MLflow tracking to {uri} failed (connection "
                               "refused); going on untracked"], "mlflow": False}
