"""The plain side-by-side PNG of ``satsr upscale --preview``: :func:`compare_png` (NumPy and GDAL's PNG driver only)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from satsr.errors import InputError
from satsr.io.coords import nodata_of
from satsr.radiometry import stretch_limits, stretch_to_uint8
from satsr.viz.render import GAP, invalid_mask, save_band_png
from satsr.viz.selection import choose_bands, one_frame

__all__ = ["compare_png"]


def _same_bands_as(lo_f: xr.DataArray, hi_f: xr.DataArray) -> xr.DataArray:
    """``lo_f`` reduced to the bands ``hi_f`` was made from (``upscale(..., bands=[3, 2, 1])``), in its order.

    A file written and read back numbers its bands 1..n again; its band names (when there are) tell it apart.
    """
    if "band" not in lo_f.coords or "band" not in hi_f.coords:
        return lo_f
    lo_bands, hi_bands = lo_f["band"].values.tolist(), hi_f["band"].values.tolist()
    if lo_bands != hi_bands and set(hi_bands) <= set(lo_bands):
        picked = lo_f.sel(band=hi_bands)
        if "description" not in picked.coords or "description" not in hi_f.coords or (
            picked["description"].values.tolist() == hi_f["description"].values.tolist()
        ):
            return picked
    return lo_f


def _band_positions(lo_f: xr.DataArray, bands: Sequence[int] | None) -> list[int]:
    """Positions of the bands to show: ``bands`` are band numbers (1-based, as everywhere in satsr)."""
    n_b = int(lo_f.sizes["band"])
    names = [str(v) for v in lo_f["description"].values] if "description" in lo_f.coords else []
    if bands is not None:
        have = [int(v) for v in lo_f["band"].values] if "band" in lo_f.coords else list(range(1, n_b + 1))
        missing = [int(b) for b in bands if int(b) not in have]
        if missing:
            raise InputError(f"band {missing[0]} is out of range: lr has bands {have} (band numbers are 1-based)")
        bands = [have.index(int(b)) for b in bands]
    return choose_bands(n_b, bands, names)


def _scale(lo_f: xr.DataArray, hi_f: xr.DataArray) -> int:
    """Integer scale from ``lo_f`` to ``hi_f``, refusing other band counts and sizes."""
    n_b = int(lo_f.sizes["band"])
    if int(hi_f.sizes["band"]) != n_b:
        raise InputError(f"lr has {n_b} bands but sr has {int(hi_f.sizes['band'])}")
    h, w = int(lo_f.sizes["y"]), int(lo_f.sizes["x"])
    hs, ws = int(hi_f.sizes["y"]), int(hi_f.sizes["x"])
    if hs % h or ws % w or hs // h != ws // w:
        raise InputError(f"sr size {hs} x {ws} is not one integer multiple of lr size {h} x {w} (rows x cols)")
    return hs // h


def compare_png(
    lr: xr.DataArray,
    sr: xr.DataArray,
    path: str | os.PathLike[str],
    *,
    frame: int = 0,
    bands: Sequence[int] | None = None,
    max_size: int = 1024,
    crop: tuple[int, int, int, int] | None = None,
) -> Path:
    """Write a side-by-side PNG: the low-resolution frame (left) and its super-resolved version (right).

    The left panel is ``lr`` upsampled by nearest neighbour to the size of ``sr``, so both panels show the same
    area at the same size; a thin white gap separates them. Both panels share one contrast stretch per band
    (2--98 % percentiles of the valid pixels of ``lr``) to 8 bit; nodata, NaN and infinite values show black.

    Parameters
    ----------
    lr : xarray.DataArray
        Input stack, ``(time, band, y, x)`` or ``(band, y, x)``, as from :func:`satsr.open_stack`.
    sr : xarray.DataArray
        Its super-resolved version (same dims and bands, ``y``/``x`` an integer multiple of ``lr``'s), as
        from :func:`satsr.upscale`. May be lazy: only what the PNG shows is computed.
    path : str or path
        PNG file to write (its folder must exist). Written under a temporary name, then renamed.
    frame : int, default 0
        Time step to show (negative counts from the end).
    bands : sequence of int, optional
        Band numbers (1-based, the ``band`` coordinate, as ``upscale``'s ``bands=``): three for RGB or one for
        grey. Default: the bands whose descriptions name
        red, green and blue (natural colour), else the first three bands, or the first band (grey) when there
        are fewer than three.
    max_size : int, default 1024
        Largest height or width of one panel in pixels; bigger panels are shrunk by an integer stride
        (every ``k``-th super-resolved pixel, ``k`` as small as fits).
    crop : tuple of int, optional
        ``(row, col, height, width)`` window in ``lr`` pixels to show instead of the whole frame.

    Returns
    -------
    pathlib.Path
        The PNG written: ``(3 or 1) x H x (2 W + 4)`` uint8.

    Raises
    ------
    InputError
        Arrays that do not fit together, an out-of-range frame, band or crop, a bad ``max_size``.
    OutputError
        A file stands where the folder of ``path`` should be, or the file cannot be written.

    Examples
    --------
    >>> lr = satsr.open_stack("scene.tif")  # doctest: +SKIP
    >>> compare_png(lr, satsr.upscale(lr, "bicubic", scale=4), "scene_x4.png", crop=(0, 0, 128, 128))  # doctest: +SKIP
    """
    if max_size < 1:
        raise InputError(f"max_size must be a positive number of pixels, got {max_size}")
    lo_f, hi_f = one_frame(lr, frame, "lr"), one_frame(sr, frame, "sr")
    lo_f = _same_bands_as(lo_f, hi_f)
    s = _scale(lo_f, hi_f)
    sel = _band_positions(lo_f, bands)
    h, w = int(lo_f.sizes["y"]), int(lo_f.sizes["x"])
    r0, c0, ch, cw = (0, 0, h, w) if crop is None else (int(v) for v in crop)
    if ch < 1 or cw < 1 or r0 < 0 or c0 < 0 or r0 + ch > h or c0 + cw > w:
        raise InputError(f"crop {tuple(crop or ())} (row, col, height, width) does not fit in the {h} x {w} frame")

    # Stride k so that each panel fits max_size; rows/cols are SR pixel indices shown in both panels.
    k = max(1, math.ceil(max(ch * s, cw * s) / max_size))
    rows, cols = slice(r0 * s, (r0 + ch) * s, k), slice(c0 * s, (c0 + cw) * s, k)
    # Right panel: a strided view of the selected frame and bands, so the full array is never materialised.
    right = np.asarray(hi_f.isel(band=sel, y=rows, x=cols).values)[0]
    # Left panel: read each LR pixel the SR samples fall in once, then replicate (nearest neighbour).
    lr_rows, inv_r = np.unique(np.arange(rows.start, rows.stop, k) // s, return_inverse=True)
    lr_cols, inv_c = np.unique(np.arange(cols.start, cols.stop, k) // s, return_inverse=True)
    lr_vals = np.asarray(lo_f.isel(band=sel, y=lr_rows, x=lr_cols).values)[0]

    nodata = nodata_of(lr)
    lr_bad = invalid_mask(lr_vals, nodata)
    limits = stretch_limits(lr_vals, lr_bad)
    left = stretch_to_uint8(lr_vals, limits, lr_bad)[:, inv_r][:, :, inv_c]
    right = stretch_to_uint8(right, limits, invalid_mask(right, nodata_of(sr, nodata)))

    ph, pw = left.shape[1:]
    img = np.full((len(sel), ph, 2 * pw + GAP), 255, dtype=np.uint8)
    img[:, :, :pw] = left
    img[:, :, pw + GAP :] = right
    out = Path(path)
    save_band_png(img, out)
    return out
