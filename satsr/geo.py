"""Raster grid geometry: an immutable :class:`Grid` and the exact arithmetic of super-resolution.

A grid is ``(height, width)`` pixels, an affine ``transform`` mapping pixel *corners* (GDAL's PixelIsArea
convention: pixel ``(row, col)`` spans ``[col, col+1) x [row, row+1)``) to CRS coordinates, and a ``crs``
(``None`` for pixel coordinates). Super-resolving by an integer ``scale`` keeps the four corners fixed and
divides every pixel into ``scale x scale`` pixels: ``transform * Affine.scale(1 / scale)``.

No I/O happens here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from affine import Affine
from pyproj import CRS

from satsr.errors import GeoreferenceError, InputError

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["Grid", "zoom_transform", "phase_shift"]

# Relative tolerance under which a transform's rotation/shear terms count as zero (GDAL writes ~1e-16).
_ROT_EPS = 1e-12


def zoom_transform(transform: Affine, scale: int) -> Affine:
    """Return the transform of a grid whose pixels are ``scale`` times smaller, with the same corners.

    Parameters
    ----------
    transform : affine.Affine
        Transform of the input grid (pixel corners to CRS coordinates).
    scale : int
        Positive integer zoom factor.

    Returns
    -------
    affine.Affine
        ``transform * Affine.scale(1 / scale)``; valid for rotated grids too.

    Raises
    ------
    InputError
        If ``scale`` is not a positive integer.
    """
    if not isinstance(scale, (int, np.integer)) or isinstance(scale, bool) or scale < 1:
        raise InputError(f"scale must be a positive integer, got {scale!r}")
    return transform @ Affine.scale(1.0 / int(scale))


@dataclass(frozen=True, slots=True)
class Grid:
    """An immutable raster grid: shape, affine transform and CRS.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)`` in pixels.
    transform : affine.Affine
        Maps pixel corner coordinates ``(col, row)`` to ``(x, y)`` in the CRS.
    crs : pyproj.CRS or None
        Coordinate reference system; ``None`` means pixel coordinates.

    Examples
    --------
    >>> from affine import Affine
    >>> g = Grid((100, 200), Affine(30, 0, 500000, 0, -30, 4200000), CRS.from_epsg(32621))
    >>> g.zoom(4).shape, g.zoom(4).res
    ((400, 800), (7.5, 7.5))
    """

    shape: tuple[int, int]
    transform: Affine
    crs: CRS | None = None

    def __post_init__(self) -> None:
        h, w = (int(v) for v in self.shape)
        if h < 1 or w < 1:
            raise InputError(f"grid shape must be positive, got {self.shape!r}")
        object.__setattr__(self, "shape", (h, w))
        if not isinstance(self.transform, Affine):
            object.__setattr__(self, "transform", Affine(*tuple(self.transform)[:6]))
        if self.crs is not None and not isinstance(self.crs, CRS):
            object.__setattr__(self, "crs", CRS.from_user_input(self.crs))
        if self.transform.determinant == 0:
            raise GeoreferenceError(f"transform {tuple(self.transform)[:6]} is degenerate (zero determinant)")

    # -- properties -------------------------------------------------------------------------------------------
    @property
    def height(self) -> int:
        """Number of rows."""
        return self.shape[0]

    @property
    def width(self) -> int:
        """Number of columns."""
        return self.shape[1]

    @property
    def is_rectilinear(self) -> bool:
        """True when the transform has no rotation or shear (axis-aligned pixels)."""
        t = self.transform
        size = max(abs(t.a), abs(t.e))
        return abs(t.b) <= _ROT_EPS * size and abs(t.d) <= _ROT_EPS * size

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size ``(x, y)`` as positive numbers (rectilinear grids only)."""
        self.require_rectilinear()
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def corners(self) -> tuple[tuple[float, float], ...]:
        """The four outer corners ``(x, y)``: top-left, top-right, bottom-right, bottom-left."""
        h, w = self.shape
        t = self.transform
        return tuple(t @ (c, r) for c, r in ((0, 0), (w, 0), (w, h), (0, h)))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of the outer edges, whatever the axis orientation."""
        xs, ys = zip(*self.corners)
        return min(xs), min(ys), max(xs), max(ys)

    # -- derived grids ----------------------------------------------------------------------------------------
    def zoom(self, scale: int) -> Grid:
        """Grid with ``scale`` times more pixels per axis and the same outer corners.

        Parameters
        ----------
        scale : int
            Positive integer zoom factor.

        Returns
        -------
        Grid
            ``shape * scale``, ``transform * Affine.scale(1 / scale)``, same CRS.
        """
        t = zoom_transform(self.transform, scale)
        return Grid((self.height * int(scale), self.width * int(scale)), t, self.crs)

    def window(self, row_off: int, col_off: int, height: int, width: int) -> Grid:
        """Sub-grid of ``height x width`` pixels starting at ``(row_off, col_off)`` (may extend outside)."""
        return Grid((height, width), self.transform @ Affine.translation(col_off, row_off), self.crs)

    def pad(self, n: int) -> Grid:
        """Grid grown by ``n`` pixels on every side."""
        return self.window(-n, -n, self.height + 2 * n, self.width + 2 * n)

    # -- coordinates ------------------------------------------------------------------------------------------
    def require_rectilinear(self) -> None:
        """Raise :class:`GeoreferenceError` if the grid is rotated or sheared.

        Raises
        ------
        GeoreferenceError
            When the transform has non-zero rotation/shear terms.
        """
        if not self.is_rectilinear:
            raise GeoreferenceError(
                f"transform {tuple(self.transform)[:6]} is rotated or sheared; satsr handles north-up or "
                "south-up grids only: warp to a rectilinear grid first (gdalwarp or rioxarray's reproject)"
            )

    def coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates ``(x, y)`` as 1-D float64 arrays.

        Returns
        -------
        tuple of numpy.ndarray
            ``x[j] = c + a * (j + 0.5)`` and ``y[i] = f + e * (i + 0.5)``.

        Raises
        ------
        GeoreferenceError
            For rotated or sheared grids, which have no 1-D coordinates.
        """
        self.require_rectilinear()
        t = self.transform
        x = t.c + t.a * (np.arange(self.width, dtype=np.float64) + 0.5)
        y = t.f + t.e * (np.arange(self.height, dtype=np.float64) + 0.5)
        return x, y

    @classmethod
    def from_coords(cls, x: np.ndarray, y: np.ndarray, crs: Any = None) -> Grid:
        """Rebuild a rectilinear grid from regularly spaced pixel-centre coordinates.

        Raises
        ------
        GeoreferenceError
            When fewer than two coordinates are given on an axis or their spacing is irregular.
        """
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.size < 2 or y.size < 2:
            raise GeoreferenceError("need at least two x and two y coordinates to infer the pixel size")
        dx, dy = np.diff(x), np.diff(y)
        for name, d in (("x", dx), ("y", dy)):
            if not np.allclose(d, d[0], rtol=1e-6, atol=0):
                raise GeoreferenceError(f"{name} coordinates are not regularly spaced; cannot form a grid")
        a, e = float(dx.mean()), float(dy.mean())
        t = Affine(a, 0.0, float(x[0]) - a / 2, 0.0, e, float(y[0]) - e / 2)
        return cls((y.size, x.size), t, crs)

    @classmethod
    def from_xarray(cls, da: xr.DataArray) -> Grid:
        """Grid of a DataArray opened by satsr or rioxarray (``spatial_ref`` CF convention).

        The transform stored in the ``spatial_ref`` coordinate is used when it agrees with the ``x``/``y``
        coordinates (it is exact); after slicing (``isel``), its origin is moved to the first coordinate;
        otherwise (strided selections, hand-made arrays) the transform is rebuilt from the coordinates.

        Raises
        ------
        GeoreferenceError
            When the array has neither a stored transform nor regular ``x``/``y`` coordinates.
        """
        h, w = int(da.sizes["y"]), int(da.sizes["x"])
        crs = None
        stored = None
        if "spatial_ref" in da.coords:
            attrs = da.coords["spatial_ref"].attrs
            wkt = attrs.get("crs_wkt") or attrs.get("spatial_ref")
            crs = CRS.from_wkt(wkt) if wkt else None
            gt = attrs.get("GeoTransform")
            if gt:
                c, a, b, f, d, e = (float(v) for v in str(gt).split())
                stored = Affine(a, b, c, d, e, f)
        if stored is None:
            if "x" not in da.coords or "y" not in da.coords:
                raise GeoreferenceError(
                    "array has neither x/y coordinates nor a spatial_ref transform; open it with "
                    "satsr.open_stack, or give it coordinates (satsr.io.coords.assign_grid)"
                )
            return cls.from_coords(da["x"].values, da["y"].values, crs)
        if "x" not in da.coords or "y" not in da.coords:
            return cls((h, w), stored, crs)
        grid = cls((h, w), stored, crs)
        if not grid.is_rectilinear:
            return grid
        x, y = da["x"].values.astype(np.float64), da["y"].values.astype(np.float64)
        a, e = stored.a, stored.e
        tol = 1e-6
        if (w > 1 and not np.allclose(np.diff(x), a, rtol=0, atol=tol * abs(a))) or (
            h > 1 and not np.allclose(np.diff(y), e, rtol=0, atol=tol * abs(e))
        ):
            return cls.from_coords(x, y, crs)
        # Shift the stored origin by a whole number of pixels to the first coordinate (keeps it exact).
        col = round((x[0] - a / 2 - stored.c) / a)
        row = round((y[0] - e / 2 - stored.f) / e)
        moved = stored @ Affine.translation(col, row)
        if abs(moved.c + a / 2 - x[0]) > tol * abs(a) or abs(moved.f + e / 2 - y[0]) > tol * abs(e):
            return cls.from_coords(x, y, crs)
        return cls((h, w), moved, crs)

