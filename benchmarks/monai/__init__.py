"""Side-by-side benchmarks: mmarctl against MONAI on the same synthetic data, in one run.

Set up with ``scripts/setup_bench.sh`` (PyTorch 2.13.0 CPU + MONAI 1.6.1 in the project
venv), then run ``python -m benchmarks.monai`` from the repository root. Each row is one
module (``row_*.py``) with a ``run(config) -> list[Figure]`` function; :mod:`.harness` holds
the figure type, the timers and the table. Rows:

1. ``row_dice``      ComputeAverageDice vs ``monai.metrics.DiceMetric`` (correctness)
2. ``row_window``    TFScanWindowInferer vs ``sliding_window_inference`` (parity + speed)
3. ``row_pipeline``  the spleen training pipeline vs CacheDataset + DataLoader (speed)
4. ``row_train``     U-Net training step vs ``monai.networks.nets.UNet`` (speed, memory)
5. ``row_quality``   time to validation mean Dice 0.90 on synthetic spleen data

This package is run with ``-m`` from the repository root, so ``import monai`` inside it
resolves to the real MONAI (the package's own name is ``benchmarks.monai``).
"""
