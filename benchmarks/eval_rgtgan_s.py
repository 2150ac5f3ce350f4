"""Issue 16's targets for rgtgan-s: against bicubic and against the default model (lgtd-s, no reference).

    OMP_NUM_THREADS=1 python benchmarks/eval_rgtgan_s.py --weights runs/rgtgan-s/final.safetensors

On held-aside data only (none of it is trained on by ``satsr/train/configs/rgtgan-s-video.yaml``), every
candidate scored on the same samples:

* ``satvideo``: the last 20% of each satvideo clip (``VideoClips`` ``split="val"``, windows wholly inside it),
  HR the published frames area-reduced x2, a centred ``--crop`` window, LR its MATLAB bicubic x4 downsampling.
  rgtgan-s gets the frame's LR and, as the reference, the HR of the frame 25 frames earlier (same window:
  :class:`satsr.train.data.refpairs.VideoRefPairs`' validation rule); lgtd-s gets the 5 LR frames around it.
* ``rrssrd_val_3rd``: the RRSSRD ``val_3rd`` Ref-SR sets, whole (LR 120 x 120, the supplied LR JPEGs, the Google
  Earth reference of another date); lgtd-s gets the LR repeated 5 times (a still), the supplied ``LR_UX4`` (made
  before the LR was JPEG-compressed) is listed beside.
* ``bitemporal``: the held-aside bi-temporal pairs (last 20% of each set, both directions), whole 256 x 256,
  LR by MATLAB bicubic, the other date as reference; lgtd-s on the LR repeated.

``bicubic`` is the MATLAB bicubic of the LR: what ``rgtgan-s`` adds its residual to. Scores are mean PSNR / SSIM
over each set with two protocols of :func:`satsr.metrics.evaluate`: ``rgtgan`` (RGB, 8-bit, 4 px border: the
training validation's) and ``standard`` (BT.601 Y, 8-bit, 4 px border). The targets (rgtgan-s at least 1.5 dB
over bicubic and 0.3 dB over lgtd-s) are checked on every set and protocol and reported; the exit status is 0
either way. ``--limit`` (default 16) takes that many samples per set, evenly spaced: about two minutes on one CPU
thread. Writes JSON (``--out``, default ``benchmarks/results/eval_rgtgan_s.json``) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from satsr import models
from satsr.metrics import evaluate
from satsr.models.rgtgan import matlab_resize
from satsr.train.data import RefSRTriplets
from satsr.train.data.refpairs import build_ref_pairs
from satsr.train.video_clips import VideoClips

PROTOCOLS = ("rgtgan", "standard")
TARGETS = {"bicubic": 1.5, "lgtd-s": 0.3}  # dB of PSNR that rgtgan-s must gain over each


def _spaced(n: int, limit: int | None) -> list[int]:
    if limit is None or limit >= n:
        return list(range(n))
    return sorted({int(i) for i in np.linspace(0, n - 1, limit).round()})


def satvideo(data: Path, crop: int, limit: int | None) -> Iterator[dict[str, Any]]:
    """Held-aside satvideo frames: ``lr``, ``ref``, ``hr``, ``frames`` (5 LR frames for lgtd-s), ``key``."""
    common = {"root": data / "satvideo", "split": "val", "holdout": 0.2, "crop": crop, "prescale": 2,
              "resamplers": ["bicubic"]}
    clips = VideoClips.from_options(frames=5, augment=False, **common)
    pairs = build_ref_pairs("video_ref", dict(common, ref_gap=(10, 40)), scale=4, seed=0, train=False)
    index = {pairs.clips[ci][0] + "/" + pairs.clips[ci][1][t].stem: i for i, (ci, t) in enumerate(pairs.windows)}
    for i in _spaced(len(clips), limit):
        video = clips[i]
        pair = pairs[index[video["key"]]]
        assert torch.equal(pair["hr"], video["hr"]) and torch.allclose(pair["lr"], video["lr"][2], atol=1e-6)
        yield {**pair, "frames": video["lr"]}


def rrssrd(data: Path, limit: int | None) -> Iterator[dict[str, Any]]:
    """RRSSRD val_3rd, whole: ``lr``, ``ref``, ``hr``, ``lr_ux4`` (MATLAB bicubic of the LR files), ``supplied``
    (the sets' ``LR_UX4``), ``frames`` (the LR x5), ``key``."""
    ds = RefSRTriplets(data / "refsr" / "rrssrd" / "val_3rd")
    for i in _spaced(len(ds), limit):
        s = ds[i]
        yield {**s, "supplied": s["lr_ux4"], "lr_ux4": matlab_resize(s["lr"], 4),
               "frames": s["lr"][None].repeat(5, 1, 1, 1)}


def bitemporal(data: Path, limit: int | None) -> Iterator[dict[str, Any]]:
    """Held-aside bi-temporal pairs, whole: ``lr``, ``ref``, ``hr``, ``frames`` (the LR x5), ``key``."""
    ds = build_ref_pairs("bitemporal", {"root": data / "refsr" / "bitemporal", "split": "val", "crop": None,
                                        "resamplers": ["bicubic"]}, scale=4, seed=0, train=False)
    for i in _spaced(len(ds), limit):
        s = ds[i]
        yield {**s, "frames": s["lr"][None].repeat(5, 1, 1, 1)}


def score_set(samples: Iterator[dict[str, Any]], ref_model: torch.nn.Module, video_model: torch.nn.Module
              ) -> list[dict[str, Any]]:
    """One row per sample: ``<candidate>_<protocol>_psnr`` / ``_ssim`` for rgtgan-s, bicubic, lgtd-s (supplied)."""
    rows = []
    with torch.inference_mode():
        for s in samples:
            tick = time.perf_counter()
            outs = {"rgtgan-s": ref_model(s["lr"][None], s["ref"][None])[0],
                    "bicubic": s["lr_ux4"], "lgtd-s": video_model(s["frames"][None])[0]}
            if "supplied" in s:
                outs["LR_UX4 (supplied)"] = s["supplied"]
            hr = s["hr"].numpy()
            row: dict[str, Any] = {"key": s["key"]}
            for name, out in outs.items():
                sr = out.float().clamp(0, 1).numpy()
                for protocol in PROTOCOLS:
                    for k, v in evaluate(sr, hr, protocol=protocol).items():
                        row[f"{name}_{protocol}_{k}"] = float(v)
            row["seconds"] = time.perf_counter() - tick
            rows.append(row)
            print(f"  {s['key']}: rgtgan-s {row['rgtgan-s_rgtgan_psnr']:.3f} dB, bicubic "
                  f"{row['bicubic_rgtgan_psnr']:.3f}, lgtd-s {row['lgtd-s_rgtgan_psnr']:.3f}", flush=True)
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over the rows, the gains of rgtgan-s and whether each target is met."""
    means = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "key"}
    gains, met = {}, {}
    for other, need in TARGETS.items():
        for protocol in PROTOCOLS:
            g = means[f"rgtgan-s_{protocol}_psnr"] - means[f"{other}_{protocol}_psnr"]
            gains[f"over {other} ({protocol})"] = g
            met[f"over {other} ({protocol})"] = bool(g >= need)
    return {"samples": len(rows), "mean": means, "psnr_gain_db": gains, "target_met": met}


def _table(sets: dict[str, dict[str, Any]]) -> str:
    names = ["rgtgan-s", "bicubic", "lgtd-s", "LR_UX4 (supplied)"]
    lines = []
    for protocol in PROTOCOLS:
        lines += [f"\nPSNR / SSIM, protocol {protocol!r}", "",
                  "| set | samples | " + " | ".join(names) + " | rgtgan-s - bicubic | rgtgan-s - lgtd-s |",
                  "|---|---:|" + "---:|" * (len(names) + 2)]
        for s, res in sets.items():
            m = res["mean"]
            cells = [f"{m[f'{n}_{protocol}_psnr']:.3f} / {m[f'{n}_{protocol}_ssim']:.4f}"
                     if f"{n}_{protocol}_psnr" in m else "" for n in names]
            g = res["psnr_gain_db"]
            lines.append(f"| {s} | {res['samples']} | " + " | ".join(cells) +
                         f" | {g[f'over bicubic ({protocol})']:+.3f} | {g[f'over lgtd-s ({protocol})']:+.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--weights", type=Path, default=None, help="rgtgan-s weights (satsr.models.save file); "
                       "default: the weights satsr ships")
    group.add_argument("--random-weights", action="store_true",
                       help="an untrained rgtgan-s (exactly bicubic): a check of the script itself")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--sets", default="satvideo,rrssrd_val_3rd,bitemporal")
    parser.add_argument("--limit", type=int, default=16, help="samples per set, evenly spaced (0: all)")
    parser.add_argument("--crop", type=int, default=256, help="HR window of the satvideo frames (multiple of 16)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "eval_rgtgan_s.json")
    args = parser.parse_args()

    pretrained: Any = False if args.random_weights else (args.weights or True)
    ref_model = models.create("rgtgan-s", pretrained=pretrained).eval()
    video_model = models.create("lgtd-s").eval()
    limit = args.limit or None
    makers = {"satvideo": lambda: satvideo(args.data, args.crop, limit),
              "rrssrd_val_3rd": lambda: rrssrd(args.data, limit), "bitemporal": lambda: bitemporal(args.data, limit)}
    t0 = time.perf_counter()
    sets, rows = {}, {}
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        print(name, flush=True)
        rows[name] = score_set(makers[name](), ref_model, video_model)
        sets[name] = summarise(rows[name])
    print(_table(sets))
    payload = {"weights": "random (untrained)" if args.random_weights else str(args.weights or "shipped"),
               "targets_db": TARGETS, "protocols": PROTOCOLS, "sets": sets, "rows": rows,
               "seconds": time.perf_counter() - t0, "threads": torch.get_num_threads(), "host": platform.node()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
