"""MLflow tracking for train, finetune, validate and automl; no TensorFlow here.

Everything MLflow goes through this package, and ``mlflow`` is imported only by the
background thread of :class:`~mmarctl.tracking.tracker.Tracker`, so the CLI starts as fast
as before and the training loop never waits on the network::

    settings.py   on or off, which URI, which experiment (--tracking, MLFLOW_TRACKING_URI,
                  config keys); the embedded store inside the MMAR; URI checks
    params.py     config -> flat MLflow params within MLflow's key/value limits; config hash
    tracker.py    one run: a bounded queue, a daemon thread, warn once and switch off
    reach.py      a bare TCP probe of an http(s) server, so a dead one never costs the
                  import of mlflow
    runs.py       models/tracking.json (the training run's id) and the validate run

See docs/tracking.md.
"""

from mmarctl.tracking.settings import (TrackingSettings, check_cli_options, resolve_settings,
                                       uri_problem)
from mmarctl.tracking.tracker import Tracker

__all__ = ["TrackingSettings", "Tracker", "check_cli_options", "resolve_settings",
           "uri_problem"]
