"""Cost as work grows: epoch time, input wait and peak memory of the spleen scaffold as the
case count and the volume size grow, with Smart Cache on and off.

The grid (defaults): 12, 48 and 96 cases of 64^3 voxels, and 12 cases of 64^3, 256^3 and
512 x 512 x 160 (a typical abdominal CT), each trained with Smart Cache on and off. Every
data set is ``mmarctl clone spleen`` + ``mmarctl data synth --shape`` (every case exactly
that shape; a quarter of the cases validate, the rest train). Each row runs in a fresh
process (``train_meter.train_measured``, as ``training_throughput.py``): one warm-up epoch
(tracing, cache filling), then ``--epochs`` measured ones, validation off, float32.

* **Smart Cache on**: the scaffold's ``SegmentationImagePipelineWithCache`` as it ships
  (``num_cache_objects`` 8, ``replace_percent`` 0.25): an epoch trains on the 8 cases of
  the cache window whose loading and resampling already ran, and the next epoch's
  newcomers load in the background.
* **Smart Cache off**: ``SegmentationImagePipeline`` with ``MMARCTL_CACHE_BYTES=0``: every
  training case is loaded, resampled and cropped in every epoch (mmarctl's plain pipeline
  would otherwise cache every case that fits in half the memory).

Steps per epoch are what the scaffold gives (one step of 2 crops of 48^3 per case in the
epoch), so the training step costs the same at every volume size; what grows with voxels
is the input work (reading, resampling to 2.5 x 2.5 x 3 mm). Columns: cases per epoch (the
window, or every training case), epoch seconds (the loop: waiting for batches and
stepping), per-case ms (epoch over its cases), input wait (time the loop waited for the
next batch over the step time), peak RSS (``VmHWM`` of the row's process), peak private
memory (``RssAnon``, sampled every 10 ms; resident memory also counts TensorFlow's shared
library pages) and **vs linear**: epoch seconds over the smallest row's (same Smart Cache
setting) scaled linearly by cases per epoch x voxels per case. 1.00 is linear growth;
below 1, the epoch grows slower than the work in the data.

A row whose measured epochs would end more than ``--row-budget`` seconds (default 180)
after it started stops each measured epoch after as many steps as fit; its epoch time is
extrapolated to the full epoch and marked with ``*``.

Usage: python benchmarks/cost_growth.py [--cases 12,48,96] [--sizes 64,256,512x512x160]
                                        [--cache on,off] [--epochs 2] [--json FILE]
Smoke run (< 1 min): python benchmarks/cost_growth.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # benchmarks.monai.harness

from train_meter import print_result, run_child, train_measured  # noqa: E402

DEFAULT_CASES = "12,48,96"
DEFAULT_SIZES = "64,256,512x512x160"
QUICK = {"cases": "4", "sizes": "24,32", "epochs": 1}
NOCACHE_CONFIG = "config_train_nocache.json"
PLAIN = "SegmentationImagePipeline"
SMART_ONLY = ("num_cache_objects", "replace_percent", "caches_data")


# -- the grid ---------------------------------------------------------------------------------

def parse_volume(text: str) -> tuple[int, int, int]:
    """``"64"`` (a cube) or ``"512x512x160"``."""
    parts = [int(p) for p in text.lower().split("x")]
    if len(parts) == 1:
        parts *= 3
    if len(parts) != 3 or min(parts) < 1:
        raise ValueError(f"a volume is N (a cube) or XxYxZ; Received: {text!r}")
    return tuple(parts)  # type: ignore[return-value]


def volume_name(shape: tuple[int, ...]) -> str:
    return f"{shape[0]}^3" if len(set(shape)) == 1 else "x".join(map(str, shape))


def voxels(shape: tuple[int, ...]) -> int:
    return shape[0] * shape[1] * shape[2]


def grid(cases: list[int], volumes: list[tuple[int, int, int]]) -> list[tuple[int, tuple]]:
    """The data sets: every case count at the first volume, every volume at the first
    case count; no duplicates, smallest work first."""
    sets = [(n, volumes[0]) for n in cases] + [(cases[0], v) for v in volumes]
    unique = list(dict.fromkeys(sets))
    return sorted(unique, key=lambda s: (s[0] * voxels(s[1]), s[0]))


def add_vs_linear(rows: list[dict]) -> dict[str, dict]:
    """Set each row's ``vs_linear``; returns the baseline row of each Smart Cache setting.

    The baseline is the row with the least work per epoch (cases per epoch x voxels per
    case) of the same setting; linear growth predicts ``base epoch s x work / base work``.
    """
    bases: dict[str, dict] = {}
    for row in rows:
        work = row["cases_per_epoch"] * row["voxels"]
        base = bases.get(row["cache"])
        if base is None or work < base["cases_per_epoch"] * base["voxels"]:
            bases[row["cache"]] = row
    for row in rows:
        base = bases[row["cache"]]
        scale = (row["cases_per_epoch"] * row["voxels"]) / (base["cases_per_epoch"]
                                                           * base["voxels"])
        row["linear_s"] = base["epoch_s"] * scale
        row["vs_linear"] = row["epoch_s"] / row["linear_s"]
    return bases


# -- one row, in a fresh process ----------------------------------------------------------------

def measure(workspace: Path, cache: str, epochs: int, row_budget: float,
            started: float) -> dict:
    """Train one row in this process; the figures as a JSON-able dict."""
    from benchmarks.monai.harness import PrivatePeakSampler, peak_rss_mib

    with PrivatePeakSampler(interval=0.01) as private:
        run = train_measured(workspace, epochs=epochs, amp=False,
                             config=None if cache == "on" else NOCACHE_CONFIG,
                             deadline=started + row_budget)
    pipeline = run.plan.pipeline
    measured = list(zip(run.epoch_s[1:], run.epoch_steps[1:]))
    full = run.steps_per_epoch
    # Capped epochs: seconds per step of the measured part, times the full epoch's steps.
    epoch_s = sum(s / max(n, 1) * full for s, n in measured) / max(len(measured), 1)
    cached = getattr(pipeline, "_cache", {})
    resampled = None
    for samples in cached.values():
        image = samples[0].get("image") if samples else None
        if image is not None:
            resampled = list(image.shape[-3:])
            break
    from mmarctl.runtime.pipelines.base import sample_bytes

    return {
        "cache": cache, "pipeline": type(pipeline).__name__,
        "cases_per_epoch": len(pipeline.epoch_order(0)),
        "training_cases": len(pipeline.items()),
        "steps_per_epoch": full, "capped_steps": run.capped_steps,
        "warmup_s": run.epoch_s[0], "epochs_s": [s for s, _ in measured],
        "epochs_steps": [n for _, n in measured], "epoch_s": epoch_s,
        "wait_share": run.wait_share,
        "peak_rss_mib": peak_rss_mib(), "peak_private_mib": private.peak,
        "cache_mib": sample_bytes([s for v in cached.values() for s in v]) / 2**20,
        "resampled": resampled,
    }


def write_nocache_config(workspace: Path) -> None:
    """config/config_train_nocache.json: the scaffold's config with the plain pipeline."""
    source = workspace / "config" / "config_train.json"
    config = json.loads(source.read_text(encoding="utf-8"))
    pipeline = config["train"]["image_pipeline"]
    if pipeline.get("name") != "SegmentationImagePipelineWithCache":
        raise SystemExit(f"{source}: expected the spleen scaffold's Smart Cache pipeline, "
                         f"found {pipeline.get('name')!r}")
    args = {k: v for k, v in pipeline.get("args", {}).items() if k not in SMART_ONLY}
    config["train"]["image_pipeline"] = {"name": PLAIN, "args": args}
    (workspace / "config" / NOCACHE_CONFIG).write_text(json.dumps(config, indent=2),
                                                        encoding="utf-8")


