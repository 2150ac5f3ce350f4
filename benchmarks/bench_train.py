"""Training throughput (samples per second) of the shipped training config, on the CPU or a GPU.

    python benchmarks/bench_train.py --data ../shared/data --steps 20
    python benchmarks/bench_train.py --data ../shared/data --device cuda --amp bf16

Runs ``satsr/train/configs/lgtd-s.yaml`` (pseudo-video from the Ref-SR stills, batch 8, 96 px HR crops) for
``--steps`` steps without validation or checkpoints, times the steps after the first two (warm-up), and prints
a Markdown row and writes JSON (``benchmarks/results/bench_train.json``).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import satsr
from satsr.train.loop import load_config, train

CONFIG = Path(satsr.__file__).parent / "train" / "configs" / "lgtd-s.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", choices=["bf16", "fp16"], default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_train.json")
    args = parser.parse_args()

    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(CONFIG, data_root=str(args.data.resolve()), out=tmp, steps=args.steps,
                          ckpt_every=10**9, device=args.device, amp=args.amp)
        cfg.val = None
        train(cfg, progress=False, log=lambda row: stamps.append(time.perf_counter()))
    steps = np.diff(stamps[1:])  # step 1 is the warm-up; the last step also saves the weights
    sps = cfg.batch_size / float(np.median(steps))
    row = {
        "model": cfg.model, "device": args.device, "amp": args.amp or "fp32", "batch_size": cfg.batch_size,
        "hr_crop": cfg.data[0]["crop"], "frames": cfg.frames, "median_step_s": round(float(np.median(steps)), 3),
        "samples_per_s": round(sps, 2), "steps_timed": len(steps), "threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }
    print("| model | device | precision | batch | HR crop | s / step | samples / s |")
    print("|---|---|---|---:|---:|---:|---:|")
    print(f"| {row['model']} | {row['device']} | {row['amp']} | {row['batch_size']} | {row['hr_crop']} | "
          f"{row['median_step_s']} | {row['samples_per_s']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": "python benchmarks/bench_train.py", **row}, indent=2))
    print(f"JSON: {args.out}")


if __name__ == "__main__":
    main()
