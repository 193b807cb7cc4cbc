"""A value a constructor accepts with a warning (ScaleIntensityOscillation magnitude >= 1,
often reached through a search target) becomes a note in check's own format, not a raw
Python warning with an interpreter file and line."""

from __future__ import annotations

import warnings

import pytest

from mmarctl.check.constructors import ConstructorChecker

CONFIG = {"train": {"pre_transforms": [
    {"name": "ScaleIntensityOscillation", "args": {"fields": "image", "magnitude": 1.5}}]}}


def test_a_constructor_warning_becomes_a_note_at_its_entry():
    notes: list = []
    checker = ConstructorChecker("config/config_train.json", notes=notes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a raw warning would fail here
        checker.check_config("train", CONFIG)
        checker.check_config("train", CONFIG)  # a search point builds it again: one note
    assert [str(n) for n in notes] == [
        "config/config_train.json: train.pre_transforms[0]: note: ScaleIntensityOscillation: "
        "magnitude >= 1 allows factors <= 0; Received: magnitude=1.5"]
    assert checker.problems == []


def test_without_a_notes_list_the_warning_is_left_to_python():
    with pytest.warns(UserWarning, match="magnitude >= 1"):
        ConstructorChecker("f").check_config("train", CONFIG)
