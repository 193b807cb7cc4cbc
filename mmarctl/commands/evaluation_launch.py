"""``validate``/``infer --gpus N``: start N workers, each evaluating its own cases.

The launching process does what a worker would refuse, once, before any worker (and
TensorFlow, and ssh to other hosts) starts: the run's pre-flight
(:func:`mmarctl.runtime.evaluation.prepare_run`), at least one case per worker, and the
lock on the output folder, which it holds for the job and hands down. The workers' rank 0
prints the job's results and writes its files (:mod:`mmarctl.runtime.evaluation_ranks`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmarctl.locks import lock_folder, scoped

#: How the warning of a ``multi_gpu: true`` without GPUs words each verb's run.
_DOING = {"validate": "validating", "infer": "inferring"}


@scoped
def launch_if_asked(verb: str, workspace: Any, options: Any, set_items: list[str] | None, *,
                    gpus: int, cpu: bool, hosts: str | None, hostfile: Path | None,
                    launcher: str, **flags: Any) -> bool:
    """Run ``verb`` (validate or infer) as workers when ``--gpus N`` (N > 1), ``--hosts``,
    ``--hostfile`` or the validation config's ``multi_gpu: true`` (one worker per GPU)
    asks; ``flags`` are the verb's other options, passed on to the workers.

    Returns:
        True when the job ran (its rank 0 has reported), False when this process is to
        evaluate alone (no workers asked for, or this is a worker).

    Raises:
        UsageError: ``--cpu``/``--launcher`` without workers; more workers than cases; the
            launcher's own refusals (:func:`mmarctl.launcher.launch`).
        ConfigError, DataError: the run's pre-flight.
        RuntimeFailure: a worker failed.
    """
    from mmarctl import launcher as launch_module
    from mmarctl.commands.launch_options import refuse_idle_launch_options, worker_argv
    from mmarctl.runtime.evaluation import case_count, prepare_run

    if launch_module.is_worker():
        return False
    if not (gpus > 1 or hosts or hostfile):
        from mmarctl.commands.launch_options import multi_gpu_requested
        from mmarctl.errors import MmarError

        try:
            multi_gpu = multi_gpu_requested(workspace, options.config, options.overrides,
                                            doing=_DOING[verb])
        except MmarError:
            multi_gpu = False  # the run's own pre-flight tells what is wrong, in its words
        gpus = launch_module.processes_for(gpus, multi_gpu)
        if gpus == 1:
            refuse_idle_launch_options(cpu, launcher)
            return False
    run = prepare_run(workspace, options, mode=verb)
    launch_module.require_items_per_worker(case_count(workspace, run), gpus, hosts, hostfile,
                                           verb=verb)
    lock = lock_folder(run.output_dir, display=workspace.display(run.output_dir))
    argv = worker_argv(verb, workspace.root, set_items, amp=options.amp,
                       config=options.config, config_train=options.train_config,
                       output=str(run.output_dir) if options.output else None,
                       model=options.model, **flags)
    launch_module.launch(argv, gpus=gpus, cpu=cpu, hosts=hosts, hostfile=hostfile,
                         launcher=launcher, locks=[lock] if lock else [])
    return True
