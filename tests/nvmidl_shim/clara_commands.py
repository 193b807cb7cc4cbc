"""Clara Train 3.x ``commands/`` scripts as Clara's MMAR page and NGC MMARs print them
(FORMAT.md section 9), each with the kind of edit users made (their own --set values).

Written into a test MMAR by :func:`write_clara_commands`; the texts are data, not code run
by the tests themselves."""

from __future__ import annotations

from pathlib import Path

SET_ENV = """#!/usr/bin/env bash
export PYTHONPATH="$PYTHONPATH:/opt/nvidia"
DIR="$( cd "$( dirname "${BASH_SOURCE[0]}" )" >/dev/null 2>&1 && pwd )"
export MMAR_ROOT=${DIR}/..
"""

#: The head every Clara command script shares (after set_env.sh).
_HEAD = """#!/usr/bin/env bash
my_dir="$(dirname "$0")"
. $my_dir/set_env.sh

echo "MMAR_ROOT set to $MMAR_ROOT"

additional_options="$*"

# Data list containing all data
"""


def _app_script(app: str, config: str, settings: list[str], launcher: str = "") -> str:
    """A Clara script that runs ``nvmidl.apps.<app>`` on ``config`` with ``--set settings``,
    optionally under an MPI launcher line (train_2gpu.sh)."""
    lines = [f"CONFIG_FILE=config/{config}", "ENVIRONMENT_FILE=config/environment.json", "",
             launcher + f"python3 -u  -m nvmidl.apps.{app} \\",
             "    -m $MMAR_ROOT \\", "    -c $CONFIG_FILE \\", "    -e $ENVIRONMENT_FILE \\",
             "    --set \\", "    DATASET_JSON=$MMAR_ROOT/data/dataset_0.json \\"]
    lines += [f"    {setting} \\" for setting in settings]
    return _HEAD + "\n".join(lines) + "\n    ${additional_options}\n"


_TRAINING = ["epochs=1", "learning_rate=0.0001", "num_training_epoch_per_valid=1"]

TRAIN = _app_script("train", "config_train.json", [*_TRAINING, "multi_gpu=false"])

TRAIN_FINETUNE = _app_script("train", "config_train.json", [
    "MMAR_CKPT=$MMAR_ROOT/models/model.ckpt", 'PRETRAIN_WEIGHTS_FILE=""', *_TRAINING,
    "multi_gpu=False"])

# Clara's old Open MPI flags, kept as NGC MMARs print them.
_MPIRUN_2 = ("mpirun -np 2 -H localhost:2 -bind-to none -map-by slot \\\n"
             "    -x NCCL_DEBUG=INFO -x LD_LIBRARY_PATH -x PATH -mca pml ob1 -mca btl ^openib "
             "\\\n    --allow-run-as-root \\\n    ")

TRAIN_2GPU = _app_script(
    "train", "config_train.json",
    ["epochs=1", "learning_rate=0.0002", "num_training_epoch_per_valid=1", "multi_gpu=true"],
    launcher=_MPIRUN_2)

#: Clara's evaluation under mpirun (multi_gpu=true), as users wrote it beside
#: train_2gpu.sh; not one of the canonical scripts (written by the test that runs it).
VALIDATE_2GPU = _app_script("evaluate", "config_validation.json",
                            ["do_validation=true", "output_infer_result=false",
                             "multi_gpu=true"], launcher=_MPIRUN_2)

VALIDATE = _app_script("evaluate", "config_validation.json",
                       ["do_validation=true", "output_infer_result=false"])

INFER = _app_script("evaluate", "config_validation.json", [
    "MMAR_EVAL_OUTPUT_PATH=$MMAR_ROOT/eval_infer", "do_validation=false",
    "output_infer_result=true"])

EXPORT = _HEAD + """python3 -u -m nvmidl.apps.export \\
    --model_file_format CKPT \\
    --model_file_path $MMAR_ROOT/models \\
    --model_name model \\
    --input_node_names "NV_MODEL_INPUT" \\
    --output_node_names NV_MODEL_OUTPUT \\
    --trt_min_seg_size 50 \\
    ${additional_options}
"""

SCRIPTS = {"set_env.sh": SET_ENV, "train.sh": TRAIN, "train_finetune.sh": TRAIN_FINETUNE,
           "train_2gpu.sh": TRAIN_2GPU, "validate.sh": VALIDATE, "infer.sh": INFER,
           "export.sh": EXPORT}


def write_clara_commands(root: Path) -> Path:
    """Replace ``root/commands`` with Clara's scripts (executable); returns the folder."""
    folder = Path(root) / "commands"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.sh"):
        old.unlink()
    for name, text in SCRIPTS.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o755)
    return folder
