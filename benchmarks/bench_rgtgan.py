"""RGTGAN through ``satsr.upscale`` on a georeferenced pair: seconds per output megapixel, and pairing's share.

    python benchmarks/bench_rgtgan.py --data ../shared/data [--size 64] [--device cpu]

The LR is the x4 block mean of a real Landsat 8 crop (``geotiff/landsat8_rgb_30m_uint16.tif``, UTM, ``--size``
LR pixels a side); the reference is the 30 m truth around it, warped to geographic coordinates (EPSG:4326) and
brightened (x1.5 + 100), as a reference from another sensor and CRS arrives. Three runs, timed separately:

* ``prepare``: :func:`satsr.io.reference.prepare_reference` (warp onto the LR grid, coverage, radiometry fit,
  phase correlation);
* ``pairing``: the whole pipeline with a model that returns the reference window it is given (GDAL warps of every
  block onto the output grid, matching, lockstep cutting, stitching, writing nothing) -- everything but inference;
* ``rgtgan``: the same with the real RGTNet (random weights: the time does not depend on them).

The pairing share is ``(prepare + pairing) / rgtgan``. Prints a Markdown table and writes JSON
(``benchmarks/results/bench_rgtgan.json``).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine
from rasterio.warp import Resampling, calculate_default_transform, reproject
from torch import nn

import satsr
from satsr import models
from satsr.io.reference import prepare_reference
from satsr.testing import write_geotiff


class _Echo(nn.Module):
    def forward(self, lr: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return ref.clone()


def make_pair(data: Path, size: int, tmp: Path) -> tuple[Path, Path]:
    """Write the LR GeoTIFF (UTM) and the reference GeoTIFF (EPSG:4326) of the benchmark; return their paths."""
    n, pad = size * 4, 32
    with rasterio.open(data / "geotiff" / "landsat8_rgb_30m_uint16.tif") as src:
        if n + 2 * pad > min(src.height, src.width):
            raise SystemExit(f"--size {size} is too large for the Landsat crop ({src.width} x {src.height} px)")
        y0, x0 = (src.height - n) // 2 - pad, (src.width - n) // 2 - pad  # the centre: no nodata there
        win = ((y0, y0 + n + 2 * pad), (x0, x0 + n + 2 * pad))
        big = src.read(window=win).astype(np.float32)
        big_tr, crs = src.window_transform(win), src.crs
    truth = big[:, pad:-pad, pad:-pad]
    lr = truth.reshape(3, size, 4, size, 4).mean(axis=(2, 4))
    lr_path = write_geotiff(tmp / "lr.tif", np.round(lr).astype(np.uint16), crs=crs.to_string(),
                            transform=big_tr @ Affine.translation(pad, pad) @ Affine.scale(4))
    h, w = big.shape[-2:]
    west, south, east, north = rasterio.transform.array_bounds(h, w, big_tr)
    dst_tr, dw, dh = calculate_default_transform(crs, "EPSG:4326", w, h, west, south, east, north)
    ref = np.zeros((3, dh, dw), np.float32)
    reproject(big, ref, src_transform=big_tr, src_crs=crs, dst_transform=dst_tr, dst_crs="EPSG:4326",
              resampling=Resampling.cubic, dst_nodata=0)
    ref_path = write_geotiff(tmp / "ref.tif", np.where(ref > 0, ref * 1.5 + 100, 0).astype(np.float32),
                             crs="EPSG:4326", transform=dst_tr, nodata=0)
    return lr_path, ref_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--size", type=int, default=64, help="LR pixels a side")
    parser.add_argument("--tile", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_rgtgan.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        lr_path, ref_path = make_pair(args.data, args.size, Path(tmp))
        lr = satsr.open_stack(lr_path)
        spec = models.get_spec("rgtgan")
        # The same tiling for both runs: rgtgan's tile, halo and feathering.
        opts = {"reference": str(ref_path), "value_range": (5000, 15000), "device": args.device,
                "tile": args.tile or spec.tile, "halo": spec.halo, "blend": "feather", "feather": spec.feather}
        t = time.perf_counter()
        prep = prepare_reference(str(ref_path), lr, 4)
        prepare_s = time.perf_counter() - t
        echo = models.wrap(_Echo(), scale=4, bands=3, needs_reference=True, multiple_of=spec.multiple_of)
        t = time.perf_counter()
        satsr.upscale(lr, echo, **opts).compute()
        pairing_s = time.perf_counter() - t
        torch.manual_seed(0)
        net = models.create("rgtgan", pretrained=False)
        t = time.perf_counter()
        sr = satsr.upscale(lr, net, **opts)
        sr.compute()
        total_s = time.perf_counter() - t
    mpx = args.size * args.size * 16 / 1e6
    row = {
        "device": args.device, "lr_size": args.size, "tile": sr.attrs["satsr_tile"], "output_mpx": mpx,
        "prepare_s": round(prepare_s, 3), "pairing_s": round(pairing_s, 3), "rgtgan_s": round(total_s, 2),
        "s_per_output_mpx": round(total_s / mpx, 1),
        "pairing_share": round((prepare_s + pairing_s) / total_s, 4),
        "coverage": prep.coverage, "shift_lr_px": list(prep.shift),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "machine": platform.processor(),
    }
    print("| device | LR px | tile | output Mpx | prepare s | pairing s | rgtgan s | s / output Mpx | pairing share |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {row['device']} | {args.size}^2 | {row['tile']} | {mpx:.3f} | {prepare_s:.2f} | {pairing_s:.2f} | "
          f"{total_s:.1f} | {row['s_per_output_mpx']} | {100 * row['pairing_share']:.2f}% |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(row, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
