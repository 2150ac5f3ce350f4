"""Tile plans: where tiles are, what each reads (halo, reflection, time window), how outputs are stitched.

Pure NumPy, no torch: a :class:`TilePlan` is data plus index arithmetic, and :func:`gather` /
:class:`Stitcher` move pixels. The pipeline maps a model over the plan.

Conventions
-----------
* Tiles form a global lattice of ``tile`` LR pixels from the top-left corner; a tile's *core* is its lattice
  cell clipped to the image. The tiles' cores partition the image.
* Each tile reads a *window*: its lattice cell grown by ``halo + feather`` on every side, then grown at the
  bottom/right to a multiple of ``multiple_of``. Every window has the same shape, so tiles batch.
* With ``multiple_of = m`` the tile size and the margin ``halo + feather`` are rounded up to multiples of
  ``m``, so every window starts on a multiple of ``m`` in image coordinates: a model with ``m``-pixel attention
  windows or stride-``m`` pooling sees the same grid in every tile as on the whole image. Pixels
  outside the image are filled by reflection about the border pixel (NumPy's ``"reflect"``; repeated for
  images smaller than the pad), the same rule :func:`pad_reflect` applies to a whole image.
* ``blend="crop"`` keeps each tile's core; ``blend="feather"`` keeps core ± ``feather`` pixels with linear
  weights that sum to one in the overlaps (no ramp at the image border).
* With a model whose receptive-field radius is at most ``halo`` the tiled result equals the whole-image
  result ``model(pad_reflect(image, halo))`` cropped, whatever the tile size or chunking.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from satsr.errors import InputError

__all__ = [
    "TilePlan", "reflect_index", "pad_reflect", "gather", "Stitcher", "Blend", "TimePadding", "time_window",
    "space_time_windows", "default_tile", "halo_overhead", "MAX_HALO_OVERHEAD", "BufferPool",
]

Blend = Literal["crop", "feather"]
TimePadding = Literal["clamp", "far-side"]


def reflect_index(idx: np.ndarray, n: int) -> np.ndarray:
    """Map integer positions (possibly outside ``[0, n)``) into ``[0, n)`` by mirror reflection.

    The border pixel is not repeated (``-1 -> 1``, ``n -> n - 2``), as in ``numpy.pad(mode="reflect")``;
    positions further out reflect again (period ``2 * (n - 1)``).
    """
    idx = np.asarray(idx, dtype=np.int64)
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    m = np.mod(idx, period)
    out: np.ndarray = np.where(m < n, m, period - m)
    return out


def pad_reflect(arr: np.ndarray, pad: int) -> np.ndarray:
    """Pad the last two axes of ``arr`` by ``pad`` pixels with :func:`reflect_index`'s rule."""
    h, w = arr.shape[-2:]
    rows = reflect_index(np.arange(-pad, h + pad), h)
    cols = reflect_index(np.arange(-pad, w + pad), w)
    return arr[..., rows[:, None], cols[None, :]]


