"""Row 2: TFScanWindowInferer against MONAI's ``sliding_window_inference``.

Both run the same fully-convolutional net (:mod:`.twin_nets`, weights copied across) with
the same ROI, overlap, blending and windows per call. Parity: outputs equal within float
tolerance on odd-sized volumes, including an axis smaller than the ROI (both pad it
symmetrically). Speed: volumes per second on a spleen-sized CT after resampling to the
scaffold's 1.5 x 1.5 x 2 mm (about 224 x 224 x 112 voxels), ROI 64^3 as in the scaffold.

mmarctl's ``predict`` is the one validation uses (``tf_engine.make_predict``, called here,
not copied): the Keras model in a ``tf.function`` with dynamic spatial dims, called on
NumPy windows. MONAI's predictor is the torch module under
``torch.no_grad()``.

Speed runs once per precision (``--precisions``): float32, and bfloat16 as ``mmarctl
validate --amp`` runs it (the net built under Keras' ``mixed_bfloat16`` policy) against
torch under ``torch.autocast("cpu", dtype=torch.bfloat16)``; torch's memory format is the
faster of ``channels_last_3d`` and contiguous on this machine (timed once each, named in
the row's note).
"""

from __future__ import annotations

import numpy as np

from benchmarks.monai.harness import CHECK, RATE, Figure, best_of, isolated_pair, timed
from benchmarks.monai.twin_nets import (copy_weights, keras_convnet, to_channels_first,
                                        to_channels_last, torch_convnet)

ROW = "2 sliding window"
TOLERANCE = 1e-5

#: (image spatial shape, roi, overlap, blending, windows per call) compared for parity.
PARITY_CASES = (
    ((45, 38, 29), (16, 16, 16), 0.25, "constant", 1),
    ((45, 38, 29), (16, 16, 16), 0.5, "gaussian", 3),
    ((40, 12, 33), (16, 16, 16), 0.25, "constant", 2),  # axis 1 smaller than the ROI
    ((33, 33, 33), (32, 32, 32), 0.0, "constant", 1),
)


def make_twins(widths=(8, 8), in_channels: int = 1, num_classes: int = 2, seed: int = 0):
    """The Keras model, its mmarctl predict callable and the weight-copied torch module."""
    model = keras_convnet(tuple(widths), in_channels, num_classes, seed=seed)
    predict = keras_predict(model, in_channels)

    net = torch_convnet(tuple(widths), in_channels, num_classes)
    copy_weights(model, net)
    return model, predict, net


def keras_predict(model, in_channels: int = 1):
    """mmarctl's own NumPy -> NumPy predict over ``model``: the function validation and
    ``infer`` use (``tf_engine.make_predict``: one ``tf.function`` with dynamic spatial
    dims, float32 out whatever the policy, the runtime's inference forms).
    ``in_channels`` is implied by the model's input."""
    from mmarctl.runtime.training.tf_engine import make_predict

    return make_predict(model)


def mmarctl_infer(predict, image: np.ndarray, roi, overlap: float, blending: str,
                  batch: int) -> np.ndarray:
    """mmarctl's TFScanWindowInferer on a channels-last image ``(1, *S, C)``."""
    from mmarctl.runtime.inferers.scan_window import TFScanWindowInferer

    inferer = TFScanWindowInferer(roi_size=list(roi), batch_size=batch, overlap=overlap,
                                  blending=blending)
    return inferer(predict, image)


def monai_infer(net, image: np.ndarray, roi, overlap: float, blending: str,
                batch: int) -> np.ndarray:
    """MONAI's sliding_window_inference on the same image; returned channels-last."""
    import torch
    from monai.inferers import sliding_window_inference

    with torch.no_grad():
        out = sliding_window_inference(torch.from_numpy(to_channels_first(image)),
                                       roi_size=tuple(roi), sw_batch_size=batch,
                                       predictor=net, overlap=overlap, mode=blending)
    return to_channels_last(out.numpy())


