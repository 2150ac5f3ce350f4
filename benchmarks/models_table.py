"""Every shipped model against bicubic (issue 16's table): Jilin-1, LR made by Pillow, held-aside video, speed.

    OMP_NUM_THREADS=1 python benchmarks/models_table.py
    OMP_NUM_THREADS=1 python benchmarks/models_table.py --candidate mtdo-s=/work/runs/mtdo-s-video/final.safetensors

One row per model: by default every registered model whose weights ship with satsr (read from the registry),
``--models a,b`` to choose, and one row per ``--candidate NAME=PATH`` (a checkpoint scored under a registered name
before it is shipped; the row names the file). A ``bicubic`` row comes first, as the baseline. Every score is the
standard protocol of :func:`satsr.metrics.evaluate` (BT.601 Y, 8 bit, 4 px border) through the functions
``satsr evaluate`` runs (:func:`satsr.train.evaluate.evaluate_clips`: the model through :func:`satsr.upscale`);
bicubic is scored in the same call on the same frames, and a gain is the model's PSNR minus bicubic's.

* **Jilin-1**: ``<data>/jilin1_airport`` (its stored LR4x frames), centre frames 2, 3, 4 (``--centres``): PSNR,
  gain, and ``temporal_gain`` (the model's PSNR minus the same model's when its window holds the centre frame
  alone: what the neighbouring frames add).
* **Pillow LR**: the same frames with the LR made from GT by Pillow's bicubic (``lr_resampler="pil_bicubic"``):
  PSNR and gain over the bicubic of that LR (robustness to how the LR was made).
* **held-aside satvideo**: ``<data>/satvideo``, GT area-reduced x2 (``prescale=2``), the windows within the last
  ``--holdout`` (0.05) of each clip (kept out of every satvideo training); the mean over the two clips, no
  temporal gain unless ``--sv-temporal``.
* **LR consistency**: :func:`satsr.metrics.lr_consistency` (the output shrunk back by MATLAB's bicubic against the
  LR, dB), mean over the scored Jilin-1 frames, of the output of the timed call below (its warm-up run): the same
  ``satsr.upscale`` call path as the scores, on the same LR frames and windows.
* **CPU s/Mpx**: ``satsr.upscale(stack, model, device="cpu")`` with its defaults, ``.values`` computed, on an
  in-memory georeferenced stack of the 7 Jilin-1 LR frames (160 x 160, float32 in [0, 1], illustrative UTM 50N
  grid at 3.68 m); median of ``--repeat`` runs after one warm-up, each run including the model's build and weight
  loading as a user's call does, divided by the output megapixels of the frames produced (frames out x 640 x 640
  / 1e6: 7 frames for a video model, 13 for a space-time model). The JSON records torch's threads.
* **params**: the model's parameter count.

A space-time model (``mstt-s``) is scored by :func:`satsr.train.evaluate.evaluate_spacetime` (Jilin-1: its one
7-frame stretch; held-aside: the stretches within the held-aside frames): its PSNR over every frame, and in the
notes the key frames' and the in-between frames' gains, each over its own baseline. A reference model
(``rgtgan-s``) is scored by ``benchmarks/eval_rgtgan_s.py``'s functions (its held-aside sets, ``--ref-limit``
samples each): the notes give its gain over bicubic and over ``lgtd-s`` without the reference; its LR consistency
and speed use the Jilin-1 GT frame 0 as the reference. Prints a Markdown table, writes JSON (``--json``, default
``benchmarks/results/models_table.json``) with the exact command.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

import satsr
from satsr import models
from satsr.engine import thread_plan
from satsr.errors import InputError, SatsrError
from satsr.geo import Grid
from satsr.io.coords import assign_grid
from satsr.metrics import lr_consistency
from satsr.models.registry import bundled_weights, get_spec, iter_specs
from satsr.testing import JILIN1_CRS, JILIN1_TRANSFORM
from satsr.train.evaluate import ClipScore, evaluate_clips, find_clips, load_clip

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import eval_rgtgan_s  # noqa: E402 (the sibling script: rgtgan-s's held-aside sets and scoring)

DEFAULT_DATA = HERE.parent.parent / "shared" / "data"
DEFAULT_JSON = HERE / "results" / "models_table.json"
JILIN = "jilin1_airport"
SATVIDEO = "satvideo"
REF_SETS = ("satvideo", "rrssrd_val_3rd", "bitemporal")
COLUMNS = ("model", "params", "Jilin-1 PSNR (gain)", "temporal gain", "Pillow-LR PSNR (gain)",
           "held-aside satvideo PSNR (gain)", "LR consistency dB", "CPU s/Mpx", "weights", "notes")


@dataclass(frozen=True)
class Entry:
    """One row's model: a registered name and its weights (``path`` None: shipped, or none for bicubic)."""

    name: str
    path: Path | None = None

    @property
    def pretrained(self) -> str | None:
        """What ``satsr.upscale`` / ``create`` get as ``pretrained``: the candidate's file, else the default."""
        return None if self.path is None else str(self.path)

    @property
    def weights(self) -> str:
        """The weights file, as the table shows it."""
        if self.path is not None:
            return str(self.path)
        shipped = bundled_weights(get_spec(self.name))
        return f"{shipped.name} (shipped)" if shipped else "none (no parameters)"


