"""A verb's refusal counts the problems after its first; when one of them is about a --set
key, `mmarctl check` shows it only with the same --set items, so the line says so."""

from __future__ import annotations

from mmarctl.problems import Problem, more_problems


def test_one_problem_adds_nothing_several_point_at_check():
    first = Problem("config/config_train.json", "epochs", "expected integer")
    assert more_problems([first]) == ""
    assert more_problems([first, Problem("data/dataset_0.json", "training", "x")]) == \
        " (and 1 more; run `mmarctl check`)"


def test_set_problems_among_the_rest_are_named_with_the_same_set_advice():
    problems = [Problem("config/config_train.json", "epochs", "expected integer"),
                Problem("--set", "foo", "foo is read by no config"),
                Problem("data/dataset_0.json", "training", "x")]
    assert more_problems(problems) == (" (and 2 more, --set foo among them; run "
                                       "`mmarctl check` with the same --set items)")
