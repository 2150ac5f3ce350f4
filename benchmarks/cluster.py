"""One scene across dask.distributed workers: throughput and the calling process's peak memory (issue 20).

Each configuration runs in a fresh Python process, so its peak RSS (``ru_maxrss``) is its own:

* **throughput**: lgtd-s x4 on a crop of the real Landsat 8 scene, written as a COG, with the threaded scheduler
  (all cores), a ``LocalCluster`` of 1 worker process (all cores as threads) and of 2 worker processes (1 thread
  each). Ratios to the threaded run are what to compare (this machine is shared);
* **client memory**: bicubic x4 of a 512 px crop (2k output) and of the whole scene (8k output) written as a
  COG under a 2-worker ``LocalCluster``, with the workers assembling the file (``SATSR_ASSEMBLE=workers``, the
  default where they see the output folder) and with the blocks pulled into the calling process
  (``SATSR_ASSEMBLE=client``). The peak is reported above the process's RSS once the graph is built (satsr, torch
  and distributed imported, the model built), i.e. what writing the scene cost the client.

    python benchmarks/cluster.py            # prints a table, writes benchmarks/results/cluster.json
    python benchmarks/cluster.py --quick    # smaller crops (a smoke test)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENE = Path(os.environ.get("SATSR_SHARED_DATA", HERE.parent.parent / "shared" / "data")) / "geotiff" / \
    "landsat8_rgb_30m_uint16.tif"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_one(cfg: dict) -> dict:
    """Run one configuration in this process and return its measurements."""
    import dask
    import distributed

    import satsr

    os.environ["SATSR_ASSEMBLE"] = cfg.get("assemble", "auto")
    da = satsr.open_stack([SCENE])
    crop = cfg["crop"]
    if crop:
        da = da.isel(y=slice(0, crop), x=slice(0, crop))
    out = Path(tempfile.mkdtemp(prefix="satsr-cluster-")) / "out.tif"
    mode = cfg["scheduler"]
    pretrained = None if cfg["model"] == "lgtd-s" else False
    options = {"tile": cfg.get("tile", 256), "pretrained": pretrained}
    if mode == "threads":
        with dask.config.set(scheduler="threads"):
            sr = satsr.upscale(da, cfg["model"], scale=4, **options)  # imports torch, builds the model here
            base = _current_rss_mb()
            t0 = time.perf_counter()
            satsr.to_cog(sr, out)
            seconds = time.perf_counter() - t0
    else:
        n = int(mode.split("-")[0])
        threads = max(1, (os.cpu_count() or 1) // n)
        with distributed.LocalCluster(n_workers=n, threads_per_worker=threads, processes=True,
                                      dashboard_address=":0", silence_logs=40) as cluster, \
                distributed.Client(cluster) as client:
            client.run(lambda: __import__("satsr.pipeline"))  # imports before the clock starts
            sr = satsr.upscale(da, cfg["model"], scale=4, **options)  # imports torch, builds the model here
            base = _current_rss_mb()
            t0 = time.perf_counter()
            satsr.to_cog(sr, out)
            seconds = time.perf_counter() - t0
    import rasterio

    with rasterio.open(out) as f:
        mpx = f.width * f.height / 1e6
    return {**cfg, "seconds": round(seconds, 2), "out_mpx": round(mpx, 2),
            "mpx_per_s": round(mpx / seconds, 3), "client_peak_mb": round(_rss_mb(), 1),
            "client_base_mb": round(base, 1), "client_job_mb": round(_rss_mb() - base, 1)}


def _spawn(cfg: dict) -> dict:
    res = subprocess.run([sys.executable, __file__, "--one", json.dumps(cfg)], capture_output=True, text=True,
                         check=False)
    if res.returncode != 0:
        raise SystemExit(f"configuration {cfg} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small crops: a smoke test, not a measurement")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "cluster.json")
    ap.add_argument("--crop", type=int, default=512, help="throughput: LR crop side in px (default 512: 4.2 Mpx out)")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return
    tp_crop, small, big = (64, 128, 256) if args.quick else (args.crop, 512, 0)
    throughput = [_spawn({"part": "throughput", "model": "lgtd-s", "crop": tp_crop, "scheduler": s, "tile": 128})
                  for s in ("threads", "1-worker", "2-workers")]
    memory = [_spawn({"part": "memory", "model": "bicubic", "crop": c, "scheduler": "2-workers", "assemble": a})
              for a in ("workers", "client") for c in (small, big)]
    ref = throughput[0]["seconds"]
    for r in throughput:
        r["speed_vs_threads"] = round(ref / r["seconds"], 2)
    print(f"throughput: lgtd-s x4, {throughput[0]['out_mpx']} Mpx out, {os.cpu_count()} cores")
    print(f"{'scheduler':<12} {'s':>7} {'Mpx/s':>7} {'vs threads':>10} {'client peak MB':>15}")
    for r in throughput:
        print(f"{r['scheduler']:<12} {r['seconds']:>7.1f} {r['mpx_per_s']:>7.3f} {r['speed_vs_threads']:>10.2f} "
              f"{r['client_peak_mb']:>15.0f}")
    print("\nclient memory: bicubic x4 under a 2-worker LocalCluster")
    print(f"{'assemble':<9} {'out Mpx':>8} {'s':>7} {'peak MB':>8} {'after imports':>14} {'job MB':>7}")
    for r in memory:
        print(f"{r['assemble']:<9} {r['out_mpx']:>8.1f} {r['seconds']:>7.1f} {r['client_peak_mb']:>8.0f} "
              f"{r['client_base_mb']:>14.0f} {r['client_job_mb']:>7.0f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cpu_count": os.cpu_count(), "throughput": throughput, "memory": memory},
                                   indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
