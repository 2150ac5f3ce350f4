"""Quick-look images: a side-by-side PNG of a low-resolution frame and its super-resolved version.

Only NumPy and rasterio (GDAL's PNG driver) are used; no Pillow or matplotlib. The super-resolved array may be
lazy and huge: only the chosen frame and bands are computed, and only every ``k``-th pixel when the panel has
to be shrunk to fit ``max_size``.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
import xarray as xr
from rasterio.errors import NotGeoreferencedWarning

from satsr.errors import InputError
from satsr.io._atomic import atomic_output

__all__ = ["compare_png"]

#: Width in pixels of the white gap between the two panels.
GAP = 4
#: Lower and upper percentiles of the contrast stretch.
STRETCH = (2.0, 98.0)


def _frame(da: xr.DataArray, frame: int, what: str) -> xr.DataArray:
    """Select one time step of a ``(time, band, y, x)`` or ``(band, y, x)`` array, as a 1-step stack."""
    if da.dims == ("band", "y", "x"):
        if frame not in (0, -1):
            raise InputError(f"{what} has no time dimension; frame must be 0, got {frame}")
        return da.expand_dims("time")
    if da.dims != ("time", "band", "y", "x"):
        raise InputError(f"{what}: expected dims (time, band, y, x) or (band, y, x), got {da.dims}")
    n = int(da.sizes["time"])
    if not -n <= frame < n:
        raise InputError(f"{what}: frame {frame} is out of range (the stack has {n} frames)")
    t = frame % n
    return da.isel(time=slice(t, t + 1))


def _choose_bands(n_bands: int, bands: Sequence[int] | None, names: Sequence[str] = ()) -> list[int]:
    if bands is None:
        # Natural colour when the band names say which band is red, green and blue (e.g. "B4 red").
        found = [next((i for i, n in enumerate(names) if colour in str(n).lower().split()), None)
                 for colour in ("red", "green", "blue")]
        if None not in found and len(set(found)) == 3:
            return [int(i) for i in found if i is not None]
        return [0, 1, 2] if n_bands >= 3 else [0]
    sel = [int(b) for b in bands]
    if len(sel) not in (1, 3):
        raise InputError(f"bands must name 1 band (grey) or 3 bands (RGB), got {len(sel)}: {list(bands)}")
    for b in sel:
        if not -n_bands <= b < n_bands:
            raise InputError(f"band index {b} is out of range: the stack has {n_bands} bands (0..{n_bands - 1})")
    return [b % n_bands for b in sel]


def _invalid(values: np.ndarray, nodata: float | None) -> np.ndarray:
    """Per-band mask of nodata, NaN and infinite values."""
    bad = ~np.isfinite(values) if values.dtype.kind == "f" else np.zeros(values.shape, dtype=bool)
    if nodata is None or np.isnan(nodata):
        return bad
    if values.dtype.kind in "ui":
        info = np.iinfo(values.dtype)
        if not (info.min <= nodata <= info.max and float(nodata).is_integer()):
            return bad  # a nodata value the dtype cannot hold matches no pixel
    bad |= values == np.asarray(nodata).astype(values.dtype)
    return bad


def _stretch_limits(values: np.ndarray, bad: np.ndarray) -> list[tuple[float, float]]:
    """``(low, high)`` per band: the 2 and 98 percentiles of the band's valid pixels."""
    limits = []
    for band, mask in zip(values, bad):
        valid = band[~mask]
        if valid.size == 0:
            limits.append((0.0, 1.0))
            continue
        lo, hi = (float(v) for v in np.percentile(valid.astype(np.float64), STRETCH))
        if not hi > lo:
            hi = lo + 1.0
        limits.append((lo, hi))
    return limits


