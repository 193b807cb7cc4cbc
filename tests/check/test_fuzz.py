"""Fuzzing `check`: real configs (the scaffolds, and ../shared's Clara corpus when present)
mutated by Hypothesis must never get past the CLI's error boundary: every run ends with exit
0, 1 or 2, without a traceback, within a time bound.

Mutations are the ones hand-edited JSON suffers: a key deleted, a value swapped for another
type, a subtree nested thousands of levels deep, huge or non-finite numbers, odd strings
(placeholders, control characters, lone surrogates written as escapes, very long text).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from mmarctl.cli import app  # noqa: E402
from tests.conftest import CLARA_COMPAT, REPO_ROOT  # noqa: E402

runner = CliRunner()
#: One check of a mutated MMAR; the unmutated scaffold takes well under a second.
TIME_BOUND_S = 20.0


def _corpus() -> list[Path]:
    configs = sorted((REPO_ROOT / "scaffolds").glob("*/config/config_*.json"))
    if CLARA_COMPAT.is_dir():
        configs += sorted(p for p in CLARA_COMPAT.rglob("config*.json")
                          if "automl" not in p.name.lower())[:40]
    return configs


CORPUS = _corpus()


def _paths(value: Any, where: tuple = ()) -> list[tuple]:
    """Every JSON path in ``value`` (containers and leaves), root excluded."""
    found = []
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    for key, child in items:
        found.append((*where, key))
        found.extend(_paths(child, (*where, key)))
    return found


def _get(value: Any, path: tuple) -> Any:
    for key in path:
        value = value[key]
    return value


ODD_STRINGS = st.sampled_from([
    "", " ", "{", "}", "{MISSING}", "{epochs}", "{{epochs}}", "\x00", "\u202e", "\ud800",
    "../../../../etc/passwd", "~/x", "x" * 100_000, "Ünïcødé", "None", "NaN", "1e309",
    "#alias", "Name#", "@disabled", "$ref",
])
REPLACEMENTS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.just(10**400), st.just(-1e308),
    ODD_STRINGS, st.just([]), st.just({}), st.just([None]), st.just({"name": None}),
    st.lists(st.integers(), max_size=3), st.dictionaries(ODD_STRINGS, st.integers(), max_size=2),
)


@st.composite
def mutated(draw) -> tuple[Path, str]:
    """(source config, the mutated text) after one to three mutations."""
    source = draw(st.sampled_from(CORPUS))
    data = json.loads(source.read_text(encoding="utf-8-sig"))
    raw_text = None
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        kind = draw(st.sampled_from(["delete", "replace", "nest", "raw"]))
        if not paths or kind == "raw":
            # Text-level damage: a non-finite literal, deep nesting, a cut-off file.
            text = json.dumps(data)
            raw_text = draw(st.sampled_from([
                text.replace(":", ": NaN, \"_\":", 1),
                text.replace(":", ": -Infinity, \"_\":", 1),
                "[" * 10_000 + "]" * 10_000,
                text[: draw(st.integers(0, max(len(text) - 1, 0)))],
                json.dumps(text), "0", "null", "",
            ]))
            break
        path = draw(st.sampled_from(paths))
        parent = _get(data, path[:-1])
        if kind == "delete":
            del parent[path[-1]]
        elif kind == "replace":
            parent[path[-1]] = draw(REPLACEMENTS)
        else:
            # Nest the subtree as text (building it as objects would recurse here too).
            inner = json.dumps(parent[path[-1]])
            levels = draw(st.sampled_from([10, 70, 3000]))
            parent[path[-1]] = "__NESTED__"
            raw_text = json.dumps(data).replace(
                '"__NESTED__"', '{"args": ' * levels + inner + "}" * levels, 1)
            break
    if raw_text is not None:
        return source, raw_text
    return source, json.dumps(data)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz") / "spleen"
    assert runner.invoke(app, ["clone", "spleen", str(root)]).exit_code == 0
    assert runner.invoke(app, ["data", "synth", str(root / "data"), "--cases", "2",
                               "--size", "16"]).exit_code == 0
    return root


@pytest.mark.skipif(not CORPUS, reason="no configs to mutate")
@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=mutated())
def test_check_survives_mutated_configs(base, tmp_path_factory, case):
    source, text = case
    mmar = tmp_path_factory.mktemp("m") / "mmar"
    shutil.copytree(base, mmar, symlinks=True)
    # Validation configs go where validate reads them, training configs where train does.
    name = ("config_validation.json" if "validation" in source.name
            else "config_train.json")
    (mmar / "config" / name).write_text(text, encoding="utf-8", errors="surrogatepass")
    started = time.monotonic()
    result = runner.invoke(app, ["check", str(mmar)])
    elapsed = time.monotonic() - started
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{source}: {type(result.exception).__name__}: {result.exception}")
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output, result.output
    assert elapsed < TIME_BOUND_S, f"{source}: check took {elapsed:.1f} s"
