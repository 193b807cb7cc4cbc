"""Output wording helpers."""

from mmarctl.console import counted


def test_counted_matches_the_noun_to_the_number():
    assert [counted(n, "case") for n in (0, 1, 2)] == ["0 cases", "1 case", "2 cases"]