def _to_uint8(values: np.ndarray, bad: np.ndarray, limits: list[tuple[float, float]]) -> np.ndarray:
    """Stretch ``(band, y, x)`` values to 0..255; a pixel with nodata in any band is black."""
    out = np.empty(values.shape, dtype=np.uint8)
    for i, (lo, hi) in enumerate(limits):
        with np.errstate(invalid="ignore"):
            scaled = (values[i].astype(np.float64) - lo) * (255.0 / (hi - lo))
        out[i] = np.clip(np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0), 0, 255).round().astype(np.uint8)
    out[:, bad.any(axis=0)] = 0
    return out


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
        Zero-based band indices: three for RGB or one for grey. Default: the bands whose descriptions name
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
        The folder of ``path`` does not exist, or the file cannot be written.

    Examples
    --------
    >>> lr = satsr.open_stack("scene.tif")  # doctest: +SKIP
    >>> compare_png(lr, satsr.upscale(lr, "bicubic", scale=4), "scene_x4.png", crop=(0, 0, 128, 128))  # doctest: +SKIP
    """
    if max_size < 1:
        raise InputError(f"max_size must be a positive number of pixels, got {max_size}")
    lo_f = _frame(lr, frame, "lr")
    hi_f = _frame(sr, frame, "sr")
    if "band" in lo_f.coords and "band" in hi_f.coords:
        # sr made from some of lr's bands (upscale(..., bands=[3, 2, 1])): show lr's same bands, same order. A file
        # written and read back numbers its bands 1..n again; its band names (when there are) tell it apart.
        lo_bands, hi_bands = lo_f["band"].values.tolist(), hi_f["band"].values.tolist()
        if lo_bands != hi_bands and set(hi_bands) <= set(lo_bands):
            picked = lo_f.sel(band=hi_bands)
            if "description" not in picked.coords or "description" not in hi_f.coords or (
                picked["description"].values.tolist() == hi_f["description"].values.tolist()
            ):
                lo_f = picked
    n_b = int(lo_f.sizes["band"])
    if int(hi_f.sizes["band"]) != n_b:
        raise InputError(f"lr has {n_b} bands but sr has {int(hi_f.sizes['band'])}")
    h, w = int(lo_f.sizes["y"]), int(lo_f.sizes["x"])
    hs, ws = int(hi_f.sizes["y"]), int(hi_f.sizes["x"])
    if hs % h or ws % w or hs // h != ws // w:
        raise InputError(f"sr size {hs} x {ws} is not one integer multiple of lr size {h} x {w} (rows x cols)")
    s = hs // h
    names = [str(v) for v in lo_f["description"].values] if "description" in lo_f.coords else []
    sel = _choose_bands(n_b, bands, names)

    r0, c0, ch, cw = (0, 0, h, w) if crop is None else (int(v) for v in crop)
    if ch < 1 or cw < 1 or r0 < 0 or c0 < 0 or r0 + ch > h or c0 + cw > w:
        raise InputError(f"crop {tuple(crop or ())} (row, col, height, width) does not fit in the {h} x {w} frame")

    # Stride k so that each panel fits max_size; rows/cols are SR pixel indices shown in both panels.
    k = max(1, math.ceil(max(ch * s, cw * s) / max_size))
    sr_rows = np.arange(r0 * s, (r0 + ch) * s, k)
    sr_cols = np.arange(c0 * s, (c0 + cw) * s, k)

    # Right panel: a strided view of the selected frame and bands, so the full array is never materialised.
    right = np.asarray(
        hi_f.isel(band=sel, y=slice(r0 * s, (r0 + ch) * s, k), x=slice(c0 * s, (c0 + cw) * s, k)).values
    )[0]
    # Left panel: read each LR pixel the SR samples fall in once, then replicate (nearest neighbour).
    lr_rows, inv_r = np.unique(sr_rows // s, return_inverse=True)
    lr_cols, inv_c = np.unique(sr_cols // s, return_inverse=True)
    lr_vals = np.asarray(lo_f.isel(band=sel, y=lr_rows, x=lr_cols).values)[0]

    nodata = lr.attrs.get("_FillValue", lr.attrs.get("nodata"))
    nodata = None if nodata is None else float(nodata)
    sr_nodata = sr.attrs.get("_FillValue", sr.attrs.get("nodata", nodata))
    sr_nodata = None if sr_nodata is None else float(sr_nodata)
    lr_bad = _invalid(lr_vals, nodata)
    limits = _stretch_limits(lr_vals, lr_bad)
    left = _to_uint8(lr_vals, lr_bad, limits)[:, inv_r][:, :, inv_c]
    right = _to_uint8(right, _invalid(right, sr_nodata), limits)

    ph, pw = left.shape[1:]
    img = np.full((len(sel), ph, 2 * pw + GAP), 255, dtype=np.uint8)
    img[:, :, :pw] = left
    img[:, :, pw + GAP :] = right

    out = Path(path)
    with atomic_output(out) as tmp:
        with warnings.catch_warnings(), rasterio.Env(GDAL_PAM_ENABLED="NO"):
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(
                tmp, "w", driver="PNG", width=img.shape[2], height=img.shape[1], count=img.shape[0], dtype="uint8"
            ) as dst:
                dst.write(img)
    return out
