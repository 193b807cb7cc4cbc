"""mmarctl's own component warnings reach the user as log lines, not as Python's
``file.py:166: UserWarning`` with a source line (train printed SegResnet's so)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import warnings
from mmarctl.console import log_own_warnings
log_own_warnings()
from mmarctl.runtime.transforms.intensity import ScaleIntensityRange
ScaleIntensityRange(fields="image", a_min=0, a_max=1, b_min=0.5, b_max=0.5)
warnings.warn("someone else's warning")
"""


def test_own_warnings_are_log_lines_and_others_keep_their_form():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    own = [line for line in lines if "b_min equals b_max" in line]
    assert own and not any("UserWarning" in line or "intensity.py" in line for line in own), \
        done.stderr
    assert not any("ScaleIntensityRange(" in line for line in lines)  # no source line
    assert any("UserWarning: someone else's warning" in line for line in lines), done.stderr