def shipped_models() -> list[str]:
    """Registered models whose trained weights ship with satsr, in registration order."""
    return [s.name for s in iter_specs() if bundled_weights(s) is not None]


def pick_entries(names: str | None, candidates: list[str]) -> list[Entry]:
    """The rows: ``bicubic``, the models named (default: the shipped ones), then one per ``NAME=PATH`` candidate.

    Raises
    ------
    SystemExit
        An unknown name, a network without shipped weights and no candidate for it, a missing candidate file.
    """
    known = set(models.list_models())
    cands = []
    for item in candidates:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"models_table.py: --candidate takes NAME=PATH, got {item!r}")
        if not Path(path).is_file():
            raise SystemExit(f"models_table.py: candidate {name}: {path}: no such file")
        cands.append(Entry(name.strip(), Path(path).resolve()))
    chosen = shipped_models() if names is None else [n.strip() for n in names.split(",") if n.strip()]
    entries = [Entry("bicubic")]
    for name in chosen:
        if name == "bicubic":
            continue
        if name in known and bundled_weights(get_spec(name)) is not None:
            entries.append(Entry(name))
        elif not any(c.name == name for c in cands):
            why = "is not a registered model" if name not in known else "has no shipped weights"
            raise SystemExit(f"models_table.py: {name} {why}; give --candidate {name}=PATH "
                             f"(shipped: {', '.join(shipped_models())})")
    for c in cands:
        if c.name not in known:
            raise SystemExit(f"models_table.py: candidate {c.name} is not a registered model")
    return entries + cands


def check_data(data: Path, reference: bool) -> None:
    """Stop with a one-line error (no traceback) when a data folder the rows need is missing."""
    need = [data / JILIN / "GT", data / JILIN / "LR4x", data / SATVIDEO]
    if reference:
        need += [data / "refsr" / "rrssrd" / "val_3rd", data / "refsr" / "bitemporal"]
    missing = [str(p) for p in need if not p.is_dir()]
    if missing:
        raise SystemExit(f"models_table.py: data not found: {', '.join(missing)}; give --data, the shared data "
                         "folder (jilin1_airport/, satvideo/, refsr/)")


def count_params(entry: Entry) -> int:
    """Number of parameters of the model (0 for an interpolator)."""
    model = models.create(entry.name, pretrained=entry.pretrained)
    return int(sum(p.numel() for p in model.parameters()))


def jilin_stack(data: Path) -> tuple[xr.DataArray, np.ndarray]:
    """The 7 Jilin-1 LR frames as a georeferenced ``(time, band, y, x)`` stack, and the GT frames."""
    lr, gt = load_clip(data / JILIN, 4)
    da = xr.DataArray(lr, dims=("time", "band", "y", "x"))
    return assign_grid(da, _jilin_grid(lr.shape[-2:])), gt


def _jilin_grid(shape: tuple[int, ...]) -> Grid:
    return Grid((int(shape[0]), int(shape[1])), JILIN1_TRANSFORM, JILIN1_CRS)