@dataclass(frozen=True, slots=True)
class TilePlan:
    """Tiling of one frame (and its time axis) for a model.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)`` of the LR frames.
    tile : int
        Tile size in LR pixels (clamped to the image size per axis).
    halo : int
        Context pixels read on each side of a tile.
    scale : int
        Model upscaling factor.
    multiple_of : int
        Windows start on multiples of this (tile and margin are rounded up to it) and are grown at the
        bottom/right to a multiple of it.
    blend : {"crop", "feather"}
        How overlapping tile outputs are combined.
    feather : int
        Overlap width (LR pixels each side) for ``blend="feather"``; ignored for ``"crop"``.
    n_frames : int
        Length of the time axis.
    frames_in : int
        Frames per model sample (odd).
    time_padding : {"clamp", "far-side"}
        How a window in time is filled past the sequence ends (:func:`time_window`).
    """

    shape: tuple[int, int]
    tile: int
    halo: int
    scale: int
    multiple_of: int = 1
    blend: Blend = "crop"
    feather: int = 0
    n_frames: int = 1
    frames_in: int = 1
    time_padding: TimePadding = "clamp"

    def __post_init__(self) -> None:
        if self.tile < 1:
            raise InputError(f"tile must be >= 1 pixel, got {self.tile}")
        if self.halo < 0:
            raise InputError(f"halo must be >= 0, got {self.halo}")
        if self.blend not in ("crop", "feather"):
            raise InputError(f"blend must be 'crop' or 'feather', got {self.blend!r}")
        if self.blend == "crop":
            object.__setattr__(self, "feather", 0)
        elif not 1 <= self.feather <= min(self.tile_shape) // 2:
            raise InputError(
                f"feather width {self.feather} must be between 1 and half the tile ({min(self.tile_shape) // 2})"
            )

    # -- lattice ----------------------------------------------------------------------------------------------
    @property
    def tile_shape(self) -> tuple[int, int]:
        """Lattice cell ``(rows, cols)``: ``tile`` rounded up to ``multiple_of``, clamped to the image."""
        t = _round_up(self.tile, self.multiple_of)
        return min(t, self.shape[0]), min(t, self.shape[1])

    @property
    def grid_shape(self) -> tuple[int, int]:
        """Number of lattice tiles ``(rows, cols)``."""
        (h, w), (th, tw) = self.shape, self.tile_shape
        return math.ceil(h / th), math.ceil(w / tw)

    @property
    def margin(self) -> int:
        """LR pixels a window reaches beyond its lattice cell: ``halo + feather`` rounded up to ``multiple_of``."""
        return _round_up(self.halo + self.feather, self.multiple_of)

    @property
    def window_shape(self) -> tuple[int, int]:
        """Shape of every tile window (the model input)."""
        m = self.multiple_of
        return tuple(_round_up(t + 2 * self.margin, m) for t in self.tile_shape)  # type: ignore[return-value]

    def core(self, ty: int, tx: int) -> tuple[int, int, int, int]:
        """Core ``(y0, y1, x0, x1)`` of lattice tile ``(ty, tx)``, clipped to the image."""
        (h, w), (th, tw) = self.shape, self.tile_shape
        return ty * th, min((ty + 1) * th, h), tx * tw, min((tx + 1) * tw, w)

    def footprint(self, ty: int, tx: int) -> tuple[int, int, int, int]:
        """LR region a tile contributes to: its core grown by ``feather``, clipped to the image."""
        y0, y1, x0, x1 = self.core(ty, tx)
        f, (h, w) = self.feather, self.shape
        return max(y0 - f, 0), min(y1 + f, h), max(x0 - f, 0), min(x1 + f, w)

    def window(self, ty: int, tx: int) -> tuple[int, int, int, int]:
        """Window ``(y0, y1, x0, x1)`` the tile reads; may extend outside the image (reflected there)."""
        (th, tw), (wh, ww) = self.tile_shape, self.window_shape
        y0, x0 = ty * th - self.margin, tx * tw - self.margin
        return y0, y0 + wh, x0, x0 + ww

    def tiles_in(self, y0: int, y1: int, x0: int, x1: int) -> list[tuple[int, int]]:
        """Lattice tiles whose footprint intersects the LR region ``[y0, y1) x [x0, x1)``."""
        (th, tw), f = self.tile_shape, self.feather
        ny, nx = self.grid_shape
        rows = range(max((y0 - f) // th, 0), min((y1 - 1 + f) // th + 1, ny))
        cols = range(max((x0 - f) // tw, 0), min((x1 - 1 + f) // tw + 1, nx))
        return [(ty, tx) for ty in rows for tx in cols]

    def source_range(self, tiles: Iterable[tuple[int, int]]) -> tuple[int, int, int, int]:
        """Smallest in-image region ``(y0, y1, x0, x1)`` holding every pixel the tiles' windows read."""
        tiles = list(tiles)
        h, w = self.shape
        wins = [self.window(ty, tx) for ty, tx in tiles]
        rows = reflect_index(np.arange(min(v[0] for v in wins), max(v[1] for v in wins)), h)
        cols = reflect_index(np.arange(min(v[2] for v in wins), max(v[3] for v in wins)), w)
        return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1

    def time_window(self, t: int) -> list[int]:
        """Frame indices of the model sample centred on frame ``t`` (see :func:`time_window`)."""
        return time_window(t, self.n_frames, self.frames_in, self.time_padding)

    # -- weights ----------------------------------------------------------------------------------------------
    def weights_1d(self, start: int, stop: int, n: int) -> np.ndarray:
        """Feather weights for output pixels of a footprint ``[start, stop)`` (LR units) on an axis of ``n``."""
        s, f = self.scale, self.feather
        centres = np.arange(start * s, stop * s, dtype=np.float64) + 0.5
        w = np.ones_like(centres)
        if f == 0:
            return w
        if start > 0:
            w = np.minimum(w, (centres - start * s) / (2 * f * s))
        if stop < n:
            w = np.minimum(w, (stop * s - centres) / (2 * f * s))
        return w


#: Largest window area over kept area that :func:`default_tile` aims for.
MAX_HALO_OVERHEAD = 1.3


def halo_overhead(tile: int, halo: int, multiple_of: int = 1, feather: int = 0) -> float:
    """Pixels a tile's window computes per pixel the tile keeps: ``((t + 2 * margin) / t) ** 2``.

    ``t`` is ``tile`` and ``margin`` is ``halo + feather``, both rounded up to ``multiple_of``, as in
    :class:`TilePlan` (an interior tile; tiles clamped at the image border differ).
    """
    t, margin = _round_up(tile, multiple_of), _round_up(halo + feather, multiple_of)
    return ((t + 2 * margin) / t) ** 2


def default_tile(
    halo: int,
    multiple_of: int = 1,
    *,
    feather: int = 0,
    shape: tuple[int, int] | None = None,
    frames: int = 1,
    max_window_pixels: int | None = None,
    min_tile: int = 1,
    overhead: float = MAX_HALO_OVERHEAD,
) -> int:
    """The tile size ``upscale`` uses by default: sized to the halo, within a memory budget, at most the image.

    1. The smallest multiple of ``multiple_of`` whose :func:`halo_overhead` is at most ``overhead``
       (``t >= 2 * margin / (sqrt(overhead) - 1)``, about 14.3 margins for 1.3), and at least ``min_tile``
       (the model's declared tile: fewer, larger forwards for models with a small halo).
    2. Capped so that one window, ``frames x (t + 2 * margin) ** 2`` pixels, stays within
       ``max_window_pixels`` (the device's memory budget for this model), but never below ``min_tile``.
    3. At most the image's longer side (rounded up to ``multiple_of``): a small image is one tile. A larger one
       gets as many tiles along that side as the size from 1-2 asks for, evened out (``ceil(side / n)``), so
       the last tile is not a sliver whose window costs as much as a full one.

    Parameters
    ----------
    halo, feather : int
        Context and overlap pixels per tile side (``margin = halo + feather``, rounded up to ``multiple_of``).
    multiple_of : int
        The tile and margin are multiples of it.
    shape : tuple of int, optional
        ``(height, width)`` of the image.
    frames : int
        Frames per window (a video model's input frames).
    max_window_pixels : int, optional
        Largest ``frames x rows x cols`` of one window; ``None``: no cap.
    min_tile : int
        Smallest tile returned (before the image cap).
    overhead : float
        Target window area over kept area (> 1).

    Raises
    ------
    InputError
        For ``overhead <= 1`` or ``multiple_of < 1``.
    """
    if not overhead > 1:
        raise InputError(f"overhead must be > 1 (window area over kept area), got {overhead}")
    if multiple_of < 1:
        raise InputError(f"multiple_of must be >= 1, got {multiple_of}")
    m = multiple_of
    margin = _round_up(halo + feather, m)
    t = _round_up(max(1, math.floor(2 * margin / (math.sqrt(overhead) - 1))), m)
    while halo_overhead(t, halo, m, feather) > overhead:  # float rounding at the bound
        t += m
    floor_ = _round_up(max(1, min_tile), m)
    t = max(t, floor_)
    if max_window_pixels is not None:
        side = math.isqrt(max(0, max_window_pixels // max(1, frames)))
        cap = (side - 2 * margin) // m * m
        t = max(min(t, cap), floor_)
    if shape is not None:
        side = max(1, *shape)
        t = min(t, _round_up(math.ceil(side / math.ceil(side / t)), m))
    return t


def time_window(t: int, n: int, frames: int, padding: TimePadding = "clamp") -> list[int]:
    """Frame indices of the ``frames``-frame sample centred on frame ``t`` of an ``n``-frame sequence.

    ``"clamp"`` repeats the first or last frame past the ends. ``"far-side"`` is LGFN's authors' rule
    (``src/data/demo.py``): position ``i`` before the start takes frame ``t + r - i`` and position ``i`` past the
    end frame ``t - r - i + n - 1`` (``r = frames // 2``), so the window is filled from its other side; what is
    still outside a short sequence is clamped.
    """
    if padding not in ("clamp", "far-side"):
        raise InputError(f"time padding must be 'clamp' or 'far-side', got {padding!r}")
    r = frames // 2
    out = []
    for i in range(t - r, t + r + 1):
        j = i
        if padding == "far-side" and i < 0:
            j = t + r - i
        elif padding == "far-side" and i >= n:
            j = t - r - i + n - 1
        out.append(min(max(j, 0), n - 1))
    return out


def space_time_windows(n: int, frames_in: int, time_scale: int) -> list[tuple[list[int], list[tuple[int, int]]]]:
    """Windows in time for a space-time model, and the output frames each one makes.

    An ``n``-frame clip gives ``(n - 1) * time_scale + 1`` output frames. Window ``k`` takes the consecutive
    frames ``s_k .. s_k + frames_in - 1`` (``s_k = k (frames_in - 1)``, then one window flush with the end for the
    rest) and makes output frames ``s_k r .. (s_k + frames_in - 1) r``. Windows overlap by one input frame; each
    output frame is assigned to the first window that makes it, so every output frame is made exactly once.
    Clips shorter than a window repeat their last frame.

    Returns
    -------
    list of (frames, owned)
        ``frames``: input frame indices of the window; ``owned``: ``(output frame, index in the window's
        outputs)`` pairs this window provides.
    """
    if n < 1 or frames_in < 2 or time_scale < 1:
        raise InputError(f"space-time windows need n >= 1, frames_in >= 2 and time_scale >= 1 (got {n}, "
                         f"{frames_in}, {time_scale})")
    step = frames_in - 1
    starts = list(range(0, max(n - frames_in, 0) + 1, step))
    if n > frames_in and starts[-1] + step < n - 1:
        starts.append(n - frames_in)
    n_out = (n - 1) * time_scale + 1
    done: set[int] = set()
    out = []
    for s0 in starts:
        frames = [min(s0 + i, n - 1) for i in range(frames_in)]
        owned = []
        for o in range(step * time_scale + 1):
            j = s0 * time_scale + o
            if j < n_out and j not in done:
                owned.append((j, o))
                done.add(j)
        out.append((frames, owned))
    return out


def _round_up(v: int, m: int) -> int:
    return -(-v // m) * m


def gather(
    src: np.ndarray, origin: tuple[int, int], window: tuple[int, int, int, int], shape: tuple[int, int]
) -> np.ndarray:
    """Cut a window out of a source region, reflecting positions that fall outside the image.

    Parameters
    ----------
    src : numpy.ndarray
        ``(..., rows, cols)`` pixels of the image region starting at ``origin``.
    origin : tuple of int
        Image position ``(row, col)`` of ``src[..., 0, 0]``.
    window : tuple of int
        ``(y0, y1, x0, x1)`` in image positions; may extend outside the image.
    shape : tuple of int
        Image ``(height, width)``, for the reflection.

    Returns
    -------
    numpy.ndarray
        ``(..., y1 - y0, x1 - x0)``.
    """
    y0, y1, x0, x1 = window
    rows = reflect_index(np.arange(y0, y1), shape[0]) - origin[0]
    cols = reflect_index(np.arange(x0, x1), shape[1]) - origin[1]
    if rows.min() < 0 or cols.min() < 0 or rows.max() >= src.shape[-2] or cols.max() >= src.shape[-1]:
        raise InputError("window reaches outside the gathered source region (tiling bug)")
    if rows[-1] - rows[0] == rows.size - 1 and cols[-1] - cols[0] == cols.size - 1:
        return src[..., rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # no reflection: a view
    return src[..., rows[:, None], cols[None, :]]


class Stitcher:
    """Accumulates tile outputs into one output block (the LR region ``[y0, y1) x [x0, x1)`` upscaled).

    Parameters
    ----------
    plan : TilePlan
        The tiling.
    region : tuple of int
        LR region ``(y0, y1, x0, x1)`` covered by this block.
    channels : int
        Bands per output pixel.
    """

    def __init__(self, plan: TilePlan, region: tuple[int, int, int, int], channels: int) -> None:
        self.plan = plan
        self.region = region
        y0, y1, x0, x1 = region
        s = plan.scale
        self.out = np.zeros((channels, (y1 - y0) * s, (x1 - x0) * s), np.float32)
        self.wsum = np.zeros(self.out.shape[1:], np.float32) if plan.blend == "feather" else None

    def add(self, ty: int, tx: int, pred: np.ndarray, origin: tuple[int, int] | None = None) -> None:
        """Add the model output ``pred`` of lattice tile ``(ty, tx)``.

        ``pred`` covers the tile's window (``(C, wh*s, ww*s)``) or, with ``origin`` (the LR ``(row, col)`` of its
        first pixel), any part of it that holds the tile's footprint.
        """
        plan, s = self.plan, self.plan.scale
        fy0, fy1, fx0, fx1 = plan.footprint(ty, tx)
        ry0, ry1, rx0, rx1 = self.region
        # Part of the footprint inside this block, in LR pixels.
        iy0, iy1, ix0, ix1 = max(fy0, ry0), min(fy1, ry1), max(fx0, rx0), min(fx1, rx1)
        if iy0 >= iy1 or ix0 >= ix1:
            return
        wy0, _, wx0, _ = plan.window(ty, tx) if origin is None else (origin[0], 0, origin[1], 0)
        src = pred[:, (iy0 - wy0) * s : (iy1 - wy0) * s, (ix0 - wx0) * s : (ix1 - wx0) * s]
        dst = (slice(None), slice((iy0 - ry0) * s, (iy1 - ry0) * s), slice((ix0 - rx0) * s, (ix1 - rx0) * s))
        if self.wsum is None:
            self.out[dst] = src
            return
        h, w = plan.shape
        wy = plan.weights_1d(fy0, fy1, h)[(iy0 - fy0) * s : (iy1 - fy0) * s]
        wx = plan.weights_1d(fx0, fx1, w)[(ix0 - fx0) * s : (ix1 - fx0) * s]
        wgt = (wy[:, None] * wx[None, :]).astype(np.float32)
        self.out[dst] += src * wgt
        self.wsum[dst[1:]] += wgt

    def result(self) -> np.ndarray:
        """The stitched block ``(C, rows * scale, cols * scale)``, float32."""
        if self.wsum is not None:
            self.out /= np.maximum(self.wsum, np.float32(1e-12))
        return self.out


class BufferPool:
    """Scratch arrays reused from one block to the next, one small set per thread, bounded in bytes.

    The pipeline's tasks need the same fixed-shape scratch arrays for every block (a batch of tile windows, for
    instance). Allocating them afresh for each block leaves the C allocator with freed chunks of mixed sizes in
    every thread's heap, which it keeps, so the process's resident memory creeps up with the number of blocks;
    reusing them keeps it flat and saves the page faults of fresh memory.

    Each thread has its own arrays (dask runs tasks on several threads), most recently used last; when a
    thread's arrays exceed ``max_bytes`` the least recently used are dropped. An array larger than
    ``max_bytes`` is never kept. The pool pickles as an empty pool (the arrays stay in their process).

    Parameters
    ----------
    max_bytes : int
        Bytes each thread may keep.

    Examples
    --------
    >>> pool = BufferPool(max_bytes=2**20)
    >>> a = pool.take((4, 8), np.float32)
    >>> pool.take((4, 8), np.float32) is a
    True
    """

    def __init__(self, max_bytes: int = 64 * 2**20) -> None:
        self.max_bytes = int(max_bytes)
        self._local = threading.local()

    def __reduce__(self) -> tuple[Any, tuple[int]]:
        return BufferPool, (self.max_bytes,)

    def _held(self) -> OrderedDict[tuple[tuple[int, ...], str], np.ndarray]:
        held = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = OrderedDict()
        return held

    def take(self, shape: tuple[int, ...], dtype: np.dtype | type = np.float32) -> np.ndarray:
        """The calling thread's array of ``shape`` and ``dtype``, uninitialised (what its last user left in it).

        The array is the same one each time this thread asks for this shape and dtype: use it before asking
        again, and hand out nothing that outlives the task (copy what must be kept).
        """
        dt = np.dtype(dtype)
        key = (tuple(int(v) for v in shape), dt.str)
        held = self._held()
        arr = held.get(key)
        if arr is not None:
            held.move_to_end(key)
            return arr
        arr = np.empty(key[0], dt)
        if arr.nbytes > self.max_bytes:
            return arr
        held[key] = arr
        total = sum(a.nbytes for a in held.values())
        while total > self.max_bytes:
            _, old = held.popitem(last=False)
            total -= old.nbytes
        return arr

    @property
    def nbytes(self) -> int:
        """Bytes this thread keeps."""
        return sum(a.nbytes for a in self._held().values())

    def clear(self) -> None:
        """Drop this thread's arrays."""
        self._held().clear()
