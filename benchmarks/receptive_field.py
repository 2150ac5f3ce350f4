"""Measure how far a one-pixel change in the input reaches in a model's output (its effective receptive field).

The halo a model needs for seamless tiles is the distance, in input pixels, beyond which a change in the input
no longer moves the output by more than a tolerance. This script perturbs the centre pixel of every frame of a
random input and reports, for several tolerances, the largest distance (Chebyshev, input pixels) at which the
output changed.

    python benchmarks/receptive_field.py --model lgtd-arc --size 160
    python benchmarks/receptive_field.py --model mtdo --size 64 --zero-offsets

``--zero-offsets`` zero-initialises the DCN offset/mask predictors (the DCN default) instead of the authors'
Kaiming re-initialisation, whose random offsets reach far. Prints a table and writes JSON
(``benchmarks/results/receptive_field_<model>.json`` by default).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from satsr.models.lgtd import LGTD, LGTDArc
from satsr.models.mtdo import MTDO
from satsr.models.ops import DCNSep

MODELS = {"lgtd": LGTD, "lgtd-arc": LGTDArc, "mtdo": MTDO}
TOLERANCES = (1e-3, 1e-4, 1e-5, 1e-6)


def measure(model: torch.nn.Module, size: int, scale: int = 4, seed: int = 0) -> dict[str, float]:
    """Largest input-pixel distance at which the output moved by more than each tolerance."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 5, 3, size, size, generator=g)
    moved = x.clone()
    c = size // 2
    moved[..., c, c] += 0.5
    with torch.inference_mode():
        diff = (model(x) - model(moved)).abs().amax(dim=(0, 1)).numpy()
    out: dict[str, float] = {"max_abs_change": float(diff.max())}
    centre = (c + 0.5) * scale - 0.5
    for tol in TOLERANCES:
        ys, xs = np.nonzero(diff > tol)
        dist = np.maximum(np.abs(ys - centre), np.abs(xs - centre)) / scale if ys.size else np.zeros(1)
        out[f"reach_px_at_{tol:g}"] = float(dist.max())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="lgtd-arc")
    parser.add_argument("--size", type=int, default=64, help="input height/width (multiple of 16)")
    parser.add_argument("--zero-offsets", action="store_true", help="zero-init the DCN offset predictors")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    torch.manual_seed(0)
    model = MODELS[args.model]().eval()
    if args.zero_offsets:
        for m in model.modules():
            if isinstance(m, DCNSep):
                torch.nn.init.zeros_(m.conv_offset_mask.weight)
                torch.nn.init.zeros_(m.conv_offset_mask.bias)
    start = time.perf_counter()
    res = measure(model, args.size)
    res.update(model=args.model, size=args.size, zero_offsets=args.zero_offsets,
               seconds=round(time.perf_counter() - start, 2), half_size=args.size / 2)
    print("| model | input | DCN offsets | max change | " + " | ".join(f"reach @{t:g}" for t in TOLERANCES) + " |")
    print("|---|---|---|---:|" + "---:|" * len(TOLERANCES))
    reach = " | ".join(f"{res[f'reach_px_at_{t:g}']:.1f}" for t in TOLERANCES)
    print(f"| {args.model} | {args.size}x{args.size} | {'zero' if args.zero_offsets else 'authors (Kaiming)'} | "
          f"{res['max_abs_change']:.3g} | {reach} |")
    print(f"(reach in input pixels from the perturbed pixel; the input edge is at {args.size / 2:.0f})")
    out = args.out or Path(__file__).parent / "results" / f"receptive_field_{args.model}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"JSON: {out}")


if __name__ == "__main__":
    main()