def _means(scores: list[ClipScore], label: str) -> dict[str, float]:
    """Mean of each score over the clips (as ``satsr evaluate``'s mean row)."""
    mine = [s.scores for s in scores if s.model == label]
    return {k: float(np.mean([m[k] for m in mine])) for k in mine[0]}


def clip_scores(root: Path, entry: Entry, *, device: str = "auto", **options: Any) -> list[ClipScore]:
    """``entry`` and bicubic scored on the clips under ``root`` by :func:`evaluate_clips` (standard protocol)."""
    cands = {entry.name: entry.name, "bicubic": "bicubic"}
    pretrained: dict[str, str | bool] | None = {entry.name: entry.pretrained} if entry.pretrained else None
    return evaluate_clips(root, cands, protocol="standard", device=device, pretrained=pretrained, **options)


def against_bicubic(scores: list[ClipScore], name: str) -> dict[str, Any]:
    """Model ``name``'s scores beside bicubic's, means over the clips (as ``satsr evaluate``'s mean row).

    Returns
    -------
    dict
        The model's mean scores (``psnr``, ``ssim``, ``temporal_gain``..., ``psnr_key``... for space-time),
        ``bicubic_<score>``, ``gain`` (PSNR minus bicubic's; ``gain_<score>`` for every other PSNR score) and
        ``clips`` (per-clip rows).
    """
    mine, base = _means(scores, name), _means(scores, "bicubic")
    out: dict[str, Any] = dict(mine)
    out.update({f"bicubic_{k}": v for k, v in base.items() if k != "temporal_gain"})
    out.update({f"gain_{k}": mine[k] - base[k] for k in mine if k.startswith("psnr_")})
    out["gain"] = mine["psnr"] - base["psnr"]
    out["clips"] = [{"clip": s.clip, "model": s.model, "frames": list(s.frames), **s.scores} for s in scores]
    return out


def scores_skipping_short_clips(root: Path, name: str, run: Callable[[Path], list[ClipScore]]
                                ) -> tuple[list[ClipScore], list[str] | None]:
    """``run(root)``, and ``None`` for the clips skipped; where a space-time model's 7-frame stretch does not fit a
    short clip's held-aside frames, ``run`` on each clip of ``root`` instead, those that do not fit left out (named).

    Raises
    ------
    InputError
        ``run(root)``'s, for a model of one output frame or a single clip; none of the clips scored.
    """
    try:
        return run(root), None
    except InputError:
        if get_spec(name).time_scale == 1 or (root / "GT").is_dir():
            raise
    scores, skipped = [], []
    for clip in find_clips(root):
        try:
            scores += run(clip)
        except InputError:
            skipped.append(clip.name)
    if not scores:
        raise InputError(f"no clip of {root} has a whole stretch in its held-aside frames")
    return scores, skipped


def held_aside_scores(root: Path, entry: Entry, *, holdout: float, temporal: bool, device: str = "auto"
                      ) -> dict[str, Any]:
    """Held-aside satvideo scores (``prescale=2``, windows within the last ``holdout`` of each clip).

    A space-time model's 7-frame stretch may not fit in a short clip's held-aside frames: such clips are left out
    (``skipped``) and the others scored (:func:`scores_skipping_short_clips`). Where nothing can be scored:
    ``{"error": ...}``.
    """
    kw: dict[str, Any] = {"device": device, "prescale": 2, "holdout": holdout, "temporal": temporal}
    try:
        scores, skipped = scores_skipping_short_clips(root, entry.name, lambda r: clip_scores(r, entry, **kw))
    except InputError as e:
        return {"error": str(e)}
    out = against_bicubic(scores, entry.name)
    return out if skipped is None else {**out, "skipped": skipped}


