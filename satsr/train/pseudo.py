"""Pseudo-video from a still image: what a staring satellite would film over one scene.

Why: real satellite video (Jilin-1, SkySat) is scarce and comes in a handful of clips, while HR stills are
plentiful. A video satellite stares at one ground point while it flies over; between frames the platform
drifts by a fraction of a pixel, jitters by a few tenths of a pixel, and the field of view rotates slightly.
Those sub-pixel offsets are exactly what multi-frame super-resolution exploits, so cutting shifted, slightly
rotated frames out of a still with a high-quality resampler gives training clips whose motion statistics match
real satellite video and whose centre frame is genuine imagery.

Modelled:

- platform drift: a constant velocity (pixels per frame, random direction and magnitude up to ``drift`` per
  axis);
- jitter: an independent Gaussian offset per frame (std ``jitter`` pixels);
- rotation of the field of view about the frame centre, growing linearly over the clip;
- optional movers: small bright or dark rectangles (cars, aircraft) moving at constant ground velocity.

Not modelled: parallax (buildings lean differently as the view angle changes), illumination or atmosphere
changes, rolling-shutter or push-frame artefacts, compression, and any sensor noise beyond what
:func:`satsr.degrade.degrade` adds to the LR frames.

Sign convention: content at position ``p`` (row, column) in the centre frame appears at ``p + shift[t]`` in
frame ``t`` (for ``rotation=0``; with rotation, ``shift[t]`` is the displacement of the frame centre and a point
``q`` away from the centre also turns by ``rotation[t]`` degrees). This is the convention of
:func:`satsr.coregistration.phase_shift`: ``phase_shift(frames[c, b], frames[t, b]) ~ shift[t]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, overload

import numpy as np
from scipy import ndimage

from satsr.errors import InputError

__all__ = ["make_clip", "Motion"]

# Cubic-spline coefficients depend on the whole image (an IIR prefilter); their error from cutting the image
# decays by 0.268 per pixel, so 10 pixels of context leave < 2e-6 of difference.
_SPLINE_CONTEXT = 10


def _pair(value: float | tuple[float, float], name: str) -> tuple[float, float]:
    v: Any = value  # a number or a pair: np.ndim tells which, as mypy cannot
    a, b = (v, v) if np.ndim(v) == 0 else tuple(v)
    if not (a >= 0 and b >= 0):
        raise InputError(f"make_clip: {name} must be >= 0, got {value!r}")
    return float(a), float(b)


@dataclass(frozen=True)
class Motion:
    """A staring satellite's motion over a clip: the motion settings of :func:`make_clip`.

    :class:`satsr.train.data.PseudoVideo` takes one (config keys ``drift``, ``jitter``, ``rotation``, ``movers``).

    Parameters
    ----------
    drift : float or (float, float), default (0.3, 0.3)
        Largest platform drift per axis ``(rows, cols)``, pixels per frame; stored as a pair.
    jitter : float, default 0.15
        Standard deviation of the per-frame jitter, pixels.
    rotation : float, default 0.2
        Largest rotation over the clip, degrees.
    movers : int, default 0
        Number of small moving rectangles.

    Raises
    ------
    InputError
        A negative value.
    """

    drift: float | tuple[float, float] = (0.3, 0.3)
    jitter: float = 0.15
    rotation: float = 0.2
    movers: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "drift", _pair(self.drift, "drift"))
        if not (self.jitter >= 0 and self.rotation >= 0 and int(self.movers) >= 0):
            raise InputError(
                f"make_clip: jitter, rotation and movers must be >= 0, got {self.jitter!r}, {self.rotation!r}, "
                f"{self.movers!r}"
            )
        object.__setattr__(self, "movers", int(self.movers))


class _Camera(NamedTuple):
    """The platform's motion over one clip, relative to the centre frame."""

    velocity: np.ndarray  # (vy, vx) pixels per frame
    shifts: np.ndarray  # (T, 2) displacement of each frame's centre
    rotations: np.ndarray  # (T,) degrees
    dt: np.ndarray  # (T,) frames from the centre frame
    centre: int


def _rotation_matrix(deg: float) -> np.ndarray:
    """Matrix turning ``(row, col)`` vectors counter-clockwise on screen (rows point down) by ``deg``."""
    t = math.radians(deg)
    c, s = math.cos(t), math.sin(t)
    return np.array([[c, -s], [s, c]])


