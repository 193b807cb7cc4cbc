"""Row 4: one training step of a 3D U-Net, mmarctl against MONAI (patches/s, peak memory).

The issue asks for mmarctl's 3D U-Net against ``monai.networks.nets.UNet`` "with the same
channels, strides, residual units, patch and batch size". mmarctl's ``ResidualUnet`` is that
architecture weight for weight (tests/test_monai_unet_parity.py), so both tools train one
graph and the row compares the frameworks. Three configurations:

* **MONAI's spleen tutorial UNet**: channels (16, 32, 64, 128, 256), strides 2 x 4, two
  residual units, batch norm, PReLU (MONAI's default activation), the net a MONAI user
  trains (and row 5's MONAI recipe);
* **the same with instance norm**, MONAI UNet's default normalisation;
* **the scaffold's widths**: the channels of the spleen scaffold's Clara ``Unet``
  (``nf_enc`` + bottleneck, read from ``scaffolds/spleen/config/config_train.json``), no
  residual units, the scaffold's normalisation, ReLU.

A third figure keeps Clara's own ``Unet``, which the spleen scaffold trains (full-resolution
convolutions, max-pooling, upsampling by repetition: 27x the arithmetic of MONAI's UNet at
the same channels), against a torch replica of that exact graph (:class:`UnetReplica`).
mmarctl computes the same function with fewer multiply-adds (its decoder joins at low
resolution, :mod:`mmarctl.runtime.networks.upsampled_join`); the replica runs the graph as
defined, as a torch user would; the row's note gives both counts.

Losses: mmarctl's Clara ``Dice`` (``skip_background`` as the scaffold sets it) on the
network's softmax; MONAI's ``DiceLoss(softmax=True, to_onehot_y=True)`` with
``include_background`` = not ``skip_background`` on the UNet's logits. Optimiser: Adam at the
scaffold's learning rate in both; mmarctl runs the compiled step of
:class:`mmarctl.runtime.training.tf_engine.TFEngine` (what ``mmarctl train`` runs per batch).

Each tool runs in its own process on the same fixed batch (2 patches of the scaffold's crop
size, random image, blob label), untimed steps first (tracing, kernel selection), then
``steps`` timed steps. Memory is that process's peak: the whole resident set (``VmHWM``) and
its private, anonymous part (see :func:`benchmarks.monai.harness.private_rss_mib`).
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.monai.harness import COST, RATE, Figure, isolated_pair, rss_now_mib

ROW = "4 training step"
#: mmarctl's normalisation names -> MONAI's ``norm`` argument.
MONAI_NORMS = {None: None, "batch": "BATCH", "group": ("GROUP", {"num_groups": 8}),
               "instance": "INSTANCE"}
#: MONAI's spleen tutorial UNet (``spleen_segmentation_3d.ipynb``), in ResidualUnet's args.
TUTORIAL_UNET = {"channels": [16, 32, 64, 128, 256], "strides": [2, 2, 2, 2],
                 "num_res_units": 2, "norm": "batch", "act": "prelu"}
#: The same with instance norm, MONAI UNet's default ``norm`` (no affine parameters).
INSTANCE_NORM_UNET = dict(TUTORIAL_UNET, norm="instance")


def scaffold_width_unet() -> dict:
    """ResidualUnet args with the spleen scaffold's Unet channels, no residual units."""
    nf_enc, nf_dec, norm = unet_shape(scaffold_unet_args())
    return {"channels": [*nf_enc, nf_dec[0]], "strides": [2] * len(nf_enc),
            "num_res_units": 0, "norm": norm, "act": "relu"}


def scaffold_unet_args() -> dict:
    """The spleen scaffold's ``train.model.args`` (so this row follows the scaffold)."""
    from benchmarks.monai.data import scaffold_settings

    return scaffold_settings()["model_args"]


def unet_shape(args: dict) -> tuple[list[int], list[int], str | None]:
    """``nf_enc``, ``nf_dec`` as int lists and the normalisation (``batch``/``group``/None)."""
    def ints(value) -> list[int]:
        return [int(v) for v in (value.split(",") if isinstance(value, str) else value)]

    norm = ("batch" if args.get("use_batch_norm") else
            "group" if args.get("use_group_norm") else None)
    return (ints(args.get("nf_enc", "32,64,64,64")),
            ints(args.get("nf_dec", "64,64,64,64,64,32,32")), norm)