def score_model(entry: Entry, data: Path, *, centres: tuple[int, ...], holdout: float, sv_temporal: bool,
                device: str = "auto", sv_root: Path | None = None, held_aside: bool = True) -> dict[str, Any]:
    """Jilin-1, Jilin-1 with Pillow's LR and held-aside satvideo scores of a video or space-time model.

    ``sv_root`` (default ``<data>/satvideo``) may name one clip; ``held_aside=False`` skips it.
    """
    spacetime = get_spec(entry.name).time_scale > 1
    # a space-time model is scored on stretches: on Jilin-1, its one 7-frame stretch (centred on frame 3)
    jc = None if spacetime else centres
    jilin = data / JILIN
    out: dict[str, Any] = {
        "jilin": against_bicubic(clip_scores(jilin, entry, device=device, centres=jc), entry.name),
        "pil_lr": against_bicubic(clip_scores(jilin, entry, device=device, centres=jc, lr_method="pil_bicubic",
                                              temporal=False), entry.name),
    }
    if held_aside:
        out["satvideo"] = held_aside_scores(sv_root or data / SATVIDEO, entry, holdout=holdout,
                                            temporal=sv_temporal, device=device)
    return out


def time_upscale(entry: Entry, stack: xr.DataArray, centres: tuple[int, ...], repeat: int,
                 reference: xr.DataArray | None = None) -> dict[str, Any]:
    """CPU seconds per output Mpx of ``satsr.upscale`` (defaults, ``device="cpu"``) on ``stack``, and the LR
    consistency of its output on the ``centres`` frames (the warm-up run's output).

    Returns
    -------
    dict
        ``seconds`` (each timed run), ``median_s``, ``frames_out``, ``output_mpx`` (frames out x rows x cols /
        1e6), ``s_per_mpx``, ``lr_consistency_db`` (mean over ``centres``) and ``lr_consistency_frames``.
    """
    spec = get_spec(entry.name)
    kw: dict[str, Any] = {"pretrained": entry.pretrained, "device": "cpu"}
    if reference is not None:
        kw["reference"] = reference

    def run() -> np.ndarray:
        return np.asarray(satsr.upscale(stack, entry.name, **kw).values)

    sr = run()  # the warm-up
    seconds = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - t0)
    lr = np.asarray(stack.values)
    # output frame t * time_scale is made from input frame t (a key frame, for a space-time model)
    cons = [lr_consistency(np.clip(sr[t * spec.time_scale], 0, 1), lr[t], spec.scale) for t in centres]
    mpx = sr.shape[0] * sr.shape[-2] * sr.shape[-1] / 1e6
    median = float(np.median(seconds))
    return {"seconds": seconds, "median_s": median, "frames_out": int(sr.shape[0]), "output_mpx": mpx,
            "s_per_mpx": median / mpx, "lr_consistency_db": float(np.mean(cons)),
            "lr_consistency_frames": list(centres), "threads": asdict(thread_plan("cpu"))}


def score_reference(entry: Entry, data: Path, *, sets: tuple[str, ...], limit: int | None,
                    crop: int) -> dict[str, Any]:
    """A reference model on ``benchmarks/eval_rgtgan_s.py``'s held-aside sets, through its own functions.

    Its gain over bicubic and over ``lgtd-s`` (shipped, given the LR frames without the reference) per set and
    protocol, as that script's ``summarise`` reports them (its keys name the reference model ``rgtgan-s``).
    """
    ref_model = models.create(entry.name, pretrained=entry.pretrained if entry.path else True).eval()
    video_model = models.create("lgtd-s").eval()
    makers: dict[str, Callable[[], Any]] = {
        "satvideo": lambda: eval_rgtgan_s.satvideo(data, crop, limit),
        "rrssrd_val_3rd": lambda: eval_rgtgan_s.rrssrd(data, limit),
        "bitemporal": lambda: eval_rgtgan_s.bitemporal(data, limit),
    }
    out = {}
    for name in sets:
        rows = eval_rgtgan_s.score_set(makers[name](), ref_model, video_model)
        out[name] = eval_rgtgan_s.summarise(rows)
    return out


