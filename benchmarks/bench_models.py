"""Forward-pass cost of the satellite VSR models: seconds per output megapixel, and peak memory.

    python benchmarks/bench_models.py                       # LGTD, LGTD-arc, MTDO at 160x160 LR on the CPU
    python benchmarks/bench_models.py --sizes 160,640 --device cuda --autocast bf16

One sample is 5 LR frames of ``size x size``; the output is the centre frame x4. The first forward is a warm-up;
the best of ``--repeat`` timed forwards is kept. Prints a Markdown table and writes JSON
(``benchmarks/results/bench_models.json`` by default).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import torch

from satsr.models.lgtd import LGTD, LGTDArc
from satsr.models.mtdo import MTDO

MODELS = {"lgtd": LGTD, "lgtd-arc": LGTDArc, "mtdo": MTDO}


def run(name: str, size: int, device: str, autocast: str | None, repeat: int) -> dict[str, object]:
    """Time one model at one size."""
    torch.manual_seed(0)
    model = MODELS[name]().eval().to(device)
    x = torch.rand(1, 5, 3, size, size, device=device)
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
        "s_per_output_mpx": round(best / out_mpx, 2), "output_mpx": out_mpx,
    }
    if device.startswith("cuda"):
        res["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--sizes", default="160")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--autocast", choices=["bf16", "fp16"], default=None)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_models.json")
    args = parser.parse_args()
    rows = [run(m, int(s), args.device, args.autocast, args.repeat)
            for m in args.models.split(",") for s in args.sizes.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print("| model | LR size | device | precision | s / forward | s per output Mpx | peak RSS MB |")
    print("|---|---|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['lr_size']} | {r['device']} | {r['autocast']} | {r['seconds']} | "
              f"{r['s_per_output_mpx']} | {r['peak_rss_mb']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": "python benchmarks/bench_models.py", "rows": rows}, indent=2))
    print(f"JSON: {args.out}")


if __name__ == "__main__":
    main()
