"""mmarctl's fused PReLU kernel: Keras' numbers, where it is used, and how it falls back."""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from mmarctl.runtime.kernels import build, prelu  # noqa: E402
from mmarctl.runtime.networks.fused_kernels import fused_inference  # noqa: E402
from mmarctl.runtime.networks.prelu import PReLU  # noqa: E402


@pytest.fixture(scope="module")
def ops():
    """The compiled kernel (the user's cache, as a run would use it)."""
    if build.compiler() is None:
        pytest.skip("no C++ compiler")
    library = build.load(prelu.NAME)
    assert library is not None, build._REFUSED.get(prelu.NAME)
    return library


@pytest.fixture(scope="module")
def built(ops) -> Path:
    """Where ``ops``'s library is (the user's cache: module fixtures come before
    ``fresh_state`` points the cache elsewhere)."""
    library = build.library_path(prelu.NAME)
    assert library.is_file() and build.record_path(library).is_file()
    return library


@pytest.fixture
def fresh_state(monkeypatch, tmp_path):
    """An empty kernel cache and no kernels loaded or refused in this process's bookkeeping."""
    monkeypatch.setenv("MMARCTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(build, "_LOADED", {})
    monkeypatch.setattr(build, "_REFUSED", {})
    return tmp_path


def keras_prelu(x, alpha):
    """Keras' PReLU formula, alpha autocast to x's dtype as the layer does."""
    return tf.nn.relu(x) - tf.cast(alpha, x.dtype) * tf.nn.relu(-x)


def with_gradients(function, x, alpha, dy):
    with tf.GradientTape() as tape:
        tape.watch([x, alpha])
        y = function(x, alpha)
    dx, dalpha = tape.gradient(y, [x, alpha], output_gradients=dy)
    return y, dx, dalpha


def as_float(tensor):
    return tf.cast(tensor, tf.float32).numpy()


# No subnormals: TensorFlow's threads flush them to zero in arithmetic, while the kernel
# passes a positive input's gradient through untouched.
values = st.one_of(st.floats(-4, 4, width=32, allow_subnormal=False),
                   st.sampled_from([0.0, -0.0, 1e-30, -1e-30]))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(["float32", "bfloat16"]),
       channels=st.integers(1, 20), per_channel=st.booleans(),
       leading=st.lists(st.integers(1, 5), min_size=1, max_size=4))
