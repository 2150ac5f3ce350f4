"""Orthorectify RPC frames onto one map grid, lazily, chunk by chunk, with GDAL's RPC transformer.

Frames with an RPC sensor model and no geotransform (raw satellite products, satellite video frames) are each in
their own sensor geometry. :func:`satsr.open_stack` keeps them so by default and carries the models to the output;
``orthorectify=True`` calls :func:`open_orthorectified` instead, which puts every frame on one map grid so that a
video model sees the frames aligned. The trade-off: warping resamples the LR before super-resolution (a cubic
kernel softens it slightly), while carrying the RPCs leaves the pixels as the sensor recorded them.

Heights: flat terrain at each frame's RPC height offset (``HEIGHT_OFF``), or a DEM raster (GDAL's ``RPC_DEM``,
heights above the WGS 84 ellipsoid unless the DEM declares a vertical datum). Relief the flat model ignores moves
pixels by its height times the view angle's tangent; give a DEM where that matters.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
import rasterio
import xarray as xr
from affine import Affine
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph
from dask.typing import Key
from pyproj import CRS, Transformer
from rasterio.crs import CRS as RioCRS
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.rpc import RPC
from rasterio.transform import RPCTransformer
from rasterio.warp import reproject

from satsr.errors import GeoreferenceError, InputError
from satsr.geo import Grid
from satsr.io.coords import assign_grid

__all__ = ["open_orthorectified", "ortho_grid", "ORTHO_NOTE"]

#: Value of ``attrs["georeferencing"]`` on stacks that :func:`open_orthorectified` warped onto a map grid.
ORTHO_NOTE = "orthorectified: RPC frames warped onto this map grid with GDAL ({heights})"
_WGS84 = RioCRS.from_epsg(4326)
_EDGE_SAMPLES = 33  # points per frame edge when tracing its footprint on the ground


def _rpc_options(rpc: RPC, dem: str | None) -> dict[str, Any]:
    """GDAL RPC transformer options: a DEM, or flat terrain at the model's height offset."""
    if dem is not None:
        return {"RPC_DEM": dem, "RPC_DEMINTERPOLATION": "bilinear"}
    return {"RPC_HEIGHT": float(rpc.height_off)}


def _footprint(rpc: RPC, shape: tuple[int, int], dem: str | None, path: str) -> np.ndarray:
    """``(N, 2)`` lon/lat of points along the frame's outer edge (pixel corners), clockwise from the top left."""
    h, w = shape
    s = np.linspace(0.0, 1.0, _EDGE_SAMPLES)
    cols = np.concatenate([s * w, np.full_like(s, w), (1 - s) * w, np.zeros_like(s)])
    rows = np.concatenate([np.zeros_like(s), s * h, np.full_like(s, h), (1 - s) * h])
    try:
        with RPCTransformer(rpc, **_rpc_options(rpc, dem)) as tr:
            lon, lat = tr.xy(rows, cols, offset="ul")
    except (RasterioError, ValueError) as err:
        raise GeoreferenceError(f"{path}: GDAL's RPC transformer failed on this frame ({err})") from err
    pts = np.column_stack([np.asarray(lon, float), np.asarray(lat, float)])
    if not np.isfinite(pts).all():
        raise GeoreferenceError(f"{path}: the RPC model does not map the frame's edges to the ground")
    return pts


def _utm(lon: float, lat: float) -> CRS:
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def _round_sig(x: float, digits: int = 3) -> float:
    return round(x, digits - 1 - int(math.floor(math.log10(abs(x)))))