def parity(seed: int = 0) -> list[tuple[str, float]]:
    """(case description, max |mmarctl - MONAI|) for each of :data:`PARITY_CASES`."""
    _, predict, net = make_twins(seed=seed)
    rng = np.random.default_rng(seed)
    results = []
    for shape, roi, overlap, blending, batch in PARITY_CASES:
        image = rng.normal(size=(1, *shape, 1)).astype(np.float32)
        ours = mmarctl_infer(predict, image, roi, overlap, blending, batch)
        theirs = monai_infer(net, image, roi, overlap, blending, batch)
        diff = float(np.max(np.abs(ours - theirs))) if ours.shape == theirs.shape else np.inf
        results.append((f"{'x'.join(map(str, shape))} roi {roi[0]} ov {overlap} {blending}",
                        diff))
    return results


def _volume(args: dict) -> np.ndarray:
    shape = tuple(args["shape"])
    return np.random.default_rng(args.get("seed", 0)).normal(size=(1, *shape, 1)).astype(
        np.float32)


def speed_mmarctl(args: dict) -> dict:
    """(In a worker) best seconds of one whole-volume TFScanWindowInferer pass."""
    import keras

    widths, roi = tuple(args["widths"]), tuple(args["roi"])
    keras.mixed_precision.set_global_policy(
        "mixed_bfloat16" if args.get("precision") == "bfloat16" else "float32")
    predict = keras_predict(keras_convnet(widths, 1, 2, seed=args.get("seed", 0)))

    image = _volume(args)
    run = lambda: mmarctl_infer(predict, image, roi, args["overlap"], "constant",  # noqa: E731
                                args["batch"])
    run()  # tracing and oneDNN kernel selection stay out of the figure
    return {"seconds": best_of(args["repeats"], t=lambda: timed(run))["t"]}


def speed_monai(args: dict) -> dict:
    """(In a worker) best seconds of one whole-volume sliding_window_inference pass."""
    import torch

    torch.manual_seed(args.get("seed", 0))
    net = torch_convnet(tuple(args["widths"]), 1, 2).eval()
    image = _volume(args)
    roi = tuple(args["roi"])
    bf16 = args.get("precision") == "bfloat16"

    def run() -> np.ndarray:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return monai_infer(net, image, roi, args["overlap"], "constant", args["batch"])

    layouts = {}
    for name, memory_format in (("contiguous", torch.contiguous_format),
                                ("channels_last_3d", torch.channels_last_3d)):
        net.to(memory_format=memory_format)
        run()  # oneDNN kernel selection for this layout stays out of the figure
        layouts[name] = timed(run)
    fastest = min(layouts, key=layouts.get)
    net.to(memory_format=torch.channels_last_3d if fastest == "channels_last_3d"
           else torch.contiguous_format)
    return {"seconds": best_of(args["repeats"], t=lambda: timed(run))["t"],
            "memory_format": fastest}


def run(config: dict) -> list[Figure]:
    """Parity figures, then volumes/s on the spleen-sized volume."""
    figures = []
    results = parity(config.get("seed", 0))
    worst = max(results, key=lambda item: item[1])
    figures.append(Figure(ROW, f"max abs difference, {len(results)} cases", "", CHECK,
                          worst[1], tolerance=TOLERANCE,
                          note="twin conv net, weights copied; ROI 16/32, overlap 0-0.5, "
                               f"constant+gaussian, padding; worst: {worst[0]}"))
    shape = tuple(config.get("window_shape", (224, 224, 112)))
    roi = tuple(config.get("window_roi", (64, 64, 64)))
    overlap = float(config.get("window_overlap", 0.25))
    widths = tuple(config.get("window_widths", (16, 16)))
    repeats = int(config.get("repeats", 3))
    for precision in config.get("precisions") or ["float32"]:
        best = isolated_pair("row_window", {"shape": shape, "roi": roi, "overlap": overlap,
                                            "batch": 1, "widths": widths, "repeats": repeats,
                                            "precision": precision},
                             rounds=int(config.get("rounds", 1)))
        figures.append(Figure(
            ROW, f"volume {'x'.join(map(str, shape))} [{precision}]", "volumes/s", RATE,
            1.0 / best["mmarctl"]["seconds"], 1.0 / best["monai"]["seconds"],
            note=f"ROI {roi[0]}^3, overlap {overlap}, 1 window/call, conv net widths "
                 f"{list(widths)}; best of {repeats}, one process per tool; torch "
                 f"{best['monai'].get('memory_format', 'contiguous')}"))
    return figures
