"""Search-spec messages: no follow-on line after a misspelt key, JSON-style values, an
accurate reason for an object-valued global, and a damaged study.db named as what it is."""

from __future__ import annotations

import pytest

from mmarctl.errors import MmarError
from mmarctl.search.space import read_space


def _messages(search: list) -> list[str]:
    config = {"learning_rate": 1e-4, "determinism": {"random_seed": 1}, "search": search}
    return [str(p) for p in read_space(config, "f").problems]


def test_a_misspelt_targets_key_is_reported_once():
    assert _messages([{"type": "float", "args": ["learning_rate"], "target": [1e-4, 1e-3]}]) \
        == ["f: search[0].target: unknown key (did you mean targets or args?)"]


def test_a_missing_key_says_missing_not_none():
    (message,) = _messages([{"type": "float", "args": ["learning_rate"]}])
    assert message.startswith('f: search[0]: missing "targets"') and "None" not in message


def test_values_are_shown_as_json():
    (message,) = _messages([{"type": "float", "args": ["learning_rate"], "targets": ["a", 1e-3]}])
    assert message.endswith('Received: ["a", 0.001]')


def test_an_object_global_is_named_as_not_searchable():
    (message,) = _messages([{"type": "enum", "args": ["determinism"],
                             "targets": [[{"random_seed": 1}], [{"random_seed": 2}]]}])
    assert "'determinism' holds an object" in message and "no global" not in message


def test_a_damaged_study_database_names_the_file_not_storage(tmp_path):
    pytest.importorskip("optuna")
    from mmarctl.search.study import default_storage, open_storage

    (tmp_path / "study.db").write_text("garbage")
    with pytest.raises(MmarError) as raised:
        open_storage(default_storage(tmp_path), embedded=True)
    text = str(raised.value) + (raised.value.hint or "")
    assert "--storage" not in text and "study.db: cannot open the study" in text
    assert "another --run-id" in text
