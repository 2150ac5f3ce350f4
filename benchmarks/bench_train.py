"""Training throughput (samples per second) of satsr's training configs, on the CPU or a GPU.

    python benchmarks/bench_train.py --data ../shared/data --steps 20            # every light model's config
    python benchmarks/bench_train.py --configs lgtd-s-mixed mstt-s-video --threads 1
    python benchmarks/bench_train.py --device cuda --amp bf16

Runs each config (``satsr/train/configs/<name>.yaml``: its model, data, degradations, batch and crop) for
``--steps`` steps without validation or checkpoints, in a temporary run folder, times the steps after the first
two (warm-up: the frame caches fill, oneDNN picks its kernels), and prints a Markdown table and writes JSON
(``benchmarks/results/bench_train.json``). One process runs the configs one after the other, with ``--threads``
torch threads (a background training run uses one).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import satsr
from satsr.train.loop import load_config, train

CONFIGS = Path(satsr.__file__).parent / "train" / "configs"
#: The light models' training configs: what issue 16 ships, each trainable on a CPU.
DEFAULT = ["lgtd-s-mixed", "mtdo-s-video", "lgfn-s-video", "mstt-s-video", "rgtgan-s-video"]


def measure(name: str, data: Path, steps: int, device: str, amp: str | None) -> dict:
    """One config's row: median seconds per step and samples per second after the warm-up."""
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(CONFIGS / f"{name}.yaml", data_root=str(data.resolve()), out=tmp, steps=steps,
                          ckpt_every=10**9, device=device, amp=amp)
        cfg = dataclasses.replace(cfg, val=None, init=None, workers=0)
        train(cfg, progress=False, log=lambda row: stamps.append(time.perf_counter()))
    times = np.diff(stamps[1:])  # step 1 is the warm-up; the last step also saves the weights
    median = float(np.median(times))
    return {"config": name, "model": cfg.model, "device": device, "amp": amp or "fp32",
            "batch_size": cfg.batch_size, "hr_crop": cfg.data[0].get("crop"), "frames": cfg.frames,
            "median_step_s": round(median, 3), "samples_per_s": round(cfg.batch_size / median, 2),
            "steps_timed": len(times), "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=DEFAULT, help="config names in satsr/train/configs")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", choices=["bf16", "fp16"], default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default torch's)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_train.json")
    args = parser.parse_args()
    if args.steps < 4:
        parser.error("--steps must be at least 4 (two warm-up steps, two timed)")
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    print("| config | model | device | precision | batch | HR crop | s / step | samples / s |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    for name in args.configs:
        r = measure(name, args.data, args.steps, args.device, args.amp)
        rows.append(r)
        print(f"| {r['config']} | {r['model']} | {r['device']} | {r['amp']} | {r['batch_size']} | {r['hr_crop']} | "
              f"{r['median_step_s']} | {r['samples_per_s']} |", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": "python benchmarks/bench_train.py " + " ".join(sys.argv[1:]),
                                    "machine": platform.machine(), "rows": rows}, indent=2))
    print(f"JSON: {args.out}")


if __name__ == "__main__":
    main()
