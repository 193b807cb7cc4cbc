"""Inference throughput of one network as the checkpoint model and as each export format.

The same weights run, on the same seeded input, as:

* ``keras (tf.function)``  the checkpoint's Keras model in a compiled ``tf.function``, as
  ``CheckpointLoader`` runs it for validate/infer;
* ``frozen graph``         ``model.fzn.pb`` through ``FrozenGraphModelLoader``'s reader;
* ``SavedModel``           ``saved_model/``'s ``serving_default`` signature;
* ``ONNX Runtime``         ``model.onnx`` on ONNX Runtime's CPU provider.

The network is the one in an MMAR's config_train.json (``--mmar``, weights from its
checkpoint when present) or, by default, the spleen scaffold's Unet with seeded random
weights. Runs are interleaved (one call of each backend per round) so that load from other
processes on a shared machine falls on all of them alike. Reported: median and fastest
milliseconds per batch, volumes per second from the median, and each backend's max |diff|
from the Keras output.

    python benchmarks/export_inference.py --size 64 --runs 10
    python benchmarks/export_inference.py --mmar my-exp --size 96 --threads 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPLEEN = REPO / "scaffolds" / "spleen"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mmar", type=Path, help="MMAR whose network (and checkpoint) to use; "
                        "default: the spleen scaffold's network, random weights")
    parser.add_argument("--size", type=int, default=64, help="cubic input size in voxels")
    parser.add_argument("--batch", type=int, default=1, help="volumes per call")
    parser.add_argument("--runs", type=int, default=10, help="timed calls per backend")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per backend")
    parser.add_argument("--threads", type=int, default=0,
                        help="intra-op threads for TensorFlow and ONNX Runtime (0: their default)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.size < 8 or args.batch < 1 or args.runs < 1 or args.warmup < 0 or args.threads < 0:
        parser.error("--size >= 8, --batch >= 1, --runs >= 1, --warmup >= 0, --threads >= 0")
    return args


def build_model(mmar: Path | None):
    """``(keras model, network name, channels, weights description)``."""
    import tensorflow as tf

    from mmarctl.runtime import checkpoint
    from mmarctl.runtime.model_io import build_network, input_spec
    from mmarctl.workspace import Workspace

    root = mmar or SPLEEN
    if not (root / "config" / "config_train.json").is_file():
        sys.exit(f"no config/config_train.json in {root}")
    workspace = Workspace(root.resolve())
    # The scaffold's placeholders (DATA_ROOT ...) do not matter for building the network.
    resolved = workspace.resolve("config_train.json")
    tf.keras.utils.set_random_seed(0)
    network, model = build_network(resolved, workspace.root)
    weights = "random (seed 0)"
    prefix = workspace.models_dir / "model.ckpt"
    if mmar and checkpoint.exists(prefix):
        checkpoint.restore_model(prefix, model)
        weights = workspace.display(prefix)
    return model, type(network).__name__, input_spec(resolved)[1], weights


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)

    from mmarctl.runtime.export.frozen_graph import load_frozen_graph, write_frozen_graph
    from mmarctl.runtime.export.onnx_model import load_onnx_model, write_onnx
    from mmarctl.runtime.export.saved_model import load_saved_model, write_saved_model
    from mmarctl.runtime.export.serving import ServingSpec, serving_function
    from mmarctl.runtime.export.verify import max_abs_diff, sample_input

    model, network, channels, weights = build_model(args.mmar)
    spec = ServingSpec((None, args.size, args.size, args.size, channels),
                       int(model.output_shape[-1]))
    serve = serving_function(model, spec)
    names = (spec.input_name, spec.output_name)

    @tf.function(reduce_retracing=True)
    def keras_call(x):
        return tf.cast(model(x, training=False), tf.float32)

    with tempfile.TemporaryDirectory(prefix="mmarctl-bench-") as tmp:
        tmp = Path(tmp)
        started = time.monotonic()
        write_frozen_graph(serve, tmp / "model.fzn.pb")
        write_saved_model(model, serve, tmp / "saved_model")
        write_onnx(serve, spec, tmp / "model.onnx")
        export_s = time.monotonic() - started
        backends = {
            "keras (tf.function)": lambda x: keras_call(tf.constant(x)).numpy(),
            "frozen graph": load_frozen_graph(tmp / "model.fzn.pb", *names),
            "SavedModel": load_saved_model(tmp / "saved_model", *names),
            "ONNX Runtime (CPU)": load_onnx_model(tmp / "model.onnx", *names,
                                                  providers=["CPUExecutionProvider"],
                                                  threads=args.threads or None),
        }
        batch = sample_input((args.batch, args.size, args.size, args.size, channels))
        reference = backends["keras (tf.function)"](batch)
        diffs = {name: max_abs_diff(reference, fn(batch)) for name, fn in backends.items()}
        for _ in range(args.warmup):
            for fn in backends.values():
                fn(batch)
        times: dict[str, list[float]] = {name: [] for name in backends}
        for _ in range(args.runs):
            for name, fn in backends.items():
                start = time.perf_counter()
                fn(batch)
                times[name].append(time.perf_counter() - start)

    rows = []
    for name, samples in times.items():
        median = statistics.median(samples)
        rows.append({"backend": name, "median_ms": median * 1e3, "min_ms": min(samples) * 1e3,
                     "volumes_per_s": args.batch / median, "max_abs_diff": diffs[name]})
    header = (f"{network}, input ({args.batch}, {args.size}, {args.size}, {args.size}, "
              f"{channels}), weights {weights}, {args.runs} runs after {args.warmup} warm-up, "
              f"threads {args.threads or 'default'}, {os.cpu_count()} CPUs, "
              f"export took {export_s:.1f} s")
    print(header)
    print(f"{'backend':<22} {'median ms':>10} {'min ms':>9} {'vol/s':>8} {'max|diff|':>10}")
    for row in rows:
        print(f"{row['backend']:<22} {row['median_ms']:>10.1f} {row['min_ms']:>9.1f} "
              f"{row['volumes_per_s']:>8.2f} {row['max_abs_diff']:>10.2g}")
    if args.json:
        args.json.write_text(json.dumps({"setup": header, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