def phase_shift(reference: np.ndarray, moving: np.ndarray, *, max_freq: float = 0.25) -> tuple[float, float]:
    """Sub-pixel translation ``(dy, dx)`` of ``moving`` relative to ``reference`` by phase correlation.

    ``moving(y, x) ~ reference(y - dy, x - dx)``. The integer peak of the phase correlation is refined by a
    weighted least-squares fit of the cross-power spectrum's phase plane over frequencies below ``max_freq``
    (cycles per pixel), which resolves shifts to about 0.001 px on textured images.

    Parameters
    ----------
    reference, moving : numpy.ndarray
        2-D images of the same shape.
    max_freq : float, default 0.25
        Highest frequency (cycles/pixel) used by the sub-pixel fit.

    Returns
    -------
    tuple of float
        ``(dy, dx)`` in pixels.

    Raises
    ------
    InputError
        When the images are not 2-D arrays of one shape.
    """
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(moving, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise InputError(f"phase_shift needs two 2-D images of one shape, got {a.shape} and {b.shape}")
    win = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    fa = np.fft.fft2((a - a.mean()) * win)
    fb = np.fft.fft2((b - b.mean()) * win)
    cross = np.conj(fa) * fb
    mag = np.abs(cross)
    r = np.fft.ifft2(cross / np.maximum(mag, 1e-30)).real
    peak = np.array(np.unravel_index(np.argmax(r), r.shape), dtype=np.float64)
    n = np.array(a.shape, dtype=np.float64)
    peak[peak > n / 2] -= n[peak > n / 2]
    fy = np.fft.fftfreq(a.shape[0])[:, None] * np.ones((1, a.shape[1]))
    fx = np.fft.fftfreq(a.shape[1])[None, :] * np.ones((a.shape[0], 1))
    # Remove the integer shift, then fit phase = -2*pi*(fy*dy + fx*dx) to what is left.
    resid = cross * np.exp(2j * np.pi * (fy * peak[0] + fx * peak[1]))
    sel = (np.hypot(fy, fx) < max_freq) & (mag > 0)
    sel[0, 0] = False
    w = np.sqrt(mag[sel])
    design = -2 * np.pi * np.stack([fy[sel], fx[sel]], axis=1) * w[:, None]
    sol, *_ = np.linalg.lstsq(design, np.angle(resid[sel]) * w, rcond=None)
    return float(peak[0] + sol[0]), float(peak[1] + sol[1])
