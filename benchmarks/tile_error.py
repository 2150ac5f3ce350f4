"""How far tiled output is from whole-image output, through ``satsr.upscale``, for the video models.

For each model, the same 5-frame real Jilin-1 crop (32 x 64 LR, float) is upscaled twice: in one tile, and in
tiles of 32 px with the model's declared halo, with ``blend="crop"`` and with the model's default blend. The
DCN offset predictors are zero (DCNv2's own init) and the last convolution is scaled so that outputs are of order
one, as a trained model's are; both the authors' configuration (``align_corners=True``) and the tile-exact one
(``align_corners=False``) are measured.

    python benchmarks/tile_error.py --data ../shared/data --models lgtd-arc,lgtd,mtdo

Prints a Markdown table and writes JSON (``benchmarks/results/tile_error.json``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import satsr
from satsr import models
from satsr.models.ops import zero_dcn_offsets
from satsr.testing import JILIN1_CRS, JILIN1_TRANSFORM


def prepared(name: str, align_corners: bool) -> torch.nn.Module:
    """Random weights at rest (zero offsets), outputs scaled to order one."""
    torch.manual_seed(0)
    model = zero_dcn_offsets(models.create(name, align_corners=align_corners, pretrained=False))
    last = [m for n, m in model.named_modules() if n.endswith("conv_last")][-1]
    if not last.weight.any():  # lgtd-s starts as exactly bicubic: give its network a voice
        torch.nn.init.kaiming_normal_(last.weight)
    with torch.inference_mode():
        peak = model(torch.rand(1, 5, 3, 32, 32)).abs().max()
        last.weight /= peak
        last.bias /= peak
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--models", default="lgtd-arc,lgtd,mtdo")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "tile_error.json")
    args = parser.parse_args()

    frames = sorted((args.data / "jilin1_airport" / "LR4x").glob("*.png"))[:5]
    stack = satsr.open_stack(frames, crs=JILIN1_CRS, transform=JILIN1_TRANSFORM)
    stack = stack.isel(y=slice(40, 72), x=slice(32, 96)).astype("float32") / 255
    rows = []
    for name in args.models.split(","):
        spec = models.get_spec(name)
        for align in (True, False):
            model = prepared(name, align)
            start = time.perf_counter()
            whole = satsr.upscale(stack, model, tile=128, blend="crop").isel(time=2).values
            row = {"model": name, "align_corners": align, "halo": spec.halo,
                   "output_absmax": float(np.abs(whole).max())}
            for blend in ("crop", "feather"):
                tiled = satsr.upscale(stack, model, tile=32, blend=blend, feather=spec.feather or 8).isel(time=2).values
                row[f"max_abs_diff_{blend}"] = float(np.abs(tiled - whole).max())
                row[f"mean_abs_diff_{blend}"] = float(np.abs(tiled - whole).mean())
            row["seconds"] = round(time.perf_counter() - start, 1)
            rows.append(row)
            print(row, flush=True)
    print("| model | align_corners | halo | max abs diff, crop | max abs diff, feather | mean abs diff, crop |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['align_corners']} | {r['halo']} | {r['max_abs_diff_crop']:.2e} | "
              f"{r['max_abs_diff_feather']:.2e} | {r['mean_abs_diff_crop']:.2e} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": "python benchmarks/tile_error.py", "rows": rows}, indent=2))
    print(f"JSON: {args.out}")


if __name__ == "__main__":
    main()
