"""A large frozen graph is summarised through a memory map: the weights' bytes are skipped
by their lengths and never read, so `check` of an 800 MB model.fzn.pb does not cost 800 MB."""

from __future__ import annotations

import subprocess
import sys


def _field(number: int, payload: bytes) -> bytes:
    key, size = (number << 3) | 2, len(payload)
    out = bytearray()
    for value in (key, size):
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                break
    return bytes(out) + payload


def test_weights_are_not_read_into_memory(tmp_path):
    weights = 96 * 2**20
    node = (_field(1, b"kernel") + _field(2, b"Const")
            + _field(5, _field(1, b"value") + _field(2, _field(8, _field(4, b"\0" * weights)))))
    graph = tmp_path / "model.fzn.pb"
    graph.write_bytes(_field(1, _field(1, b"NV_MODEL_INPUT") + _field(2, b"Placeholder"))
                      + _field(1, node))
    script = ("import resource, sys\n"
              "from mmarctl.model_files.graph_info import read_summary\n"
              "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "summary = read_summary(sys.argv[1])\n"
              "assert summary.names == {'NV_MODEL_INPUT', 'kernel'}, summary.names\n"
              "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n")
    done = subprocess.run([sys.executable, "-c", script, str(graph)], capture_output=True,
                          text=True, check=True)
    grown_kb = int(done.stdout.strip())
    assert grown_kb < 32 * 1024, f"reading the graph grew memory by {grown_kb} KB"


def test_a_corrupt_or_empty_graph_is_still_one_clear_error(tmp_path):
    import pytest

    from mmarctl.model_files.graph_info import GraphFileError, read_summary

    for content, message in ((b"\xff" * 64, "corrupt: not a TensorFlow GraphDef"),
                             (b"", "corrupt: not a TensorFlow GraphDef (no graph nodes)")):
        path = tmp_path / "model.fzn.pb"
        path.write_bytes(content)
        with pytest.raises(GraphFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
            read_summary(path)


def test_check_names_a_corrupt_graph_once(tmp_path):
    from typer.testing import CliRunner

    from mmarctl.cli import app

    mmar = tmp_path / "w"
    assert CliRunner().invoke(app, ["clone", "spleen", str(mmar)]).exit_code == 0
    (mmar / "models").mkdir()
    (mmar / "models" / "model.fzn.pb").write_bytes(b"\xff" * 64)
    result = CliRunner().invoke(app, ["check", str(mmar)])
    lines = [line for line in result.stdout.splitlines() if "model.fzn.pb" in line]
    assert len(lines) == 1 and "corrupt: not a TensorFlow GraphDef" in lines[0], result.stdout
