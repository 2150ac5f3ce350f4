"""Evaluate a model on video clips with ground truth, as the papers report it: a table per clip and the mean.

Clips are in the Jilin-189 layout (``<root>/<clip>/GT/*.png`` with ``LR4x/`` beside it, or LR made from GT with
:func:`satsr.degrade.degrade`, the papers' MATLAB bicubic). The model runs through :func:`satsr.upscale`, the
same tiled path users get, on the whole LR clip; each chosen centre frame is scored against its GT frame with a
protocol of :func:`satsr.metrics.evaluate`. The bicubic baseline is scored the same way in the same run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from affine import Affine
from torch import nn

from satsr.degrade import degrade
from satsr.errors import InputError
from satsr.geo import Grid
from satsr.io.coords import assign_grid
from satsr.metrics import evaluate as evaluate_pair
from satsr.pipeline import upscale
from satsr.train.data import _list_rasters, _read_raster

__all__ = ["ClipScore", "find_clips", "load_clip", "evaluate_clips", "format_table", "gains", "format_gains"]


@dataclass(frozen=True)
class ClipScore:
    """Mean scores of one model on one clip."""

    clip: str
    model: str
    frames: tuple[int, ...]
    scores: dict[str, float]


def find_clips(root: str | Path) -> list[Path]:
    """Clip folders under ``root`` (folders with a ``GT`` subfolder); ``root`` itself if it is one."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    if (root / "GT").is_dir():
        return [root]
    clips = sorted(p for p in root.iterdir() if (p / "GT").is_dir())
    if not clips:
        raise InputError(f"{root}: no clip folders with a GT/ subfolder (Jilin-189 layout <root>/<clip>/GT/*.png)")
    return clips


def _read_frames(folder: Path) -> np.ndarray:
    frames = [_read_raster(p) for p in _list_rasters(folder)]
    shapes = {a.shape for a in frames}
    if len(shapes) > 1:
        raise InputError(f"{folder}: frames differ in size {sorted(shapes)}")
    return np.stack(frames)


def load_clip(clip: str | Path, scale: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """``(lr, gt)`` float32 in ``[0, 1]``, ``(T, C, h, w)`` and ``(T, C, h*scale, w*scale)``."""
    clip = Path(clip)
    gt_raw = _read_frames(clip / "GT")
    top = float(np.iinfo(gt_raw.dtype).max) if gt_raw.dtype.kind in "ui" else 1.0
    gt = gt_raw.astype(np.float32) / top
    lr_dir = clip / f"LR{scale}x"
    if lr_dir.is_dir():
        lr = _read_frames(lr_dir).astype(np.float32) / top
    else:
        lr = degrade(gt, scale)
    t, c, h, w = lr.shape
    if gt.shape != (t, c, h * scale, w * scale):
        raise InputError(f"{clip}: GT frames {gt.shape[1:]} are not x{scale} of the LR frames {lr.shape[1:]}")
    return lr, gt


def _as_stack(lr: np.ndarray) -> xr.DataArray:
    da = xr.DataArray(lr, dims=("time", "band", "y", "x"))
    return assign_grid(da, Grid(lr.shape[-2:], Affine.identity(), None))


def evaluate_clips(
    data: str | Path,
    candidates: dict[str, str | nn.Module],
    *,
    protocol: str = "standard",
    scale: int = 4,
    centres: Sequence[int] | None = None,
    device: str = "auto",
    pretrained: dict[str, str] | None = None,
    model_options: dict[str, dict[str, Any]] | None = None,
) -> list[ClipScore]:
    """Score each candidate model on each clip.

    Parameters
    ----------
    data : path
        A Jilin-189-style root or one clip folder.
    candidates : dict
        Label -> registered model name or module (e.g. ``{"ours": "lgtd-s", "bicubic": "bicubic"}``).
    protocol : str, default "standard"
        See :func:`satsr.metrics.evaluate`.
    centres : sequence of int, optional
        Frame indices to score (default all frames of each clip).
    device : str, default "auto"
    pretrained, model_options : dict, optional
        Per label: checkpoint path and builder options for registered names.

    Returns
    -------
    list of ClipScore
    """
    out = []
    for clip in find_clips(data):
        lr, gt = load_clip(clip, scale)
        idx = tuple(range(len(lr))) if centres is None else tuple(int(i) for i in centres)
        bad = [i for i in idx if not 0 <= i < len(lr)]
        if bad:
            raise InputError(f"{clip}: centre frames {bad} outside 0..{len(lr) - 1}")
        stack = _as_stack(lr)
        for label, model in candidates.items():
            kw: dict[str, Any] = {}
            if isinstance(model, str):
                kw = {"pretrained": (pretrained or {}).get(label), "model_options": (model_options or {}).get(label)}
            # Only the chosen frames are computed (dask), each from its own time window.
            sr = upscale(stack, model, scale=scale, device=device, **kw).isel(time=list(idx)).values
            rows = [evaluate_pair(np.clip(sr[k], 0, 1), gt[t], protocol=protocol, scale=scale)
                    for k, t in enumerate(idx)]
            scores = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
            out.append(ClipScore(clip.name, label, idx, scores))
    return out


def format_table(scores: list[ClipScore]) -> str:
    """Markdown table: one row per clip and model, then the mean over clips per model."""
    keys = list(scores[0].scores) if scores else []
    lines = ["| clip | model | frames | " + " | ".join(keys) + " |", "|---|---|---|" + "---:|" * len(keys)]
    for s in scores:
        vals = " | ".join(f"{s.scores[k]:.4f}" if "ssim" in k else f"{s.scores[k]:.2f}" for k in keys)
        lines.append(f"| {s.clip} | {s.model} | {','.join(map(str, s.frames))} | {vals} |")
    for label in dict.fromkeys(s.model for s in scores):
        mine = [s for s in scores if s.model == label]
        vals = " | ".join(
            f"{np.mean([s.scores[k] for s in mine]):.4f}" if "ssim" in k
            else f"{np.mean([s.scores[k] for s in mine]):.2f}" for k in keys
        )
        lines.append(f"| **mean** | {label} | {len(mine)} clips | {vals} |")
    return "\n".join(lines)


def gains(scores: list[ClipScore], baseline: str = "bicubic") -> dict[str, dict[str, float]]:
    """Each model's mean score minus the baseline's, over the clips both were scored on.

    Returns ``{model: {metric: difference}}`` for every model other than ``baseline`` (empty if the baseline
    was not scored).
    """
    base = {s.clip: s.scores for s in scores if s.model == baseline}
    out: dict[str, dict[str, float]] = {}
    for label in dict.fromkeys(s.model for s in scores if s.model != baseline):
        mine = [s for s in scores if s.model == label and s.clip in base]
        if mine:
            out[label] = {k: float(np.mean([s.scores[k] - base[s.clip][k] for s in mine])) for k in mine[0].scores}
    return out


def format_gains(scores: list[ClipScore], baseline: str = "bicubic") -> str:
    """One line per model: its mean gain over the baseline, e.g. ``lgtd-s over bicubic: +1.79 dB PSNR ...``."""
    lines = []
    for label, diff in gains(scores, baseline).items():
        parts = [f"{v:+.2f} dB {k.upper()}" if "psnr" in k else f"{v:+.4f} {k.upper()}" for k, v in diff.items()]
        lines.append(f"{label} over {baseline}: " + ", ".join(parts))
    return "\n".join(lines)
