"""Bare CPU forward of a model by precision and memory layout: the measurement behind ``Runner``'s default layout.

```bash
.venv/bin/python benchmarks/cpu_layout.py                        # lgtd-s, windows 336 and 592, 2 threads
.venv/bin/python benchmarks/cpu_layout.py --models lgtd-s mtdo-s lgfn-s --windows 192
```

For each model and window side: fp32 and bf16 autocast, NCHW and channels_last (NHWC) weights, and bf16 NHWC
with the deformable convolutions sampled by ``grid_sample`` (``set_dcn_impl``; what ``Runner`` runs), the best of
``--repeat`` forwards after a warm-up on the same real Jilin-1 frames (mirror-tiled to the window), in seconds per
kept output Mpx (the window less the model's halo on each side, x scale squared), and each way's largest
difference and PSNR (outputs clipped to [0, 1]) from fp32 NCHW. Writes ``results/cpu_layout.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from satsr import models
from satsr.errors import ModelError
from satsr.models.ops import set_dcn_impl

HERE = Path(__file__).resolve().parent
#: (precision, layout, deformable convolution): the ways measured, the first the reference.
WAYS = [("fp32", "nchw", "torchvision"), ("fp32", "channels_last", "torchvision"), ("bf16", "nchw", "torchvision"),
        ("bf16", "channels_last", "torchvision"), ("bf16", "channels_last", "grid_sample")]
DATA = Path(os.environ.get("SATSR_TEST_DATA", HERE.parent.parent / "shared" / "data"))


def _frames(n: int, side: int) -> torch.Tensor:
    """``n`` real Jilin-1 LR frames (RGB, [0, 1]), mirror-tiled to ``side`` x ``side``: (1, n, 3, side, side)."""
    files = sorted((DATA / "jilin1_airport" / "LR4x").glob("*.png"))[:n]
    arr = np.stack([np.asarray(Image.open(f).convert("RGB"), np.float32) / 255 for f in files])
    reps = (1, -(-side // arr.shape[1]) * 2, -(-side // arr.shape[2]) * 2, 1)
    arr = np.pad(arr, ((0, 0), (0, reps[1] * arr.shape[1] - arr.shape[1]),
                       (0, reps[2] * arr.shape[2] - arr.shape[2]), (0, 0)), mode="symmetric")[:, :side, :side]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))[None]


def _build(name: str) -> torch.nn.Module:
    """The model with the weights satsr ships, or random weights where it ships none (speed does not care)."""
    try:
        return models.create(name)
    except ModelError:
        return models.create(name, pretrained=False)


def _time(model: torch.nn.Module, x: torch.Tensor, bf16: bool, repeat: int) -> tuple[float, torch.Tensor]:
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        model(x[..., :64, :64])  # warm-up: oneDNN's kernels, OpenMP's team
        times, out = [], None
        for _ in range(repeat):
            t = time.perf_counter()
            out = model(x)
            times.append(time.perf_counter() - t)
    assert out is not None
    return min(times), out.float()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["lgtd-s"])
    ap.add_argument("--windows", nargs="+", type=int, default=[336, 592], help="window sides (LR px)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "cpu_layout.json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rows = []
    print("| model | window | way (precision, layout, DCN) | s/forward | s per kept output Mpx | vs fp32 NCHW | "
          "PSNR vs fp32 dB |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for name in a.models:
        spec = models.get_spec(name)
        if spec.needs_reference or spec.time_scale != 1:
            raise SystemExit(f"{name}: only spatial models without a reference are measured here")
        for side in a.windows:
            x = _frames(spec.frames_in, side)
            x = x if spec.frames_in > 1 else x[:, 0]
            kept = (side - 2 * spec.halo) ** 2 * spec.scale**2 / 1e6
            base = None
            for prec, layout, dcn in WAYS:
                m = set_dcn_impl(_build(name).eval(), dcn)
                m = m.to(memory_format=torch.channels_last) if layout == "channels_last" else m
                sec, out = _time(m, x, prec == "bf16", a.repeat)
                base = base or (sec, out)
                mse = float(((out.clamp(0, 1) - base[1].clamp(0, 1)) ** 2).mean())
                row = {"model": name, "window": side, "precision": prec, "layout": layout, "dcn": dcn,
                       "s_forward": sec, "s_per_kept_mpx": sec / kept, "speedup": base[0] / sec,
                       "max_diff": float((out - base[1]).abs().max()),
                       "psnr_vs_fp32": 10 * math.log10(1 / mse) if mse > 0 else float("inf")}
                rows.append(row)
                print(f"| {name} | {side} | {prec} {layout} {dcn} | {sec:.2f} | {sec / kept:.2f} | "
                      f"{row['speedup']:.2f}x | {row['psnr_vs_fp32']:.1f} |", flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"benchmark": "cpu_layout", "command": "benchmarks/cpu_layout.py " + " ".join(
        os.sys.argv[1:]), "torch": torch.__version__, "threads": a.threads, "cpu": platform.machine(),
        "rows": rows}, indent=1))
    print(f"JSON: {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
