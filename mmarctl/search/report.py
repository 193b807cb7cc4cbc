"""The console side of a study: progress while it runs, the leaderboard and the last line."""

from __future__ import annotations

import threading
from typing import Any

from mmarctl.search.automl import AutomlRequest, finish, open_study, prepare, resume_command


def run_and_report(request: AutomlRequest) -> None:
    """Prepare, run and summarise a study. Ctrl-C, SIGTERM and SIGHUP (``kill``, ``timeout``,
    a closed terminal) all stop it the same way, during a trial or during the best trial's
    validation: the trial processes are stopped and queued again, results.json and the
    leaderboard are written, the study's MLflow run ends KILLED, the continue command is
    printed and the exit code is 130 (``--resume`` continues). A trial failed by the machine
    (no space left, a quota, a read-only file system) stops it likewise, with that error as
    the last line and exit code 1 (:func:`_machine_failed`)."""
    from mmarctl.runtime.plan import sigterm_as_interrupt

    # As `mmarctl train` does: without this a SIGTERM kills the study with nothing recorded
    # and leaves its trial process (in its own session) training on as an orphan.
    with sigterm_as_interrupt():
        _run_and_report(request)


def _run_and_report(request: AutomlRequest) -> None:
    from mmarctl.console import err, out, progress
    from mmarctl.search.results import leaderboard

    prepared = prepare(request)
    study, created = open_study(prepared)
    tracking: Any = None
    lock = threading.Lock()
    try:
        tracking = _study_tracking(request, prepared, study)
        shown = prepared.workspace.display(prepared.study_dir)
        queued = study.queued()
        kind = ("every combination (enum-only)" if prepared.space.enum_only
                else f"{prepared.settings.controller} -> Optuna "
                     f"{'TPE' if prepared.settings.sampler == 'tpe' else 'random'} sampler")
        verb = "created" if created else "resumed" if request.resume else "joined"
        err.print(f"automl: {verb} study {prepared.options.run_id!r} in {shown}: "
                  f"{prepared.total} trials, {kind}; {queued} to run on "
                  f"{len(prepared.options.slots)} worker(s)", highlight=False)
        for note in prepared.notes:
            err.print(f"note: {note}", highlight=False)
        with progress("automl", queued) as bar:
            def started(number: int, values: dict[str, Any], slot: Any) -> None:
                shown_values = ", ".join(f"{k}={_short(v)}" for k, v in values.items())
                with lock:
                    err.print(f"trial {number} started ({slot.describe()}): {shown_values}",
                              highlight=False)

            def finished(number: int, outcome: Any) -> None:
                tracking.trial_finished(number, outcome)
                metric = "" if outcome.metric is None else \
                    f" {outcome.key_metric or 'metric'}={outcome.metric:.4f}"
                why = f": {outcome.error}" if outcome.error else ""
                with lock:
                    err.print(f"trial {number} {outcome.status}{metric} in "
                              f"{outcome.seconds:.0f} s{why}", highlight=False)
                    if outcome.status != "interrupted":
                        bar.update(1, last=f"trial {number} {outcome.status}")

            study.events.trial_started = started
            study.events.trial_finished = finished
            study.run()
        if study.machine_failure:
            _machine_failed(request, prepared, study, tracking)
        _print_warnings(err, study)
        # The best trial's validation is part of the study: an interrupt here is handled
        # like one during a trial (below), not left with no results and a RUNNING run.
        records, best, validation = finish(study, prepared)
    except KeyboardInterrupt:
        _interrupted(request, prepared, study, tracking)
        raise
    tracking.finish(best, validation=validation)
    _print_table(out, leaderboard(records, f"automl {prepared.options.run_id}"))
    if validation.get("error"):
        err.print(f"warning: validating the best trial failed: {validation['error']}",
                  highlight=False)
    if study.threshold_reached.is_set():
        err.print(f"automl: stop_threshold {prepared.settings.stop_threshold} reached",
                  highlight=False)
    results = prepared.workspace.display(prepared.study_dir / "results.json")
    if best is None:
        from mmarctl.errors import RuntimeFailure

        raise RuntimeFailure(f"no trial completed; see {results} and each trial's train.log")
    precision = str(validation.get("precision") or "").split(":")[0]
    validated = (f" (validate: {validation['metric']:.4f}"
                 f"{f', {precision}' if precision else ''})"
                 if validation.get("metric") is not None else "")
    out.print(f"results in {results}; best trial {best.number}: "
              f"{best.key_metric or 'metric'}={best.metric:.4f}{validated}, MMAR {best.mmar}",
              highlight=False)


def _print_warnings(err: Any, study: Any) -> None:
    for line in study.errors:
        err.print(f"warning: {line}", highlight=False)
    study.errors.clear()


def _interrupted(request: AutomlRequest, prepared: Any, study: Any, tracking: Any) -> None:
    """After an interrupt: results without validation, the run KILLED, the leaderboard and
    the continue command. A second signal meanwhile is held back until all are written."""
    from mmarctl.console import err, out
    from mmarctl.runtime.interrupts import interrupts_held
    from mmarctl.search.results import leaderboard

    with interrupts_held():
        _print_warnings(err, study)
        records, _, _ = finish(study, prepared, validate_best=False)
        if tracking is not None:
            tracking.finish(None, "KILLED")
        _print_table(out, leaderboard(records, f"automl {prepared.options.run_id} "
                                               "(interrupted)"))
        err.print(f"automl: interrupted; continue with `{resume_command(request, prepared)}`",
                  highlight=False)


def _machine_failed(request: AutomlRequest, prepared: Any, study: Any, tracking: Any) -> None:
    """After a trial failed because of the machine: the finished trials' results (the best
    one not validated: it would write to the same disk), the run FAILED, the leaderboard,
    then the trial's error as the one error line, with the continue command.

    Raises:
        RuntimeFailure: always.
    """
    from mmarctl.console import err, out
    from mmarctl.errors import RuntimeFailure
    from mmarctl.search import results as results_module
    from mmarctl.search.results import leaderboard

    _print_warnings(err, study)
    try:
        records, _, _ = finish(study, prepared, validate_best=False)
    except OSError as error:  # the results on the same full disk: the table still shows them
        records = results_module.collect(study.study)
        err.print(f"warning: results.json not written ({error.strerror or error})",
                  highlight=False)
    if tracking is not None:
        tracking.finish(None, "FAILED")
    _print_table(out, leaderboard(records, f"automl {prepared.options.run_id} (stopped)"))
    raise RuntimeFailure(f"{study.machine_failure}; the study stopped, as every later trial "
                         "would fail the same way",
                         hint="free space (or write elsewhere: MMAR_CKPT_DIR for "
                              "checkpoints) or fix the file system, then continue with "
                              f"`{resume_command(request, prepared)}`")


def _study_tracking(request: AutomlRequest, prepared: Any, study: Any) -> Any:
    """The study's MLflow run (a no-op object when tracking is off); see mmarctl.tracking."""
    from mmarctl.tracking.study import StudyTracking
    from mmarctl.variables import parse_set_items

    variables = prepared.workspace.variables(prepared.config,
                                             parse_set_items(prepared.options.set_items))
    tracking = StudyTracking(prepared, request.tracking, request.tracking_uri, variables)
    tracking.start(study.study)
    return tracking


def _print_table(console: Any, table: Any) -> None:
    # Piped to a file or a CI log, rich assumes 80 columns and would fold every header.
    if console.is_terminal:
        console.print(table)
        return
    from rich.console import Console

    Console(file=console.file, width=200, highlight=False).print(table)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
