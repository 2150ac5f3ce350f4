"""What the x8 self-ensemble (``satsr.upscale(..., self_ensemble=True)``) adds to each shipped video model, and costs.

    OMP_NUM_THREADS=1 python benchmarks/self_ensemble.py
    OMP_NUM_THREADS=1 python benchmarks/self_ensemble.py --models lgtd-s --centres 3 --no-held-aside

For each model, three candidates are scored in one :func:`satsr.train.evaluate.evaluate_clips` call (the standard
protocol, as ``benchmarks/models_table.py`` and ``satsr evaluate`` score): the shipped model, the same model as a
:class:`satsr.models.SelfEnsemble`, and bicubic. On the Jilin-1 clip (centre frames ``--centres``; a space-time
model its one 7-frame stretch) and on the held-aside satvideo frames (GT area-reduced x2, the windows within the
last ``--holdout`` of each clip, never trained on). A space-time model's key-frame and in-between scores are given
apart. The cost is the CPU time of ``satsr.upscale(stack, model, device="cpu")`` on the 7 Jilin-1 LR frames, with
and without ``self_ensemble=True``, measured in the same run (one warm-up, then the median of ``--repeat``;
``--time-frames`` fewer frames, ``--time-size`` a crop, for a quicker check).

Prints a Markdown table and writes JSON (``--json``, default ``benchmarks/results/self_ensemble.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import satsr
from satsr import models
from satsr.errors import SatsrError
from satsr.models.registry import get_spec
from satsr.train.evaluate import ClipScore, evaluate_clips

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from models_table import (  # noqa: E402 (the sibling script)
    DEFAULT_DATA,
    JILIN,
    SATVIDEO,
    _means,
    check_data,
    jilin_stack,
    scores_skipping_short_clips,
)

DEFAULT_JSON = HERE / "results" / "self_ensemble.json"
DEFAULT_MODELS = ("lgtd-s", "mtdo-s", "lgfn-s", "mstt-s")
LABELS = ("plain", "self-ensemble", "bicubic")


def candidates(name: str) -> dict[str, Any]:
    """The shipped model, its self-ensemble (a module, so ``evaluate_clips`` runs it as given) and bicubic."""
    return {"plain": name, "self-ensemble": models.SelfEnsemble(models.create(name)), "bicubic": "bicubic"}


def means(scores: list[ClipScore]) -> dict[str, dict[str, float]]:
    """Per candidate, the mean over the clips of each PSNR score (``psnr``; ``psnr_key``/``psnr_mid`` space-time)."""
    return {label: {k: v for k, v in _means(scores, label).items() if k.startswith("psnr")} for label in LABELS}


def score(root: Path, name: str, **options: Any) -> dict[str, Any]:
    """:func:`means` of the three candidates on the clips under ``root``; clips too short for a space-time model's
    held-aside stretch are skipped (``skipped``; :func:`models_table.scores_skipping_short_clips`)."""
    cands = candidates(name)  # built once, for every clip

    def run(where: Path) -> list[ClipScore]:
        return evaluate_clips(where, cands, device="cpu", temporal=False, **options)

    scores, skipped = scores_skipping_short_clips(root, name, run)
    out: dict[str, Any] = {"means": means(scores)}
    return out if skipped is None else {**out, "skipped": skipped}


def gains(result: dict[str, Any]) -> dict[str, float]:
    """Self-ensemble minus plain, and plain minus bicubic, for each PSNR score."""
    m = result["means"]
    out = {}
    for key in m["plain"]:
        out[f"ensemble_{key}"] = m["self-ensemble"][key] - m["plain"][key]
        out[f"plain_over_bicubic_{key}"] = m["plain"][key] - m["bicubic"][key]
    return out


def time_ratio(name: str, stack: Any, repeat: int) -> dict[str, Any]:
    """CPU seconds of ``satsr.upscale`` on ``stack`` without and with ``self_ensemble``, in one run."""
    out: dict[str, Any] = {}
    for label, se in (("plain", False), ("self-ensemble", True)):
        np.asarray(satsr.upscale(stack, name, device="cpu", self_ensemble=se))  # the warm-up
        seconds = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            np.asarray(satsr.upscale(stack, name, device="cpu", self_ensemble=se))
            seconds.append(time.perf_counter() - t0)
        out[label] = float(np.median(seconds))
    out["ratio"] = out["self-ensemble"] / out["plain"]
    return out


def row_cells(name: str, row: dict[str, Any]) -> list[str]:
    """One table row: per set, the gain of the ensemble over the plain model (and the plain model's over bicubic)."""
    cells = [name]
    for where in ("jilin", "satvideo"):
        if where not in row:
            cells.append("")
            continue
        g = gains(row[where])
        keys = ["psnr_key", "psnr_mid"] if "ensemble_psnr_key" in g else ["psnr"]
        parts = [f"{g[f'ensemble_{k}']:+.2f} (model {g[f'plain_over_bicubic_{k}']:+.2f})" for k in keys]
        cells.append(" / ".join(parts))
    cells.append(f"{row['time']['ratio']:.1f}x")
    return cells


def table(rows: dict[str, dict[str, Any]]) -> str:
    """Markdown: the ensemble's PSNR gain over the plain model (key / in-between frames for space-time)."""
    head = ["model", "Jilin-1: ensemble gain dB (model over bicubic)", "held-aside satvideo: same",
            "CPU time, ensemble / plain"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row_cells(n, r)) + " |" for n, r in rows.items()]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(DEFAULT_MODELS), help="shipped models, comma-separated")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    p.add_argument("--centres", default="2,3,4", help="Jilin-1 centre frames scored (video models)")
    p.add_argument("--holdout", type=float, default=0.1, help="held-aside share of each satvideo clip")
    p.add_argument("--no-held-aside", action="store_true", help="score Jilin-1 only")
    p.add_argument("--repeat", type=int, default=1, help="timed runs (after one warm-up); the median is reported")
    p.add_argument("--time-frames", type=int, default=7, help="Jilin-1 LR frames in the timed stack (1..7)")
    p.add_argument("--time-size", type=int, default=None,
                   help="side in LR px of the timed stack's top-left crop (16..160; default the whole 160 px frame)")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="the JSON written")
    args = p.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    args.centres = tuple(int(c) for c in args.centres.split(","))
    if not 1 <= args.time_frames <= 7:
        p.error("--time-frames: 1 to 7 (the Jilin-1 clip has 7 frames)")
    if args.time_size is not None and not 16 <= args.time_size <= 160:
        p.error("--time-size: 16 to 160 (the Jilin-1 LR frames are 160 x 160 px)")
    for name in args.models:
        if name not in models.list_models():
            p.error(f"--models: {name} is not a registered model")
        if get_spec(name).needs_reference:
            p.error(f"--models: {name} needs a reference; this script scores video models")
    return args


