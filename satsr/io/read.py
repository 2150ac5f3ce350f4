"""Open raster frames as a lazy ``(time, band, y, x)`` stack with CRS, transform, nodata and band names."""

from __future__ import annotations

import datetime as _dt
import glob as _glob
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import rasterio
import xarray as xr
from affine import Affine
from dask.base import tokenize
from pyproj import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window

from satsr.errors import GeoreferenceError, GridMismatchError, InputError
from satsr.geo import Grid
from satsr.io.coords import PIXEL_COORDS_NOTE, RPC_NOTE, assign_grid, rpc_to_json
from satsr.io.ortho import open_orthorectified
from satsr.io.video import open_video, video_source

__all__ = ["open_stack", "raster_info", "resolve_paths", "read_meta", "FrameMeta", "RASTER_SUFFIXES"]

#: File suffixes picked up when ``open_stack`` is given a folder.
RASTER_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".jp2", ".vrt", ".img")
_TIME_TAGS = ("TIFFTAG_DATETIME", "ACQUISITIONDATETIME", "DATETIME", "DATE_ACQUIRED", "datetime")
PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class FrameMeta:
    """What :func:`read_meta` learns of one frame: size, bands, dtype, georeferencing, nodata, names, time."""

    path: str
    shape: tuple[int, int]
    count: int
    dtype: str
    crs: CRS | None
    transform: Affine
    nodata: float | None
    descriptions: tuple[str | None, ...]
    time: np.datetime64 | None
    has_rpc: bool
    has_gcps: bool
    rpcs: dict[str, Any] | None = None  # the frame's RPC sensor model (rasterio's RPC.to_dict()), if any

    @property
    def georeferenced(self) -> bool:
        """Whether the file places its pixels on a map (a CRS or a geotransform); RPCs alone do not."""
        return self.crs is not None or self.transform != Affine.identity()


def resolve_paths(source: PathLike | Sequence[PathLike]) -> list[str]:
    """Turn a file, a glob pattern, a folder or a sequence of files into a list of paths.

    Parameters
    ----------
    source : str, path or sequence of them
        One raster, a glob such as ``"frames/*.tif"``, a folder (its rasters, sorted by name) or a list.

    Returns
    -------
    list of str
        Paths in stack order (a glob or folder is sorted by name; a list keeps its order).

    Raises
    ------
    InputError
        When nothing matches, a folder has no rasters, or a listed file does not exist.
    """
    if isinstance(source, (str, os.PathLike)):
        s = os.fspath(source)
        if any(c in s for c in "*?["):
            paths = sorted(_glob.glob(s))
            if not paths:
                raise InputError(f"{s}: no files match this pattern")
            return paths
        if os.path.isdir(s):
            paths = sorted(str(p) for p in Path(s).iterdir() if p.suffix.lower() in RASTER_SUFFIXES)
            if not paths:
                raise InputError(f"{s}: folder holds no rasters ({', '.join(RASTER_SUFFIXES)})")
            return paths
        items = [s]
    else:
        items = [os.fspath(p) for p in source]
        if not items:
            raise InputError("no input files given")
    for p in items:
        if not os.path.exists(p):
            raise InputError(f"{p}: no such file")
        if os.path.isdir(p):
            raise InputError(f"{p}: is a folder; pass the folder alone or a list of files")
    return items


def _parse_time(tags: dict[str, str]) -> np.datetime64 | None:
    for key in _TIME_TAGS:
        value = tags.get(key)
        if not value:
            continue
        v = value.strip()
        for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
            try:
                return np.datetime64(_dt.datetime.strptime(v.rstrip("Z"), fmt), "ns")
            except ValueError:
                continue
    return None


def _gdal_message(err: BaseException) -> str:
    """The most specific message of a rasterio error (rasterio 1.4 chains GDAL's own text as the cause)."""
    msgs: list[str] = []
    cur: BaseException | None = err
    while cur is not None and len(msgs) < 4:
        text = str(cur).strip()
        if text and "See previous exception" not in text:
            msgs.append(text)
        cur = cur.__cause__ or cur.__context__
    return "; ".join(dict.fromkeys(msgs)) or "unknown GDAL error"


