"""The default model on single real satellite images it never saw in training, against bicubic and bilinear.

    python benchmarks/eval_stills.py --data ../shared/data

Each image is degraded x4 with the papers' MATLAB bicubic (``satsr.degrade.degrade``), super-resolved back
through ``satsr.upscale`` (the path users get; a still is a one-frame stack, so the video model sees its frame
repeated) and scored against the original with the standard protocol (Y, crop 4, 8 bit). 16-bit images are
stretched to ``[0, 1]`` between their 0.5 and 99.5 % percentiles first (what ``--value-range`` does for users);
8-bit images are divided by 255. The training data of ``lgtd-s`` (``satsr/train/configs/lgtd-s.yaml``) are the
Ref-SR stills; none of these images is among them. Prints a Markdown table and writes JSON
(``benchmarks/results/eval_stills.json``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import rasterio
import xarray as xr
from affine import Affine

import satsr
from satsr.degrade import degrade
from satsr.geo import Grid
from satsr.io.coords import assign_grid
from satsr.metrics import evaluate

MODELS = ("lgtd-s", "bicubic", "bilinear")


def _stretch(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255
    lo, hi = np.percentile(img, [0.5, 99.5])
    return np.clip((img.astype(np.float32) - lo) / (hi - lo), 0, 1)


def _images(data: Path) -> dict[str, np.ndarray]:
    """Name -> RGB float32 (3, H, W) in [0, 1], H and W multiples of 4."""
    out = {}
    with rasterio.open(data / "geotiff" / "landsat8_rgb_30m_uint16.tif") as src:  # B2, B3, B4
        out["landsat8 30 m (centre 1024 px)"] = src.read([3, 2, 1], window=((418, 1442), (508, 1532)))
    with rasterio.open(data / "geotiff" / "rgbn_5m_uint8.tif") as src:
        out["rgbn 5 m"] = src.read([1, 2, 3])
    with rasterio.open(data / "geotiff" / "landsat7_rgb_300m_uint8.tif") as src:  # nodata border: the inside
        out["landsat7 300 m (inside 400 px)"] = src.read([1, 2, 3], window=((160, 560), (190, 590)))
    s2 = np.load(data / "sentinel2" / "S2A_MSIL1C_20170527_T33UUB.npz")["im10"]  # B2, B3, B4, B8
    out["sentinel-2 10 m"] = s2[[2, 1, 0]]
    return {k: _stretch(v)[:, : v.shape[1] // 4 * 4, : v.shape[2] // 4 * 4] for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "eval_stills.json")
    args = parser.parse_args()

    rows = []
    for name, hr in _images(args.data).items():
        lr = degrade(hr, 4)
        da = assign_grid(xr.DataArray(lr[None], dims=("time", "band", "y", "x")),
                         Grid(lr.shape[-2:], Affine.identity(), None))
        for model in MODELS:
            t0 = time.perf_counter()
            sr = satsr.upscale(da, model, scale=4, device=args.device).values[0]
            dt = time.perf_counter() - t0
            scores = evaluate(np.clip(sr, 0, 1), hr, protocol="standard", scale=4)
            rows.append({"image": name, "lr": list(lr.shape[-2:]), "model": model, **scores, "seconds": dt})

    print("| image | LR size | model | PSNR (dB) | SSIM | time (s) |")
    print("|---|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['image']} | {r['lr'][0]} x {r['lr'][1]} | {r['model']} | {r['psnr']:.2f} | {r['ssim']:.4f} "
              f"| {r['seconds']:.1f} |")
    for model in MODELS:
        mine = [r for r in rows if r["model"] == model]
        print(f"| **mean** | | {model} | {np.mean([r['psnr'] for r in mine]):.2f} | "
              f"{np.mean([r['ssim'] for r in mine]):.4f} | |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"device": args.device, "machine": platform.processor() or platform.machine(),
                                    "torch_threads": __import__("torch").get_num_threads(), "rows": rows},
                                   indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