def main(argv: list[str] | None = None) -> None:
    """Score and time every model, print the table, write the JSON."""
    args = parse_args(argv)
    check_data(args.data, False)
    stack = jilin_stack(args.data)[0].isel(time=slice(0, args.time_frames))
    if args.time_size is not None:  # a quicker check; the ratio then weighs fixed costs more
        stack = stack.isel(y=slice(0, args.time_size), x=slice(0, args.time_size))
    t0 = time.perf_counter()
    rows: dict[str, dict[str, Any]] = {}
    for name in args.models:
        print(name, flush=True)
        jc = None if get_spec(name).time_scale > 1 else args.centres
        try:
            row: dict[str, Any] = {"jilin": score(args.data / JILIN, name, centres=jc)}
            if not args.no_held_aside:
                row["satvideo"] = score(args.data / SATVIDEO, name, prescale=2, holdout=args.holdout)
            row["time"] = time_ratio(name, stack, args.repeat)
        except SatsrError as e:  # a one-line error, as models_table.py: no traceback, no JSON
            raise SystemExit(f"self_ensemble.py: {name}: {e}") from None
        rows[name] = row
        print(table({name: row}).splitlines()[-1], flush=True)
    print(table(rows))
    omp = os.environ.get("OMP_NUM_THREADS")
    payload = {
        "command": (f"OMP_NUM_THREADS={omp} " if omp else "") + shlex.join(["python", *sys.argv]),
        "settings": {"models": args.models, "centres": list(args.centres), "holdout": args.holdout,
                     "held_aside": not args.no_held_aside, "repeat": args.repeat, "time_frames": args.time_frames,
                     "time_size": args.time_size,
                     "protocol": "standard"},
        "rows": rows, "table": table(rows), "seconds": time.perf_counter() - t0, "torch": torch.__version__,
        "satsr": satsr.__version__,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2) + "\n")
    print(args.json)


if __name__ == "__main__":
    main()
