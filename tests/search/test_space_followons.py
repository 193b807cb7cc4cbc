"""A bad search entry is reported once, where it is written: no follow-on errors."""

from __future__ import annotations

from mmarctl.search.space import read_space


def _messages(config: dict) -> list[str]:
    return [f"{p.json_path}: {p.message}" for p in read_space(config, "c.json").problems]


def test_a_typo_in_one_apply_tag_does_not_unbind_its_neighbour():
    config = {"search": [{"type": "enum", "args": ["useDice", "useFocal"],
                          "targets": [[True, False], [False, True]]}],
              "train": {"loss": [{"name": "Dice", "apply": {"@disabled": "useDise"}},
                                 {"name": "Focal", "apply": {"@disabled": "useFocal"}}]}}
    messages = _messages(config)
    assert any(m.startswith("search[0].args: unknown global or tag 'useDice'")
               for m in messages), messages
    assert not any("'useFocal'" in m for m in messages), messages


def test_a_float_search_on_an_integer_component_arg_is_named_at_the_search_entry():
    config = {"train": {"pre_transforms": [{
        "name": "FastCropByPosNegRatio", "args": {"batch_size": 2},
        "search": [{"type": "float", "args": ["batch_size"], "targets": [1, 4]}]}]}}
    assert _messages(config) == [
        "train.pre_transforms[0].search[0]: batch_size expects an integer, but a float search "
        "draws fractional values; search it as an enum (\"targets\": [[1], [2]])"]


def test_a_search_that_is_not_a_list_is_one_problem():
    config = {"search": {"type": "enum", "args": ["a"], "targets": [[True], [False]]},
              "train": {"loss": [{"name": "Dice", "apply": {"@disabled": "a"}},
                                 {"name": "Focal"}]}}
    messages = _messages(config)  # 'a' is listed by the unwrapped entry: not unbound too
    assert len(messages) == 1 and messages[0].startswith("search: expected a list"), messages
