"""Attach a :class:`~satsr.geo.Grid` to a DataArray in the CF ``spatial_ref`` convention (rioxarray reads it)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor, which reads what we write)
import xarray as xr

from satsr.errors import GeoreferenceError, InputError
from satsr.geo import Grid

__all__ = ["assign_grid", "nodata_of", "PIXEL_COORDS_NOTE", "RPC_NOTE", "rpc_to_json", "rpc_from_json", "frame_rpcs"]

# Where a nodata value may live, in the order it is looked up: satsr's and CF's attribute first, then the plain
# name some readers use, then the encoding (rioxarray's mask_and_scale moves the value there).
_NODATA_KEYS = (("attrs", "_FillValue"), ("attrs", "nodata"), ("encoding", "_FillValue"), ("encoding", "nodata"))

#: Value of ``attrs["georeferencing"]`` on stacks opened with ``allow_ungeoreferenced=True``.
PIXEL_COORDS_NOTE = "none: x/y are pixel coordinates (input had no georeferencing)"
#: Value of ``attrs["georeferencing"]`` on stacks of RPC frames kept in their sensor geometry.
RPC_NOTE = (
    "rpc: frames in sensor geometry, x/y are the source image's pixel coordinates; each frame's RPC sensor model "
    "(JSON, GDAL's RPC keys, for the source image's pixels) is in the 'rpc' coordinate"
)


def rpc_to_json(rpc: Mapping[str, Any]) -> str:
    """Serialise an RPC model (``rasterio.rpc.RPC.to_dict()``) as compact JSON with exact floats.

    Parameters
    ----------
    rpc : mapping
        The model's keys (:data:`satsr.geo.RPC_KEYS`) and values.

    Returns
    -------
    str
        JSON; ``json`` writes floats with ``repr`` precision, so the model round-trips exactly.
    """
    return json.dumps({k: rpc[k] for k in sorted(rpc)}, separators=(",", ":"))


def rpc_from_json(text: str) -> dict[str, Any]:
    """Parse :func:`rpc_to_json` output back into a dict.

    Raises
    ------
    GeoreferenceError
        When ``text`` is not a JSON object with the model's line and sample terms.
    """
    try:
        rpc = json.loads(str(text))
    except ValueError as err:
        raise GeoreferenceError(f"'rpc' coordinate holds no RPC model ({err})") from None
    if not isinstance(rpc, dict) or not {"line_off", "samp_off", "line_num_coeff"} <= set(rpc):
        raise GeoreferenceError("'rpc' coordinate holds no RPC model (line/sample terms missing)")
    return rpc


def nodata_of(da: xr.DataArray, default: float | None = None) -> float | None:
    """The nodata value ``da`` declares, as a float (NaN included), or ``default`` when it declares none.

    Every reader and writer of satsr looks nodata up here, so that they agree on it.

    Parameters
    ----------
    da : xarray.DataArray
        Looked up in ``attrs["_FillValue"]``, ``attrs["nodata"]``, ``encoding["_FillValue"]`` and
        ``encoding["nodata"]``, in that order; the first that is set (not ``None``) wins.
    default : float, optional
        Returned when none is set.

    Returns
    -------
    float or None

    Raises
    ------
    InputError
        When the value found is not a number.
    """
    for where, key in _NODATA_KEYS:
        value = getattr(da, where).get(key)
        if value is None:
            continue
        try:
            return float(value)
        except (TypeError, ValueError):
            raise InputError(
                f"array {da.name!r}: nodata {value!r} in {where}[{key!r}] is not a number; set a number there, or "
                "delete it"
            ) from None
    return None if default is None else float(default)


def frame_rpcs(da: xr.DataArray) -> list[dict[str, Any]] | None:
    """The RPC model of each time step of ``da`` (``None`` when it has no ``rpc`` coordinate).

    A ``(band, y, x)`` or ``(y, x)`` array holds one model in a scalar ``rpc`` coordinate.
    """
    if "rpc" not in da.coords:
        return None
    values = np.atleast_1d(da.coords["rpc"].values)
    return [rpc_from_json(v) for v in values]


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