def set_cache_objects(workspace: Path, value: str) -> None:
    """Override the Smart Cache window (``num_cache_objects``; "all": every case)."""
    path = workspace / "config" / "config_train.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    args = config["train"]["image_pipeline"]["args"]
    if value == "all":
        args.pop("num_cache_objects", None)
    else:
        args["num_cache_objects"] = int(value)
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")


def mmarctl(*args: object) -> None:
    subprocess.run([sys.executable, "-m", "mmarctl", *map(str, args)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _row(workspace: Path, cache: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--one", cache, "--workspace", str(workspace),
               "--epochs", str(args.epochs), "--row-budget", str(args.row_budget)]
    env = dict(os.environ)
    env.pop("MMARCTL_CACHE_BYTES", None)
    if cache == "off":
        env["MMARCTL_CACHE_BYTES"] = "0"  # the plain pipeline caches nothing
    return run_child(command, what=f"smart cache {cache}", env=env,
                     timeout=3 * args.row_budget + 300)


# -- output -------------------------------------------------------------------------------------

def print_table(rows: list[dict], bases: dict[str, dict]) -> None:
    header = ["cases", "volume", "smart cache", "cases/epoch", "epoch s", "per-case ms",
              "input wait %", "peak RSS MiB", "private MiB", "vs linear"]
    body = []
    for r in rows:
        mark = "*" if r["capped_steps"] else ""
        body.append([str(r["cases"]), r["volume"], r["cache"], str(r["cases_per_epoch"]),
                     f"{r['epoch_s']:.2f}{mark}",
                     f"{1000 * r['epoch_s'] / max(r['cases_per_epoch'], 1):.0f}",
                     f"{100 * r['wait_share']:.1f}", f"{r['peak_rss_mib']:,.0f}",
                     f"{r['peak_private_mib']:,.0f}", f"{r['vs_linear']:.2f}"])
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    print()
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for line in body:
        print("  ".join(v.rjust(w) for v, w in zip(line, widths)))
    print()
    for cache, base in sorted(bases.items(), reverse=True):
        print(f"vs linear, smart cache {cache}: baseline = the smallest row, {base['cases']} "
              f"cases of {base['volume']} ({base['cases_per_epoch']} cases/epoch, "
              f"{base['epoch_s']:.2f} s/epoch), scaled linearly by cases/epoch x voxels per "
              f"case; 1.00 = linear, < 1 = slower growth than the data")
    capped = [r for r in rows if r["capped_steps"]]
    for r in capped:
        print(f"* {r['cases']} cases of {r['volume']}, smart cache {r['cache']}: measured "
              f"{r['capped_steps']} of {r['steps_per_epoch']} steps per epoch (row budget), "
              f"epoch s extrapolated from its seconds per step")


# -- main ------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=None,
                        help=f"case counts, at the first volume of --sizes ({DEFAULT_CASES})")
    parser.add_argument("--sizes", default=None,
                        help="volumes, N (cube) or XxYxZ, at the first case count "
                             f"({DEFAULT_SIZES})")
    parser.add_argument("--cache", default="on,off", help="Smart Cache settings (on,off)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="measured epochs after the warm-up (2)")
    parser.add_argument("--row-budget", type=float, default=180.0,
                        help="seconds a row may take before its measured epochs are capped")
    parser.add_argument("--cache-objects", default=None,
                        help="Smart Cache window instead of the scaffold's 8 (N or 'all')")
    parser.add_argument("--no-compress", action="store_true",
                        help="synthesize .nii instead of .nii.gz (quicker to write and read)")
    parser.add_argument("--seed", type=int, default=0, help="data synth seed")
    parser.add_argument("--json", type=Path, help="write the rows and settings to this file")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: cases {QUICK['cases']} x sizes {QUICK['sizes']}, "
                             f"{QUICK['epochs']} measured epoch")
    parser.add_argument("--one", choices=("on", "off"), help=argparse.SUPPRESS)
    parser.add_argument("--workspace", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # a measuring process
        print_result(measure(args.workspace, args.one, args.epochs or 2, args.row_budget,
                             time.perf_counter()))
        return 0

    preset = QUICK if args.quick else {"cases": DEFAULT_CASES, "sizes": DEFAULT_SIZES,
                                       "epochs": 2}
    args.epochs = args.epochs or preset["epochs"]
    try:
        cases = [int(c) for c in (args.cases or preset["cases"]).split(",") if c.strip()]
        volumes = [parse_volume(v.strip()) for v in (args.sizes or preset["sizes"]).split(",")
                   if v.strip()]
    except ValueError as error:
        parser.error(f"--cases takes counts like 12,48 and --sizes volumes like "
                     f"64,512x512x160 ({error})")
    caches = [c.strip() for c in args.cache.split(",") if c.strip()]
    if not cases or not volumes or min(cases) < 2 or not caches \
            or set(caches) - {"on", "off"} or args.epochs < 1:
        parser.error("need case counts >= 2, at least one volume, --cache from on,off and "
                     "--epochs >= 1")

    sets = grid(cases, volumes)
    total = len(sets) * len(caches)
    print(f"cost growth: {len(sets)} data sets x smart cache {','.join(caches)} = {total} rows; "
          f"1 warm-up + {args.epochs} measured epoch(s) each; {os.cpu_count()} CPU(s), "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    began = time.perf_counter()
    rows: list[dict] = []
    synth_s = 0.0
    base = Path(tempfile.mkdtemp(prefix="mmarctl-cost-growth-"))
    try:
        for n, shape in sets:
            workspace = base / f"spleen-{n}-{'x'.join(map(str, shape))}"
            started = time.perf_counter()
            mmarctl("clone", "spleen", workspace)
            mmarctl("data", "synth", workspace / "data", "--cases", n, "--shape",
                    ",".join(map(str, shape)), "--seed", args.seed,
                    *(["--no-compress"] if args.no_compress else []))
            took = time.perf_counter() - started
            synth_s += took
            print(f"data: {n} cases of {volume_name(shape)} synthesized in {took:.1f} s",
                  flush=True)
            write_nocache_config(workspace)
            if args.cache_objects:
                set_cache_objects(workspace, args.cache_objects)
            for cache in caches:
                started = time.perf_counter()
                row = _row(workspace, cache, args)
                row.update(cases=n, volume=volume_name(shape), shape=list(shape),
                           voxels=voxels(shape), row_s=time.perf_counter() - started)
                rows.append(row)
                capped = (f", capped at {row['capped_steps']} of {row['steps_per_epoch']} steps"
                          if row["capped_steps"] else "")
                print(f"[{len(rows)}/{total}] {n} cases of {volume_name(shape)}, smart cache "
                      f"{cache}: warm-up {row['warmup_s']:.1f} s, epochs "
                      f"{' '.join(f'{s:.1f}' for s in row['epochs_s'])} s "
                      f"({row['cases_per_epoch']} cases, {row['steps_per_epoch']} steps), "
                      f"wait {100 * row['wait_share']:.0f} %, peak {row['peak_rss_mib']:,.0f} "
                      f"MiB{capped} ({row['row_s']:.0f} s)", flush=True)
            shutil.rmtree(workspace, ignore_errors=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    wall = time.perf_counter() - began
    bases = add_vs_linear(rows)
    rows.sort(key=lambda r: (r["cache"] != "on", r["cases"] * r["voxels"], r["cases"]))
    print_table(rows, bases)
    print(f"(float32, 1 warm-up + {args.epochs} measured epoch(s) per row, fresh process per "
          f"row; {os.cpu_count()} CPU(s); load {os.getloadavg()[0]:.1f} at the end; "
          f"whole run {wall:.0f} s, of which data synth {synth_s:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({
            "settings": {"cases": cases, "volumes": [list(v) for v in volumes],
                         "cache": caches, "epochs": args.epochs,
                         "row_budget_s": args.row_budget, "cache_objects": args.cache_objects,
                         "compressed": not args.no_compress, "seed": args.seed},
            "machine": {"cpus": os.cpu_count(), "load_end": os.getloadavg()[0]},
            "baselines": {c: {"cases": b["cases"], "volume": b["volume"],
                              "epoch_s": b["epoch_s"]} for c, b in bases.items()},
            "wall_s": wall, "synth_s": synth_s, "rows": rows}, indent=2), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
