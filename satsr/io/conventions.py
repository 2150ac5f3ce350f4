"""Take arrays in the conventions other tools give them, and hand satsr one form.

Users bring arrays from ``satsr.open_stack``, ``rioxarray.open_rasterio``, stackstac, odc-stac, or Datasets read
from zarr and NetCDF. :func:`normalize` reads their georeferencing (:func:`satsr.geo.read_georef`: CF grid
mappings, stackstac's attributes, corner coordinates...) and rewrites it in satsr's own form: ``x``/``y``
pixel-centre coordinates and a ``spatial_ref`` grid-mapping coordinate (:func:`satsr.io.coords.assign_grid`), with
integer ``band`` numbers and band names in a ``description`` coordinate. :func:`as_frames` and
:func:`restore_dims` let the pipeline and the writers work on ``(time, band, y, x)`` whatever of the accepted
dims an array came with.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import xarray as xr

from satsr.errors import InputError
from satsr.geo import read_georef
from satsr.io.coords import assign_grid

__all__ = ["ACCEPTED_DIMS", "as_frames", "normalize", "restore_dims"]

#: The dims an array may have on its way through ``upscale`` and the writers.
ACCEPTED_DIMS = (("y", "x"), ("band", "y", "x"), ("time", "band", "y", "x"))
_FRAME_DIMS = ACCEPTED_DIMS[-1]
# Attributes whose georeferencing normalize() moves into spatial_ref (they would go stale on a zoomed grid).
_GEO_ATTRS = ("crs", "crs_wkt", "transform", "grid_mapping")
# stackstac's description of its output grid: stale once the grid is zoomed.
_STACKSTAC_ATTRS = ("spec", "resolution")
# STAC projection properties of the source assets' pixel grid (stackstac copies them into coordinates): untrue of
# any other grid, and stackstac keeps them as Python sets (their order lost), so they are dropped.
_ASSET_GRID_COORDS = ("proj:shape", "proj:transform")
# Attributes that mark a Dataset variable as a grid mapping rather than data.
_GRID_MAPPING_ATTRS = ("grid_mapping_name", "crs_wkt", "spatial_ref", "GeoTransform")


def normalize(obj: xr.DataArray | xr.Dataset) -> xr.DataArray:
    """Return ``obj`` as a DataArray with satsr's georeferencing and band coordinates; dims unchanged.

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        An array with ``y`` and ``x`` dims carrying any georeferencing :func:`satsr.geo.read_georef` reads.
        A Dataset gives its data variable; several variables of the same dims, shape and dtype (odc-stac's one
        variable per band) are stacked along a new ``band`` dim in variable order, after ``time`` when present.
        Grid-mapping variables (named by a ``grid_mapping`` attribute or encoding, or carrying CF grid-mapping
        attributes) are read from the Dataset whether they are coordinates or data variables.

    Returns
    -------
    xarray.DataArray
        A new array (``obj`` is not modified) with pixel-centre ``x``/``y`` coordinates and a ``spatial_ref``
        coordinate for its grid (unless the grid is rotated: then its georeferencing is left as it was);
        ``attrs`` without ``crs``, ``crs_wkt``, ``transform`` and ``grid_mapping`` (and stackstac's ``spec`` and
        ``resolution``), which now live in ``spatial_ref``, and without stackstac's ``proj:shape`` and
        ``proj:transform`` coordinates (the source assets' pixel grid, not the array's); a non-numeric ``band``
        coordinate (stackstac's asset ids, odc-stac's variable names) or rioxarray's per-band ``long_name``
        becomes a ``description`` coordinate, and ``band`` holds 1-based numbers. Other coordinates and
        attributes are kept.

    Raises
    ------
    InputError
        Not a DataArray or Dataset; no ``y``/``x`` dims; a Dataset whose variables cannot be told apart.
    GeoreferenceError
        Missing, unreadable, ambiguous or conflicting georeferencing (see :func:`satsr.geo.read_georef`).
    """
    if isinstance(obj, xr.Dataset):
        da = _from_dataset(obj)
    elif isinstance(obj, xr.DataArray):
        da = obj
    else:
        raise InputError(f"expected an xarray.DataArray or Dataset, got {type(obj).__name__}")
    georef = read_georef(da)
    da = _bands(da)
    if not georef.grid.is_rectilinear:
        return da
    gm = _grid_mapping_name(da)
    drop = [gm] if gm is not None and gm != "spatial_ref" and gm in da.coords else []
    drop += [k for k in _ASSET_GRID_COORDS if k in da.coords]
    da = da.drop_vars(drop)
    attrs = {k: v for k, v in da.attrs.items() if k not in _GEO_ATTRS}
    if type(da.attrs.get("spec")).__name__ == "RasterSpec":
        for key in _STACKSTAC_ATTRS:
            attrs.pop(key, None)
    out = assign_grid(da.copy(deep=False), georef.grid)
    out.attrs = attrs
    for axis in ("x", "y"):  # the caller's own attributes on x/y stay, next to those assign_grid sets
        if axis in da.coords:
            out.coords[axis].variable.attrs = {**da.coords[axis].attrs, **out.coords[axis].attrs}
    return out


def as_frames(da: xr.DataArray) -> xr.DataArray:
    """View ``da`` as ``(time, band, y, x)``, adding length-one ``time``/``band`` dims where missing.

    Parameters
    ----------
    da : xarray.DataArray
        Dims ``(y, x)``, ``(band, y, x)`` or ``(time, band, y, x)``.

    Returns
    -------
    xarray.DataArray
        ``da`` itself, or ``da`` with new leading dims (without coordinates); :func:`restore_dims` undoes it.

    Raises
    ------
    InputError
        Other dims, or an empty dimension.
    """
    dims = tuple(da.dims)
    if dims not in ACCEPTED_DIMS:
        raise InputError(
            f"array {da.name!r} has dims {dims}; satsr takes (y, x), (band, y, x) or (time, band, y, x): reorder "
            "with .transpose('time', 'band', 'y', 'x'), or select or stack the extra dims"
        )
    empty = [d for d in dims if da.sizes[d] == 0]
    if empty:
        raise InputError(f"array {da.name!r} is empty along {', '.join(empty)}; nothing to do")
    missing = [d for d in _FRAME_DIMS if d not in dims]
    return da.expand_dims(missing) if missing else da


def restore_dims(da: xr.DataArray, dims: tuple[Any, ...]) -> xr.DataArray:
    """Drop the length-one dims :func:`as_frames` added, giving ``da`` the ``dims`` it came with."""
    extra = [d for d in da.dims if d not in dims]
    return da.isel({d: 0 for d in extra}) if extra else da


def _bands(da: xr.DataArray) -> xr.DataArray:
    """Integer ``band`` numbers, with names moved to a ``description`` coordinate."""
    if "band" not in da.dims:
        return da
    n = int(da.sizes["band"])
    names: list[str] | None = None
    if "band" in da.coords and np.asarray(da["band"].values).dtype.kind not in "iu":
        names = [str(v) for v in da["band"].values.tolist()]
        da = da.assign_coords(band=np.arange(1, n + 1))
    elif "band" not in da.coords:
        da = da.assign_coords(band=np.arange(1, n + 1))
    long_name = da.attrs.get("long_name")
    if isinstance(long_name, (list, tuple)) and len(long_name) == n:
        # rioxarray's band descriptions; the attribute would be wrong once bands are selected.
        names = names or [str(v) for v in long_name]
        da = da.copy(deep=False)
        da.attrs = {k: v for k, v in da.attrs.items() if k != "long_name"}
    if names is not None and "description" not in da.coords:
        da = da.assign_coords(description=("band", names))
    return da


def _grid_mapping_name(obj: xr.DataArray | xr.Dataset) -> str | None:
    for mapping in (obj.encoding, obj.attrs):
        pointer = mapping.get("grid_mapping")
        if isinstance(pointer, str) and pointer.strip():
            tokens = pointer.split()
            return ([t[:-1] for t in tokens if t.endswith(":")] or tokens)[0]
    return None


def _from_dataset(ds: xr.Dataset) -> xr.DataArray:
    """The data variable of ``ds`` (or its band variables stacked), with its grid-mapping variable attached."""
    mappings: set[Hashable] = {n for v in ds.data_vars.values() if (n := _grid_mapping_name(v)) is not None}
    mappings |= {k for k, v in ds.variables.items() if v.ndim == 0 and any(a in v.attrs for a in _GRID_MAPPING_ATTRS)}
    data = [str(k) for k, v in ds.data_vars.items() if k not in mappings and {"y", "x"} <= set(v.dims)]
    if not data:
        raise InputError(
            f"the Dataset has no data variable with y and x dims (variables: {', '.join(map(str, ds.data_vars))}); "
            "rename its spatial dims to y and x, e.g. ds.rename(lat='y', lon='x')"
        )
    first = ds[data[0]]
    if len(data) == 1:
        da = first
    else:
        same = all(ds[k].dims == first.dims and ds[k].shape == first.shape and ds[k].dtype == first.dtype for k in data)
        if not same or tuple(first.dims) not in (("y", "x"), ("time", "y", "x")):
            raise InputError(
                f"the Dataset has several data variables ({', '.join(data)}) that are not bands of one stack "
                f"(same (time,) y, x dims, shape and dtype); pick one, e.g. ds[[{data[0]!r}]]"
                + (f" plus its grid-mapping variable, ds[[{data[0]!r}, {min(map(str, mappings))!r}]]"
                   if mappings else "")
            )
        da = ds[data].to_dataarray(dim="band")
        if "time" in da.dims:
            da = da.transpose("time", "band", "y", "x")
        # Attributes every band shares (nodata, units...) belong to the stack; the grid mapping comes back below.
        shared = {k: v for k, v in first.attrs.items() if all(_equal(ds[o].attrs.get(k), v) for o in data)}
        da.attrs = {**ds.attrs, **shared}
        da.encoding = {k: v for k, v in first.encoding.items() if k == "grid_mapping"}
        da.name = None
    gm = _grid_mapping_name(ds[data[0]])
    if gm is not None and gm in ds.variables and gm not in da.coords:
        da = da.assign_coords({gm: ds.variables[gm]})
    return da


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(np.all(a == b))
    except (TypeError, ValueError):
        return False
