"""MSTT-STVSR's cost on the CPU: seconds per output frame and per output megapixel, and the flow's share.

    python benchmarks/bench_mstt.py --data ../shared/data [--size 160]

One sample is 4 real Jilin-1 LR frames (the first four of ``jilin1_airport/LR4x``, a centre crop of ``--size``
px, a multiple of 80); the network makes 7 frames x4. The six Ce Liu flows (forward and backward between
neighbours, :mod:`satsr.models.flow`) and the network are timed separately (random weights, best of
``--repeat``). Prints a Markdown table and writes JSON (``benchmarks/results/bench_mstt.json``).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import numpy as np
import rasterio
import torch

from satsr.models import create


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--model", default="mstt")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_mstt.json")
    args = parser.parse_args()

    frames = []
    for p in sorted((args.data / "jilin1_airport" / "LR4x").glob("*.png"))[:4]:
        with rasterio.open(p) as src:
            h, w = src.height, src.width
            y0, x0 = max((h - args.size) // 2, 0), max((w - args.size) // 2, 0)
            frames.append(src.read(window=((y0, y0 + args.size), (x0, x0 + args.size))).astype(np.float32) / 255)
    x = torch.from_numpy(np.stack(frames))[None]
    torch.manual_seed(0)
    net = create(args.model, pretrained=False).eval()
    flow_s, net_s = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        ff, bf = net.flows(x)
        flow_s.append(time.perf_counter() - t)
        with torch.inference_mode():
            t = time.perf_counter()
            y = net(x, ff, bf)
            net_s.append(time.perf_counter() - t)
    flows, model = min(flow_s), min(net_s)
    total = flows + model
    out_mpx = y.shape[1] * y.shape[-1] * y.shape[-2] / 1e6
    row = {
        "model": args.model, "lr_size": args.size, "frames_in": 4, "frames_out": int(y.shape[1]),
        "flow_seconds": round(flows, 3), "network_seconds": round(model, 3), "seconds": round(total, 3),
        "s_per_output_frame": round(total / y.shape[1], 3), "s_per_output_mpx": round(total / out_mpx, 2),
        "flow_share": round(flows / total, 3), "threads": torch.get_num_threads(), "machine": platform.machine(),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print("| model | LR size | flows (6) | network | s per output frame | s per output Mpx | flow share | peak RSS |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    print(f"| {args.model} | {args.size} | {flows:.2f} s | {model:.2f} s | {row['s_per_output_frame']} | "
          f"{row['s_per_output_mpx']} | {row['flow_share']:.0%} | {row['peak_rss_mb']} MB |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": "python benchmarks/bench_mstt.py", "rows": [row]}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
