"""ResidualUnet against ``monai.networks.nets.UNet`` with the same weights: same output.

Runs only where MONAI and PyTorch are installed (``scripts/setup_bench.sh``). MONAI's net is
built with a fixed seed, its norm parameters, batch-norm statistics and PReLU slopes are
randomised (so a weight that failed to copy cannot hide behind an identical default), the
weights are copied with ``benchmarks/monai/twin_nets.copy_monai_unet_weights`` and
``softmax(torch logits)`` is compared with ResidualUnet's probabilities.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")
nets = pytest.importorskip("monai.networks.nets")

# The weight copier lives in benchmarks/ at the repository root (not part of the wheel).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.monai.twin_nets import (copy_monai_unet_weights,  # noqa: E402
                                        to_channels_first, to_channels_last)
from mmarctl.runtime.networks.resunet import ResidualUnet  # noqa: E402

#: Eval-mode outputs agree to float32 round-off; batch statistics in training mode sum over
#: the batch in a different order, hence the looser bound there.
EVAL_TOLERANCE = 1e-5
TRAIN_TOLERANCE = 1e-4

#: (id, spatial shape, in/out channels, ResidualUnet args); MONAI gets the same values.
CASES = [
    ("3d-plain-instance-prelu-noncubic", (32, 48, 16), 1, 2,
     dict(channels=[4, 8, 16], strides=[2, 2])),
    ("3d-res1-batch-relu", (16, 16, 16), 2, 3,
     dict(channels=[4, 8, 16], strides=[2, 2], num_res_units=1, norm="batch", act="relu")),
    ("3d-res2-group-prelu-stride1-level", (16, 24, 8), 1, 4,
     dict(channels=[8, 8, 16, 16], strides=[2, 1, 2], num_res_units=2, norm="group",
          num_groups=4)),
    ("3d-plain-none-relu-kernel5", (16, 16, 24), 1, 2,
     dict(channels=[4, 8, 8], strides=[2, 2], kernel_size=5, norm="none", act="relu")),
    ("3d-res1-batch-prelu-up-kernel5-nobias", (16, 8, 16), 1, 2,
     dict(channels=[4, 8], strides=[2], num_res_units=1, up_kernel_size=5, norm="batch",
          bias=False)),
    ("3d-res2-instance-relu-deep", (32, 32, 16), 1, 2,
     dict(channels=[4, 4, 8, 8, 16], strides=[2, 2, 2, 2], num_res_units=2, act="relu")),
    ("2d-plain-batch-prelu", (32, 48), 1, 3,
     dict(channels=[4, 8, 16, 32], strides=[2, 2, 2], norm="batch")),
    ("2d-res1-group-relu", (32, 16), 3, 4,
     dict(channels=[8, 16, 16], strides=[2, 2], num_res_units=1, norm="group", num_groups=4,
          act="relu")),
    ("2d-res2-instance-prelu-kernel5-stride1-level", (24, 40), 1, 2,
     dict(channels=[4, 8, 8], strides=[1, 2], num_res_units=2, kernel_size=5,
          up_kernel_size=5)),
    ("2d-plain-none-prelu-stride1-level", (16, 16), 2, 2,
     dict(channels=[4, 8, 8], strides=[2, 1], norm="none")),
    ("2d-res1-instance-leakyrelu", (16, 32), 1, 2,
     dict(channels=[4, 8, 16], strides=[2, 2], num_res_units=1, act="leakyrelu")),
    ("2d-plain-batch-elu", (16, 16), 1, 2,
     dict(channels=[4, 8, 16], strides=[2, 2], norm="batch", act="elu")),
]


def monai_unet(dims: int, in_channels: int, num_classes: int, args: dict, seed: int = 0):
    """MONAI's UNet for ResidualUnet ``args``, with every norm/act parameter randomised."""
    torch.manual_seed(seed)
    norm = args.get("norm", "instance")
    if norm == "group":
        norm = ("GROUP", {"num_groups": args["num_groups"]})
    elif norm == "none":
        norm = None
    unet = nets.UNet(spatial_dims=dims, in_channels=in_channels, out_channels=num_classes,
                     channels=args["channels"], strides=args["strides"],
                     kernel_size=args.get("kernel_size", 3),
                     up_kernel_size=args.get("up_kernel_size", 3),
                     num_res_units=args.get("num_res_units", 0), act=args.get("act", "prelu"),
                     norm=norm, dropout=0.0, bias=args.get("bias", True))
    with torch.no_grad():
        for module in unet.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
            if isinstance(module, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.GroupNorm)):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
            if isinstance(module, torch.nn.PReLU):
                module.weight.uniform_(0.05, 0.5)
    return unet


