"""The precision policy: the decision table, the CPU flags, doctor's rows, and bfloat16 runs.

The policy tests use a fake /proc/cpuinfo and fake GPUs, so they hold on any machine. The
slow tests train the spleen scaffold for one epoch on tiny synthetic data with the CPU's flags
faked to have AVX-512 BF16: bfloat16 also runs (emulated, slower) on x86 CPUs without it.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from mmarctl import doctor
from mmarctl.doctor import INFO, OK
from mmarctl.runtime import precision
from mmarctl.runtime.precision import cpu_flags, decide
from tests.distributed.tiny_spleen import shrink_spleen

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni {extra}
bogomips\t: 4400.00

processor\t: 1
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni {extra}
"""

BF16 = cpu_flags(CPUINFO.format(extra="avx512_bf16"))
AMX = cpu_flags(CPUINFO.format(extra="amx_bf16 amx_tile"))
PLAIN = cpu_flags(CPUINFO.format(extra=""))


def test_cpu_flags_from_a_fake_cpuinfo(tmp_path):
    assert {"avx512_vnni", "avx512_bf16", "avx512f"} <= BF16 and "amx_bf16" not in BF16
    assert "avx512_bf16" not in PLAIN
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO.format(extra="amx_bf16"))
    assert "amx_bf16" in cpu_flags(path)
    assert cpu_flags(tmp_path / "absent") == frozenset()  # unreadable: no bfloat16 claimed
    assert precision.bf16_cpu_flags(AMX) == ["amx_bf16"]
    assert precision.bf16_cpu_flags(PLAIN) == []


@pytest.mark.parametrize("flags, gpus, use_amp, amp, gpu_dtype, policy, reason", [
    # not asked for: float32 whatever the machine has
    (BF16, [], False, None, None, "float32", "float32: use_amp is false"),
    (BF16, [(8, 0)], False, None, None, "float32", "float32: use_amp is false"),
    (BF16, [], True, False, None, "float32", "float32: --no-amp"),
    (PLAIN, [(8, 0)], True, False, None, "float32", "float32: --no-amp"),
    # CPU only
    (BF16, [], True, None, None, "mixed_bfloat16",
     "bfloat16: use_amp is true and the CPU has avx512_bf16"),
    (AMX, [], True, None, None, "mixed_bfloat16",
     "bfloat16: use_amp is true and the CPU has amx_bf16"),
    (BF16, [], False, True, None, "mixed_bfloat16", "bfloat16: --amp and the CPU has avx512_bf16"),
    (PLAIN, [], True, None, None, "float32",
     "float32: use_amp is true but there is no GPU and the CPU has neither avx512_bf16 nor "
     "amx_bf16 (bfloat16 would be emulated, slower)"),
    (PLAIN, [], False, True, None, "float32",
     "float32: --amp but there is no GPU and the CPU has neither avx512_bf16 nor amx_bf16 "
     "(bfloat16 would be emulated, slower)"),
    # GPUs: float16 with loss scaling (as Clara), bfloat16 only when asked and cc >= 8.0
    (BF16, [(7, 0)], True, None, None, "mixed_float16",
     "float16 with loss scaling: use_amp is true and a GPU (cc 7.0)"),
    (PLAIN, [(8, 0), (9, 0)], False, True, None, "mixed_float16",
     "float16 with loss scaling: --amp and a GPU (cc 8.0)"),
    (PLAIN, [(9, 0)], True, None, "bfloat16", "mixed_bfloat16",
     "bfloat16: use_amp is true, GPU cc 9.0 has bfloat16 Tensor Cores (MMARCTL_GPU_AMP=bfloat16)"),
    (PLAIN, [(7, 5)], True, None, "bfloat16", "mixed_float16",
     "float16 with loss scaling: use_amp is true; MMARCTL_GPU_AMP=bfloat16 needs cc >= 8.0, "
     "the GPU has cc 7.5"),
])
def test_policy_table(flags, gpus, use_amp, amp, gpu_dtype, policy, reason):
    chosen = decide(use_amp, amp, flags=flags, gpus=gpus, gpu_dtype=gpu_dtype)
    assert chosen.policy == policy
    assert chosen.reason == reason
    assert chosen.loss_scaling == (policy == "mixed_float16")
    assert chosen.compute_dtype == {"float32": "float32", "mixed_bfloat16": "bfloat16",
                                    "mixed_float16": "float16"}[policy]