def fixed_batch(batch: int, patch: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A channels-last image ``(B, *patch, 1)`` and a 0/1 blob label of the same shape."""
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(batch, *patch, 1)).astype(np.float32)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in patch], indexing="ij"))
    blob = (np.sum(grid ** 2, axis=0) < 0.3).astype(np.float32)
    label = np.broadcast_to(blob[None, ..., None], image.shape).copy()
    return image, label


def speed_mmarctl(args: dict) -> dict:
    """(In a worker) seconds for ``steps`` steps of mmarctl's compiled training step.

    ``args["net"]``: ``"residual"`` (``ResidualUnet`` with ``args["unet"]``) or ``"unet"``
    (the scaffold's Clara ``Unet``).
    """
    from mmarctl.runtime import logs

    # TensorFlow loaded as `mmarctl train` loads it (TrainingPlan.build): without Keras'
    # unused optional imports (mmarctl.runtime.memory).
    logs.quiet_tensorflow()
    import keras
    import tensorflow as tf

    from mmarctl.runtime.losses.dice import Dice
    from mmarctl.runtime.networks.resunet import ResidualUnet
    from mmarctl.runtime.networks.unet import Unet
    from mmarctl.runtime.plan import SingleProcess
    from mmarctl.runtime.registry import lookup
    from mmarctl.runtime.training.tf_engine import TFEngine

    from benchmarks.monai.data import scaffold_settings

    baseline = rss_now_mib()
    keras.utils.set_random_seed(args.get("seed", 0))
    # bfloat16 as `mmarctl train --amp` runs it: the mixed policy, float32 variables and loss
    keras.mixed_precision.set_global_policy(
        "mixed_bfloat16" if args.get("precision") == "bfloat16" else "float32")
    if args.get("net") == "residual":  # the same architecture as MONAI's UNet
        model = ResidualUnet(num_classes=2, **args["unet"]).build(3, 1)
    else:  # Clara's Unet, as the spleen scaffold configures it
        model = Unet(**scaffold_unet_args()).build(3, 1)
    optimizer = lookup("optimizers", "Adam")().build(scaffold_settings()["learning_rate"])
    skip = scaffold_settings()["skip_background"]
    engine = TFEngine(model, Dice(skip_background=skip), optimizer, pipeline=None,
                      validator=None, backend=SingleProcess(), jit=bool(args.get("jit")))
    step = engine._step  # the compiled per-batch step mmarctl train runs
    built = rss_now_mib()
    image, label = fixed_batch(args["batch"], tuple(args["patch"]))
    images, labels = tf.constant(image), tf.constant(label)
    for _ in range(args["warmup"]):
        float(step(images, labels))
    start = time.perf_counter()
    for _ in range(args["steps"]):
        float(step(images, labels))  # float() waits for the step, as train_epoch does
    seconds = time.perf_counter() - start
    params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    from benchmarks.roofline import count_macs

    computed = count_macs(model, (*args["patch"], 1), as_computed=True) / 1e9
    return {"seconds": seconds, "params": params,
            "gmac": keras_gmac(model, tuple(args["patch"])), "computed_gmac": computed,
            "baseline_mib": baseline, "built_mib": built}


def keras_gmac(model, patch: tuple[int, ...]) -> float:
    """Multiply-adds (10^9) of the Conv3D layers for one patch, from a forward pass."""
    import keras

    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv3D)]
    probe = keras.Model(model.inputs, [layer.output for layer in convs])
    outputs = probe(np.zeros((1, *patch, 1), np.float32), training=False)
    total = 0
    for layer, out in zip(convs, outputs):
        kx, ky, kz, cin, cout = layer.kernel.shape
        total += int(np.prod(out.shape[1:4])) * kx * ky * kz * cin * cout
    return total / 1e9


def _groups(filters: int, groups: int = 8) -> int:
    """Group count as mmarctl's ``normalization``: 8, lowered until it divides ``filters``."""
    groups = min(groups, filters)
    while filters % groups:
        groups -= 1
    return groups


class UnetReplica:
    """Factory of a torch twin of mmarctl's Unet (conv+ReLU, max-pool, nearest upsample).

    Same layers, channels and order as :class:`mmarctl.runtime.networks.unet.Unet`, so the
    two frameworks run one network; used for the "Clara Unet" figure.
    """

    @staticmethod
    def build(nf_enc: list[int], nf_dec: list[int], norm: str | None = None,
              in_channels: int = 1, classes: int = 2):
        """The torch module (output: softmax probabilities, channels-first)."""
        import torch
        from torch import nn

        def block(cin: int, cout: int) -> nn.Module:
            if norm is None:
                return nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1), nn.ReLU())
            layer = (nn.BatchNorm3d(cout) if norm == "batch"
                     else nn.GroupNorm(_groups(cout), cout))
            return nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1, bias=False), layer,
                                 nn.ReLU())

        class Replica(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                levels = len(nf_enc)
                chans = [in_channels, *nf_enc]
                self.enc = nn.ModuleList(block(chans[i], chans[i + 1]) for i in range(levels))
                self.bottleneck = block(nf_enc[-1], nf_dec[0])
                self.dec = nn.ModuleList(block(nf_dec[j - 1] + nf_enc[-j], nf_dec[j])
                                         for j in range(1, levels + 1))
                extra, width = [], nf_dec[levels]
                for filters in nf_dec[levels + 1:]:
                    extra.append(block(width, filters))
                    width = filters
                self.extra = nn.Sequential(*extra)
                self.head = nn.Conv3d(width, classes, 1)

            def forward(self, x):
                skips = []
                for layer in self.enc:
                    x = layer(x)
                    skips.append(x)
                    x = torch.nn.functional.max_pool3d(x, 2)
                x = self.bottleneck(x)
                for j, layer in enumerate(self.dec, start=1):
                    x = torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
                    x = layer(torch.cat([x, skips[-j]], dim=1))
                return torch.softmax(self.head(self.extra(x)), dim=1)

        return Replica()


def speed_monai(args: dict) -> dict:
    """(In a worker) seconds for ``steps`` steps of a PyTorch/MONAI training step.

    ``args["net"]``: ``"residual"`` (``monai.networks.nets.UNet`` with ``args["unet"]``) or
    ``"replica"`` (:class:`UnetReplica`, the torch twin of the scaffold's Clara ``Unet``).
    """
    import torch
    from monai.losses import DiceLoss
    from monai.networks.nets import UNet

    baseline = rss_now_mib()
    torch.manual_seed(args.get("seed", 0))
    from benchmarks.monai.data import scaffold_settings

    include_background = not scaffold_settings()["skip_background"]
    if args.get("net") == "replica":  # mmarctl's Clara Unet graph, in torch
        nf_enc, nf_dec, norm = unet_shape(scaffold_unet_args())
        net = UnetReplica.build(nf_enc, nf_dec, norm=norm)
        loss_fn = DiceLoss(to_onehot_y=True, softmax=False,
                           include_background=include_background)
    else:
        unet = args["unet"]
        net = UNet(spatial_dims=3, in_channels=1, out_channels=2,
                   channels=tuple(unet["channels"]), strides=tuple(unet["strides"]),
                   num_res_units=unet["num_res_units"], act=unet["act"].upper(),
                   norm=MONAI_NORMS[unet["norm"]])
        loss_fn = DiceLoss(to_onehot_y=True, softmax=True,
                           include_background=include_background)
    optimizer = torch.optim.Adam(net.parameters(), lr=scaffold_settings()["learning_rate"])
    built = rss_now_mib()
    image, label = fixed_batch(args["batch"], tuple(args["patch"]))
    images = torch.from_numpy(np.ascontiguousarray(np.moveaxis(image, -1, 1)))
    labels = torch.from_numpy(np.ascontiguousarray(np.moveaxis(label, -1, 1)))
    net.train()
    bf16 = args.get("precision") == "bfloat16"

    def step(batch) -> float:
        optimizer.zero_grad(set_to_none=True)
        # PyTorch's CPU mixed precision: bf16 autocast of forward and loss, float32 weights
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(net(batch), labels)
        loss.backward()
        optimizer.step()
        return float(loss)

    for _ in range(args["warmup"]):
        step(images)
    memory_format = _fastest_memory_format(net, images, step)
    images = images.contiguous(memory_format=memory_format)
    net.to(memory_format=memory_format)
    start = time.perf_counter()
    for _ in range(args["steps"]):
        step(images)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "params": sum(p.numel() for p in net.parameters()),
            "baseline_mib": baseline, "built_mib": built,
            "memory_format": "channels_last_3d" if memory_format != torch.contiguous_format
            else "contiguous"}


