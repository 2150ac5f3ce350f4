"""Store ``(time, band, y, x)`` stacks as zarr v3 and read them back lazily, georeferencing included.

The store holds one group with the data variable, its coordinates (``time``, ``band``, ``description``,
``source``, ``x``, ``y``) and the CF ``spatial_ref`` grid-mapping variable, so xarray, rioxarray and
:meth:`satsr.geo.Grid.from_xarray` all find the grid. The data variable also carries ``crs_wkt`` and
``transform`` (six floats, rasterio/affine order ``a, b, c, d, e, f``) for readers that know nothing of CF.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
from affine import Affine
from pyproj import CRS

from satsr.errors import InputError, OutputError
from satsr.geo import Grid
from satsr.io._atomic import atomic_output, drained_dask_threads, require_parent
from satsr.io.conventions import as_frames, normalize
from satsr.io.coords import assign_grid
from satsr.io.write import STACK_DIMS, check_stack, jsonable
from satsr.progress import dask_progress

__all__ = ["to_zarr", "open_zarr"]

PathLike = str | os.PathLike[str]

#: Group attribute naming the data variable, so :func:`open_zarr` need not guess.
VARIABLE_ATTR = "satsr_variable"
_DEFAULT_NAME = "sr"
_DEFAULT_CHUNK = 1024
# Attributes xarray manages itself through ``encoding``; leaving them in ``attrs`` makes the CF encoder fail.
_ENCODING_ATTRS = ("coordinates", "grid_mapping")
_ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray")


def to_zarr(sr: xr.DataArray, path: PathLike, *, progress: bool = False) -> Path:
    """Write a stack to a zarr v3 store, streaming the dask array chunk by chunk.

    Parameters
    ----------
    sr : xarray.DataArray
        Dims ``(time, band, y, x)``, ``(band, y, x)`` or ``(y, x)`` (stored as ``(time, band, y, x)`` with
        length-one dims added), georeferenced in any convention :func:`satsr.geo.read_georef` reads.
    path : str or path
        The store (a folder, conventionally ``*.zarr``); missing folders above it are created. An existing zarr
        store there is replaced once the new one is complete; any other existing file or folder is refused.
    progress : bool, default False
        Show a tqdm progress bar over the dask tasks.

    Returns
    -------
    pathlib.Path
        The store written.

    Raises
    ------
    InputError
        When ``sr`` has other dims.
    GeoreferenceError
        When the array has no usable grid.
    OutputError
        When the parent folder is missing, ``path`` is something other than a zarr store, or writing fails.
        The store is built in a hidden temporary folder and renamed into place, so a failed or interrupted
        write leaves nothing under ``path`` (or the previous store, untouched).

    Notes
    -----
    Chunks are one time step, all bands, and the array's spatial chunk size (made uniform: zarr needs a
    regular chunk grid). Attributes that JSON cannot hold (tuples, NumPy values, paths, dates) are converted
    to lists, numbers and strings rather than failing the write.
    """
    check_stack(sr)
    sr = as_frames(normalize(sr))  # any georeferencing convention in; stored as (time, band, y, x)
    grid = Grid.from_xarray(sr)
    path = Path(os.fspath(path))
    _check_target(path)
    name = _variable_name(sr)
    arr = _prepare(sr, grid)
    ds = arr.to_dataset(name=name)
    ds.attrs[VARIABLE_ATTR] = name
    try:
        with atomic_output(path) as tmp, dask_progress("writing zarr", enabled=progress), drained_dask_threads():
            ds.to_zarr(tmp, mode="w-", zarr_format=3, consolidated=False, compute=True)
    except OutputError:
        raise
    except OSError as err:
        raise OutputError(f"{path}: writing the zarr store failed ({err}); check free disk space") from err
    return path


def open_zarr(path: PathLike) -> xr.DataArray:
    """Open a store written by :func:`to_zarr` as a lazy ``(time, band, y, x)`` DataArray.

    Parameters
    ----------
    path : str or path
        The zarr v3 store.

    Returns
    -------
    xarray.DataArray
        Dask-backed with the store's chunks; raw stored values (no masking or scaling: integers stay
        integers and ``attrs["_FillValue"]`` keeps the nodata value); the coordinates and attributes that
        were written, ``spatial_ref`` included, so :meth:`Grid.from_xarray` returns the written grid.

    Raises
    ------
    InputError
        When ``path`` is not a zarr v3 store or holds no ``(time, band, y, x)`` variable.
    """
    path = Path(os.fspath(path))
    if not (path / "zarr.json").is_file():
        raise InputError(f"{path}: not a zarr v3 store (no zarr.json); write one with satsr.io.zarr_cube.to_zarr")
    try:
        ds = xr.open_zarr(
            path, zarr_format=3, consolidated=False, chunks={}, mask_and_scale=False, decode_coords="all"
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"{path}: cannot open as a zarr store ({err})") from err
    name = ds.attrs.get(VARIABLE_ATTR)
    if name not in ds.data_vars:
        candidates = [k for k, v in ds.data_vars.items() if tuple(v.dims) == STACK_DIMS]
        if len(candidates) != 1:
            raise InputError(
                f"{path}: expected one variable with dims {STACK_DIMS}, found {len(candidates)}; "
                "open it with xarray.open_zarr and pick the variable yourself"
            )
        name = candidates[0]
    arr: xr.DataArray = ds[name]
    if tuple(arr.dims) != STACK_DIMS:
        raise InputError(f"{path}: variable {name!r} has dims {tuple(arr.dims)}, expected {STACK_DIMS}")
    # Coordinates other than x/y are tiny (one value per frame or band): load them now rather than leaving
    # every access to them a dask computation.
    small = {k: _loaded(v) for k, v in arr.coords.items() if k not in arr.dims}
    if small:
        arr = arr.assign_coords(small)
    crs_wkt = arr.attrs.pop("crs_wkt", None)
    transform = arr.attrs.pop("transform", None)
    if "spatial_ref" not in arr.coords and transform is not None:
        # Store written or edited by another tool that dropped the CF variable: rebuild it from the attrs.
        crs = CRS.from_wkt(crs_wkt) if crs_wkt else None
        grid = Grid((arr.sizes["y"], arr.sizes["x"]), Affine(*(float(v) for v in transform[:6])), crs)
        arr = assign_grid(arr, grid)
    if "spatial_ref" in arr.coords:
        arr.encoding["grid_mapping"] = "spatial_ref"
    return arr


def _loaded(coord: xr.DataArray) -> xr.DataArray:
    coord = coord.load()
    values = coord.values
    # Strings come back variable-length (NumPy StringDType or object); give them the fixed-width dtype that
    # open_stack produces, so code comparing or concatenating coordinates sees one kind of string.
    if values.dtype.kind == "T" or (values.dtype.kind == "O" and all(isinstance(v, str) for v in values.flat)):
        coord = coord.copy(data=np.array(values.tolist(), dtype=str))  # astype(str) refuses StringDType
    return coord


def _check_target(path: Path) -> None:
    require_parent(path)
    if not path.exists():
        return
    if not path.is_dir():
        raise OutputError(f"{path}: exists and is a file; remove it or choose another path for the zarr store")
    is_store = any((path / m).exists() for m in _ZARR_MARKERS)
    if not is_store and any(path.iterdir()):
        # Replacing means deleting: never do that to a folder that is not a zarr store.
        raise OutputError(
            f"{path}: exists and is not a zarr store; remove it or choose another path (a folder that may hold "
            "other data is never replaced)"
        )


def _variable_name(sr: xr.DataArray) -> str:
    name = sr.name
    # The data variable must not clash with a coordinate name in the dataset.
    if not isinstance(name, str) or not name or name in sr.coords or name in sr.dims:
        return _DEFAULT_NAME
    return name


def _prepare(sr: xr.DataArray, grid: Grid) -> xr.DataArray:
    """Copy of ``sr`` ready for zarr: uniform chunks, fresh grid coords, JSON-safe attrs, clean encodings."""
    data = sr.data
    nb = int(sr.sizes["band"])
    if isinstance(data, da.Array):
        cy, cx = data.chunks[2][0], data.chunks[3][0]
    else:
        cy, cx = min(sr.sizes["y"], _DEFAULT_CHUNK), min(sr.sizes["x"], _DEFAULT_CHUNK)
        data = da.from_array(np.asarray(data), chunks=(1, nb, cy, cx))
    # zarr needs a regular chunk grid and xarray refuses dask chunks that straddle zarr chunks: one frame and
    # all bands per chunk, the first spatial chunk size everywhere.
    want = (1, nb, cy, cx)
    if any(any(c != w for c in chunks[:-1]) or chunks[-1] > w for chunks, w in zip(data.chunks, want)):
        data = data.rechunk(want)
    arr = sr.copy(data=data)
    if grid.is_rectilinear:
        # Rewrites x/y and spatial_ref from the grid, so a spatial_ref left stale by slicing is not stored;
        # the caller's own attributes on x/y are kept next to those assign_grid sets.
        arr = assign_grid(arr, grid)
        for axis in ("x", "y"):
            if axis in sr.coords:
                arr.coords[axis].variable.attrs = {**sr.coords[axis].attrs, **arr.coords[axis].attrs}
    small = {}
    for key, coord in arr.coords.items():
        if key in arr.dims:
            continue
        if isinstance(coord.data, da.Array):
            # Per-frame or per-band values: tiny. xarray would load dask object arrays anyway, with a warning.
            coord = coord.load()
        if coord.dtype.kind in "UT":
            # Fixed-width NumPy strings have no zarr v3 specification (zarr warns); variable-length ones do.
            coord = coord.astype(object)
        elif coord.dtype.kind == "O" and not all(isinstance(v, str) for v in coord.values.flat):
            # Python objects (stackstac's STAC metadata: dicts, lists) cannot be stored; their JSON text can.
            text = [v if isinstance(v, str) else json.dumps(jsonable(v)) for v in coord.values.flat]
            coord = coord.copy(data=np.array(text, dtype=object).reshape(coord.shape))
        small[key] = coord
    arr = arr.assign_coords(small)
    attrs = {k: jsonable(v) for k, v in sr.attrs.items() if k not in _ENCODING_ATTRS}
    t = grid.transform
    attrs["transform"] = [float(v) for v in (t.a, t.b, t.c, t.d, t.e, t.f)]
    if grid.crs is not None:
        attrs["crs_wkt"] = grid.crs.to_wkt()
    else:
        attrs.pop("crs_wkt", None)
    arr.attrs = attrs
    for key in list(arr.coords):
        var = arr.coords[key].variable  # the copy's own variable: editing it leaves ``sr`` alone
        var.attrs = {k: jsonable(v) for k, v in var.attrs.items()}
        # Encodings inherited from an earlier read (chunks, compressors, units) would fight the new layout;
        # no fill value on coordinates (xarray gives float ones NaN, which would come back as an attribute).
        var.encoding = {"_FillValue": None} if var.dtype.kind in "fc" else {}
    # Set on the variable rather than passed as to_zarr(encoding=...), which *replaces* the variable's
    # encoding and so would drop grid_mapping.
    arr.encoding = {"chunks": tuple(c[0] for c in arr.data.chunks)}
    if "spatial_ref" in arr.coords:
        arr.encoding["grid_mapping"] = "spatial_ref"
    return arr
