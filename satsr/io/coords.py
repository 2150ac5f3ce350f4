"""Attach a :class:`~satsr.geo.Grid` to a DataArray in the CF ``spatial_ref`` convention (rioxarray reads it)."""

from __future__ import annotations

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor, which reads what we write)
import xarray as xr

from satsr.geo import Grid

__all__ = ["assign_grid", "PIXEL_COORDS_NOTE"]

#: Value of ``attrs["georeferencing"]`` on stacks opened with ``allow_ungeoreferenced=True``.
PIXEL_COORDS_NOTE = "none: x/y are pixel coordinates (input had no georeferencing)"


def assign_grid(da: xr.DataArray, grid: Grid) -> xr.DataArray:
    """Return ``da`` with ``x``/``y`` pixel-centre coordinates and a ``spatial_ref`` coordinate for ``grid``.

    Parameters
    ----------
    da : xarray.DataArray
        Array with ``y`` and ``x`` dimensions of the grid's shape.
    grid : Grid
        Rectilinear grid to attach; ``grid.crs`` may be ``None`` (pixel coordinates).

    Returns
    -------
    xarray.DataArray
        A new array; ``da`` is not modified.
    """
    x, y = grid.coords()
    t = grid.transform
    attrs: dict[str, object] = {}
    if grid.crs is not None:
        attrs.update(grid.crs.to_cf())
        attrs["spatial_ref"] = grid.crs.to_wkt()
        attrs["crs_wkt"] = attrs["spatial_ref"]
    # GDAL order (c, a, b, f, d, e), written with repr precision so the transform round-trips exactly.
    attrs["GeoTransform"] = " ".join(repr(float(v)) for v in (t.c, t.a, t.b, t.f, t.d, t.e))
    out = da.assign_coords(
        x=("x", x, {"axis": "X", "long_name": "x coordinate of pixel centre", "units": _units(grid)}),
        y=("y", y, {"axis": "Y", "long_name": "y coordinate of pixel centre", "units": _units(grid)}),
        spatial_ref=xr.Variable((), np.int64(0), attrs),
    )
    out.encoding["grid_mapping"] = "spatial_ref"
    return out


def _units(grid: Grid) -> str:
    if grid.crs is None:
        return "pixel"
    if grid.crs.is_geographic:
        return "degrees"
    try:
        return str(grid.crs.axis_info[0].unit_name)
    except IndexError:
        return "unknown"
