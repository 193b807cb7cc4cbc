"""``mmarctl finetune``: train starting from a checkpoint (Clara's train_finetune.sh)."""

from __future__ import annotations


import typer

from mmarctl.commands._common import (AmpOption, MmarArgument, SetOption, TrackingOption,
                                      TrackingUriOption)
from mmarctl.commands.launch_options import (CpuOption, GpusOption, HostfileOption,
                                             HostsOption, LauncherOption)
from mmarctl.commands.train import (ConfigTrainOption, EpochsOption, LearningRateOption,
                                    LrScaleOption, SeedOption, run_training)


def register(app: typer.Typer) -> None:
    app.command("finetune")(finetune)


def finetune(
    mmar: MmarArgument = None,
    set_: SetOption = None,
    epochs: EpochsOption = None,
    learning_rate: LearningRateOption = None,
    lr_scale: LrScaleOption = None,
    seed: SeedOption = None,
    config_train: ConfigTrainOption = "config_train.json",
    gpus: GpusOption = 1,
    cpu: CpuOption = False,
    hosts: HostsOption = None,
    hostfile: HostfileOption = None,
    launcher: LauncherOption = "gloo",
    tracking: TrackingOption = None,
    tracking_uri: TrackingUriOption = None,
    amp: AmpOption = None,
) -> None:
    """Fine-tune: train from the weights at MMAR_CKPT (default MMAR_CKPT_DIR/model.ckpt,
    i.e. models/model.ckpt unless environment.json moves MMAR_CKPT_DIR).

    Example: mmarctl finetune my-exp --epochs 10 --set MMAR_CKPT=models/model.ckpt
    """
    run_training("finetune", mmar, set_, epochs=epochs, learning_rate=learning_rate, seed=seed,
                 config_train=config_train, resume=False, gpus=gpus, cpu=cpu, hosts=hosts,
                 hostfile=hostfile, launcher=launcher, finetune=True,
                 tracking=tracking, tracking_uri=tracking_uri, amp=amp, lr_scale=lr_scale)
