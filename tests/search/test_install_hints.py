"""automl's missing-package hints name a command a user of the mmarctl checkout can run:
mmarctl is not on PyPI, so ``pip install 'mmarctl[automl]'`` would fail."""

from __future__ import annotations

import sys

import pytest

from mmarctl.errors import MissingDependency
from mmarctl.search import study


def test_missing_optuna_hint_installs_the_extra_from_the_checkout(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna raises ImportError
    with pytest.raises(MissingDependency) as caught:
        study.import_optuna()
    assert caught.value.hint == "pip install -e '.[automl]' in the mmarctl checkout"


def test_missing_database_driver_hint_installs_the_extra_from_the_checkout(monkeypatch):
    def no_driver(url):
        raise ImportError("No module named 'psycopg2'")

    monkeypatch.setattr(study, "_rdb_storage", no_driver)
    with pytest.raises(MissingDependency) as caught:
        study.open_storage("postgresql://user@db/studies")
    assert "psycopg2" in caught.value.message
    assert caught.value.hint.startswith(
        "pip install -e '.[automl-postgres]' in the mmarctl checkout")
