"""Reference images for reference-based SR: onto the output grid, with their coverage, in the LR's radiometry.

A reference (a sharper image of the same place from another date or sensor) arrives in its own CRS, resolution
and footprint. :func:`reference_on_grid` reprojects it with GDAL (rasterio's ``reproject``) onto the output grid
of the LR scene (the LR grid refined ``scale`` times) and returns the pixels it covers; :func:`match_radiometry`
maps its values to the LR's per band (mean and standard deviation, or histogram matching), because a reference
from another sensor differs in brightness and contrast; :func:`coregistration_shift` measures the residual shift
between the LR and the reference by phase correlation.
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
import xarray as xr
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds

from satsr.errors import GeoreferenceError, InputError
from satsr.geo import Grid, phase_shift
from satsr.io.read import open_stack

__all__ = ["reference_on_grid", "match_radiometry", "coregistration_shift"]

Matching = Literal["meanstd", "histogram", "none"]


def _as_stack(ref: xr.DataArray | str | os.PathLike[str]) -> xr.DataArray:
    da = open_stack(ref) if not isinstance(ref, xr.DataArray) else ref
    if da.dims == ("band", "y", "x"):
        da = da.expand_dims("time")
    if da.dims != ("time", "band", "y", "x"):
        raise InputError(f"reference: expected dims (time, band, y, x) or (band, y, x), got {da.dims}")
    return da


def _name(ref: object) -> str:
    return os.fspath(ref) if isinstance(ref, (str, os.PathLike)) else "the reference"


def reference_on_grid(
    ref: xr.DataArray | str | os.PathLike[str], lr: xr.DataArray, scale: int, *,
    resampling: Resampling = Resampling.cubic,
) -> tuple[np.ndarray, np.ndarray]:
    """The reference reprojected onto the output grid of ``lr``: ``(pixels, covered)``.

    Parameters
    ----------
    ref : xarray.DataArray or path
        The reference, in any CRS and resolution (its first time step if it has several).
    lr : xarray.DataArray
        The LR scene; its grid, refined ``scale`` times, is the target.
    scale : int
        Upscaling factor.
    resampling : rasterio.enums.Resampling, default cubic

    Returns
    -------
    pixels : numpy.ndarray
        ``(band, H*scale, W*scale)`` float32 in the reference's stored values, NaN where it has no data.
    covered : numpy.ndarray
        ``(H*scale, W*scale)`` bool, where the reference has data for every band.

    Raises
    ------
    GeoreferenceError
        The reference or the LR has no CRS, or they do not overlap at all.
    InputError
        The band counts differ.
    """
    name = _name(ref)
    ref_da = _as_stack(ref)
    src = Grid.from_xarray(ref_da)
    dst = Grid.from_xarray(lr).zoom(scale)
    if src.crs is None:
        raise GeoreferenceError(f"{name}: the reference has no CRS; reference-based SR needs it to find the LR's place")
    if dst.crs is None:
        raise GeoreferenceError("the LR scene has no CRS: the reference cannot be placed on it")
    n_ref, n_lr = int(ref_da.sizes["band"]), int(lr.sizes["band"])
    if n_ref != n_lr:
        raise InputError(f"{name}: the reference has {n_ref} bands and the LR {n_lr}; choose the same bands for both")
    left, bottom, right, top = transform_bounds(src.crs, dst.crs, *src.bounds, densify_pts=21)
    dl, db, dr, dt = dst.bounds
    if left >= dr or right <= dl or bottom >= dt or top <= db:
        raise GeoreferenceError(f"{name}: the reference does not overlap the LR scene (reference bounds "
                                f"{(left, bottom, right, top)} in the LR's CRS, scene {(dl, db, dr, dt)})")
    data = np.asarray(ref_da.isel(time=0).values, dtype=np.float32)
    nodata = ref_da.attrs.get("_FillValue", ref_da.attrs.get("nodata"))
    if nodata is not None and not np.isnan(nodata):
        data = np.where(data == np.float32(nodata), np.nan, data)
    out = np.full((n_ref, *dst.shape), np.nan, dtype=np.float32)
    reproject(data, out, src_transform=src.transform, src_crs=src.crs, src_nodata=np.nan,
              dst_transform=dst.transform, dst_crs=dst.crs, dst_nodata=np.nan, resampling=resampling)
    covered = np.isfinite(out).all(axis=0)
    if not covered.any():
        raise GeoreferenceError(f"{name}: the reference has no valid pixel over the LR scene")
    return out, covered


def match_radiometry(ref: np.ndarray, lr: np.ndarray, covered: np.ndarray, scale: int,
                     method: Matching = "meanstd") -> np.ndarray:
    """Map the reference's values to the LR's, band by band, over the area the reference covers.

    Parameters
    ----------
    ref : numpy.ndarray
        ``(band, H*scale, W*scale)`` reference on the output grid (NaN outside its coverage).
    lr : numpy.ndarray
        ``(band, H, W)`` LR values (NaN for nodata).
    covered : numpy.ndarray
        ``(H*scale, W*scale)`` bool coverage of the reference.
    scale : int
    method : {"meanstd", "histogram", "none"}
        Match each band's mean and standard deviation (default), its whole histogram (quantile mapping), or
        leave the reference as it is.

    Returns
    -------
    numpy.ndarray
        The matched reference, float32, NaN where it was NaN.
    """
    if method == "none":
        return ref.astype(np.float32, copy=True)
    if method not in ("meanstd", "histogram"):
        raise InputError(f"radiometry matching must be 'meanstd', 'histogram' or 'none', got {method!r}")
    # The LR pixels under the reference's coverage (a block of scale x scale output pixels each).
    h, w = lr.shape[-2:]
    under = covered[: h * scale, : w * scale].reshape(h, scale, w, scale).all(axis=(1, 3))
    out = np.full_like(ref, np.nan, dtype=np.float32)
    for b in range(ref.shape[0]):
        r = ref[b][covered]
        t = lr[b][under]
        t = t[np.isfinite(t)]
        if r.size == 0 or t.size == 0:
            raise InputError("the reference and the LR share no valid pixel to match their radiometry on")
        if method == "meanstd":
            rs = float(r.std())
            gain = float(t.std()) / rs if rs > 0 else 1.0
            out[b][covered] = (r - r.mean()) * gain + t.mean()
        else:
            q = np.linspace(0, 1, 257)
            out[b][covered] = np.interp(r, np.quantile(r, q), np.quantile(t, q))
    return out


def coregistration_shift(lr: np.ndarray, ref_lr: np.ndarray) -> tuple[float, float]:
    """Residual shift ``(dy, dx)`` in LR pixels of the reference (brought to the LR grid) against the LR.

    Both ``(band, H, W)``; the band means are compared by phase correlation (:func:`satsr.geo.phase_shift`).
    """
    a = np.nan_to_num(np.nanmean(lr, axis=0))
    b = np.nan_to_num(np.nanmean(ref_lr, axis=0))
    return phase_shift(a, b)
