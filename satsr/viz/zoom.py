"""Zoom boxes of a quick-look: boxes given as ``(row, col, size)`` in input pixels, or found (``"auto"``).

An automatic box is the window with the most texture (mean gradient magnitude) that touches no nodata.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import xarray as xr

from satsr.errors import InputError
from satsr.viz.render import invalid_mask
from satsr.viz.selection import read_window

__all__ = ["ZoomBox", "ZoomSpec", "auto_zoom", "resolve_zoom", "zoom_items"]

#: A zoom box: ``(row, col, size)`` in input pixels.
ZoomBox = tuple[int, int, int]
#: What users pass as ``zoom=``: one ``"auto"``, or a sequence of boxes and ``"auto"``.
ZoomSpec = Sequence[Sequence[int] | str] | str | None


def auto_zoom(values: np.ndarray, bad: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left ``(row, col)`` of the ``size x size`` window with the most texture (mean gradient magnitude).

    ``values`` is ``(band, y, x)``; windows touching an invalid pixel are skipped (unless all do).
    """
    v = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0).mean(axis=0)
    spread = float(np.ptp(v[~bad.any(axis=0)])) if (~bad.any(axis=0)).any() else 0.0
    v = v / spread if spread > 0 else v
    gy, gx = np.zeros_like(v), np.zeros_like(v)
    gy[1:], gx[:, 1:] = np.abs(np.diff(v, axis=0)), np.abs(np.diff(v, axis=1))
    grad = gy + gx
    invalid: np.ndarray = np.any(bad, axis=0).astype(np.float64)

    def box_sum(a: np.ndarray) -> np.ndarray:
        ii = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
        ii[1:, 1:] = a.cumsum(axis=0).cumsum(axis=1)
        return ii[size:, size:] - ii[:-size, size:] - ii[size:, :-size] + ii[:-size, :-size]

    score = box_sum(grad)
    holes = box_sum(invalid) > 0.5
    if not holes.all():
        score[holes] = -np.inf
    r, c = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(r), int(c)


def zoom_items(zoom: ZoomSpec) -> list[Sequence[int] | str]:
    """The boxes of ``zoom`` as a list (a lone ``"auto"`` is one item)."""
    if zoom is None:
        return []
    return [zoom] if isinstance(zoom, str) else list(zoom)


def _auto_box(
    lo: xr.DataArray, pos: list[int], view: tuple[int, int, int, int], nodata: float | None, auto_size: int
) -> ZoomBox:
    """The most textured box of side ``auto_size`` (at most the view's side) inside the view."""
    r0, c0, ch, cw = view
    size = max(1, min(auto_size, min(ch, cw)))
    # Texture on a decimated copy when the view is big: at most ~1024 px a side is read.
    k = max(1, math.ceil(max(ch, cw) / 1024))
    vals = read_window(lo, pos, slice(r0, r0 + ch, k), slice(c0, c0 + cw, k))
    ks = max(1, size // k)
    if ks > min(vals.shape[1:]):
        ks = min(vals.shape[1:])
    r, c = auto_zoom(vals, invalid_mask(vals, nodata), ks)
    return min(r0 + r * k, r0 + ch - size), min(c0 + c * k, c0 + cw - size), size


def _given_box(item: Sequence[int], lo: xr.DataArray, view: tuple[int, int, int, int]) -> ZoomBox:
    """A box given as ``(row, col, size)``, refused when it leaves the view."""
    r0, c0, ch, cw = view
    if len(item) != 3:
        raise InputError(f"zoom box {tuple(item)}: give (row, col, size) in input pixels")
    r, c, size = (int(v) for v in item)
    if size < 1 or r < r0 or c < c0 or r + size > r0 + ch or c + size > c0 + cw:
        where = "frame" if (r0, c0) == (0, 0) and (ch, cw) == (int(lo.sizes["y"]), int(lo.sizes["x"])) else (
            f"shown window (rows {r0}..{r0 + ch - 1}, cols {c0}..{c0 + cw - 1})")
        raise InputError(
            f"zoom box (row {r}, col {c}, size {size}) lies outside the {where} of the {int(lo.sizes['y'])} x "
            f"{int(lo.sizes['x'])} input (rows x cols, input pixels)"
        )
    return r, c, size


def resolve_zoom(
    zoom: ZoomSpec,
    lo: xr.DataArray,
    pos: list[int],
    view: tuple[int, int, int, int],
    nodata: float | None,
    auto_size: int,
) -> list[ZoomBox]:
    """Zoom boxes ``(row, col, size)`` in LR pixels; ``"auto"`` becomes the most textured ``auto_size`` box.

    Parameters
    ----------
    zoom : str or sequence, optional
        ``"auto"`` or boxes ``(row, col, size)`` in input pixels of the whole frame, and ``"auto"``.
    lo : xarray.DataArray
        The input frame (one time step).
    pos : list of int
        Positions of the shown bands.
    view : (int, int, int, int)
        ``(row, col, height, width)`` of the shown window; boxes must lie inside it.
    nodata : float or None
        Nodata of the input; automatic boxes avoid it.
    auto_size : int
        Side of an automatic box.

    Returns
    -------
    list of ZoomBox
        One box per item of ``zoom``, in order.
    """
    boxes: list[ZoomBox] = []
    for item in zoom_items(zoom):
        if isinstance(item, str):
            if item.strip().lower() != "auto":
                raise InputError(f"zoom {item!r}: give (row, col, size) in input pixels, or 'auto'")
            boxes.append(_auto_box(lo, pos, view, nodata, auto_size))
        else:
            boxes.append(_given_box(item, lo, view))
    return boxes