def test_only_float16_wraps_the_optimizer():
    keras = pytest.importorskip("keras")
    optimizer = keras.optimizers.Adam(1e-3)
    assert decide(True, None, flags=BF16, gpus=[]).wrap_optimizer(optimizer) is optimizer
    wrapped = decide(True, None, flags=PLAIN, gpus=[(8, 0)]).wrap_optimizer(optimizer)
    assert isinstance(wrapped, keras.optimizers.LossScaleOptimizer)


def test_doctor_cpu_row_needs_no_tensorflow(monkeypatch):
    monkeypatch.delenv(precision.ONEDNN_ENV, raising=False)
    (row,) = doctor.probe_cpu(BF16)
    assert (row.name, row.state) == ("cpu bfloat16", OK)
    assert row.detail == "avx512_bf16: use_amp trains in bfloat16 without a GPU"
    (row,) = doctor.probe_cpu(PLAIN)
    assert row.state == INFO and row.detail.startswith("no avx512_bf16 or amx_bf16")
    code = ("import sys; from mmarctl import doctor; doctor.probe_cpu(); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def _fake_tf(capabilities):
    gpus = [types.SimpleNamespace(name=f"/physical_device:GPU:{i}")
            for i in range(len(capabilities))]
    details = dict(zip((g.name for g in gpus), capabilities))
    config = types.SimpleNamespace(
        list_physical_devices=lambda kind: gpus,
        experimental=types.SimpleNamespace(get_device_details=lambda gpu: {
            "device_name": "NVIDIA H100", "compute_capability": details[gpu.name]}))
    return types.SimpleNamespace(__version__="2.21.0", config=config)


@pytest.mark.parametrize("flags, capabilities, state, detail", [
    (BF16, [], OK, "use_amp -> bfloat16: use_amp and the CPU has avx512_bf16"),
    (PLAIN, [], INFO, "use_amp -> float32: use_amp but there is no GPU and the CPU has "
                      "neither avx512_bf16 nor amx_bf16 (bfloat16 would be emulated, slower)"),
    (PLAIN, [(9, 0)], OK, "use_amp -> float16 with loss scaling: use_amp and a GPU (cc 9.0)"),
    (BF16, [(6, 1)], INFO, "use_amp -> float16 with loss scaling: use_amp and a GPU (cc 6.1); "
                           "gains little below cc 7.0 (no Tensor Cores)"),
])
def test_doctor_precision_row(monkeypatch, flags, capabilities, state, detail):
    monkeypatch.delenv(precision.GPU_DTYPE_ENV, raising=False)
    monkeypatch.delenv(precision.ONEDNN_ENV, raising=False)
    rows = {f.name: f for f in doctor.probe_tensorflow(importer=lambda n: _fake_tf(capabilities),
                                                       flags=flags)}
    assert (rows["mixed precision"].state, rows["mixed precision"].detail) == (state, detail)


@pytest.mark.parametrize("value, off", [("0", True), ("false", True), ("False", True),
                                        ("1", False), ("off", False), (None, False)])
def test_onednn_switch_read_as_tensorflow_reads_it(value, off):
    # TensorFlow 2.21's IsMklEnabled: "0"/"false" (any case) off, anything else leaves it on.
    environ = {} if value is None else {precision.ONEDNN_ENV: value}
    assert precision.onednn_off(environ) == (f"TF_ENABLE_ONEDNN_OPTS={value}" if off else None)


def test_onednn_off_trains_float32_even_with_native_bfloat16(monkeypatch):
    # Without oneDNN, bfloat16 is emulated: a spleen epoch took 4x float32's time on Zen 4.
    chosen = decide(False, True, flags=BF16, gpus=[], onednn_disabled="TF_ENABLE_ONEDNN_OPTS=0")
    assert chosen.policy == "float32"
    assert chosen.reason == ("float32: --amp but TF_ENABLE_ONEDNN_OPTS=0 turns off oneDNN, whose "
                             "kernels are the CPU's native bfloat16 (bfloat16 would be emulated, "
                             "slower)")
    # GPUs do not go through oneDNN: the switch changes nothing there
    assert decide(True, None, flags=BF16, gpus=[(8, 0)],
                  onednn_disabled="TF_ENABLE_ONEDNN_OPTS=0").policy == "mixed_float16"
    monkeypatch.setenv(precision.ONEDNN_ENV, "0")
    monkeypatch.setattr(precision, "cpu_flags", lambda *a: BF16)
    monkeypatch.setattr(precision, "gpu_capabilities", lambda: [])
    assert precision.for_this_machine(True).policy == "float32"
    (row,) = doctor.probe_cpu(BF16)
    assert row.state == INFO and "TF_ENABLE_ONEDNN_OPTS=0 turns off oneDNN" in row.detail
    assert row.hint == "unset TF_ENABLE_ONEDNN_OPTS for bfloat16"
    rows = {f.name: f for f in doctor.probe_tensorflow(importer=lambda n: _fake_tf([]),
                                                       flags=BF16)}
    assert rows["mixed precision"].state == INFO
    assert rows["mixed precision"].detail.startswith(
        "use_amp -> float32: use_amp but TF_ENABLE_ONEDNN_OPTS=0 turns off oneDNN")


@pytest.mark.parametrize("value, dtype, warning", [
    (None, None, ""), ("", None, ""), ("bfloat16", "bfloat16", ""), (" BFloat16 ", "bfloat16", ""),
    ("float16", "float16", ""),
    ("bf16", None, "MMARCTL_GPU_AMP=bf16: expected bfloat16 or float16; ignored, so GPUs use "
                   "float16"),
])
def test_gpu_dtype_variable_names_its_accepted_values(value, dtype, warning):
    environ = {} if value is None else {precision.GPU_DTYPE_ENV: value}
    assert precision.gpu_dtype_setting(environ) == (dtype, warning)


def test_bad_gpu_dtype_is_one_warning_in_the_log_and_in_doctor(monkeypatch, caplog):
    import logging

    monkeypatch.setenv(precision.GPU_DTYPE_ENV, "bf16")
    monkeypatch.delenv(precision.ONEDNN_ENV, raising=False)
    monkeypatch.setattr(precision, "cpu_flags", lambda *a: PLAIN)
    monkeypatch.setattr(precision, "gpu_capabilities", lambda: [(9, 0)])
    monkeypatch.setattr(precision, "apply", lambda chosen: chosen)
    logger = logging.getLogger("mmarctl.test_precision")
    with caplog.at_level("INFO", logger=logger.name):
        chosen = precision.for_run(True, None, logger)
    assert chosen.policy == "mixed_float16"
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "MMARCTL_GPU_AMP=bf16: expected bfloat16 or float16; ignored, so GPUs use "
                    "float16"),
        ("INFO", "precision float16 with loss scaling: use_amp is true and a GPU (cc 9.0)")]
    rows = {f.name: f for f in doctor.probe_tensorflow(importer=lambda n: _fake_tf([(9, 0)]),
                                                       flags=PLAIN)}
    row = rows["mixed precision"]
    assert row.state == INFO and row.detail.endswith(
        "; MMARCTL_GPU_AMP=bf16: expected bfloat16 or float16; ignored, so GPUs use float16")
    monkeypatch.setenv(precision.GPU_DTYPE_ENV, "float16")  # a valid value is named in the row
    rows = {f.name: f for f in doctor.probe_tensorflow(importer=lambda n: _fake_tf([(9, 0)]),
                                                       flags=PLAIN)}
    assert rows["mixed precision"].detail.endswith("(cc 9.0) (MMARCTL_GPU_AMP=float16)")


