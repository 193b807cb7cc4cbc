"""{VAR} substitution and --set parsing."""

from __future__ import annotations

import pytest

from mmarctl.errors import ConfigError, UsageError
from mmarctl.variables import iter_placeholders, parse_set_items, substitute


@pytest.mark.parametrize("item, key, value", [
    ("epochs=5", "epochs", 5),
    ("learning_rate=0.0003", "learning_rate", 0.0003),
    ("multi_gpu=false", "multi_gpu", False),
    ("DATA_ROOT=/data/spleen", "DATA_ROOT", "/data/spleen"),
    ("PRETRAIN_WEIGHTS_FILE=", "PRETRAIN_WEIGHTS_FILE", ""),
    ("size=[96,96,32]", "size", [96, 96, 32]),
    ("name=a=b", "name", "a=b"),
])
def test_set_values_are_json_when_they_parse(item, key, value):
    assert parse_set_items([item]) == {key: value}


@pytest.mark.parametrize("item", ["epochs", "=5", ""])
def test_set_without_key_value_is_a_usage_error(item):
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        parse_set_items([item])


def test_whole_placeholder_keeps_json_type_and_partial_is_text():
    data = {"n": "{N}", "path": "{DIR}/model.pb", "flag": "{F}", "tag": "run-{N}"}
    out = substitute(data, {"N": 3, "DIR": "models", "F": False})
    assert out == {"n": 3, "path": "models/model.pb", "flag": False, "tag": "run-3"}


def test_unresolved_placeholder_names_file_and_json_path():
    with pytest.raises(ConfigError) as info:
        substitute({"train": {"pre": [{"args": {"p": "{NOPE}"}}]}}, {}, file="config/x.json")
    assert str(info.value).startswith("config/x.json: train.pre[0].args.p: unresolved placeholder {NOPE}")


def test_braces_that_are_not_identifiers_are_left_alone():
    assert substitute({"fmt": "{0} {}"}, {}) == {"fmt": "{0} {}"}


def test_iter_placeholders_reports_paths():
    found = list(iter_placeholders({"a": ["{X}", {"b": "x{Y}y{Z}"}]}))
    assert found == [("a[0]", "X"), ("a[1].b", "Y"), ("a[1].b", "Z")]