def _fastest_memory_format(net, images, step, trials: int = 2):
    """torch's best CPU layout for this net: ``channels_last_3d`` (NDHWC, what oneDNN's
    convolutions prefer) or the default contiguous NCDHW, whichever steps faster here
    (``trials`` steps each after one untimed step in the layout); the net is left contiguous.
    ``Module.to(memory_format=...)`` converts the parameters in place, so the optimizer's
    references stay valid."""
    import torch

    timings = {}
    for memory_format in (torch.channels_last_3d, torch.contiguous_format):
        net.to(memory_format=memory_format)
        batch = images.contiguous(memory_format=memory_format)
        step(batch)
        started = time.perf_counter()
        for _ in range(trials):
            step(batch)
        timings[memory_format] = time.perf_counter() - started
    net.to(memory_format=torch.contiguous_format)
    return min(timings, key=timings.get)


def describe(unet: dict) -> str:
    """``UNet 16-256, 2 res units, batch norm, prelu`` for a ResidualUnet arg dict."""
    channels = unet["channels"]
    return (f"UNet {channels[0]}-{channels[-1]} ({len(channels) - 1} levels), "
            f"{unet['num_res_units']} res units, {unet['norm'] or 'no'} norm, {unet['act']}")


def run(config: dict) -> list[Figure]:
    """Patches/s and peak memory of each tool's training step, per network pair."""
    from benchmarks.monai.data import scaffold_settings

    batch = int(config.get("train_batch", 2))
    patch = tuple(config.get("train_patch", scaffold_settings()["patch"]))
    steps = int(config.get("train_steps", 10))
    rounds = int(config.get("rounds", 1))
    figures: list[Figure] = []
    for precision in config.get("train_precisions") or ["float32"]:
        figures += _run_precision(dict(config, batch=batch, patch=patch, steps=steps,
                                       rounds=rounds), precision)
    return figures