def test_amp_flag_reaches_launched_workers():
    from mmarctl.commands.launch_options import worker_argv

    root = Path("/m")
    assert worker_argv("train", root, None, amp=False, epochs=2)[-3:] == ["--epochs", "2",
                                                                          "--no-amp"]
    assert worker_argv("train", root, None, amp=True)[-1] == "--amp"
    assert not {"--amp", "--no-amp"} & set(worker_argv("train", root, None, amp=None))


def test_automl_hands_amp_to_every_trial():
    from mmarctl.search.automl import AutomlRequest

    assert AutomlRequest(mmar=None, set_items=[], amp=False).amp is False


# -- slow: real runs of the spleen scaffold -------------------------------------------------

@pytest.fixture()
def keras_policy():
    """Restore Keras' global policy after a test (runs set it process-wide)."""
    keras = pytest.importorskip("keras")
    yield keras
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="module")
def spleen(tmp_path_factory) -> Path:
    """The spleen scaffold on 4 synthetic cases of 24 voxels."""
    pytest.importorskip("tensorflow")
    root = tmp_path_factory.mktemp("precision") / "spleen"
    for args in (["clone", "spleen", root],
                 ["data", "synth", root / "data", "--cases", 4, "--size", 24, "--seed", 0]):
        subprocess.run([sys.executable, "-m", "mmarctl", *map(str, args)], check=True,
                       capture_output=True, timeout=120)
    return shrink_spleen(root)  # 16^3 crops: emulated bfloat16 is slow on CPUs without it


