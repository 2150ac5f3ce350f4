"""Accuracy and speed of bf16/fp16 autocast against fp32, for every registered model, on real Jilin-1 frames.

``python benchmarks/precision.py [--models a,b] [--fp16] [--size 32] [--device cpu]``: runs each model through
``satsr.engine.Runner`` at ``precision="fp32"``, ``"bf16"`` (and ``"fp16"`` with ``--fp16``; very slow on most
CPUs, which lack fp16 kernels) on a crop of the 7 LR frames, and prints PSNR against fp32 and seconds per
forward (after one warm-up). The PSNR's peak is ``max(1, range of the fp32 output)``: the usual PSNR for an image
model's [0, 1] output; models without published weights run at their authors' initialisation, whose output spans
hundreds of units, and then the peak is that span (the figure measures the arithmetic's relative precision).
``tests/test_engine.py`` asserts > 50 dB for every model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    import torch
    from PIL import Image

    from satsr import metrics, models
    from satsr.engine import Runner

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(models.list_models()))
    ap.add_argument("--size", type=int, default=32, help="crop side (rounded up to the model's multiple)")
    ap.add_argument("--fp16", action="store_true", help="also fp16 (slow on CPUs without fp16 kernels)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "precision.json")
    a = ap.parse_args(argv)
    frames = sorted((a.data / "jilin1_airport" / "LR4x").glob("*.png"))
    clip = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in frames]).astype(np.float32) / 255
    clip = clip.transpose(0, 3, 1, 2)  # (7, 3, 160, 160)
    dev = torch.device(a.device)
    rows = []
    for name in a.models.split(","):
        torch.manual_seed(0)
        model = models.create(name, pretrained=None if models.get_spec(name).weights else False)
        spec = models.get_spec(model)
        n = -(-a.size // spec.multiple_of) * spec.multiple_of
        crop = np.ascontiguousarray(clip[..., 40 : 40 + n, 60 : 60 + n])
        x = crop[: spec.frames_in][None] if spec.frames_in > 1 else crop[3][None]
        inp = (x, np.repeat(np.repeat(crop[3][None], spec.scale, -1), spec.scale, -2)) if spec.needs_reference else x
        kind = ("none (interpolation)" if name in ("bicubic", "bilinear", "nearest")
                else "shipped" if any(w.file for w in spec.weights) else "authors' initialisation")
        row = {"model": name, "input": list(x.shape), "weights": kind}
        outs = {}
        for p in ["fp32", "bf16"] + (["fp16"] if a.fp16 else []):
            r = Runner(model, dev, 1, None, precision=p, compile=False)
            r(inp)  # warm-up
            t0 = time.perf_counter()
            outs[p] = r(inp)
            row[f"{p}_s"] = time.perf_counter() - t0
        ref = outs["fp32"]
        row["fp32_range"] = float(ref.max() - ref.min())
        peak = max(1.0, row["fp32_range"])
        for p in outs:
            if p != "fp32":
                row[f"{p}_psnr_db"] = metrics.psnr(outs[p].reshape(-1, *ref.shape[-2:]),
                                                   ref.reshape(-1, *ref.shape[-2:]), data_range=peak)
        rows.append(row)
        print(json.dumps(row), flush=True)
    head = "| model | weights | fp32 s | bf16 s | bf16 PSNR dB |" + (" fp16 s | fp16 PSNR dB |" if a.fp16 else "")
    print("\n" + head + "\n|---|---|---:|---:|---:|" + ("---:|---:|" if a.fp16 else ""))
    for r in rows:
        line = (f"| {r['model']} | {r['weights']} | {r['fp32_s']:.3f} | {r['bf16_s']:.3f} | "
                f"{r['bf16_psnr_db']:.1f} |")
        if a.fp16:
            line += f" {r['fp16_s']:.3f} | {r['fp16_psnr_db']:.1f} |"
        print(line)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"command": " ".join(sys.argv), "device": a.device, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
