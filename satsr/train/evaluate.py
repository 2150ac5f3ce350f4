"""Evaluate a model on video clips with ground truth, as the papers report it: a table per clip and the mean.

Clips are in the Jilin-189 layout (``<root>/<clip>/GT/*.png`` with ``LR4x/`` beside it, or LR made from GT with
:func:`satsr.degrade.degrade`, the papers' MATLAB bicubic). The model runs through :func:`satsr.upscale`, the
same tiled path users get, on the whole LR clip; each chosen centre frame is scored against its GT frame with a
protocol of :func:`satsr.metrics.evaluate`. The bicubic baseline is scored the same way in the same run.

Reference-based models are scored on Ref-SR test sets (the RGTGAN/RRSGAN layout ``HR/``, ``LR/``, ``LR_UX4/``,
``Ref/`` or ``google_Ref/``, ``Ref_DUX4/`` or ``google_Ref_DUX4/``, read by :class:`satsr.train.data.RefSRTriplets`)
with :func:`evaluate_refsr`, as RGTGAN's ``val.py`` does: whole images, the supplied helper images fed to the
network, each output scored with the ``"rgtgan"`` protocol and the scores averaged per set.

Space-time models (``time_scale > 1``, e.g. ``mstt-s``) are scored on stretches of consecutive frames: from the LR
of frames 0, 2, 4, 6 of each 7-frame stretch, every GT frame of it; the key frames (made from an input frame) and
the frames in between apart (``psnr_key``, ``psnr_mid``...), each against its own baseline: the bicubic of the LR
frame, and the bicubic of the mean of the two LR neighbours (:func:`evaluate_spacetime`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from affine import Affine
from torch import nn

from satsr.degrade import degrade
from satsr.engine import resolve_device
from satsr.errors import InputError
from satsr.geo import Grid
from satsr.io.coords import assign_grid
from satsr.metrics import evaluate as evaluate_pair
from satsr.models import create, get_spec
from satsr.models.rgtgan import RGTNet
from satsr.pipeline import upscale
from satsr.train.data import RefSRTriplets, find_refsr_sets, list_rasters, read_raster
from satsr.train.spacetime import split_scores

__all__ = [
    "ClipScore",
    "find_clips",
    "load_clip",
    "evaluate_clips",
    "evaluate_spacetime",
    "spacetime_stretches",
    "SUPPLIED_UX4",
    "evaluate_refsr",
    "format_table",
    "gains",
    "format_gains",
]

#: Candidate of :func:`evaluate_refsr` that scores each set's supplied ``LR_UX4`` image: the bicubic baseline as
#: the data set was made (MATLAB bicubic, JPEG-compressed), not recomputed.
SUPPLIED_UX4 = "lr_ux4"


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


def _read_frames(folder: Path, which: slice | None = None) -> np.ndarray:
    paths = list_rasters(folder)
    frames = [read_raster(p) for p in (paths[which] if which is not None else paths)]
    shapes = {a.shape for a in frames}
    if len(shapes) > 1:
        raise InputError(f"{folder}: frames differ in size {sorted(shapes)}")
    return np.stack(frames)


def load_clip(clip: str | Path, scale: int = 4, *, lr_method: str | None = None, prescale: int = 1,
              frames: slice | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(lr, gt)`` float32 in ``[0, 1]``, ``(T, C, h, w)`` and ``(T, C, h*scale, w*scale)``.

    Parameters
    ----------
    clip : path
        A clip folder with ``GT/`` (and optionally ``LR{scale}x/``).
    scale : int, default 4
    lr_method : str, optional
        Make the LR from GT with this resampler (:data:`satsr.train.video_clips.RESAMPLERS`, e.g.
        ``"pil_bicubic"``) instead of reading ``LR{scale}x/`` (or, without it, MATLAB's bicubic).
    prescale : int, default 1
        Area-reduce the GT frames first (2 for JPEG-published video such as ``satvideo``: see
        :class:`satsr.train.video_clips.VideoClips`); the LR is then always made from the reduced GT.
    frames : slice, optional
        Read only these frames (long clips); indices of the result start at the slice's start.
    """
    from satsr.train.video_clips import downscale

    clip = Path(clip)
    gt_raw = _read_frames(clip / "GT", frames)
    top = float(np.iinfo(gt_raw.dtype).max) if gt_raw.dtype.kind in "ui" else 1.0
    gt = gt_raw.astype(np.float32) / top
    if prescale > 1:
        t, c, h, w = gt.shape
        h, w = h // prescale * prescale, w // prescale * prescale
        gt = gt[:, :, :h, :w].reshape(t, c, h // prescale, prescale, w // prescale, prescale).mean(axis=(3, 5))
    if lr_method is not None or prescale > 1:
        h, w = gt.shape[-2] // scale * scale, gt.shape[-1] // scale * scale
        gt = np.ascontiguousarray(gt[:, :, :h, :w])
        lr = np.clip(downscale(gt, scale, lr_method or "bicubic"), 0, 1)
        return lr, gt
    lr_dir = clip / f"LR{scale}x"
    if lr_dir.is_dir():
        lr = _read_frames(lr_dir, frames).astype(np.float32) / top
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
    candidates: Mapping[str, str | nn.Module],
    *,
    protocol: str = "standard",
    scale: int = 4,
    centres: Sequence[int] | None = None,
    device: str = "auto",
    pretrained: dict[str, str | bool] | None = None,
    model_options: dict[str, dict[str, Any]] | None = None,
    progress: bool = False,
    lr_method: str | None = None,
    prescale: int = 1,
    holdout: float | None = None,
    temporal: bool = True,
) -> list[ClipScore]:
    """Score each candidate model on each clip.

    Besides the protocol's metrics, each score has ``temporal_gain``: the model's PSNR minus its PSNR when every
    frame of its input window is the centre frame (what the neighbouring frames add; 0 for single-frame
    models). Where a candidate is a space-time model, every candidate is scored by :func:`evaluate_spacetime`
    instead (``centres`` then names the centre frames of the stretches; no ``temporal_gain``).

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
        Per label: checkpoint path (or ``False`` for random weights on purpose; default the shipped weights, an
        error for a network without any) and builder options for registered names.
    progress : bool, default False
        Count the (clip, model) runs done (:func:`satsr.progress.bar`).
    lr_method : str, optional
        Make the LR from GT with another resampler (e.g. ``"pil_bicubic"``; see :func:`load_clip`), to measure
        robustness to how the LR was made.
    prescale : int, default 1
        Area-reduce GT first (2 for JPEG-published video; see :func:`load_clip`).
    holdout : float, optional
        Score only the centre frames whose windows lie within the last ``holdout`` share of each clip (the frames
        :class:`satsr.train.video_clips.VideoClips` keeps out of training); exclusive with ``centres``.
    temporal : bool, default True
        Also score each multi-frame model on its centre frame alone (``temporal_gain``).

    Returns
    -------
    list of ClipScore
    """
    from satsr.progress import bar

    if holdout is not None and centres is not None:
        raise InputError("give centres or holdout, not both")
    if any(get_spec(m).time_scale > 1 for m in candidates.values()):
        return evaluate_spacetime(data, candidates, protocol=protocol, scale=scale, centres=centres, device=device,
                                  pretrained=pretrained, model_options=model_options, progress=progress,
                                  lr_method=lr_method, prescale=prescale, holdout=holdout)
    out = []
    clips = find_clips(data)
    half = max(get_spec(m).frames_in for m in candidates.values()) // 2
    counter = bar(total=len(clips) * len(candidates), desc="clip x model", unit="run", enabled=progress)
    for clip in clips:
        n = len(list_rasters(clip / "GT"))
        if holdout is not None:
            cut = int(np.floor(n * (1 - float(holdout))))
            idx = tuple(range(cut + half, n - half))
            if not idx:
                raise InputError(f"{clip}: the last {holdout:.0%} of its {n} frames hold no whole window")
        else:
            idx = tuple(range(n)) if centres is None else tuple(int(i) for i in centres)
        bad = [i for i in idx if not 0 <= i < n]
        if bad:
            raise InputError(f"{clip}: centre frames {bad} outside 0..{n - 1}")
        # Only the frames the chosen windows need are read (long clips), neighbours included.
        lo, hi = max(0, min(idx) - half), min(n, max(idx) + half + 1)
        whole = lo == 0 and hi == n
        lr, gt = load_clip(clip, scale, lr_method=lr_method, prescale=prescale,
                           frames=None if whole else slice(lo, hi))
        local = [t - lo for t in idx]
        stack = _as_stack(lr)
        for label, model in candidates.items():
            kw: dict[str, Any] = {}
            if isinstance(model, str):
                kw = {"pretrained": (pretrained or {}).get(label), "model_options": (model_options or {}).get(label)}
            # Only the chosen frames are computed (dask), each from its own time window.
            sr = upscale(stack, model, scale=scale, device=device, **kw).isel(time=local).values
            rows = [evaluate_pair(np.clip(sr[k], 0, 1), gt[t], protocol=protocol, scale=scale)
                    for k, t in enumerate(local)]
            scores = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
            if temporal:
                scores["temporal_gain"] = _temporal_gain(model, lr, gt, local, scores["psnr"], protocol, scale,
                                                         device, kw)
            out.append(ClipScore(clip.name, label, idx, scores))
            counter.update(1)
    counter.close()
    return out