def _train(root: Path, monkeypatch, amp: bool, caplog, keep: str | None = None):
    """One epoch with ``--amp``/``--no-amp``; models/ is copied to ``keep`` when given."""
    from mmarctl.runtime.plan import TrainOptions, TrainingPlan
    from mmarctl.workspace import Workspace

    monkeypatch.setattr(precision, "cpu_flags", lambda *a: BF16)
    monkeypatch.setattr(precision, "gpu_capabilities", lambda: [])
    shutil.rmtree(root / "models", ignore_errors=True)
    options = TrainOptions(overrides={"epochs": 1}, seed=0, amp=amp, progress=False)
    with caplog.at_level("INFO", logger="mmarctl.train"):
        plan = TrainingPlan.build(Workspace.locate(str(root)), options)
        plan.run()
    if keep:
        shutil.copytree(root / "models", root / keep)
    return plan


@pytest.mark.slow
def test_bfloat16_training_writes_float32_checkpoints(spleen, monkeypatch, keras_policy, caplog):
    import tensorflow as tf

    plan = _train(spleen, monkeypatch, True, caplog)
    assert plan.precision.policy == "mixed_bfloat16"
    assert caplog.messages[0] == "precision bfloat16: --amp and the CPU has avx512_bf16"
    # conv kernels compute in bfloat16 while their variables stay float32
    conv = next(layer for layer in plan.model.layers if "conv" in layer.name)
    assert conv.compute_dtype == "bfloat16" and conv.kernel.dtype == "float32"
    assert plan.model.layers[-1].compute_dtype == "float32"  # the probabilities
    history = [json.loads(line) for line in
               (spleen / "models" / "metrics_history.jsonl").read_text().splitlines()]
    assert math.isfinite(history[-1]["loss"]) and 0 < history[-1]["loss"] <= 1.0
    reader = tf.train.load_checkpoint(str(spleen / "models" / "model.ckpt"))
    dtypes = reader.get_variable_to_dtype_map()
    weights = {k: v for k, v in dtypes.items() if "model" in k and "OPTIMIZER" not in k}
    assert weights and all(v == tf.float32 for v in weights.values()), dtypes