def read_meta(path: str) -> FrameMeta:
    """Read one raster's metadata (and touch its last block, so that a truncated file fails here).

    Raises
    ------
    InputError
        When the file is not a readable raster, or is truncated.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                # Reading the last pixel of every band touches the last block: a truncated file fails here,
                # at open time, rather than halfway through a long job.
                src.read(window=Window(src.width - 1, src.height - 1, 1, 1))
                transform = src.transform
                crs = src.crs
                rpcs = src.rpcs.to_dict() if getattr(src, "rpcs", None) else None
                if rpcs is not None and transform == Affine.identity():
                    # GDAL reports the RPC model's ground CRS (WGS 84) as the dataset's: it is not the pixels' grid.
                    crs = None
                georef = crs is not None or transform != Affine.identity()
                return FrameMeta(
                    path=path,
                    shape=(src.height, src.width),
                    count=src.count,
                    dtype=str(src.dtypes[0]),
                    crs=CRS.from_wkt(crs.to_wkt()) if crs is not None else None,
                    transform=transform if georef else Affine.identity(),
                    nodata=src.nodata,
                    descriptions=tuple(src.descriptions),
                    time=_parse_time(src.tags()),
                    has_rpc=rpcs is not None,
                    has_gcps=bool(src.gcps[0]),
                    rpcs=rpcs,
                )
    except RasterioError as err:
        raise InputError(f"{path}: not a readable raster, or truncated ({_gdal_message(err)})") from err


class _StackReader:
    """Array-like over a list of frames; dask calls ``__getitem__`` with one chunk's slices.

    Each read opens the file, so the object pickles (for dask.distributed) and is safe across threads.
    """

    def __init__(self, paths: list[str], shape: tuple[int, int, int, int], dtype: np.dtype) -> None:
        self.paths = paths
        self.shape = shape
        self.dtype = dtype
        self.ndim = 4

    def __getitem__(self, key: Any) -> np.ndarray:
        # dask passes slices, but its optimiser may also push integers or index lists down to us: read the
        # bounding box of each axis, then apply what is left of the index to it.
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            i = key.index(Ellipsis)
            key = key[:i] + (slice(None),) * (4 - len(key) + 1) + key[i + 1 :]
        key = key + (slice(None),) * (4 - len(key))
        bounds: list[tuple[int, int]] = []
        rest: list[Any] = []  # per axis: a slice, 0 (a dropped axis) or an index array
        for k, n in zip(key, self.shape):
            if isinstance(k, slice):
                start, stop, step = k.indices(n)
                stop = max(stop, start) if step > 0 else stop
                if step < 0:
                    bounds.append((stop + 1, start + 1))
                    rest.append(slice(None, None, step))
                else:
                    bounds.append((start, stop))
                    rest.append(slice(None, None, step))
            elif np.ndim(k) == 0:
                i = int(k) % n
                bounds.append((i, i + 1))
                rest.append(0)
            else:
                idx = np.asarray(k) % n
                lo = int(idx.min()) if idx.size else 0
                bounds.append((lo, int(idx.max()) + 1 if idx.size else 0))
                rest.append(idx - lo)
        (t0, t1), (b0, b1), (y0, y1), (x0, x1) = bounds
        out = np.empty((t1 - t0, b1 - b0, y1 - y0, x1 - x0), self.dtype)
        window = Window.from_slices(slice(y0, y1), slice(x0, x1))
        for t in range(t0, t1):
            path = self.paths[t]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", NotGeoreferencedWarning)
                    with rasterio.open(path) as src:
                        out[t - t0] = src.read(list(range(b0 + 1, b1 + 1)), window=window)
            except RasterioError as err:
                raise InputError(
                    f"{path}: read failed in rows {y0}:{y1}, cols {x0}:{x1} ({_gdal_message(err)})"
                ) from err
        if any(isinstance(r, np.ndarray) for r in rest):
            # numpy applies several index arrays jointly; apply them one axis at a time instead.
            for axis in reversed(range(4)):
                r = rest[axis]
                out = out[(slice(None),) * axis + (r,)]
            return out
        picked: np.ndarray = out[tuple(rest)]
        return picked


def _check_same(first: FrameMeta, m: FrameMeta) -> None:
    def fail(what: str, got: object, want: object, hint: str) -> None:
        raise GridMismatchError(f"{m.path}: {what} {got} differs from {want} in {first.path}; {hint}")

    if m.shape != first.shape:
        fail("shape (rows, cols)", m.shape, first.shape, "crop or resample the frames to one grid")
    if m.count != first.count:
        fail("band count", m.count, first.count, "select the same bands in every frame")
    if m.dtype != first.dtype:
        fail("dtype", m.dtype, first.dtype, "convert the frames to one data type")
    if m.has_rpc != first.has_rpc:
        fail("RPC model", "present" if m.has_rpc else "absent", "present" if first.has_rpc else "absent",
             "stack frames that all carry RPCs, or orthorectify them first")
    if (m.crs is None) != (first.crs is None) or (m.crs is not None and m.crs != first.crs):
        fail("CRS", _crs_name(m.crs), _crs_name(first.crs), "reproject the frames to one CRS first")
    if not m.transform.almost_equals(first.transform, precision=1e-9 * max(abs(first.transform.a), 1e-12)):
        fail("grid (transform)", tuple(m.transform)[:6], tuple(first.transform)[:6], "resample to one grid first")


def _crs_name(crs: CRS | None) -> str:
    if crs is None:
        return "none"
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


def open_stack(
    source: PathLike | Sequence[PathLike],
    *,
    crs: Any = None,
    transform: Affine | Sequence[float] | None = None,
    allow_ungeoreferenced: bool = False,
    times: Sequence[Any] | None = None,
    chunks: int = 1024,
    orthorectify: bool = False,
    dem: PathLike | None = None,
    ortho_crs: Any = None,
    resolution: float | None = None,
    resampling: str = "cubic",
) -> xr.DataArray:
    """Open one or more raster frames as a lazy ``(time, band, y, x)`` DataArray.

    Frames with an RPC sensor model and no geotransform (raw satellite products, satellite video frames) stay in
    their sensor geometry: the stack is in pixel coordinates, each frame's RPC model is kept in the ``rpc``
    coordinate (JSON, one per frame), ``attrs["georeferencing"]`` says so, and :func:`satsr.upscale` and the
    writers carry the models, rescaled to the output's pixels. ``orthorectify=True`` instead warps them onto one
    map grid with GDAL's RPC transformer (see :mod:`satsr.io.ortho`).

    Parameters
    ----------
    source : str, path, or sequence of them
        A file, a glob pattern, a folder (its rasters sorted by name) or a list of files in time order.
        A single file is a one-frame stack.
    crs, transform : optional
        Georeferencing for frames that have none (PNG video frames, for example). Frames that do carry
        georeferencing must agree with them.
    allow_ungeoreferenced : bool, default False
        Accept frames without georeferencing; the result is then in pixel coordinates and says so in
        ``attrs["georeferencing"]``.
    times : sequence, optional
        Time coordinate (one value per frame). Default: the files' ``TIFFTAG_DATETIME`` (or similar) tags when
        every frame has one, else frame indices ``0..N-1``.
    chunks : int, default 1024
        Spatial chunk size of the dask array (each chunk holds one frame and all bands).
    orthorectify : bool, default False
        Warp RPC frames onto one map grid (lazily, chunk by chunk, with GDAL), so that a video's frames share a
        grid. This resamples the LR before super-resolution; carrying the RPCs (the default) does not.
    dem : str or path, optional
        With ``orthorectify``: a DEM raster (heights above the WGS 84 ellipsoid) for the RPC transformer;
        default flat terrain at each frame's RPC height offset.
    ortho_crs : optional
        With ``orthorectify``: the map CRS; default the UTM zone of the first frame's centre.
    resolution : float, optional
        With ``orthorectify``: pixel size in ``ortho_crs`` units; default the first frame's ground sample
        distance (its footprint's area over its pixel count), rounded to 3 significant digits.
    resampling : str, default "cubic"
        With ``orthorectify``: GDAL's resampling (``"nearest"``, ``"bilinear"``, ``"cubic"``, ``"lanczos"``...).

    Returns
    -------
    xarray.DataArray
        Dask-backed, dims ``(time, band, y, x)``; coordinates ``x``/``y`` (pixel centres), ``spatial_ref`` (CRS
        and GDAL transform), ``band`` (1-based), ``description`` (band names, ``""`` where the file has none),
        ``source`` (file per frame);
        ``attrs["_FillValue"]`` holds the nodata value when the files declare one.

    Raises
    ------
    InputError
        Empty glob, missing file, or a file that is not a readable raster (or is truncated).
    GeoreferenceError
        Frames without georeferencing (or with only GCPs), unless ``crs``/``transform`` or
        ``allow_ungeoreferenced`` say how to place them; ``crs``/``transform`` given for RPC frames;
        ``orthorectify`` for frames without RPCs; rotated or sheared grids.
    GridMismatchError
        Frames that disagree on shape, band count, dtype, CRS or transform; the message names the file.

    Examples
    --------
    >>> stack = satsr.open_stack("frames/*.tif")  # doctest: +SKIP
    >>> stack.dims
    ('time', 'band', 'y', 'x')
    """
    video = video_source(source)  # one video file (.mp4, .mkv, .avi...): see satsr.io.video
    if video is not None:
        return open_video(video, crs=crs, transform=transform, allow_ungeoreferenced=allow_ungeoreferenced,
                          times=times, chunks=chunks)
    paths = resolve_paths(source)
    metas = [read_meta(p) for p in paths]
    first = metas[0]
    if orthorectify:
        if crs is not None or transform is not None:
            raise GeoreferenceError(f"{first.path}: orthorectify=True makes its own map grid; drop crs=/transform= "
                                    "(choose the map with ortho_crs= and resolution=)")
        return open_orthorectified(paths, dem=dem, crs=ortho_crs, resolution=resolution, resampling=resampling,
                                   time=_time_coord(metas, times), chunks=chunks, name=_stack_name(paths))
    for m in metas[1:]:
        _check_same(first, m)
    # Compute where the frames lie, then build the lazy array on that grid.
    grid, note = _stack_grid(first, crs, transform, allow_ungeoreferenced)
    if not first.georeferenced:
        # The caller placed (or chose not to place) frames that carry no georeferencing, so rasterio's warning
        # is noise. The scoped filters in the reader are not thread-safe (dask reads in threads), hence this one.
        warnings.filterwarnings("ignore", message="Dataset has no geotransform", category=NotGeoreferencedWarning)
    return _stack_array(_lazy_frames(paths, first, chunks), metas, grid, note, times)


def _stack_grid(first: FrameMeta, crs: Any, transform: Affine | Sequence[float] | None,
                allow_ungeoreferenced: bool) -> tuple[Grid, str | None]:
    """The frames' grid, and the note that says when it is in pixel coordinates (RPC frames, or allowed).

    The files' own georeferencing wins (``crs``/``transform`` may only repeat it, or add a missing CRS); frames
    without any take ``crs`` and ``transform``; RPC frames keep their pixel grid and refuse both.
    """
    user_t = Affine(*tuple(transform)[:6]) if transform is not None else None
    user_crs = CRS.from_user_input(crs) if crs is not None else None
    if first.has_rpc and not first.georeferenced:
        if user_crs is not None or user_t is not None:
            raise GeoreferenceError(
                f"{first.path}: has an RPC sensor model, which satsr carries to the output; drop crs=/transform=, "
                "or pass orthorectify=True (--orthorectify) to warp the frames onto a map grid"
            )
        grid, note = Grid(first.shape, Affine.identity(), None), RPC_NOTE
    elif first.georeferenced:
        if user_crs is not None and first.crs is not None and user_crs != first.crs:
            raise GeoreferenceError(f"{first.path}: file CRS {_crs_name(first.crs)} conflicts with crs={crs!r}")
        if user_t is not None and not user_t.almost_equals(first.transform):
            raise GeoreferenceError(f"{first.path}: file transform conflicts with transform={tuple(user_t)[:6]}")
        grid, note = Grid(first.shape, first.transform, first.crs or user_crs), None
    elif user_crs is not None and user_t is not None:
        grid, note = Grid(first.shape, user_t, user_crs), None
    elif allow_ungeoreferenced:
        grid, note = Grid(first.shape, Affine.identity(), None), PIXEL_COORDS_NOTE
    else:
        raise GeoreferenceError(_no_georef_message(first))
    try:
        grid.require_rectilinear()
    except GeoreferenceError as err:
        raise GeoreferenceError(f"{first.path}: {err}") from None
    return grid, note


def _no_georef_message(first: FrameMeta) -> str:
    kind = "only GCPs" if first.has_gcps else "no CRS or geotransform"
    hint = "warp it onto a map grid first (gdalwarp -tps)" if first.has_gcps else (
        "pass crs= and transform= (CLI: --crs, --transform)")
    return (f"{first.path}: has {kind}; {hint}, or allow_ungeoreferenced=True (--allow-ungeoreferenced) to work in "
            "pixel coordinates")


def _lazy_frames(paths: list[str], first: FrameMeta, chunks: int) -> da.Array:
    """The frames as one dask array ``(time, band, y, x)``: one chunk per frame, all bands, ``chunks`` pixels."""
    dtype = np.dtype(first.dtype)
    reader = _StackReader(paths, (len(paths), first.count, *first.shape), dtype)
    # The files' mtimes are in the name: a file rewritten in place is a new array, not one dask has cached.
    name = "open_stack-" + tokenize(paths, [os.path.getmtime(p) for p in paths], chunks)
    frames: da.Array = da.from_array(
        reader, chunks=(1, first.count, chunks, chunks), name=name, lock=False, meta=np.empty((0,) * 4, dtype)
    )
    return frames


def _stack_array(data: da.Array, metas: Sequence[FrameMeta], grid: Grid, note: str | None,
                 times: Sequence[Any] | None) -> xr.DataArray:
    """Wrap the frames in a DataArray with their time, band, grid, RPC, nodata and georeferencing note."""
    first, paths = metas[0], [m.path for m in metas]
    descriptions = [d or "" for d in first.descriptions]  # "" = none; writers skip empty names
    arr = xr.DataArray(
        data,
        dims=("time", "band", "y", "x"),
        coords={
            "time": _time_coord(metas, times),
            "band": np.arange(1, first.count + 1),
            "description": ("band", descriptions),
            "source": ("time", paths),
        },
        name=_stack_name(paths),
    )
    if note == RPC_NOTE:
        rpcs = []
        for m in metas:
            assert m.rpcs is not None  # RPC_NOTE: the first frame has an RPC model, and _check_same gave all one
            rpcs.append(rpc_to_json(m.rpcs))
        arr = arr.assign_coords(rpc=("time", rpcs))
    arr = assign_grid(arr, grid)
    if first.nodata is not None:
        arr.attrs["_FillValue"] = first.nodata
    if note:
        arr.attrs["georeferencing"] = note
    return arr


def _time_coord(metas: Sequence[FrameMeta], times: Sequence[Any] | None) -> np.ndarray:
    """The given times, else the files' date tags when every frame has one, else frame indices."""
    n = len(metas)
    if times is not None:
        if len(times) != n:
            raise InputError(f"times has {len(times)} values for {n} frames")
        return np.asarray(times)
    if all(m.time is not None for m in metas):
        return np.array([m.time for m in metas], dtype="datetime64[ns]")
    return np.arange(n)


def _stack_name(paths: Sequence[str]) -> str:
    return Path(paths[0]).stem if len(paths) == 1 else "stack"


def raster_info(path: PathLike) -> dict[str, Any]:
    """Describe one raster as a user wants to see it: grid, CRS, bands, dtype, nodata, blocks, overviews.

    Parameters
    ----------
    path : str or path
        The raster to describe.

    Returns
    -------
    dict
        Plain values (strings, numbers, lists) ready to print or dump as JSON.

    Raises
    ------
    InputError
        When the file does not exist or is not a readable raster.
    """
    p = resolve_paths(path)[0]
    meta = read_meta(p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(p) as src:
            info: dict[str, Any] = {
                "path": p,
                "driver": src.driver,
                "size": f"{src.width} x {src.height} (cols x rows)",
                "bands": src.count,
                "dtype": meta.dtype,
                "nodata": meta.nodata,
                "crs": _crs_name(meta.crs),
                "transform": list(tuple(meta.transform)[:6]),
                "georeferenced": meta.georeferenced,
                "rpcs": meta.has_rpc,
                "block": list(src.block_shapes[0]),
                "compression": src.compression.value if src.compression else None,
                "overviews": src.overviews(1),
                "band_descriptions": [d or "" for d in meta.descriptions],
                "time": str(meta.time) if meta.time is not None else None,
            }
            if info["georeferenced"]:
                g = Grid(meta.shape, meta.transform, meta.crs)
                info["bounds"] = list(g.bounds)
                info["resolution"] = [abs(meta.transform.a), abs(meta.transform.e)] if g.is_rectilinear else None
            if src.tags().get("satsr"):
                info["satsr"] = src.tags()["satsr"]
    return info