def reference_image(stack: xr.DataArray, gt: np.ndarray) -> xr.DataArray:
    """The Jilin-1 GT frame 0 on the x4 output grid of ``stack``: a reference for timing a reference model."""
    grid = _jilin_grid((stack.sizes["y"], stack.sizes["x"])).zoom(gt.shape[-1] // stack.sizes["x"])
    return assign_grid(xr.DataArray(gt[0], dims=("band", "y", "x")), grid)


def kind_of(entry: Entry) -> str:
    """``baseline`` (bicubic), ``reference``, ``space-time`` or ``video`` (single-frame models included)."""
    spec = get_spec(entry.name)
    if entry.name == "bicubic":
        return "baseline"
    return "reference" if spec.needs_reference else "space-time" if spec.time_scale > 1 else "video"


def make_row(entry: Entry, data: Path, stack: xr.DataArray, gt: np.ndarray, args: argparse.Namespace,
             held_aside: bool = True) -> dict[str, Any]:
    """Every figure of one row (``args``: ``centres``, ``holdout``, ``sv_temporal``, ``repeat``, ``device``,
    ``ref_sets``, ``ref_limit``, ``ref_crop``); ``held_aside=False`` skips the satvideo scores."""
    kind = kind_of(entry)
    row: dict[str, Any] = {"model": entry.name, "kind": kind, "weights": entry.weights,
                           "candidate": entry.path is not None, "params": count_params(entry)}
    t0 = time.perf_counter()
    if kind == "reference":
        row["reference_sets"] = score_reference(entry, data, sets=args.ref_sets, limit=args.ref_limit,
                                                crop=args.ref_crop)
        row["timing"] = time_upscale(entry, stack, args.centres, args.repeat, reference_image(stack, gt))
    else:
        row.update(score_model(entry, data, centres=args.centres, holdout=args.holdout,
                               sv_temporal=args.sv_temporal, device=args.device, held_aside=held_aside))
        row["timing"] = time_upscale(entry, stack, args.centres, args.repeat)
    row["seconds"] = time.perf_counter() - t0
    row["notes"] = notes(row)
    return row


def share_baseline(rows: list[dict[str, Any]]) -> None:
    """Give the bicubic row the held-aside scores of bicubic on the first video row's windows.

    Which held-aside frames are scored depends on a model's window (the windows must lie wholly within the
    held-aside frames); each row's gain is over bicubic on its own frames, and the bicubic row shows bicubic on
    the first video model's.
    """
    video = next((r for r in rows if r["kind"] == "video" and "psnr" in r.get("satvideo", {})), None)
    if not rows or rows[0]["kind"] != "baseline" or video is None:
        return
    sv = video["satvideo"]
    rows[0]["satvideo"] = {"psnr": sv["bicubic_psnr"], "ssim": sv["bicubic_ssim"], "gain": 0.0,
                           "windows_of": video["model"], "clips": [c for c in sv["clips"] if c["model"] == "bicubic"]}
    rows[0]["notes"] = f"held-aside: on {video['model']}'s windows"


def notes(row: dict[str, Any]) -> str:
    """The notes cell: a space-time model's key / in-between gains, a reference model's gains, errors."""
    parts = []
    if row["kind"] == "space-time":
        for label, key in (("Jilin-1", "jilin"), ("Pillow LR", "pil_lr"), ("held-aside", "satvideo")):
            s = row[key]
            if "gain_psnr_key" in s:
                parts.append(f"{label}: key {s['gain_psnr_key']:+.2f}, mid {s['gain_psnr_mid']:+.2f} dB")
    if row["kind"] == "reference":
        for other in ("bicubic", "lgtd-s"):
            gains = ", ".join(f"{name} {res['psnr_gain_db'][f'over {other} (standard)']:+.2f}"
                              for name, res in row["reference_sets"].items())
            parts.append(f"over {other}: {gains} dB")
    sv = row.get("satvideo", {})
    if "error" in sv:
        parts.append(f"held-aside: {sv['error']}")
    if sv.get("skipped"):
        parts.append(f"held-aside: {', '.join(sv['skipped'])} left out (no whole stretch in its held-aside frames)")
    return "; ".join(parts)


def _psnr_gain(s: dict[str, Any] | None) -> str:
    if not s or "psnr" not in s:
        return "n/a"
    return f"{s['psnr']:.2f} ({s['gain']:+.2f})"


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of the rows."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        jilin, timing = r.get("jilin"), r["timing"]
        tg = jilin.get("temporal_gain") if jilin else None
        cells = [r["model"], f"{r['params']:,}", _psnr_gain(jilin),
                 "n/a" if tg is None or not math.isfinite(tg) else f"{tg:+.2f}", _psnr_gain(r.get("pil_lr")),
                 _psnr_gain(r.get("satvideo")), f"{timing['lr_consistency_db']:.2f}", f"{timing['s_per_mpx']:.3g}",
                 r["weights"], r["notes"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _finite(obj: Any) -> Any:
    """``obj`` with non-finite floats as ``None`` (strict JSON)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=None,
                   help="comma-separated registered models (default: every shipped one; '' for none)")
    p.add_argument("--candidate", action="append", default=[], metavar="NAME=PATH",
                   help="score a checkpoint (safetensors) under a registered name (repeatable)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    p.add_argument("--centres", default="2,3,4", help="Jilin-1 centre frames scored (video models)")
    p.add_argument("--holdout", type=float, default=0.05, help="held-aside share of each satvideo clip")
    p.add_argument("--sv-temporal", action="store_true", help="also the temporal gain on held-aside satvideo")
    p.add_argument("--repeat", type=int, default=3, help="timed runs (after one warm-up); the median is reported")
    p.add_argument("--device", default="auto", help="device of the scores (the timing is always on the CPU)")
    p.add_argument("--ref-sets", default=",".join(REF_SETS), help="a reference model's held-aside sets")
    p.add_argument("--ref-limit", type=int, default=16, help="a reference model's samples per set (0: all)")
    p.add_argument("--ref-crop", type=int, default=256, help="a reference model's satvideo HR window")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="the JSON written")
    args = p.parse_args(argv)
    args.centres = tuple(int(c) for c in args.centres.split(",") if c.strip())
    args.ref_sets = tuple(s.strip() for s in args.ref_sets.split(",") if s.strip())
    args.ref_limit = args.ref_limit or None
    if args.repeat < 1 or not 0 < args.holdout < 1 or not args.centres:
        p.error("--repeat must be >= 1, --holdout in (0, 1) and --centres not empty")
    if set(args.ref_sets) - set(REF_SETS):
        p.error(f"--ref-sets: choose among {', '.join(REF_SETS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the table and write the JSON."""
    args = parse_args(argv)
    torch_threads = torch.get_num_threads()  # before satsr's runner sets its own (satsr_threads)
    entries = pick_entries(args.models, args.candidate)
    check_data(args.data, any(get_spec(e.name).needs_reference for e in entries))
    stack, gt = jilin_stack(args.data)
    t0 = time.perf_counter()
    derive = any(kind_of(e) == "video" for e in entries)  # the bicubic row's held-aside scores: see share_baseline
    rows = []
    for entry in entries:
        print(f"{entry.name} ({entry.weights})", flush=True)
        try:
            own = not (derive and kind_of(entry) == "baseline")
            rows.append(make_row(entry, args.data, stack, gt, args, held_aside=own))
        except SatsrError as e:
            raise SystemExit(f"models_table.py: {entry.name}: {e}") from None
    share_baseline(rows)
    print(table(rows))
    omp = os.environ.get("OMP_NUM_THREADS")
    payload = {
        "command": (f"OMP_NUM_THREADS={omp} " if omp else "") + shlex.join(["python", *sys.argv]),
        "settings": {"data": str(args.data), "protocol": "standard", "jilin_centres": list(args.centres),
                     "holdout": args.holdout, "sv_temporal": args.sv_temporal, "repeat": args.repeat,
                     "device": args.device, "ref_sets": list(args.ref_sets), "ref_limit": args.ref_limit,
                     "ref_crop": args.ref_crop},
        "rows": rows, "table": table(rows), "seconds": time.perf_counter() - t0,
        "torch_threads": torch_threads, "satsr_threads": asdict(thread_plan("cpu")), "cpu_count": os.cpu_count(),
        "torch": torch.__version__, "satsr": satsr.__version__, "host": platform.node(),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(_finite(payload), indent=2) + "\n")
    print(args.json)


if __name__ == "__main__":
    main()
