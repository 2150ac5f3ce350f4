"""Forward-pass cost of the satellite VSR models: seconds per output megapixel, and peak memory.

    python benchmarks/bench_models.py                       # LGTD, LGTD-arc, MTDO at 160x160 LR on the CPU
    python benchmarks/bench_models.py --sizes 160,640 --device cuda --autocast bf16
    python benchmarks/bench_models.py --models lgtd --sizes 640 --tile 320 --out benchmarks/results/x.json

One sample is the model's frames (5, or 7 for LGFN) of ``size x size``; the output is the centre frame x4.
The first forward is a warm-up; the best of ``--repeat`` timed forwards is kept. With ``--tile`` the sample
goes through ``satsr.upscale`` instead (tiles of that size plus the model's halo and feather, one timed run):
on the CPU a whole 640 x 640 forward of the HAT models needs more memory than a 23 GB machine has. Prints a
Markdown table and writes JSON (``benchmarks/results/bench_models.json`` by default).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import torch

from satsr.models import get_spec
from satsr.models.lgfn import LGFN
from satsr.models.lgtd import LGTD, LGTDArc
from satsr.models.mtdo import MTDO
from satsr.models.ops import zero_dcn_offsets

MODELS = {"lgtd": LGTD, "lgtd-arc": LGTDArc, "mtdo": MTDO, "lgfn": LGFN}
ZERO_OFFSETS = True


def _at_rest(model: torch.nn.Module) -> torch.nn.Module:
    """Zero the DCN offset/mask predictors (DCNv2's own init) unless --authors-init.

    The authors re-initialise them with Kaiming noise, which predicts offsets of many pixels in random directions;
    trained weights move samples by a few pixels. Random far samples miss the CPU caches, which makes large inputs
    several times slower per pixel than small ones, a cost no trained model pays.
    """
    return zero_dcn_offsets(model) if ZERO_OFFSETS else model


def _init_name() -> str:
    return "zero" if ZERO_OFFSETS else "authors (Kaiming)"


def run_tiled(name: str, size: int, device: str, tile: int, one_tile: bool = False) -> dict[str, object]:
    """Time one sample through ``satsr.upscale`` (float32 frames, centre frame; only the first tile if asked)."""
    import numpy as np
    import xarray as xr

    import satsr
    from satsr.geo import Grid
    from satsr.io.coords import assign_grid
    from satsr.testing import JILIN1_CRS, JILIN1_TRANSFORM

    torch.manual_seed(0)
    n = get_spec(name).frames_in
    frames = np.random.default_rng(0).random((n, 3, size, size), dtype=np.float32)
    da = assign_grid(xr.DataArray(frames, dims=("time", "band", "y", "x")),
                     Grid((size, size), JILIN1_TRANSFORM, JILIN1_CRS))
    # One tile per forward: a batch of 448 x 448 windows would not fit in CPU memory.
    model = _at_rest(satsr.models.create(name, pretrained=False))
    spec = model.spec
    # One tile alone: crop with the halo grown by the feather width reads the same window as the default
    # feathered run (whose first block would also need its neighbours' tiles), so it costs what one tile costs.
    kw = {"blend": "crop", "halo": spec.halo + spec.feather} if one_tile else {}
    sr = satsr.upscale(da, model, tile=tile, device=device, batch_size=1, **kw).isel(time=n // 2)
    side = 4 * min(tile, size) if one_tile else 4 * size
    sr = sr.isel(y=slice(0, side), x=slice(0, side))  # dask computes only the blocks (tiles) this needs
    t = time.perf_counter()
    sr.compute(scheduler="threads")
    best = time.perf_counter() - t
    out_mpx = side**2 / 1e6
    return {
        "model": name, "lr_size": size, "device": device, "autocast": "fp32", "seconds": round(best, 3),
        "s_per_output_mpx": round(best / out_mpx, 2), "output_mpx": out_mpx, "dcn_offsets": _init_name(),
        "via": f"satsr.upscale tile {tile}, halo {sr.attrs['satsr_halo']}, {sr.attrs['satsr_blend']}"
               + (" (one tile, same window)" if one_tile else ""),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def run(name: str, size: int, device: str, autocast: str | None, repeat: int) -> dict[str, object]:
    """Time one model at one size."""
    torch.manual_seed(0)
    model = _at_rest(MODELS[name]().eval()).to(device)
    x = torch.rand(1, get_spec(name).frames_in, 3, size, size, device=device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(autocast or "")
    kind = device.split(":")[0]
    ctx = torch.autocast(device_type=kind, dtype=dtype) if dtype else torch.autocast(kind, enabled=False)
    times = []
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode(), ctx:
        for i in range(repeat + 1):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t = time.perf_counter()
            model(x)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - t)
    out_mpx = (4 * size) ** 2 / 1e6
    best = min(times)
    res: dict[str, object] = {
        "model": name, "lr_size": size, "device": device, "autocast": autocast or "fp32", "seconds": round(best, 3),
        "s_per_output_mpx": round(best / out_mpx, 2), "output_mpx": out_mpx, "dcn_offsets": _init_name(),
    }
    if device.startswith("cuda"):
        res["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lgtd,lgtd-arc,mtdo")
    parser.add_argument("--sizes", default="160")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--autocast", choices=["bf16", "fp16"], default=None)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--tile", type=int, default=None, help="go through satsr.upscale with this tile size")
    parser.add_argument("--one-tile", action="store_true", help="with --tile: time only the first tile")
    parser.add_argument("--authors-init", action="store_true",
                        help="keep the authors' Kaiming init of the DCN offset predictors (default: zero, as DCNv2)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_models.json")
    args = parser.parse_args()
    global ZERO_OFFSETS
    ZERO_OFFSETS = not args.authors_init
    rows = [run_tiled(m, int(s), args.device, args.tile, args.one_tile) if args.tile else
            run(m, int(s), args.device, args.autocast, args.repeat)
            for m in args.models.split(",") for s in args.sizes.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print("| model | LR size | device | precision | DCN offsets | via | s / sample | s per output Mpx | peak RSS MB |")
    print("|---|---|---|---|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['lr_size']} | {r['device']} | {r['autocast']} | {r['dcn_offsets']} | "
              f"{r.get('via', 'model')} | {r['seconds']} | {r['s_per_output_mpx']} | {r['peak_rss_mb']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/bench_models.py " + " ".join(sys.argv[1:])
    args.out.write_text(json.dumps({"command": command.strip(), "rows": rows}, indent=2))
    print(f"JSON: {args.out}")


if __name__ == "__main__":
    main()
