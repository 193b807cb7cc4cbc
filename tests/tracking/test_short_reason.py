"""The one tracking warning line names the cause (unknown host, TLS, a timeout, an HTTP
status, the refused folder store) and never cuts a reason inside a word."""

from __future__ import annotations

import pytest

from mmarctl.tracking.tracker import short_reason

POOL = ("API request to {u}/api/2.0/mlflow/experiments/get-by-name failed with exception "
        "HTTPConnectionPool(host='{h}', port=5000): Max retries exceeded with url: "
        "/api/2.0/mlflow/experiments/get-by-name?experiment_name=x (Caused by {c})")


@pytest.mark.parametrize("text,said", [
    (POOL.format(u="http://nonexistent-host.invalid:5000", h="nonexistent-host.invalid",
                 c='NameResolutionError("HTTPConnection(host=\'nonexistent-host.invalid\', '
                   'port=5000): Failed to resolve (Name or service not known)")'),
     "unknown host nonexistent-host.invalid"),
    (POOL.format(u="https://127.0.0.1:5931", h="127.0.0.1",
                 c="SSLError(SSLError(1, '[SSL: WRONG_VERSION_NUMBER] wrong version number'))"),
     "TLS handshake failed (is it http://?)"),
    (POOL.format(u="http://127.0.0.1:5977", h="127.0.0.1",
                 c="ReadTimeoutError(\"HTTPConnectionPool(host='127.0.0.1', port=5977): Read "
                   "timed out. (read timeout=5)\")"),
     "timed out: the server accepted the connection but did not answer"),
    (POOL.format(u="http://127.0.0.1:5988", h="127.0.0.1",
                 c="NewConnectionError(\"...: [Errno 111] Connection refused\")"),
     "connection refused"),
    ("API request to endpoint /api/2.0/mlflow/experiments/get-by-name failed with error code "
     "404 != 200. Response body: '<!doctype html> <html lang=en> <title>404 Not Found</title>",
     "HTTP 404 from the server (is the URI the server's root?)"),
    ("API request to endpoint /api/2.0/mlflow/runs/create failed with error code 500 != 200. "
     "Response body: 'Internal Server Error'", "HTTP 500 from the server"),
    ("The filesystem tracking backend (e.g., './mlruns') is in maintenance mode and will not "
     "receive further updates. Please migrate to a database backend (e.g., 'sqlite:///"
     "mlflow.db'). If you need the filesystem backend for your workflow, set "
     "`MLFLOW_ALLOW_FILE_STORE=true` to opt out of this exception.",
     "MLflow 3 refuses the folder store (file:); use sqlite:///PATH/mlflow.db, or set "
     "MLFLOW_ALLOW_FILE_STORE=true"),
])
def test_causes(text, said):
    assert short_reason(RuntimeError(text)) == said


def test_a_long_message_ends_at_a_sentence_or_a_word():
    assert short_reason(ValueError("Param value too long. " + "x" * 400)) == \
        "Param value too long"
    long = ("word " * 60).strip()
    reason = short_reason(ValueError(long))
    assert reason.endswith("word...") and len(reason) <= 163
    assert short_reason(KeyError()) == "KeyError"
