"""Batch throughput: items per minute with 1 and 2 dask workers, and the batch layer against a plain loop.

    python benchmarks/bench_batch.py --data ../shared/data [--model lgtd-s --size 128 --items 8]

Builds an ``--items``-item catalog of real Landsat 8 crops (``--size`` px, RGB), then times, in one run:

* ``loop``: ``satsr.to_cog(satsr.upscale(satsr.open_stack(f), ...), ...)`` for each file, in this process;
* ``batch, in process``: ``run_batch(..., workers=0)`` (catalog, product items, checksums, report);
* ``batch, N workers``: ``run_batch(..., workers=N)`` on a fresh ``LocalCluster`` (its start-up included).

Each worker of an N-worker cluster gets cores / N threads. Prints a Markdown table and writes JSON
(``benchmarks/results/bench_batch.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import rasterio
from rasterio.windows import Window

import satsr
from satsr.batch import JobConfig, run_batch
from satsr.catalog import init_catalog


def _make_catalog(data: Path, root: Path, n: int, size: int) -> tuple[Path, list[Path]]:
    scenes = root / "scenes"
    scenes.mkdir(parents=True)
    files = []
    with rasterio.open(data / "geotiff" / "landsat8_rgb_30m_uint16.tif") as src:
        for i in range(n):
            row, col = 100 + (i // 4) * (size + 50), 100 + (i % 4) * (size + 50)
            win = Window(col, row, size, size)
            profile = {**src.profile, "width": size, "height": size, "transform": src.window_transform(win),
                       "tiled": False, "compress": "deflate"}
            path = scenes / f"scene{i:02d}.tif"
            with rasterio.open(path, "w", **profile) as dst:
                dst.write(src.read(window=win))
            files.append(path)
    cat = root / "catalog.json"
    init_catalog(scenes, cat)
    return cat, files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--model", default="lgtd-s")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_batch.json")
    args = parser.parse_args()

    bands = [3, 2, 1]
    value_range = (6000.0, 10000.0)
    weights = None if satsr.models.get_spec(args.model).weights else False  # random on purpose: a timing
    cfg = JobConfig(model=args.model, bands=tuple(bands), value_range=value_range, device="cpu", pretrained=weights)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cat, files = _make_catalog(args.data, root, args.items, args.size)
        # warm-up: model built and weights read once in this process (as the loop and workers=0 reuse it)
        satsr.upscale(satsr.open_stack(files[0]), args.model, bands=bands, value_range=value_range,
                      device="cpu", pretrained=weights).compute()

        t0 = time.perf_counter()
        (root / "loop").mkdir()
        for f in files:
            sr = satsr.upscale(satsr.open_stack(f), args.model, bands=bands, value_range=value_range, device="cpu",
                               pretrained=weights)
            satsr.to_cog(sr, root / "loop" / f"{f.stem}.tif")
        rows.append({"case": "loop: upscale + to_cog", "workers": 0, "seconds": time.perf_counter() - t0})

        t0 = time.perf_counter()
        report = run_batch(cat, root / "batch0", cfg, workers=0, progress=False)
        assert not report.failed, report.failed
        rows.append({"case": "batch, in process", "workers": 0, "seconds": time.perf_counter() - t0})

        for n in (int(v) for v in args.workers.split(",")):
            shutil.rmtree(root / f"batch{n}", ignore_errors=True)
            t0 = time.perf_counter()
            report = run_batch(cat, root / f"batch{n}", cfg, workers=n, progress=False)
            assert not report.failed, report.failed
            rows.append({"case": f"batch, {n} worker{'s' if n > 1 else ''}", "workers": n,
                         "seconds": time.perf_counter() - t0})

    base = rows[0]["seconds"]
    print(f"{args.items} items of {args.size} x {args.size} px, {args.model} x4, {os.cpu_count()} CPU cores\n")
    print("| case | seconds | items/min | time / loop |")
    print("|---|---:|---:|---:|")
    for r in rows:
        r["items_per_min"] = args.items / r["seconds"] * 60
        r["vs_loop"] = r["seconds"] / base
        print(f"| {r['case']} | {r['seconds']:.1f} | {r['items_per_min']:.1f} | {r['vs_loop']:.2f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "command": "python benchmarks/bench_batch.py", "model": args.model, "items": args.items, "size": args.size,
        "cpu_count": os.cpu_count(), "machine": platform.machine(), "rows": rows}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