def _predict_under(policy: str, spleen: Path, prefix: Path, batch: np.ndarray) -> np.ndarray:
    import keras

    from mmarctl.runtime import checkpoint
    from mmarctl.runtime.model_io import build_network
    from mmarctl.workspace import Workspace

    keras.mixed_precision.set_global_policy(policy)
    _, model = build_network(Workspace.locate(str(spleen)).resolve("config_train.json", {}),
                             spleen)
    checkpoint.restore_model(prefix, model)
    return np.asarray(model(batch, training=False), np.float32)


@pytest.mark.slow
def test_checkpoints_load_across_precisions(spleen, monkeypatch, keras_policy, caplog):
    bf16_dir, fp32_dir = spleen / "models_bf16", spleen / "models_fp32"
    _train(spleen, monkeypatch, True, caplog, keep=bf16_dir.name)
    _train(spleen, monkeypatch, False, caplog, keep=fp32_dir.name)
    batch = np.random.default_rng(0).normal(size=(1, 32, 32, 32, 1)).astype(np.float32)
    for prefix in (bf16_dir / "model.ckpt", fp32_dir / "model.ckpt"):
        as_fp32 = _predict_under("float32", spleen, prefix, batch)
        as_bf16 = _predict_under("mixed_bfloat16", spleen, prefix, batch)
        assert as_fp32.dtype == as_bf16.dtype == np.float32
        # the same weights: probabilities agree to bfloat16's precision (8 bits of mantissa)
        assert np.abs(as_fp32 - as_bf16).max() < 0.05
        assert np.abs(as_fp32 - as_bf16).mean() < 0.01


@pytest.mark.slow
def test_validate_with_amp_matches_float32(spleen, monkeypatch, keras_policy, caplog):
    from mmarctl.runtime.evaluation import EvalOptions, evaluate
    from mmarctl.workspace import Workspace

    if not (spleen / "models" / "model.ckpt.index").exists():
        _train(spleen, monkeypatch, False, caplog)
    monkeypatch.setattr(precision, "cpu_flags", lambda *a: BF16)
    monkeypatch.setattr(precision, "gpu_capabilities", lambda: [])
    workspace = Workspace.locate(str(spleen))
    results = {}
    for amp in (False, True):
        caplog.clear()
        with caplog.at_level("INFO", logger="mmarctl.evaluate"):
            report = evaluate(workspace, EvalOptions(amp=amp, progress=False,
                                                     output=str(spleen / f"eval_{amp}")),
                              mode="validate")
        assert caplog.messages[0] == ("precision bfloat16: --amp and the CPU has avx512_bf16"
                                      if amp else "precision float32: --no-amp")
        results[amp] = report.metrics
    (name,) = results[False]
    assert abs(results[True][name] - results[False][name]) < 0.02, results


@pytest.mark.parametrize("verb", ["train", "finetune", "validate", "infer", "automl"])
def test_every_verb_has_amp_and_no_amp(verb):
    from typer.testing import CliRunner

    from mmarctl.cli import app

    result = CliRunner().invoke(app, [verb, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--amp" in result.output and "--no-amp" in result.output


def test_no_amp_survives_the_horovod_relaunch(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from mmarctl import launcher
    from mmarctl.cli import app

    sys.path.insert(0, str(Path(__file__).parent))
    from standin_mmar import make_mmar

    calls = []
    monkeypatch.delenv("MMARCTL_WORKER", raising=False)
    monkeypatch.setattr(launcher, "launch", lambda argv, **kw: calls.append(argv) or 0)
    root = make_mmar(tmp_path / "m")
    result = CliRunner().invoke(app, ["train", str(root), "--gpus", "2", "--cpu", "--no-amp"])
    assert result.exit_code == 0, result.output
    assert calls[0][-1] == "--no-amp" and "--amp" not in calls[0]
