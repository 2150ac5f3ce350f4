"""Measure how far a one-pixel change in the input reaches in a model's output (its effective receptive field).

The halo a model needs for seamless tiles is the distance, in input pixels, beyond which a change in the input
no longer moves the output. This script perturbs the centre pixel of every frame of a random input
(:func:`satsr.models.measure_reach`) and reports, for tolerances relative to the largest change, the largest
distance (Chebyshev, input pixels) at which the output still moved.

    python benchmarks/receptive_field.py --model lgtd-arc --size 160 --zero-offsets --equivariant
    python benchmarks/receptive_field.py --model mtdo --size 160 --zero-offsets
    python benchmarks/receptive_field.py --model lgtd-s --size 96 --weights shipped   # the trained offsets

``--zero-offsets`` zero-initialises the DCN offset/mask predictors (DCNv2's own initialisation, "no
deformation yet") instead of the authors' Kaiming re-initialisation, whose random offsets sample pixels
anywhere. ``--weights shipped`` (or a checkpoint path) measures trained weights instead: trained offsets may reach
further than offsets at rest, so a shipped model's halo is checked this way too. ``--equivariant`` builds the
model with ``align_corners=False`` (see ``satsr.models.lgtd.LGTD``).
Prints a Markdown row and writes JSON (``benchmarks/results/receptive_field_<model>[_zero][_eq].json``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from satsr.models import create, get_spec, measure_reach
from satsr.models.ops import zero_dcn_offsets
from satsr.models.reach import TOLERANCES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lgtd-arc")
    parser.add_argument("--size", type=int, default=160, help="input height/width (multiple of 16)")
    parser.add_argument("--zero-offsets", action="store_true", help="zero-init the DCN offset predictors")
    parser.add_argument("--equivariant", action="store_true", help="align_corners=False in the TDM upsampling")
    parser.add_argument("--weights", default=None,
                        help="'shipped' or a checkpoint: measure trained weights (default random)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    torch.manual_seed(0)
    options = {"align_corners": False} if args.equivariant else {}
    trained = args.weights is not None
    model = create(args.model, pretrained=None if args.weights == "shipped" else (args.weights or False), **options)
    if args.zero_offsets and not trained:
        zero_dcn_offsets(model)
    last = [m for n, m in model.named_modules() if n.endswith("conv_last")]
    last = last or [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1:]  # lgfn-s: tail.1
    # the untrained -s models are exactly bicubic: give their network a voice
    if last and not last[-1].weight.any() and not trained:
        torch.nn.init.kaiming_normal_(last[-1].weight)
    spec = get_spec(model)
    align = next((m.align_corners for m in model.modules() if hasattr(m, "align_corners")), None)
    start = time.perf_counter()
    r = measure_reach(model, args.size, frames_in=spec.frames_in, bands=spec.bands or 3, scale=spec.scale)
    res = {
        "command": "python benchmarks/receptive_field.py " + " ".join(
            f"--{k.replace('_', '-')}" + ("" if isinstance(v, bool) else f" {v}")
            for k, v in vars(args).items() if v not in (False, None)
        ),
        "model": args.model, "size": args.size, "zero_offsets": args.zero_offsets and not trained,
        "weights": args.weights or "random", "equivariant": args.equivariant,
        "align_corners": align,
        "declared_halo": spec.halo, "peak_change": r.peak, "output_scale": r.output_scale, "edge_px": r.edge,
        "reach_px": {f"{t:g}": v for t, v in r.reach.items()}, "seconds": round(time.perf_counter() - start, 2),
    }
    print("| model | input | DCN offsets | align_corners | peak change | "
          + " | ".join(f"reach @{t:g}" for t in TOLERANCES) + " | declared halo |")
    print("|---|---|---|---|---:|" + "---:|" * len(TOLERANCES) + "---:|")
    reach = " | ".join(f"{v:.0f}" for v in r.reach.values())
    offsets = "trained" if trained else "zero" if args.zero_offsets else "authors (Kaiming)"
    print(f"| {args.model} | {args.size}x{args.size} | {offsets} | "
          f"{align} | {r.peak:.3g} | {reach} | {spec.halo} |")
    print(f"(reach in input pixels from the perturbed pixel, tolerance relative to the peak change; the input "
          f"edge is {r.edge:.0f} px away)")
    suffix = ("_trained" if trained else "_zero" if args.zero_offsets else "") + ("_eq" if args.equivariant else "")
    out = args.out or Path(__file__).parent / "results" / f"receptive_field_{args.model}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"JSON: {out}")


if __name__ == "__main__":
    main()
