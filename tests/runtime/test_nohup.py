"""``nohup mmarctl train ...``: a SIGHUP the process ignores stays ignored.

Training treats SIGTERM and SIGHUP like Ctrl-C (it saves a resume state and stops), but a
run started under nohup is meant to outlive its terminal: taking over the ignored SIGHUP
would stop it the moment the ssh session closes.
"""

from __future__ import annotations

import os
import signal

import pytest

from mmarctl.runtime.interrupts import interrupts_held
from mmarctl.runtime.plan import sigterm_as_interrupt


@pytest.fixture
def sighup_ignored():
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGHUP, before)


def test_training_keeps_an_ignored_sighup_ignored(sighup_ignored):
    with sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGHUP)  # ignored: the run goes on
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)  # still an interrupt
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN


def test_held_interrupts_keep_an_ignored_sighup_ignored(sighup_ignored):
    with sigterm_as_interrupt():
        with interrupts_held():
            os.kill(os.getpid(), signal.SIGHUP)
        # nothing was held, so nothing is raised here
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN


def test_without_nohup_sighup_stops_training_as_before():
    with pytest.raises(KeyboardInterrupt):
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGHUP)