def _run_precision(config: dict, precision: str) -> list[Figure]:
    """Row 4's pairs in one precision: float32, or bfloat16 (Keras ``mixed_bfloat16``
    against ``torch.autocast("cpu", dtype=torch.bfloat16)``); labels carry the precision."""
    batch, patch, steps, rounds = (config[k] for k in ("batch", "patch", "steps", "rounds"))
    common = {"batch": batch, "patch": patch, "steps": steps, "warmup": 3,
              "precision": precision}
    rate = lambda r: batch * steps / r["seconds"]  # noqa: E731
    setting = f"batch {batch} x {patch[0]}^3, {steps} steps, {precision}"
    figures: list[Figure] = []
    for label, unet in ((f"MONAI tutorial UNet [{precision}]", TUTORIAL_UNET),
                        (f"tutorial UNet, instance norm [{precision}]", INSTANCE_NORM_UNET),
                        (f"UNet at the scaffold's widths [{precision}]",
                         scaffold_width_unet())):
        best = isolated_pair("row_train", dict(common, net="residual", unet=unet),
                             rounds=rounds)
        ours, theirs = best["mmarctl"], best["monai"]
        if ours["params"] != theirs["params"]:  # the same architecture, or no comparison
            raise RuntimeError(f"{label}: ResidualUnet has {ours['params']:,} parameters, "
                               f"MONAI's UNet {theirs['params']:,}")
        note = (f"{describe(unet)}; {ours['params']:,} params; {setting}; torch "
                f"{theirs.get('memory_format', 'contiguous')}")
        figures += pair_figures(label, rate(ours), rate(theirs), ours, theirs, note)
    # Clara's Unet has no MONAI counterpart: the pair is mmarctl and the torch replica.
    best = isolated_pair("row_train", common, rounds=rounds,
                         per_tool={"mmarctl": {"net": "unet"}, "monai": {"net": "replica"}})
    ours, twin = best["mmarctl"], best["monai"]
    note = (f"Clara Unet (spleen scaffold) vs torch replica of its graph, {ours['params']:,} "
            f"params, {ours['gmac']:.2f} GMAC/patch as defined, {ours['computed_gmac']:.2f} "
            f"as mmarctl computes it (decoder joins at low resolution); {setting}; torch "
            f"{twin.get('memory_format', 'contiguous')}")
    figures += pair_figures(f"Clara Unet [{precision}]", rate(ours),
                            rate(twin), ours, twin, note)
    return figures


def pair_figures(label: str, ours_rate: float, theirs_rate: float, ours: dict, theirs: dict,
                 note: str) -> list[Figure]:
    """One network pair's figures: patches/s, peak RSS and peak private memory."""
    return [Figure(ROW, f"{label}, patches/s", "patches/s", RATE, ours_rate, theirs_rate,
                   note=note),
            Figure(ROW, f"{label}, peak RSS", "MiB", COST, ours["peak_rss_mib"],
                   theirs["peak_rss_mib"],
                   note=f"after imports: mmarctl {ours['baseline_mib']:.0f}, other "
                        f"{theirs['baseline_mib']:.0f} MiB (shared library pages included)"),
            Figure(ROW, f"{label}, peak private memory", "MiB", COST,
                   ours["peak_private_mib"], theirs["peak_private_mib"],
                   note="anonymous pages only: heap, tensors, Python objects")]