def twins(dims: int, in_channels: int, num_classes: int, args: dict):
    """``(torch UNet, Keras ResidualUnet model)`` holding the same weights."""
    unet = monai_unet(dims, in_channels, num_classes, args)
    model = ResidualUnet(num_classes=num_classes, padding="torch", **args).build(dims,
                                                                                in_channels)
    copy_monai_unet_weights(unet, model)
    return unet, model


def compare(unet, model, shape, in_channels: int, training: bool) -> float:
    """Largest |probability difference| on one random batch of two."""
    image = np.random.default_rng(1).normal(size=(2, *shape, in_channels)).astype(np.float32)
    unet.train(training)
    with torch.no_grad():
        logits = unet(torch.from_numpy(to_channels_first(image)))
    theirs = to_channels_last(torch.softmax(logits, dim=1).numpy())
    ours = model(image, training=training).numpy()
    assert ours.shape == theirs.shape
    return float(np.abs(ours - theirs).max())


@pytest.mark.parametrize("name,shape,in_channels,num_classes,args", CASES,
                         ids=[case[0] for case in CASES])
def test_inference_equals_monai(name, shape, in_channels, num_classes, args):
    unet, model = twins(len(shape), in_channels, num_classes, args)
    assert compare(unet, model, shape, in_channels, training=False) <= EVAL_TOLERANCE


@pytest.mark.parametrize("dims,num_res_units", [(3, 1), (2, 0)])
def test_training_mode_batch_norm_equals_monai(dims, num_res_units):
    """Batch statistics (not the moving averages) normalise in training mode."""
    args = dict(channels=[4, 8, 16], strides=[2, 2], num_res_units=num_res_units,
                norm="batch")
    shape = (16, 24, 8) if dims == 3 else (32, 24)
    unet, model = twins(dims, 1, 2, args)
    assert compare(unet, model, shape, 1, training=True) <= TRAIN_TOLERANCE


def test_parameter_counts_agree():
    # torch counts batch-norm running statistics as buffers, Keras as (non-trainable) weights.
    args = dict(channels=[4, 8, 16], strides=[2, 2], num_res_units=2, norm="batch")
    unet, model = twins(3, 1, 2, args)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == sum(p.numel() for p in unet.parameters())


def test_copy_rejects_a_different_architecture():
    unet = monai_unet(3, 1, 2, dict(channels=[4, 8, 16], strides=[2, 2], num_res_units=1))
    other = ResidualUnet(num_classes=2, channels=[4, 8, 16], strides=[2, 2]).build(3, 1)
    with pytest.raises(ValueError, match="no layer 'down0_unit0_conv'"):
        copy_monai_unet_weights(unet, other)
    wider = ResidualUnet(num_classes=2, channels=[4, 8, 32], strides=[2, 2],
                         num_res_units=1).build(3, 1)
    with pytest.raises(ValueError, match="shape"):
        copy_monai_unet_weights(unet, wider)
    batch = ResidualUnet(num_classes=2, channels=[4, 8, 16], strides=[2, 2], num_res_units=1,
                         norm="batch").build(3, 1)
    with pytest.raises(ValueError, match="weight arrays"):
        copy_monai_unet_weights(unet, batch)  # MONAI's instance norm has no weights
    plain = monai_unet(2, 1, 2, dict(channels=[8, 8], strides=[2], norm="none"))
    grouped = ResidualUnet(num_classes=2, channels=[8, 8], strides=[2], norm="group",
                           num_groups=2).build(2, 1)
    with pytest.raises(ValueError, match="no MONAI counterpart: .*'down0_norm'"):
        copy_monai_unet_weights(plain, grouped)


def test_same_padding_keeps_every_weight_and_differs_only_in_border_placement():
    """The default (TensorFlow "same") takes MONAI's weights unchanged but is not MONAI's
    output: the shift of the strided convolutions' padding shows."""
    args = dict(channels=[4, 8, 16], strides=[2, 2], num_res_units=1, norm="batch")
    unet, exact = twins(3, 1, 2, args)
    same = ResidualUnet(num_classes=2, **args).build(3, 1)
    assert same.count_params() == exact.count_params()
    assert not any("_pad" in layer.name or "_crop" in layer.name for layer in same.layers)
    copy_monai_unet_weights(unet, same)  # same names and shapes: the weights load as they are
    assert compare(unet, exact, (16, 16, 16), 1, training=False) <= EVAL_TOLERANCE
    assert compare(unet, same, (16, 16, 16), 1, training=False) > 1e-3