def test_equals_keras_values_and_input_gradient(ops, data, dtype, channels, per_channel,
                                                leading):
    shape = (*leading, channels)
    size = int(np.prod(shape))
    x = tf.cast(np.array(data.draw(st.lists(values, min_size=size, max_size=size)),
                         np.float32).reshape(shape), dtype)
    dy = tf.cast(np.array(data.draw(st.lists(values, min_size=size, max_size=size)),
                          np.float32).reshape(shape), dtype)
    slopes = data.draw(st.lists(st.floats(-1, 2, width=32), min_size=channels if per_channel
                                else 1, max_size=channels if per_channel else 1))
    alpha = tf.constant(slopes, tf.float32)

    y, dx, dalpha = with_gradients(lambda x, a: prelu.prelu(x, a, ops), x, alpha, dy)
    y_ref, dx_ref, _ = with_gradients(keras_prelu, x, alpha, dy)

    assert y.dtype == x.dtype and dx.dtype == x.dtype and dalpha.dtype == tf.float32
    np.testing.assert_array_equal(as_float(y), as_float(y_ref))
    np.testing.assert_array_equal(as_float(dx), as_float(dx_ref))
    # alpha's gradient, against a float64 sum of the same (exact) products
    x64 = as_float(x).astype(np.float64).reshape(-1, alpha.shape[0])
    dy64 = as_float(dy).astype(np.float64).reshape(-1, alpha.shape[0])
    expected = (dy64 * np.minimum(x64, 0)).sum(axis=0)
    np.testing.assert_allclose(dalpha.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_alpha_gradient_does_not_depend_on_threads(ops):
    """Blocks are summed in a fixed order: the same bits however the pool shares them."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, 24, 24, 24, 16)).astype(np.float32))
    dy = tf.constant(rng.normal(size=x.shape).astype(np.float32))
    alpha = tf.constant([0.25])
    first = ops.mmarctl_prelu_grad(dy, x, alpha)[1].numpy()
    again = [ops.mmarctl_prelu_grad(dy, x, alpha)[1].numpy() for _ in range(5)]
    for value in again:
        np.testing.assert_array_equal(value, first)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_empty_input(ops, dtype):
    x = tf.zeros((0, 4, 8), dtype)
    y, dx, dalpha = with_gradients(lambda x, a: prelu.prelu(x, a, ops), x,
                                   tf.constant([0.5] * 8), tf.zeros((0, 4, 8), dtype))
    assert y.shape == dx.shape == (0, 4, 8)
    np.testing.assert_array_equal(dalpha.numpy(), np.zeros(8, np.float32))


def test_refuses_slopes_that_do_not_fit(ops):
    x = tf.zeros((2, 3, 4))
    with pytest.raises(tf.errors.InvalidArgumentError, match="1 slope or one per channel"):
        ops.mmarctl_prelu(x, tf.constant([0.1, 0.2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="differ in shape"):
        ops.mmarctl_prelu_grad(tf.zeros((2, 3, 5)), x, tf.constant([0.1]))


@pytest.mark.parametrize("alpha_shape, fits", [
    ((1, 1, 1, 1), True), ((1, 1, 1, 8), True), ((), True),
    ((4, 1, 1, 8), False), ((1, 1, 1, 3), False)])
def test_fits_one_slope_or_one_per_channel(alpha_shape, fits):
    assert prelu.fits(tf.zeros((2, 4, 4, 4, 8)), alpha_shape) is fits


def test_float16_is_left_to_keras():
    assert not prelu.fits(tf.zeros((2, 4, 8), tf.float16), (1, 1))


def _op_types(function, *args):
    graph = tf.function(function).get_concrete_function(*args).graph
    return {op.type for op in graph.get_operations()}


def test_layer_uses_the_kernel_only_in_the_runtimes_graphs(ops):
    layer = PReLU(shared_axes=[1, 2, 3])
    x = tf.zeros((1, 4, 4, 4, 8))
    layer(x)
    assert "MmarctlPrelu" in _op_types(lambda x: layer(x, training=True), x)
    assert "MmarctlPrelu" not in _op_types(lambda x: layer(x, training=False), x)  # exports

    def runtime_inference(x):
        with fused_inference():
            return layer(x, training=False)
    assert "MmarctlPrelu" in _op_types(runtime_inference, x)

    def jit_step(x):
        with build.disabled():
            return layer(x, training=True)
    assert "MmarctlPrelu" not in _op_types(jit_step, x)


def test_xla_step_compiles_with_the_layer(ops):
    """An XLA-compiled step (``train --jit``) traces inside build.disabled()."""
    layer = PReLU(alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2, 3])
    x = tf.constant(np.linspace(-1, 1, 64, dtype=np.float32).reshape(1, 4, 4, 4, 1))

    @tf.function(jit_compile=True)
    def step(x):
        with tf.GradientTape() as tape, build.disabled():
            tape.watch(x)
            y = layer(x, training=True)
        return y, tape.gradient(y, x)

    y, dx = step(x)
    np.testing.assert_allclose(y.numpy(), keras_prelu(x, layer.alpha).numpy())
    np.testing.assert_allclose(dx.numpy(), np.where(x.numpy() > 0, 1.0, 0.25))


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_residual_unet_trains_as_with_keras_prelu(ops, policy, monkeypatch):
    """A MONAI-style UNet's loss and gradients, fused PReLU against Keras' own layer."""
    import mmarctl.runtime.networks.prelu as prelu_module
    from mmarctl.runtime.networks.resunet import ResidualUnet

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, 16, 16, 16, 1)).astype(np.float32))
    results = []
    keras.mixed_precision.set_global_policy(policy)
    try:
        for layer in (keras.layers.PReLU, PReLU):
            monkeypatch.setattr(prelu_module, "PReLU", layer)
            keras.utils.set_random_seed(0)
            model = ResidualUnet(num_classes=2, channels=[8, 16], strides=[2],
                                 num_res_units=1, act="prelu").build(3, 1)

            @tf.function
            def step(x):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(tf.cast(model(x, training=True), tf.float32)[..., 1])
                return loss, tape.gradient(loss, model.trainable_variables)

            results.append((step(x), [v.path for v in model.trainable_variables]))
            types = {op.type for op in step.get_concrete_function(x).graph.get_operations()}
            assert ("MmarctlPrelu" in types) is (layer is PReLU)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    ((loss_keras, grads_keras), names_keras), ((loss_fused, grads_fused), names_fused) = results
    assert names_fused == names_keras  # same weights, so checkpoints load either way
    # bfloat16: the kernel's values are Keras' bits, but the graph around them is optimised
    # differently (oneDNN's fusions of the plain form), so roundings elsewhere differ
    np.testing.assert_allclose(loss_fused.numpy(), loss_keras.numpy(),
                               rtol=1e-6 if policy == "float32" else 1e-3)
    if policy == "float32":
        for name, fused, plain in zip(names_keras, grads_fused, grads_keras):
            np.testing.assert_allclose(fused.numpy(), plain.numpy(), rtol=1e-4,
                                       atol=1e-4 * float(np.abs(plain.numpy()).max()),
                                       err_msg=name)
        return
    # bfloat16: the gradients as a whole, by the norm of the difference (entries that are
    # rounding noise, such as a bias's before batch norm, differ entry by entry), and the
    # PReLU slopes' own gradients, which Keras sums in bfloat16 and the kernel in float32
    # (the kernel's sum is checked exactly above, against float64)
    fused = np.concatenate([g.numpy().ravel() for g in grads_fused])
    plain = np.concatenate([g.numpy().ravel() for g in grads_keras])
    assert np.linalg.norm(fused - plain) <= 0.02 * np.linalg.norm(plain)
    slopes = [i for i, name in enumerate(names_keras) if name.endswith("/alpha")]
    assert slopes
    fused_slopes = np.array([grads_fused[i].numpy().item() for i in slopes])
    plain_slopes = np.array([grads_keras[i].numpy().item() for i in slopes])
    np.testing.assert_allclose(fused_slopes, plain_slopes, rtol=0.05,
                               atol=0.05 * np.abs(plain_slopes).max())


def test_no_compiler_falls_back_with_one_warning(fresh_state, monkeypatch, caplog):
    monkeypatch.setenv("CXX", str(fresh_state / "no-such-compiler"))
    layer = PReLU(shared_axes=[1, 2, 3])
    x = tf.constant(np.linspace(-2, 2, 64, dtype=np.float32).reshape(1, 4, 4, 4, 1))
    with caplog.at_level(logging.WARNING, logger="mmarctl.runtime"):
        assert build.load(prelu.NAME) is None
        y = layer(x, training=True)
        assert build.load(prelu.NAME) is None
    np.testing.assert_allclose(y.numpy(), keras_prelu(x, layer.alpha).numpy())
    warnings = [r.getMessage() for r in caplog.records if "kernel is not used" in r.getMessage()]
    assert warnings == ["mmarctl's prelu kernel is not used (no C++ compiler (set CXX, or "
                        "install g++)); plain TensorFlow operations instead"]
    assert "no C++ compiler" in build.status(prelu.NAME)


def test_switched_off_by_environment(fresh_state, monkeypatch):
    monkeypatch.setenv(build.SWITCH_ENV, "0")
    assert build.load(prelu.NAME) is None
    assert build.status(prelu.NAME) == f"off ({build.SWITCH_ENV}=0)"


def _counting_compiler(folder: Path, real: str | None, fail: bool,
                       library: Path | None = None) -> Path:
    """A compiler wrapper that logs each compile (``-shared``) and runs ``real`` or fails;
    given ``library`` (the ``built`` fixture's), a compile instead takes a second and writes
    a copy of it to ``-o``: the cache logic under test sees a compile, the suite pays none."""
    script = folder / "cxx"
    log = folder / "compiles.log"
    action = "echo 'error: broken on purpose' >&2; exit 1" if fail else f'exec "{real}" "$@"'
    if library is not None:
        action = ('out=""; previous=""\n'
                  'for arg in "$@"; do\n'
                  '  [ "$previous" = "-o" ] && out="$arg"; previous="$arg"\n'
                  'done\n'
                  f'sleep 1; exec cp "{library}" "$out"')
    script.write_text("#!/bin/sh\n"
                      f'case " $* " in *" -shared "*) echo compile >> "{log}";; esac\n'
                      f'case " $* " in *" --version "*) echo wrapper 1; exit 0;; esac\n'
                      f"{action}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def _compiles(folder: Path) -> int:
    log = folder / "compiles.log"
    return len(log.read_text().splitlines()) if log.is_file() else 0


def test_failed_build_is_kept_and_not_retried(fresh_state, monkeypatch):
    monkeypatch.setenv("CXX", str(_counting_compiler(fresh_state, None, fail=True)))
    assert build.load(prelu.NAME) is None
    assert _compiles(fresh_state) == 1
    failed = build.library_path(prelu.NAME).parent / "FAILED"
    assert "broken on purpose" in failed.read_text()
    assert "build failed" in build.status(prelu.NAME)
    monkeypatch.setattr(build, "_REFUSED", {})  # a new process
    with pytest.raises(build.KernelBuildError, match="earlier build failed"):
        build.build(prelu.NAME)
    assert _compiles(fresh_state) == 1
    assert not list(failed.parent.glob("*.so"))  # nothing half-written left behind


def test_build_is_cached_per_source(fresh_state, monkeypatch, built):
    monkeypatch.setenv("CXX", str(_counting_compiler(fresh_state, None, False, built)))
    library = build.build(prelu.NAME)
    assert library.is_file() and _compiles(fresh_state) == 1
    assert build.build(prelu.NAME) == library and _compiles(fresh_state) == 1
    assert build.status(prelu.NAME) == f"built ({library})"
    assert os.access(library, os.R_OK)
    assert library.parent.parent == fresh_state / "cache" / "kernels"
    assert [p.name for p in library.parent.iterdir() if p.suffix == ".so"] == [library.name]


def test_concurrent_processes_compile_once(fresh_state, monkeypatch, built):
    """Horovod's workers start together: one compiles, the others wait on the lock and load."""
    import subprocess
    import sys

    monkeypatch.setenv("CXX", str(_counting_compiler(fresh_state, None, False, built)))
    script = ("import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
              "from mmarctl.runtime.kernels import build\n"
              "print(build.build('prelu'))\n")
    workers = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=dict(os.environ))
               for _ in range(3)]
    results = [worker.communicate(timeout=300) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0], results
    paths = {out.strip() for out, _ in results}
    assert len(paths) == 1 and Path(paths.pop()).is_file()
    assert _compiles(fresh_state) == 1