def ortho_grid(
    rpcs: Sequence[RPC],
    shapes: Sequence[tuple[int, int]],
    *,
    dem: str | None = None,
    crs: Any = None,
    resolution: float | None = None,
    paths: Sequence[str] | None = None,
) -> Grid:
    """The map grid that holds every frame's ground footprint.

    Parameters
    ----------
    rpcs : sequence of rasterio.rpc.RPC
        One sensor model per frame.
    shapes : sequence of (int, int)
        Each frame's ``(height, width)``.
    dem : str, optional
        DEM raster for the RPC transformer (default: flat at each model's height offset).
    crs : optional
        Map CRS (anything ``pyproj.CRS.from_user_input`` takes); default the UTM zone of the first frame's centre.
    resolution : float, optional
        Pixel size in ``crs`` units; default the first frame's ground sample distance (footprint area over pixel
        count), rounded to 3 significant digits.
    paths : sequence of str, optional
        File names for error messages.

    Returns
    -------
    Grid
        North-up grid whose edges are whole multiples of the pixel size and cover the union of the footprints.

    Raises
    ------
    GeoreferenceError
        A model GDAL cannot evaluate, a geographic or unknown ``crs`` paired with no resolution, a bad resolution.
    """
    names = list(paths) if paths is not None else [f"frame {i}" for i in range(len(rpcs))]
    feet = [_footprint(r, s, dem, p) for r, s, p in zip(rpcs, shapes, names)]
    lon0, lat0 = feet[0].mean(axis=0)
    dst = _utm(float(lon0), float(lat0)) if crs is None else CRS.from_user_input(crs)
    to_map = Transformer.from_crs(CRS.from_epsg(4326), dst, always_xy=True)
    xy = [np.column_stack(to_map.transform(f[:, 0], f[:, 1])) for f in feet]
    if resolution is None:
        x, y = xy[0][:, 0], xy[0][:, 1]
        area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
        h, w = shapes[0]
        resolution = _round_sig(math.sqrt(area / (h * w)))
    res = float(resolution)
    if not (res > 0 and math.isfinite(res)):
        raise GeoreferenceError(f"resolution must be a positive number of {dst.name} units, got {resolution!r}")
    allxy = np.concatenate(xy)
    left = math.floor(allxy[:, 0].min() / res) * res
    right = math.ceil(allxy[:, 0].max() / res) * res
    bottom = math.floor(allxy[:, 1].min() / res) * res
    top = math.ceil(allxy[:, 1].max() / res) * res
    width, height = round((right - left) / res), round((top - bottom) / res)
    return Grid((height, width), Affine(res, 0.0, left, 0.0, -res, top), dst)


def _warp_chunk(path: str, count: int, dtype: str, nodata: float, dst_wkt: str, dst_transform: Affine,
                shape: tuple[int, int], resampling: str, dem: str | None) -> np.ndarray:
    """Warp one chunk of one frame (all bands) onto the map grid; reads only the source pixels it needs."""
    out = np.full((1, count, *shape), nodata, dtype=dtype)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                reproject(
                    source=rasterio.band(src, list(range(1, count + 1))),
                    destination=out[0],
                    src_crs=_WGS84,
                    rpcs=src.rpcs,
                    src_nodata=src.nodata,
                    dst_transform=dst_transform,
                    dst_crs=RioCRS.from_wkt(dst_wkt),
                    dst_nodata=nodata,
                    resampling=Resampling[resampling],
                    **_rpc_options(src.rpcs, dem),
                )
    except RasterioError as err:
        raise InputError(f"{path}: orthorectification failed ({err})") from err
    return out


