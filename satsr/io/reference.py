"""Reference images for reference-based SR: onto the output grid, with their coverage, in the LR's radiometry.

A reference (a sharper image of the same place from another date or sensor) arrives in its own CRS, resolution
and footprint. :func:`prepare_reference` looks at it once against the LR scene, at the LR's resolution: where it
covers the scene, how its radiometry maps onto the LR's (per band mean and standard deviation, or histogram
matching, because a reference from another sensor differs in brightness and contrast) and how far it is shifted
against the LR (phase correlation). The :class:`PreparedReference` it returns then warps any window of the
output grid (the LR grid refined ``scale`` times) on demand with GDAL (rasterio's ``reproject``), reading only
the source pixels that window needs, so a scene-sized reference is never held in memory at the output's
resolution. :func:`reference_on_grid` warps the whole output grid at once, for small scenes and tests.

The numbers themselves come from array-only modules: the radiometric fit from :mod:`satsr.radiometry`
(:func:`~satsr.radiometry.fit_radiometry`), the shift from :mod:`satsr.coregistration`
(:func:`~satsr.coregistration.coregistration_shift`); both stay importable from here.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds

from satsr.coregistration import coregistration_shift
from satsr.errors import GeoreferenceError, InputError
from satsr.geo import Grid
from satsr.io.conventions import as_frames, normalize
from satsr.io.coords import nodata_of
from satsr.io.read import open_stack
from satsr.radiometry import Matching, RadiometryMatch, fit_radiometry, match_radiometry  # noqa: F401 (re-exports)

__all__ = ["PreparedReference", "prepare_reference", "reference_on_grid"]

#: LR rows per strip when the reference is warped onto the LR grid (bounds the memory of a large scene).
_STRIP = 1024


def _as_stack(ref: xr.DataArray | str | os.PathLike[str]) -> xr.DataArray:
    if not isinstance(ref, xr.DataArray):
        return open_stack(ref)
    try:
        return as_frames(normalize(ref))  # any georeferencing convention (stackstac's, rioxarray's...), any dims
    except GeoreferenceError as err:
        raise GeoreferenceError(f"{_name(ref)}: {err}") from None
    except InputError as err:
        raise InputError(f"{_name(ref)}: {err}") from None


def _name(ref: object) -> str:
    return os.fspath(ref) if isinstance(ref, (str, os.PathLike)) else "the reference"


# -- the prepared reference -----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PreparedReference:
    """A reference checked against one LR scene; warps windows of the output grid on demand.

    Made by :func:`prepare_reference`; picklable (it travels to dask workers inside the upscale graph).

    Attributes
    ----------
    name : str
        The reference's path, or ``"the reference"``.
    output : Grid
        The output grid (the LR grid refined ``scale`` times).
    scale : int
    match : RadiometryMatch
        Mapping applied to every warped window.
    covered_lr : numpy.ndarray
        ``(H, W)`` bool: LR pixels whose whole area the reference covers with valid data.
    shift : tuple of float
        Residual ``(dy, dx)`` of the reference against the LR, in LR pixels (NaN when it could not be measured).
    """

    name: str
    source: xr.DataArray = field(repr=False)  # (band, y, x), possibly lazy
    src_grid: Grid
    output: Grid
    scale: int
    match: RadiometryMatch
    covered_lr: np.ndarray = field(repr=False)
    shift: tuple[float, float]
    nodata: float | None
    resampling: Resampling = Resampling.cubic
    scales: tuple[float, float] = (1.0, 1.0)

    @property
    def coverage(self) -> float:
        """Fraction of the LR scene's pixels the reference covers."""
        return float(self.covered_lr.mean())

    def window(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """The matched reference over output-grid rows ``y0:y1`` and columns ``x0:x1`` (may reach outside).

        Returns ``(band, y1 - y0, x1 - x0)`` float32 in the LR's stored units, NaN where the reference has no data.
        """
        dst = self.output.window(y0, x0, y1 - y0, x1 - x0)
        return self.match.apply(_warp(self.source, self.src_grid, self.nodata, dst, self.resampling, self.scales))


def _scales(src: Grid, dst: Grid) -> tuple[float, float]:
    """GDAL's ``XSCALE``/``YSCALE`` (destination pixels per source pixel) over the whole destination grid."""
    left, bottom, right, top = transform_bounds(dst.crs, src.crs, *dst.bounds, densify_pts=21)
    return (dst.width * abs(src.res[0]) / (right - left), dst.height * abs(src.res[1]) / (top - bottom))


def _warp(source: xr.DataArray, src: Grid, nodata: float | None, dst: Grid, resampling: Resampling,
          scales: tuple[float, float], valid_fraction: bool = False) -> np.ndarray:
    """Warp the part of ``source`` (band, y, x) that ``dst`` needs; NaN where there is nothing.

    ``scales`` fixes GDAL's resampling factors (``XSCALE``, ``YSCALE``), which it would otherwise estimate per
    window from the window's shape: fixed, the pixels of a window do not depend on where the window starts.
    With ``valid_fraction`` one more band is returned: the fraction of each output pixel's area with valid source
    data (average resampling of the validity mask).
    """
    n_b = int(source.sizes["band"])
    out = np.full((n_b + int(valid_fraction), *dst.shape), np.nan, np.float32)
    # The source window the destination needs, padded for the kernel (GDAL widens it when downsampling). The
    # exact transformer (tolerance 0) makes a window's pixels independent of where the window starts.
    try:
        left, bottom, right, top = transform_bounds(dst.crs, src.crs, *dst.bounds, densify_pts=21)
    except Exception:  # noqa: BLE001 (a window outside the projection's domain: nothing there)
        return out
    inv = ~src.transform
    cols, rows = zip(*(inv @ (x, y) for x, y in ((left, top), (right, top), (left, bottom), (right, bottom))))
    ratio = max(abs(dst.res[0] / src.res[0]), abs(dst.res[1] / src.res[1]), 1.0)
    pad = int(math.ceil(3 * ratio)) + 2
    r0 = max(int(math.floor(min(rows))) - pad, 0)
    r1 = min(int(math.ceil(max(rows))) + pad, src.height)
    c0 = max(int(math.floor(min(cols))) - pad, 0)
    c1 = min(int(math.ceil(max(cols))) + pad, src.width)
    if r1 <= r0 or c1 <= c0:
        return out
    data = np.asarray(source.isel(y=slice(r0, r1), x=slice(c0, c1)).values, dtype=np.float32)
    invalid: np.ndarray = ~np.isfinite(data)
    if nodata is not None and not math.isnan(nodata):
        invalid |= data == np.float32(nodata)
    invalid = np.any(invalid, axis=0)
    data[:, invalid] = np.nan
    tr = src.transform @ Affine.translation(c0, r0)
    reproject(data, out[:n_b], src_transform=tr, src_crs=src.crs, src_nodata=np.nan, dst_transform=dst.transform,
              dst_crs=dst.crs, dst_nodata=np.nan, resampling=resampling, tolerance=0, XSCALE=scales[0],
              YSCALE=scales[1])
    if valid_fraction:
        frac = out[n_b]
        reproject((~invalid).astype(np.float32), frac, src_transform=tr, src_crs=src.crs, src_nodata=None,
                  dst_transform=dst.transform, dst_crs=dst.crs, dst_nodata=np.nan, resampling=Resampling.average,
                  tolerance=0, XSCALE=scales[0], YSCALE=scales[1])
    out[:n_b][:, ~np.isfinite(out[:n_b]).all(axis=0)] = np.nan
    return out


def _open_reference(ref: xr.DataArray | str | os.PathLike[str], lr: xr.DataArray, bands: Sequence[int] | None
                    ) -> tuple[str, xr.DataArray, Grid]:
    name = _name(ref)
    try:
        ref_da = _as_stack(ref)
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 (rasterio's and xarray's own errors, with the file named)
        raise InputError(f"{name}: cannot read the reference ({err})") from err
    if bands is not None:
        have = [int(b) for b in ref_da["band"].values]
        if not len(bands) or any(int(b) not in have for b in bands):
            raise InputError(f"{name}: reference_bands={list(bands)}, the reference has bands {have} (1-based)")
        ref_da = ref_da.sel(band=[int(b) for b in bands])
    try:
        src = Grid.from_xarray(ref_da)
    except GeoreferenceError as err:
        raise GeoreferenceError(f"{name}: {err}") from err
    if src.crs is None:
        raise GeoreferenceError(f"{name}: the reference has no CRS; reference-based SR needs it to find the LR's "
                                "place")
    src.require_rectilinear()
    n_ref, n_lr = int(ref_da.sizes["band"]), int(lr.sizes["band"])
    if n_ref != n_lr:
        raise InputError(f"{name}: the reference has {n_ref} bands and the LR {n_lr}; choose the same bands for both "
                         "(reference_bands=[...], CLI --reference-bands)")
    return name, ref_da.isel(time=0), src


def prepare_reference(
    ref: xr.DataArray | str | os.PathLike[str], lr: xr.DataArray, scale: int, *,
    matching: Matching = "meanstd", bands: Sequence[int] | None = None,
    resampling: Resampling = Resampling.cubic,
) -> PreparedReference:
    """Check a reference against an LR scene and fit what the pipeline needs to cut it in lockstep with the LR.

    The reference is warped onto the LR grid (average resampling, in strips) to find the LR pixels it fully
    covers, to fit the radiometric mapping onto the LR's first frame over those pixels, and to measure the
    residual shift by phase correlation.

    Parameters
    ----------
    ref : xarray.DataArray or path
        The reference, in any CRS and resolution (its first time step if it has several). A path is read
        lazily, window by window.
    lr : xarray.DataArray
        The LR scene ``(time, band, y, x)`` or ``(band, y, x)`` (after any band selection).
    scale : int
        Upscaling factor; the output grid is the LR grid refined ``scale`` times.
    matching : {"meanstd", "histogram", "none"}, default "meanstd"
        Radiometric matching of the reference onto the LR (see :func:`fit_radiometry`).
    bands : sequence of int, optional
        The reference's bands (1-based) to use, in the LR's order. Default all.
    resampling : rasterio.enums.Resampling, default cubic
        Kernel of the warp onto the output grid.

    Raises
    ------
    GeoreferenceError
        The reference or the LR has no CRS, they do not overlap, or the reference has no valid pixel over the LR.
    InputError
        The band counts differ, unknown ``bands`` or ``matching``, an unreadable file.
    """
    if lr.dims == ("band", "y", "x"):
        lr = lr.expand_dims("time")
    name, source, src = _open_reference(ref, lr, bands)
    lr_grid = Grid.from_xarray(lr)
    if lr_grid.crs is None:
        raise GeoreferenceError("the LR scene has no CRS: the reference cannot be placed on it")
    left, bottom, right, top = transform_bounds(src.crs, lr_grid.crs, *src.bounds, densify_pts=21)
    dl, db, dr, dt = lr_grid.bounds
    if left >= dr or right <= dl or bottom >= dt or top <= db:
        raise GeoreferenceError(f"{name}: the reference does not overlap the LR scene (reference bounds "
                                f"{tuple(round(v, 6) for v in (left, bottom, right, top))} in the LR's CRS, scene "
                                f"{tuple(round(v, 6) for v in (dl, db, dr, dt))})")
    nodata = nodata_of(source)
    h, w = lr_grid.shape
    n_b = int(lr.sizes["band"])
    ref_lr = np.empty((n_b, h, w), np.float32)
    covered = np.empty((h, w), bool)
    lr_scales = _scales(src, lr_grid)
    for y0 in range(0, h, _STRIP):
        y1 = min(y0 + _STRIP, h)
        part = _warp(source, src, nodata, lr_grid.window(y0, 0, y1 - y0, w), Resampling.average, lr_scales,
                     valid_fraction=True)
        ref_lr[:, y0:y1] = part[:n_b]
        covered[y0:y1] = (part[n_b] > 0.999) & np.isfinite(part[:n_b]).all(axis=0)
    if not covered.any():
        raise GeoreferenceError(f"{name}: the reference has no valid pixel over the LR scene")
    lr0 = np.asarray(lr.isel(time=0).values, dtype=np.float32)
    lr_nodata = nodata_of(lr)
    if lr_nodata is not None and not math.isnan(lr_nodata):
        lr0 = np.where(lr0 == np.float32(lr_nodata), np.nan, lr0)
    fit = fit_radiometry([ref_lr[b][covered] for b in range(n_b)], [lr0[b][covered] for b in range(n_b)], matching)
    shift = coregistration_shift(np.where(covered, lr0, np.nan), np.where(covered, ref_lr, np.nan))
    out_grid = lr_grid.zoom(scale)
    return PreparedReference(name, source, src, out_grid, int(scale), fit, covered, shift, nodata, resampling,
                             _scales(src, out_grid))


def reference_on_grid(
    ref: xr.DataArray | str | os.PathLike[str], lr: xr.DataArray, scale: int, *,
    resampling: Resampling = Resampling.cubic,
) -> tuple[np.ndarray, np.ndarray]:
    """The reference reprojected onto the whole output grid of ``lr``: ``(pixels, covered)``.

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
    prep = prepare_reference(ref, lr, scale, matching="none", resampling=resampling)
    pixels = prep.window(0, prep.output.height, 0, prep.output.width)
    return pixels, np.isfinite(pixels).all(axis=0)