def spacetime_stretches(n: int, span: int, *, holdout: float | None = None,
                        centres: Sequence[int] | None = None) -> list[int]:
    """First frames of the ``span``-frame stretches of an ``n``-frame clip that a space-time evaluation scores.

    Default: back to back from frame 0 (a 7-frame clip is one stretch). ``holdout``: back to back within the last
    ``holdout`` share of the clip, the frames :class:`satsr.train.video_clips.VideoClips` keeps out of training.
    ``centres``: the stretches centred on these frames.

    Raises
    ------
    InputError
        Both ``holdout`` and ``centres``; a stretch outside the clip; no stretch at all.
    """
    if holdout is not None and centres is not None:
        raise InputError("give centres or holdout, not both")
    if centres is not None:
        starts = [int(c) - span // 2 for c in centres]
        bad = [s + span // 2 for s in starts if s < 0 or s + span > n]
        if bad:
            raise InputError(f"{span}-frame stretches centred on frames {bad} do not fit in 0..{n - 1}")
        return starts
    lo = 0 if holdout is None else int(np.floor(n * (1 - float(holdout))))
    starts = list(range(lo, n - span + 1, span))
    if not starts:
        where = "its" if holdout is None else f"the last {holdout:.0%} of its"
        raise InputError(f"{where} {n - lo} frames hold no {span}-frame stretch (a space-time model's window)")
    return starts


def _spacetime_inputs(lr: np.ndarray, start: int, span: int, r: int, model: str | nn.Module) -> np.ndarray:
    """The LR frames a candidate gets for the stretch at ``start``.

    Every ``r``-th for a space-time model; for another model, all ``span``, those in between interpolated linearly
    from their two LR neighbours (for ``r = 2`` their mean, as :func:`satsr.models.mstt.in_between_baseline`).
    """
    keys = lr[start : start + span : r]
    if get_spec(model).time_scale > 1:
        return keys
    seq = np.repeat(keys, r, axis=0)[:span]
    for k in range(span):
        if k % r:
            j = k % r
            seq[k] = (keys[k // r] * (r - j) + keys[k // r + 1] * j) / r
    return seq


def evaluate_spacetime(
    data: str | Path,
    candidates: Mapping[str, str | nn.Module],
    *,
    protocol: str = "standard",
    scale: int = 4,
    centres: Sequence[int] | None = None,
    device: str = "auto",
    pretrained: dict[str, str | bool] | None = None,
    model_options: dict[str, dict[str, Any]] | None = None,
    progress: bool = False,
    lr_method: str | None = None,
    prescale: int = 1,
    holdout: float | None = None,
) -> list[ClipScore]:
    """Score candidates as space-time SR: from the LR of frames 0, 2, 4, 6 of each 7-frame stretch, all 7 frames.

    A stretch is the window of the (first) space-time candidate: ``(frames_in - 1) * time_scale + 1`` frames, of
    which every ``time_scale``-th is an input (:func:`spacetime_stretches` picks them). A space-time model gets
    those inputs (one window, through :func:`satsr.upscale`); any other model gets every frame of the stretch,
    those in between made as the mean of their two LR neighbours, so that ``bicubic`` is the baseline of both
    kinds of frame: the bicubic of the LR frame, and the bicubic of the neighbours' mean. Each output frame is
    scored against its GT frame; the scores are ``s`` (every frame), ``s_key`` (the input frames) and ``s_mid``
    (the frames in between) for each metric ``s`` of the protocol, averaged over the clip's stretches
    (:func:`satsr.train.spacetime.split_scores`).

    Parameters
    ----------
    data, candidates, protocol, scale, device, pretrained, model_options, progress, lr_method, prescale
        As :func:`evaluate_clips`.
    centres : sequence of int, optional
        Score the stretches centred on these frames (default: back to back from frame 0).
    holdout : float, optional
        Score the stretches within the last ``holdout`` share of each clip; exclusive with ``centres``.

    Returns
    -------
    list of ClipScore
        ``frames`` holds the first frame of each stretch scored.
    """
    from satsr.progress import bar

    st = next((get_spec(m) for m in candidates.values() if get_spec(m).time_scale > 1), None)
    if st is None:
        raise InputError("evaluate_spacetime needs a space-time model (time_scale > 1) among the candidates")
    r, span = st.time_scale, (st.frames_in - 1) * st.time_scale + 1
    clips = find_clips(data)
    out = []
    counter = bar(total=len(clips) * len(candidates), desc="clip x model", unit="run", enabled=progress)
    for clip in clips:
        n = len(list_rasters(clip / "GT"))
        starts = spacetime_stretches(n, span, holdout=holdout, centres=centres)
        lo, hi = min(starts), max(starts) + span
        lr, gt = load_clip(clip, scale, lr_method=lr_method, prescale=prescale,
                           frames=None if (lo, hi) == (0, n) else slice(lo, hi))
        for label, model in candidates.items():
            kw: dict[str, Any] = {}
            if isinstance(model, str):
                kw = {"pretrained": (pretrained or {}).get(label), "model_options": (model_options or {}).get(label)}
            rows = []
            for s0 in starts:
                x = _spacetime_inputs(lr, s0 - lo, span, r, model)
                sr = upscale(_as_stack(x), model, scale=scale, device=device, **kw).values
                if len(sr) != span:
                    raise InputError(f"{label}: {len(x)} frames in gave {len(sr)} out, not the stretch's {span}")
                rows += [(k, evaluate_pair(np.clip(sr[k], 0, 1), gt[s0 - lo + k], protocol=protocol, scale=scale))
                         for k in range(span)]
            out.append(ClipScore(clip.name, label, tuple(starts), split_scores(rows, r)))
            counter.update(1)
    counter.close()
    return out


def _temporal_gain(model: str | nn.Module, lr: np.ndarray, gt: np.ndarray, local: list[int], psnr: float,
                   protocol: str, scale: int, device: str, kw: dict[str, Any]) -> float:
    """``psnr`` minus the model's PSNR when each window holds only its centre frame, repeated."""
    spec = get_spec(model)
    if spec.time_scale != 1:
        return float("nan")
    k = spec.frames_in
    if k == 1:
        return 0.0
    # Frame t repeated k times, one block per centre: the window centred in each block sees frame t alone.
    still = np.repeat(lr[local], k, axis=0)
    sr_stack = upscale(_as_stack(still), model, scale=scale, device=device, **kw)
    sr = sr_stack.isel(time=[j * k + k // 2 for j in range(len(local))]).values
    alone = [evaluate_pair(np.clip(sr[j], 0, 1), gt[t], protocol=protocol, scale=scale)["psnr"]
             for j, t in enumerate(local)]
    return float(psnr - np.mean(alone))


def _set_labels(folders: Sequence[Path]) -> list[str]:
    """Each set's folder name, or ``parent/name`` where two sets share a name."""
    names = [f.name for f in folders]
    return [f"{f.parent.name}/{f.name}" if names.count(f.name) > 1 else f.name for f in folders]


_Run = Callable[[dict[str, np.ndarray]], np.ndarray]


def _refsr_runner(model: str | nn.Module, scale: int, device: str, pretrained: str | bool | None,
                  options: dict[str, Any] | None) -> _Run:
    """A function from one sample's images (``RefSRTriplets.load``) to the model's ``(C, 4h, 4w)`` output."""
    if isinstance(model, str) and model == SUPPLIED_UX4:
        return lambda imgs: imgs["lr_ux4"]
    module = create(model, scale=scale, pretrained=pretrained, **(options or {})) if isinstance(model, str) else model
    if not isinstance(module, RGTNet) and not get_spec(module).needs_reference:
        # A single-image model sees the LR alone, through the same tiled path users get.
        return lambda imgs: upscale(_as_stack(imgs["lr"][None]), module, scale=scale, device=device).values[0]
    dev = resolve_device(device)
    module = module.to(dev).eval()

    def run(imgs: dict[str, np.ndarray]) -> np.ndarray:
        t = {k: torch.from_numpy(imgs[k])[None].to(dev) for k in ("lr", "lr_ux4", "ref", "ref_dux4")}
        with torch.inference_mode():
            if isinstance(module, RGTNet):  # the authors' signature: the supplied helper images, as val.py
                out = RGTNet.forward(module, t["lr"], t["lr_ux4"], t["ref"], t["ref_dux4"])
            else:
                out = module(t["lr"], t["ref"])
        return out[0].float().cpu().numpy()

    return run


def evaluate_refsr(
    data: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    candidates: dict[str, str | nn.Module],
    *,
    limit: int | None = None,
    scale: int = 4,
    device: str = "cpu",
    pretrained: dict[str, str | bool] | None = None,
    model_options: dict[str, dict[str, Any]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[ClipScore]:
    """Score models on Ref-SR test sets with RGTGAN's ``val.py`` protocol, per set.

    Each image is super-resolved whole. :class:`satsr.models.rgtgan.RGTNet` models (``"rgtgan"``) get the set's
    supplied ``LR_UX4`` and ``Ref_DUX4`` images through the authors' ``forward(lr, lr_ux4, ref, ref_dux4)``;
    other reference models are called ``model(lr, ref)``; single-image models see the LR alone, through
    :func:`satsr.upscale`. Every output is clamped to ``[0, 1]`` and scored against HR with
    ``satsr.metrics.evaluate(..., protocol="rgtgan")`` (rounded to 8 bit, 4-pixel border crop, PSNR and Gaussian
    SSIM over the 3 colour bands), and the per-image scores are averaged over each set.

    Parameters
    ----------
    data : path or sequence of paths
        Set folders, or folders of set folders (see :func:`satsr.train.data.find_refsr_sets`).
    candidates : dict
        Label -> registered model name, module, or :data:`SUPPLIED_UX4` (``"lr_ux4"``) for the set's supplied
        ``LR_UX4`` image, the bicubic baseline of this protocol (e.g. ``{"rgtgan": "rgtgan", "bicubic":
        "lr_ux4"}``). Sets without ``LR_UX4``/``Ref_DUX4`` files get them made with MATLAB bicubic.
    limit : int, optional
        Score only the first ``limit`` images of each set (file-name order). Default all.
    scale : int, default 4
    device : str, default "cpu"
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    pretrained, model_options : dict, optional
        Per label: checkpoint path and builder options for registered names (as :func:`satsr.models.create`:
        without a checkpoint, the shipped weights, an error for a network without any; ``False`` for random
        weights on purpose).
    progress : callable, optional
        Called as ``progress(done, total)`` after each image (all candidates scored on it).

    Returns
    -------
    list of ClipScore
        One per set and candidate, sets in the order found: ``clip`` is the set's folder name (``parent/name``
        where two share a name), ``frames`` the scored image indices, ``scores`` the mean ``"psnr"`` (dB, ``inf``
        when every image is reproduced exactly) and ``"ssim"``.

    Raises
    ------
    InputError
        A missing folder, a folder without Ref-SR sets, a set missing ``HR``, ``LR`` or its reference folder or
        one of their files, sizes that do not agree, or ``limit < 1``.
    UnknownModelError, ModelError, CheckpointError
        As :func:`satsr.models.create`.

    Examples
    --------
    >>> scores = evaluate_refsr("refsr/kagglesrd", {"rgtgan": "rgtgan", "bicubic": SUPPLIED_UX4})  # doctest: +SKIP
    >>> print(format_table(scores, unit="set"))  # doctest: +SKIP
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InputError(f"limit must be a positive integer, got {limit!r}")
    roots = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    if not roots:
        raise InputError("no Ref-SR data folder given")
    # Every data check runs before any model is built or any pixel computed.
    folders = list(dict.fromkeys(f.resolve() for root in roots for f in find_refsr_sets(root)))
    sets = [RefSRTriplets(f, scale=scale) for f in folders]
    runners = {
        label: _refsr_runner(model, scale, device, (pretrained or {}).get(label), (model_options or {}).get(label))
        for label, model in candidates.items()
    }
    counts = [len(ds) if limit is None else min(limit, len(ds)) for ds in sets]
    total, done = sum(counts), 0
    out = []
    for name, ds, n in zip(_set_labels(folders), sets, counts):
        rows: dict[str, list[dict[str, float]]] = {label: [] for label in runners}
        for i in range(n):
            imgs = ds.load(i)
            for label, run in runners.items():
                rows[label].append(evaluate_pair(np.clip(run(imgs), 0, 1), imgs["hr"], protocol="rgtgan"))
            done += 1
            if progress is not None:
                progress(done, total)
        for label, mine in rows.items():
            scores = {key: float(np.mean([r[key] for r in mine])) for key in mine[0]}
            out.append(ClipScore(name, label, tuple(range(n)), scores))
    return out


def format_table(scores: list[ClipScore], unit: str = "clip") -> str:
    """Markdown table: one row per clip and model, then the mean over clips per model.

    With ``unit="set"`` (Ref-SR sets, :func:`evaluate_refsr`) the first column is headed "set" and the third gives
    the number of images instead of the frame indices.
    """
    keys = list(scores[0].scores) if scores else []
    third = "images" if unit == "set" else "frames"
    lines = [f"| {unit} | model | {third} | " + " | ".join(keys) + " |", "|---|---|---|" + "---:|" * len(keys)]
    for s in scores:
        vals = " | ".join(f"{s.scores[k]:.4f}" if "ssim" in k else f"{s.scores[k]:.2f}" for k in keys)
        which = str(len(s.frames)) if unit == "set" else ",".join(map(str, s.frames))
        lines.append(f"| {s.clip} | {s.model} | {which} | {vals} |")
    for label in dict.fromkeys(s.model for s in scores):
        mine = [s for s in scores if s.model == label]
        vals = " | ".join(
            f"{np.mean([s.scores[k] for s in mine]):.4f}" if "ssim" in k
            else f"{np.mean([s.scores[k] for s in mine]):.2f}" for k in keys
        )
        lines.append(f"| **mean** | {label} | {len(mine)} {unit}s | {vals} |")
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
        parts = [f"{v:+.2f} dB {k.upper()}" if "psnr" in k else f"{v:+.4f} {k.upper()}" for k, v in diff.items()
                 if k != "temporal_gain"]
        lines.append(f"{label} over {baseline}: " + ", ".join(parts))
    for label in dict.fromkeys(s.model for s in scores):
        tg = [s.scores["temporal_gain"] for s in scores if s.model == label and "temporal_gain" in s.scores]
        if tg and np.isfinite(tg).all() and any(tg):
            lines.append(f"{label} from its neighbouring frames: {np.mean(tg):+.2f} dB PSNR (against the same model "
                         "on the centre frame alone)")
    return "\n".join(lines)