def open_orthorectified(
    paths: Sequence[str],
    *,
    dem: str | os.PathLike[str] | None = None,
    crs: Any = None,
    resolution: float | None = None,
    resampling: str = "cubic",
    time: np.ndarray | None = None,
    chunks: int = 1024,
    name: str = "stack",
) -> xr.DataArray:
    """Open RPC frames warped onto one map grid, as a lazy ``(time, band, y, x)`` DataArray.

    Each dask chunk warps its window of one frame with GDAL (``rasterio.warp.reproject`` through the frame's RPC
    model), reading only the source pixels that window needs. :func:`satsr.open_stack` calls this for
    ``orthorectify=True``.

    Parameters
    ----------
    paths : sequence of str
        Frames in time order; each must carry an RPC model. Sizes may differ.
    dem : str or path, optional
        DEM raster for the RPC transformer; default flat terrain at each frame's RPC height offset.
    crs, resolution : optional
        The map grid (see :func:`ortho_grid`).
    resampling : str, default "cubic"
        GDAL resampling: ``"nearest"``, ``"bilinear"``, ``"cubic"``, ``"cubic_spline"``, ``"lanczos"``...
    time : numpy.ndarray, optional
        Time coordinate, one value per frame (default frame indices).
    chunks : int, default 1024
        Spatial chunk size.
    name : str, default "stack"
        The array's name.

    Returns
    -------
    xarray.DataArray
        On the map grid, with ``attrs["georeferencing"]`` saying how it was made and ``attrs["_FillValue"]``
        marking where a frame does not reach (the file's nodata, else 0 for integers and NaN for floats).

    Raises
    ------
    GeoreferenceError
        A frame without an RPC model, or one GDAL cannot evaluate.
    InputError
        Unknown resampling, a missing DEM, frames of different band counts or dtypes.
    """
    if resampling not in Resampling.__members__:
        raise InputError(f"resampling={resampling!r} is not one of {', '.join(Resampling.__members__)}")
    dem_path = None
    if dem is not None:
        dem_path = os.fspath(dem)
        if not os.path.isfile(dem_path):
            raise InputError(f"{dem_path}: DEM file not found")
    rpcs, shapes, first = [], [], None
    for p in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(p) as src:
                if not src.rpcs:
                    raise GeoreferenceError(f"{p}: has no RPC model; orthorectify=True is for RPC frames")
                meta = (src.count, src.dtypes[0], src.nodata, tuple(d or "" for d in src.descriptions))
                rpcs.append(src.rpcs)
                shapes.append((src.height, src.width))
        if first is None:
            first = meta
        elif meta[:2] != first[:2]:
            raise InputError(f"{p}: {meta[0]} bands of {meta[1]}, but {paths[0]} has {first[0]} of {first[1]}")
    assert first is not None
    count, dtype, nodata, descriptions = first
    if nodata is None:
        nodata = float("nan") if np.dtype(dtype).kind == "f" else 0
    grid = ortho_grid(rpcs, shapes, dem=dem_path, crs=crs, resolution=resolution, paths=paths)
    n, (h, w) = len(paths), grid.shape
    assert grid.crs is not None  # ortho_grid always gives its grid a CRS
    wkt = grid.crs.to_wkt()
    mtimes = [os.path.getmtime(p) for p in paths]
    key = "ortho-" + tokenize(list(paths), mtimes, dem_path, wkt, tuple(grid.transform), grid.shape, resampling, chunks)
    ys = [(y0, min(y0 + chunks, h)) for y0 in range(0, h, chunks)]
    xs = [(x0, min(x0 + chunks, w)) for x0 in range(0, w, chunks)]
    dsk: dict[Key, Any] = {
        (key, t, 0, i, j): (_warp_chunk, paths[t], count, dtype, nodata, wkt,
                            grid.transform @ Affine.translation(x0, y0), (y1 - y0, x1 - x0), resampling, dem_path)
        for t in range(n) for i, (y0, y1) in enumerate(ys) for j, (x0, x1) in enumerate(xs)
    }
    chunk_sizes = ((1,) * n, (count,), tuple(b - a for a, b in ys), tuple(b - a for a, b in xs))
    data = da.Array(HighLevelGraph.from_collections(key, dsk, dependencies=[]), key, chunk_sizes,
                    meta=np.empty((0,) * 4, dtype))
    heights = "DEM " + os.path.basename(dem_path) if dem_path else "flat terrain at each frame's RPC height offset"
    arr = xr.DataArray(
        data,
        dims=("time", "band", "y", "x"),
        coords={
            "time": time if time is not None else np.arange(n),
            "band": np.arange(1, count + 1),
            "description": ("band", list(descriptions)),
            "source": ("time", list(paths)),
        },
        name=name,
        attrs={"_FillValue": nodata, "georeferencing": ORTHO_NOTE.format(heights=f"{heights}, {resampling}")},
    )
    return assign_grid(arr, grid)