def _paint_box(frame: np.ndarray, box: tuple[float, float, float, float], value: np.ndarray) -> None:
    """Blend an axis-aligned box with sub-pixel edges into ``frame`` (C, H, W), in place.

    Pixel ``(i, j)`` covers ``[i, i+1) x [j, j+1)``; its weight is the fraction of it the box covers, so a box
    moving by a fraction of a pixel moves the image by that fraction too.
    """
    y0, x0, y1, x1 = box
    h, w = frame.shape[-2:]
    rows = np.arange(max(0, math.floor(y0)), min(h, math.ceil(y1)))
    cols = np.arange(max(0, math.floor(x0)), min(w, math.ceil(x1)))
    if rows.size == 0 or cols.size == 0:
        return
    cy = np.clip(np.minimum(rows + 1, y1) - np.maximum(rows, y0), 0, 1)
    cx = np.clip(np.minimum(cols + 1, x1) - np.maximum(cols, x0), 0, 1)
    cov = cy[:, None] * cx[None, :]
    sub = frame[:, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    sub *= 1 - cov
    sub += cov * value[:, None, None]


@overload
def make_clip(
    image: np.ndarray,
    n_frames: int = ...,
    *,
    size: int | tuple[int, int] | None = ...,
    drift: float | tuple[float, float] = ...,
    jitter: float = ...,
    rotation: float = ...,
    movers: int = ...,
    rng: int | np.random.Generator | None = ...,
    return_params: Literal[False] = ...,
) -> np.ndarray: ...


@overload
def make_clip(
    image: np.ndarray,
    n_frames: int = ...,
    *,
    size: int | tuple[int, int] | None = ...,
    drift: float | tuple[float, float] = ...,
    jitter: float = ...,
    rotation: float = ...,
    movers: int = ...,
    rng: int | np.random.Generator | None = ...,
    return_params: Literal[True],
) -> tuple[np.ndarray, dict[str, Any]]: ...


@overload
def make_clip(
    image: np.ndarray,
    n_frames: int = ...,
    *,
    size: int | tuple[int, int] | None = ...,
    drift: float | tuple[float, float] = ...,
    jitter: float = ...,
    rotation: float = ...,
    movers: int = ...,
    rng: int | np.random.Generator | None = ...,
    return_params: bool = ...,
) -> np.ndarray | tuple[np.ndarray, dict[str, Any]]: ...


def make_clip(
    image: np.ndarray,
    n_frames: int = 5,
    *,
    size: int | tuple[int, int] | None = None,
    drift: float | tuple[float, float] = (0.3, 0.3),
    jitter: float = 0.15,
    rotation: float = 0.2,
    movers: int = 0,
    rng: int | np.random.Generator | None = None,
    return_params: bool = False,
) -> np.ndarray | tuple[np.ndarray, dict[str, Any]]:
    """Make a synthetic staring-satellite clip from one HR still.

    Frame ``t`` samples the still at the centre crop's positions moved by the platform drift
    ``(t - c) * v`` (``c = n_frames // 2`` the centre frame, ``v`` drawn uniformly in ``[-drift, drift]`` per
    axis), plus Gaussian jitter, turned about the frame centre by ``rotation_t``; resampling is by cubic
    spline (``scipy.ndimage.affine_transform``, ``order=3``, ``mode="reflect"``), which barely blurs. The centre
    frame is the still's centre crop itself (no resampling). Movers are painted into every frame afterwards.

    Parameters
    ----------
    image : numpy.ndarray
        ``(C, H, W)`` (or ``(H, W)``) float still in ``[0, 1]``, larger than ``size`` so that the frames do
        not reach its edges (beyond them the image is mirrored).
    n_frames : int, default 5
        Number of frames ``T``.
    size : int or (int, int), optional
        Frame size ``(h, w)``; default: the image less a margin that holds the largest possible motion.
    drift : float or (float, float), default (0.3, 0.3)
        Largest platform drift per axis ``(rows, cols)``, pixels per frame.
    jitter : float, default 0.15
        Standard deviation of the per-frame jitter, pixels (each axis; none on the centre frame, which is the
        reference).
    rotation : float, default 0.2
        Largest rotation over the clip, degrees: ``rotation_t = r * (t - c) / (T - 1)``, ``r`` uniform in
        ``[-rotation, rotation]``, so the first and last frames differ by ``|r|``. Positive turns content
        counter-clockwise as displayed (rows pointing down).
    movers : int, default 0
        Number of small moving rectangles (2-6 px a side, bright or dark, 0.5-2.5 px per frame).
    rng : int or numpy.random.Generator, optional
        Seed or generator; the clip is a deterministic function of it. Camera motion is drawn before movers, so
        one seed gives the same camera motion whatever ``movers`` is.
    return_params : bool, default False
        Also return the true motion.

    Returns
    -------
    frames : numpy.ndarray
        ``(T, C, h, w)`` float32 clipped to ``[0, 1]``.
    params : dict
        Only with ``return_params=True``.
        ``"shifts"``: ``(T, 2)`` float64 ``(dy, dx)`` of each frame relative to the centre frame: content at
        ``p`` in the centre frame appears at ``p + shifts[t]`` in frame ``t`` (the frame-centre displacement
        when rotating); ``"rotations"``: ``(T,)`` degrees relative to the centre frame; ``"velocity"``: the drift
        ``(vy, vx)`` in pixels per frame; ``"centre"``: ``c``; ``"movers"``: ``(movers, T, 4)`` boxes
        ``(y0, x0, y1, x1)`` in each frame's pixel-edge coordinates (pixel ``(i, j)`` spans
        ``[i, i+1) x [j, j+1)``); ``"mover_values"``: ``(movers, C)``.

    Raises
    ------
    InputError
        A still that is not 2-D or 3-D, frames larger than the still, or negative parameters.

    Examples
    --------
    >>> img = np.random.default_rng(0).random((3, 96, 96))
    >>> clip, p = make_clip(img, 5, size=64, rng=1, return_params=True)
    >>> clip.shape, p["shifts"].shape
    ((5, 3, 64, 64), (5, 2))
    """
    img = _check_still(image)
    n_frames = int(n_frames)
    if n_frames < 1:
        raise InputError(f"make_clip: n_frames must be >= 1, got {n_frames}")
    motion = Motion(drift, jitter, rotation, movers)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    out_shape = _frame_size(size, img.shape[1:], motion, n_frames)
    # Camera motion is drawn first, so that the same seed gives the same motion with or without movers.
    camera = _draw_camera(gen, motion, n_frames)
    out = _resample(img, camera, out_shape)
    boxes, values = _paint_movers(out, gen, motion.movers, camera)
    frames = np.clip(out, 0.0, 1.0).astype(np.float32)
    if not return_params:
        return frames
    params = {
        "shifts": camera.shifts,
        "rotations": camera.rotations,
        "velocity": camera.velocity,
        "centre": camera.centre,
        "movers": boxes,
        "mover_values": values,
    }
    return frames, params


def _check_still(image: np.ndarray) -> np.ndarray:
    """The still as float64 ``(C, H, W)``."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[None]
    if img.ndim != 3 or min(img.shape) < 1:
        raise InputError(f"make_clip: image must be (C, H, W) or (H, W), got shape {np.shape(image)}")
    return img.astype(np.float64, copy=False)


def _frame_size(size: int | tuple[int, int] | None, still: tuple[int, int], motion: Motion, n_frames: int
                ) -> tuple[int, int]:
    """Frame ``(rows, cols)``: ``size``, or the still less a margin that holds the largest possible motion."""
    big_h, big_w = still
    if size is None:
        # Largest displacement: drift, 4 sigma of jitter, and the corners' travel when turning.
        turn = math.radians(motion.rotation) * math.hypot(big_h, big_w) / 2
        # motion.drift is a pair (Motion.__post_init__)
        pad = math.ceil(n_frames // 2 * max(motion.drift) + 4 * motion.jitter + turn) + 2  # type: ignore[arg-type]
        out_h, out_w = big_h - 2 * pad, big_w - 2 * pad
    else:
        out_h, out_w = (int(size), int(size)) if np.ndim(size) == 0 else (int(size[0]), int(size[1]))  # type: ignore[arg-type, index]
    if out_h < 1 or out_w < 1 or out_h > big_h or out_w > big_w:
        raise InputError(
            f"make_clip: frame size {out_h}x{out_w} does not fit in the {big_h}x{big_w} image (use a larger "
            "still or a smaller size)"
        )
    return out_h, out_w


def _draw_camera(gen: np.random.Generator, motion: Motion, n_frames: int) -> _Camera:
    """Drift velocity, per-frame jitter and the rotation ramp (the draws' order is part of the seed's meaning)."""
    c = n_frames // 2
    dt = np.arange(n_frames) - c
    dy_max, dx_max = motion.drift  # type: ignore[misc]  # a pair since Motion.__post_init__
    velocity = np.array([gen.uniform(-dy_max, dy_max), gen.uniform(-dx_max, dx_max)])
    jit = gen.normal(0.0, 1.0, (n_frames, 2)) * motion.jitter
    jit[c] = 0.0  # the centre frame is the reference
    shifts = dt[:, None] * velocity[None, :] + jit
    r = gen.uniform(-motion.rotation, motion.rotation)
    rotations = r * dt / max(n_frames - 1, 1)
    return _Camera(velocity, shifts, rotations, dt, c)


def _resample(img: np.ndarray, camera: _Camera, out_shape: tuple[int, int]) -> np.ndarray:
    """Each frame cut from the still where the camera points, by cubic spline: ``(T, C, h, w)`` float64."""
    n_bands, big_h, big_w = img.shape
    out_h, out_w = out_shape
    n_frames = len(camera.dt)
    # Output pixel o (0-based) of frame t samples the still at  top_left + centre + R(-theta)(o - centre - shift):
    # the inverse of "content at p moves to R(theta) p + shift" about the frame centre.
    top = np.array([(big_h - out_h) // 2, (big_w - out_w) // 2], dtype=np.float64)  # integer crop: centre frame exact
    ctr = np.array([(out_h - 1) / 2, (out_w - 1) / 2])
    mats, offsets = [], []
    corners = np.array([[0, 0], [0, out_w - 1], [out_h - 1, 0], [out_h - 1, out_w - 1]], dtype=np.float64)
    lo, hi = np.full(2, np.inf), np.full(2, -np.inf)
    for t in range(n_frames):
        inv = _rotation_matrix(-camera.rotations[t])
        off = top + ctr - inv @ (ctr + camera.shifts[t])
        mats.append(inv)
        offsets.append(off)
        pts = corners @ inv.T + off
        lo, hi = np.minimum(lo, pts.min(0)), np.maximum(hi, pts.max(0))
    # Resample from the part of the still the frames need (plus spline context), not the whole still.
    y0 = max(0, math.floor(lo[0]) - _SPLINE_CONTEXT)
    x0 = max(0, math.floor(lo[1]) - _SPLINE_CONTEXT)
    y1 = min(big_h, math.ceil(hi[0]) + _SPLINE_CONTEXT + 1)
    x1 = min(big_w, math.ceil(hi[1]) + _SPLINE_CONTEXT + 1)
    sub = img[:, y0:y1, x0:x1]
    coeffs = [ndimage.spline_filter(sub[b], order=3, mode="reflect") for b in range(n_bands)]
    out = np.empty((n_frames, n_bands, out_h, out_w), dtype=np.float64)
    for t in range(n_frames):
        off = offsets[t] - np.array([y0, x0])
        for b in range(n_bands):
            ndimage.affine_transform(
                coeffs[b], mats[t], off, output_shape=(out_h, out_w), output=out[t, b], order=3, mode="reflect",
                prefilter=False,
            )
    return out


def _paint_movers(out: np.ndarray, gen: np.random.Generator, n_movers: int, camera: _Camera
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Paint boxes moving at constant ground velocity, carried by the camera motion like the ground; in place.

    Returns each mover's boxes ``(movers, T, 4)`` and values ``(movers, C)``.
    """
    n_frames, n_bands, out_h, out_w = out.shape
    ctr = np.array([(out_h - 1) / 2, (out_w - 1) / 2])
    boxes = np.zeros((n_movers, n_frames, 4))
    values = np.zeros((n_movers, n_bands))
    for m in range(n_movers):
        bh, bw = gen.uniform(2.0, 6.0, 2)
        speed, heading = gen.uniform(0.5, 2.5), gen.uniform(0, 2 * math.pi)
        u = speed * np.array([math.sin(heading), math.cos(heading)])
        start = gen.uniform(-0.5, 0.5, 2) * (np.array([out_h, out_w]) - 8)  # ground position (centre frame)
        bright = gen.random() < 0.5
        base = gen.uniform(0.8, 1.0) if bright else gen.uniform(0.0, 0.15)
        values[m] = np.clip(base + gen.normal(0.0, 0.03, n_bands), 0.0, 1.0)
        for t in range(n_frames):
            # centre, in edge coordinates
            p = _rotation_matrix(camera.rotations[t]) @ (start + u * camera.dt[t]) + camera.shifts[t] + ctr + 0.5
            boxes[m, t] = (p[0] - bh / 2, p[1] - bw / 2, p[0] + bh / 2, p[1] + bw / 2)
            _paint_box(out[t], tuple(boxes[m, t]), values[m])
    return boxes, values
