"""Training of space-time models (``spec.time_scale > 1``, e.g. ``mstt-s``): frames in, more frames out.

:class:`satsr.train.loop.SpaceTimeTask` is :class:`satsr.train.loop.VideoTask` with space-time data and scores,
which this module provides (it imports no training loop, so that the loop can import it). Its data are
``video_clips`` entries read as windows of ``(frames - 1) * time_scale + 1`` consecutive frames
(:class:`satsr.train.video_clips.VideoClips` with ``time_scale``): for MSTT, the LR of frames 0, 2, 4 and 6 of 7
in and all 7 HR frames as the target; the same degradations, crops, held-aside frames and frame cache as spatial
video training. ``pseudo_video`` entries (:class:`satsr.train.data.PseudoVideo`, clips made from sharp stills)
give the same windows, so the two can be mixed. For models that take optical flow (MSTT: a ``flow_options``
attribute), the training samples carry Ce Liu's flows between neighbouring LR frames (``f_flow``, ``b_flow``),
computed where the data is made, so that a ``DataLoader``'s workers share that CPU work. The loss (Charbonnier or
L1) compares all output frames.

Validation scores the key frames (made from an input frame) and the frames in between separately, each also
against its baseline: the bicubic of its LR frame, and the bicubic of the mean of its two LR neighbours
(:func:`satsr.models.mstt.in_between_baseline`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from satsr import models
from satsr.errors import InputError
from satsr.metrics import evaluate as evaluate_pair
from satsr.models.mstt import in_between_baseline
from satsr.train.config import DataSpec

__all__ = ["SPACETIME_FIELDS", "SPACETIME_KINDS", "describe_spacetime", "spacetime_entry", "split_scores",
           "validate_spacetime"]

#: Data set types that make space-time windows (``time_scale``, ``flows``).
SPACETIME_KINDS = ("video_clips", "pseudo_video")

#: Validation columns of a space-time run (``log.csv``, after ``val_``).
SPACETIME_FIELDS = ("psnr", "ssim", "psnr_key", "ssim_key", "psnr_mid", "ssim_mid", "gain_key", "gain_mid")


def split_scores(rows: Iterable[tuple[int, Mapping[str, float]]], time_scale: int = 2) -> dict[str, float]:
    """Means of per-frame scores over all frames, the key frames and the frames in between.

    Parameters
    ----------
    rows : iterable of (int, dict)
        ``(index of the frame in its output window, its scores)``; index ``k`` is a key frame when
        ``k % time_scale == 0`` (made from an input frame), else a frame in between.
    time_scale : int, default 2

    Returns
    -------
    dict
        Each score ``s`` as ``s`` (all frames), ``s_key`` and ``s_mid`` (NaN where there are none).
    """
    rows = list(rows)
    if not rows:
        raise InputError("no frames to score")
    out: dict[str, float] = {}
    for name in rows[0][1]:
        every = [r[name] for _, r in rows]
        key = [r[name] for k, r in rows if k % time_scale == 0]
        mid = [r[name] for k, r in rows if k % time_scale]
        out[name] = float(np.mean(every))
        out[f"{name}_key"] = float(np.mean(key)) if key else float("nan")
        out[f"{name}_mid"] = float(np.mean(mid)) if mid else float("nan")
    return out


def _pad(lr: torch.Tensor, multiple: int) -> torch.Tensor:
    """``(B, T, C, h, w)`` reflect-padded at the bottom and right to multiples of ``multiple``."""
    h, w = lr.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return lr
    return F.pad(lr.flatten(0, 1), (0, pw, 0, ph), mode="reflect").unflatten(0, lr.shape[:2])


def validate_spacetime(model: nn.Module, dataset: Any, device: torch.device, protocol: str,
                       scale: int) -> dict[str, float]:
    """Mean scores of a space-time model over every window of ``dataset`` (whole crops, padded to its rule).

    Each output frame is scored against its HR frame (:func:`satsr.metrics.evaluate`); see :func:`split_scores`
    for the ``_key`` and ``_mid`` means. ``gain_key`` and ``gain_mid`` are the PSNR of the key frames and of the
    frames in between minus those of their baselines (:func:`satsr.models.mstt.in_between_baseline`: bicubic of
    the LR frame; bicubic of the mean of the two LR neighbours), on the same frames.
    """
    was_training = model.training
    model.eval()
    spec = models.get_spec(model)
    rows: list[tuple[int, dict[str, float]]] = []
    base: list[tuple[int, dict[str, float]]] = []
    with torch.inference_mode():
        for i in range(len(dataset)):
            s = dataset[i]
            h, w = s["lr"].shape[-2:]
            lr = _pad(s["lr"][None].to(device), spec.multiple_of)
            sr = model(lr)[0, :, :, : h * scale, : w * scale].float().clamp(0, 1).cpu().numpy()
            bl = in_between_baseline(s["lr"][None].float(), scale)[0].clamp(0, 1).numpy()
            hr = s["hr"].numpy()
            for k in range(len(hr)):
                rows.append((k, evaluate_pair(sr[k], hr[k], protocol=protocol, scale=scale)))
                base.append((k, evaluate_pair(bl[k], hr[k], protocol=protocol, scale=scale)))
    model.train(was_training)
    out = split_scores(rows, spec.time_scale)
    ref = split_scores(base, spec.time_scale)
    out["gain_key"] = out["psnr_key"] - ref["psnr_key"]
    out["gain_mid"] = out["psnr_mid"] - ref["psnr_mid"]
    return out


def spacetime_entry(entry: Mapping[str, Any], model: str, time_scale: int,
                    flows: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A ``video_clips`` or ``pseudo_video`` entry read as the space-time windows of ``model`` (``time_scale``, flows).

    Parameters
    ----------
    entry : mapping
        The config's data entry (``type`` plus options).
    model : str
        The model's name, for messages.
    time_scale : int
        The model's.
    flows : mapping, optional
        Options of Ce Liu's flow for samples that carry flows (training data of models that take them);
        ``None``: no flows, unless the entry asks for them.

    Raises
    ------
    InputError
        Another data set type, or a ``time_scale`` other than the model's.
    """
    spec = DataSpec.parse(entry)
    if spec.kind not in SPACETIME_KINDS:
        raise InputError(f"{model} is a space-time model: it trains on 'video_clips' data (consecutive frames of "
                         f"real video) or 'pseudo_video' (clips made from stills), not {spec.kind!r}")
    if spec.options.get("time_scale", time_scale) != time_scale:
        raise InputError(f"{model} makes frames at time_scale={time_scale}; the data entry says "
                         f"time_scale={spec.options['time_scale']}")
    options: dict[str, Any] = {**spec.to_dict(), "time_scale": time_scale}
    if flows is not None:
        options.setdefault("flows", dict(flows))
    return options


def describe_spacetime(val: Mapping[str, float]) -> str:
    """One progress line for a space-time validation (:func:`validate_spacetime`)."""
    return (f"val PSNR {val['psnr']:.3f} dB, SSIM {val['ssim']:.4f}; key frames {val['psnr_key']:.3f} dB "
            f"({val['gain_key']:+.2f} over bicubic), in between {val['psnr_mid']:.3f} dB "
            f"({val['gain_mid']:+.2f} over bicubic of the neighbours' mean)")
