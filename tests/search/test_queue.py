"""The trial queue: workers of one process (and processes of one machine) sharing a SQLite
study never take the same trial twice."""

from __future__ import annotations

import threading

import pytest

from mmarctl.search.settings import AutomlSettings
from mmarctl.search.space import SearchSpace
from mmarctl.search.study import Study, StudyOptions, open_storage, sqlite_path

pytest.importorskip("optuna")


def test_sqlite_path():
    assert sqlite_path("sqlite:////tmp/a/study.db") == "/tmp/a/study.db"
    assert sqlite_path("postgresql://u@h/db") is None


def test_eight_threads_take_forty_queued_trials_once_each(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    options = StudyOptions(run_id="race", config_name="config_train.json", rounds=40, slots=[],
                           storage=url)
    study = Study(None, {}, SearchSpace(), AutomlSettings(), options, tmp_path,
                  open_storage(url))
    study.open(40)
    taken: list[int] = []

    def worker() -> None:
        while True:
            with study._taking():
                if study.queued() == 0:
                    return
                trial = study.study.ask()
            assert trial.user_attrs.get("mmarctl_queued")
            taken.append(trial.number)
            study.study.tell(trial, 1.0)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == list(range(40))
    assert len(study.study.get_trials()) == 40


_OPEN_AND_JOIN = """
import sys
from mmarctl.search.settings import AutomlSettings
from mmarctl.search.space import SearchSpace
from mmarctl.search.study import Study, StudyOptions, open_storage
from pathlib import Path
url, folder = sys.argv[1], Path(sys.argv[2])
options = StudyOptions(run_id="shared", config_name="config_train.json", rounds=3, slots=[],
                       storage=url)
Study(None, {}, SearchSpace(), AutomlSettings(), options, folder, open_storage(url)).open(3)
"""


def test_processes_creating_one_sqlite_study_at_once_all_join_it(tmp_path):
    """Several `mmarctl automl` started together on a new SQLite file: each creates Optuna's
    tables or waits for the one that does; none fails and the study is queued once."""
    import subprocess
    import sys

    import optuna

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    processes = [subprocess.Popen([sys.executable, "-c", _OPEN_AND_JOIN, url, str(tmp_path)],
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, errors
    study = optuna.load_study(study_name="shared", storage=url)
    assert len(study.get_trials()) == 3