def test_a_library_built_ahead_loads_without_a_compiler(fresh_state, monkeypatch, built):
    """`doctor --build-kernels` on a machine with a compiler serves one of the same kind
    (CPU, TensorFlow) that has none, such as a cluster's compute nodes."""
    library = _built_library(fresh_state, monkeypatch, built)
    monkeypatch.setenv("CXX", str(fresh_state / "no-such-compiler"))
    assert build.compiler() is None
    assert build.build(prelu.NAME) == library
    assert build.status(prelu.NAME) == f"built ({library})"
    # loaded in a process of its own: a process can hold only one library registering the op
    import subprocess
    import sys

    script = ("import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
              "from mmarctl.runtime.kernels import build\n"
              "ops = build.load('prelu')\n"
              "print(ops is not None and hasattr(ops, 'mmarctl_prelu'))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=dict(os.environ), timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr[-2000:]


def test_a_compiler_that_hangs_is_a_failed_build(fresh_state, monkeypatch):
    slow = fresh_state / "cxx"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(0o755)
    monkeypatch.setenv("CXX", str(slow))
    monkeypatch.setattr(build, "COMPILE_TIMEOUT_S", 0.5)
    with pytest.raises(build.KernelBuildError, match="did not run to the end"):
        build.build(prelu.NAME)
    assert (build.library_path(prelu.NAME).parent / "FAILED").is_file()
    assert build.load(prelu.NAME) is None  # and a run goes on without it


def _built_library(fresh_state, monkeypatch, built) -> Path:
    """Kernel prelu as a build leaves it (library and record) in the fresh cache: a copy of
    the ``built`` fixture's, so each test does not pay a compile. Compiles from here on are
    counted."""
    library = build.library_path(prelu.NAME)  # the same key under the fresh cache
    library.parent.mkdir(parents=True)
    shutil.copy2(built, library)
    shutil.copy2(build.record_path(built), build.record_path(library))
    monkeypatch.setenv("CXX", str(_counting_compiler(fresh_state, None, False, built)))
    assert build.damage(library) is None and build.status(prelu.NAME) == f"built ({library})"
    return library


def test_a_damaged_cached_library_is_rebuilt_not_loaded(fresh_state, monkeypatch, built):
    """A cut-off library (restored backup, interrupted copy) killed train with SIGBUS when
    TensorFlow mapped it; it is compiled again instead, and doctor does not call it built."""
    library = _built_library(fresh_state, monkeypatch, built)
    library.write_bytes(library.read_bytes()[:1000])
    assert "is damaged; compiled again on first use" in build.status(prelu.NAME)
    assert build.build(prelu.NAME) == library and _compiles(fresh_state) == 1
    assert build.damage(library) is None and build.status(prelu.NAME) == f"built ({library})"


def test_a_damaged_library_without_a_compiler_is_refused_with_one_line(fresh_state, monkeypatch,
                                                                      caplog, built):
    library = _built_library(fresh_state, monkeypatch, built)
    data = bytearray(library.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    library.write_bytes(bytes(data))
    monkeypatch.setenv("CXX", str(fresh_state / "no-such-compiler"))
    with caplog.at_level(logging.WARNING, logger="mmarctl.runtime"):
        assert build.load(prelu.NAME) is None  # not loaded: no SIGBUS, no exception
    assert [r.getMessage() for r in caplog.records if "kernel is not used" in r.getMessage()] \
        == [f"mmarctl's prelu kernel is not used (cached library {library} is damaged; "
            "delete it to rebuild); plain TensorFlow operations instead"]
    assert build.status(prelu.NAME) == f"cached library {library} is damaged; delete it to rebuild"
    from mmarctl.doctor import OK, probe_kernels

    assert [f.state for f in probe_kernels((prelu.NAME,))] != [OK]


def test_a_library_built_before_records_is_checked_as_a_whole_file(fresh_state, monkeypatch,
                                                                   built):
    library = _built_library(fresh_state, monkeypatch, built)
    build.record_path(library).unlink()  # built by an mmarctl that recorded nothing
    assert build.damage(library) is None
    library.write_bytes(library.read_bytes()[:-100])
    assert "is damaged" in build.damage(library)


def test_a_build_that_ran_out_of_space_is_retried(fresh_state, monkeypatch, caplog, built):
    """A full disk during the first compile must not turn the kernel off for good."""
    script = fresh_state / "cxx"
    script.write_text("#!/bin/sh\necho compile >> \"$(dirname \"$0\")/compiles.log\"\n"
                      "echo '/usr/bin/ld: final link failed: No space left on device' >&2\n"
                      "exit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("CXX", str(script))
    with caplog.at_level(logging.WARNING, logger="mmarctl.runtime"):
        assert build.load(prelu.NAME) is None
    folder = build.library_path(prelu.NAME).parent
    assert f"no space left on the device in {folder}" in caplog.text
    assert "retried on next use" in build.status(prelu.NAME)
    # space freed: the next process compiles again (and succeeds with a working compiler)
    with pytest.raises(build.KernelBuildError, match="no space left"):
        build.build(prelu.NAME)
    assert _compiles(fresh_state) == 2
    monkeypatch.setenv("CXX", str(_counting_compiler(fresh_state, None, False, built)))
    library = build.build(prelu.NAME)
    assert library.is_file() and not (folder / "FAILED").exists()
    assert _compiles(fresh_state) == 3
