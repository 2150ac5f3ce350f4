"""Write ``(time, band, y, x)`` stacks as Cloud-Optimized GeoTIFFs or tiled GeoTIFFs, one file per time step.

Outputs can be far larger than memory (32768 x 32768 x 3 uint16 is 6 GB), so nothing is ever loaded whole:
the dask array is streamed chunk by chunk with :func:`dask.array.store` into tiled GeoTIFFs, all time steps
in one ``store`` call so that the (expensive, model-inference) graph is computed once. A COG is then made
from that intermediate file with GDAL's COG driver, which builds overviews and lays the file out in COG
order. Every final file is written under a hidden temporary name and renamed into place only when complete.

Any dask scheduler works. Under the threaded and synchronous ones the chunks are written from dask's threads
(``da.store``). Under schedulers whose tasks run in other processes (``"processes"``, a dask.distributed
``Client``, local or remote) the workers compute the blocks and this process writes them as they arrive, with
the same writers, so the files are the same (see :func:`_store`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import rasterio
import rasterio.shutil
import xarray as xr
from rasterio.crs import CRS as RioCRS
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.rpc import RPC
from rasterio.windows import Window

from satsr._folders import make_parent, remove_made
from satsr._version import package_version
from satsr.errors import InputError, OutputError
from satsr.geo import RPC_KEYS, Grid, rpc_for_pixels
from satsr.io._atomic import (
    TEMP_MARK,
    atomic_output,
    drained_dask_threads,
    remove_path,
    require_parent,
    temp_sibling,
)
from satsr.io._overviews import OverviewPyramid, overview_factors
from satsr.io.conventions import as_frames, normalize
from satsr.io.coords import frame_rpcs, nodata_of
from satsr.progress import bar, dask_progress

__all__ = ["to_cog", "to_geotiff"]

PathLike = str | os.PathLike[str]

#: Dimension order every writer expects (the one :func:`satsr.io.read.open_stack` returns).
STACK_DIMS = ("time", "band", "y", "x")

# rasterio hands GDAL_CACHEMAX to GDALSetCacheMax64, i.e. in *bytes* (GDAL_CACHEMAX=256 would mean 256 bytes),
# and restores the previous size when the Env exits. 256 MB keeps dirty blocks from piling up in RAM: GDAL's
# default is 5% of physical memory, gigabytes on a big machine.
_GDAL_CACHE_BYTES = 256 * 2**20
# The COG driver's overview pass keeps about twice the block cache in flight plus per-thread buffers (measured:
# +880 MB peak at 256 MB on 16 threads, +530 MB at 64 MB, and no slower), so it gets a smaller cache.
_COG_CACHE_BYTES = 64 * 2**20
_TIFF_SUFFIXES = (".tif", ".tiff")
_STAGE_OPTIONS: dict[str, Any] = {"compress": "NONE", "SPARSE_OK": "TRUE"}
_GDAL_DTYPES = frozenset(
    ["uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64"]
    + ["complex64", "complex128"]
)
_GTIFF_COMPRESS = frozenset(
    ["NONE", "DEFLATE", "LZW", "ZSTD", "LZMA", "PACKBITS", "JPEG", "WEBP", "LERC", "LERC_DEFLATE", "LERC_ZSTD"]
)
_COG_COMPRESS = _GTIFF_COMPRESS - {"PACKBITS"}
# Codecs for which a predictor (horizontal differencing / floating point) shrinks the file.
_PREDICTOR_COMPRESS = frozenset(["DEFLATE", "LZW", "ZSTD"])
# "satsr" is our own tag; "bidx"/"ns" collide with rasterio's update_tags() keyword arguments.
_RESERVED_TAGS = frozenset(["satsr", "bidx", "ns"])
# Dask chunk edge used when the input is an in-memory NumPy array (a multiple of every sane block size).
_NUMPY_CHUNK = 2048


# -- public API -----------------------------------------------------------------------------------------------
def to_cog(
    sr: xr.DataArray,
    path: PathLike,
    *,
    compress: str = "deflate",
    level: int | None = None,
    overviews: bool = True,
    blocksize: int = 512,
    tags: Mapping[str, str] | None = None,
    progress: bool = False,
) -> list[Path]:
    """Write a stack as Cloud-Optimized GeoTIFFs: one file, or one file per time step in a folder.

    Parameters
    ----------
    sr : xarray.DataArray
        Dims ``(time, band, y, x)``, ``(band, y, x)`` or ``(y, x)``, as :func:`satsr.upscale` or
        :func:`satsr.io.read.open_stack` return them; georeferenced in any convention
        :func:`satsr.geo.read_georef` reads (stackstac's, rioxarray's, odc-stac's...). Dask-backed arrays are
        streamed chunk by chunk and never loaded whole.
    path : str or path
        A ``.tif``/``.tiff`` file (the array must then have exactly one time step), or a folder that receives
        one COG per time step. The folder is created if missing, but its parent must exist. Files are named
        after the frame's ``source`` coordinate (``<stem>.tif``) when those stems are unique, else
        ``frame_0000.tif``, ``frame_0001.tif``... Existing files of the same name are replaced.
    compress : str, default "deflate"
        GDAL COG codec: ``none``, ``deflate``, ``lzw``, ``zstd``, ``lzma``, ``jpeg``, ``webp``, ``lerc``,
        ``lerc_deflate`` or ``lerc_zstd``. A predictor is added for deflate, lzw and zstd.
    level : int, optional
        Compression level for deflate (1-12) and zstd (1-22). Default 1, the fastest: on bicubic x4 Landsat
        uint16 output, deflate level 6 (GDAL's default) made files only 1.3 % smaller and took 2.1x as long.
    overviews : bool, default True
        Build internal overviews (``AVERAGE`` resampling) down to one block; images no larger than one block
        get none.
    blocksize : int, default 512
        Tile edge in pixels, a multiple of 16.
    tags : mapping of str to str, optional
        Extra GDAL metadata items, written as such and repeated under ``"tags"`` in the ``satsr`` item.
    progress : bool, default False
        Show a tqdm progress bar over the dask tasks.

    Returns
    -------
    list of pathlib.Path
        The files written, in time order.

    Raises
    ------
    InputError
        Wrong dims, a dtype GDAL cannot store, a ``_FillValue`` that does not fit the dtype, bad ``compress``,
        ``blocksize`` or ``tags``.
    GeoreferenceError
        When the array carries neither a transform nor regular ``x``/``y`` coordinates, or georeferencing that
        is unreadable, ambiguous or self-contradictory, or whose CRS was lost (see
        :func:`satsr.geo.read_georef`): no file is written without the CRS its array had.
    OutputError
        A ``.tif`` path for several time steps, a missing parent folder, an unsupported dask scheduler (see
        Notes), or a failed write. Nothing is left under the final names when the write fails; exceptions
        raised while computing the array (on this process or on a worker) propagate unchanged, with the same
        guarantee.

    Notes
    -----
    Each file carries the CRS and transform of :meth:`satsr.geo.Grid.from_xarray` (no CRS for arrays in pixel
    coordinates), the nodata value of :func:`satsr.io.coords.nodata_of` (``attrs["_FillValue"]``, else
    ``attrs["nodata"]``, else the encoding's), band names from the ``description`` coordinate, ``TIFFTAG_DATETIME``
    when the time coordinate is a datetime, and a ``satsr`` metadata item holding compact JSON: ``model``, ``scale``
    (from ``attrs["satsr_model"]``, ``attrs["satsr_scale"]``), ``version`` and ``tags``; for reference-based SR also
    ``reference``, ``reference_matching``, ``reference_shift``, ``reference_coverage``, ``fallback`` and
    ``fallback_tiles``; for a self-ensemble ``self_ensemble`` (8).

    Disk space: all time steps are first streamed, in one pass over the dask graph, into uncompressed
    intermediate GeoTIFFs (hidden files next to the outputs), then converted one by one; plan for the
    uncompressed size of the whole stack plus one compressed frame. :func:`to_geotiff` needs no
    intermediate.

    Schedulers: the threaded (default) and synchronous schedulers write from dask's threads. Under the
    ``"processes"`` scheduler or a dask.distributed ``Client`` (local or remote; the active one, as for
    ``dask.compute``) the workers compute the blocks and this process gathers them one at a time, as they
    finish, and writes them: the files are identical to the threaded scheduler's, the output folder needs to be
    reachable from this process only, and this process holds one block of the array at a time. A worker that
    dies mid-run costs only time: dask re-runs its tasks elsewhere and a block that arrives twice is written
    once. Other scheduler functions are refused with :class:`~satsr.errors.OutputError` before anything runs.

    Examples
    --------
    >>> to_cog(sr, "out/")  # doctest: +SKIP
    [PosixPath('out/scene_0001.tif'), PosixPath('out/scene_0002.tif')]
    """
    return _write_frames(
        sr, path, cog=True, compress=compress, level=level, overviews=overviews, blocksize=blocksize, tags=tags,
        progress=progress,
    )


def to_geotiff(
    sr: xr.DataArray,
    path: PathLike,
    *,
    compress: str = "deflate",
    level: int | None = None,
    blocksize: int = 512,
    tags: Mapping[str, str] | None = None,
    progress: bool = False,
) -> list[Path]:
    """Write a stack as plain tiled, compressed GeoTIFFs (no overviews, no COG layout), streaming chunks.

    Cheaper than :func:`to_cog` (no second pass over the data); use it for intermediate products or when
    nothing will read the files over HTTP.

    Parameters
    ----------
    sr : xarray.DataArray
        Dims ``(time, band, y, x)``, ``(band, y, x)`` or ``(y, x)``; see :func:`to_cog`.
    path : str or path
        A ``.tif``/``.tiff`` file for a single time step, or a folder; same naming rules as :func:`to_cog`.
    compress : str, default "deflate"
        GDAL GTiff codec (as for :func:`to_cog`, plus ``packbits``).
    level : int, optional
        Compression level for deflate and zstd; default 1 (fastest), as in :func:`to_cog`.
    blocksize : int, default 512
        Tile edge in pixels, a multiple of 16.
    tags : mapping of str to str, optional
        Extra GDAL metadata items.
    progress : bool, default False
        Show a tqdm progress bar over the dask tasks.

    Returns
    -------
    list of pathlib.Path
        The files written, in time order.

    Raises
    ------
    InputError
        Wrong dims, unsupported dtype, a ``_FillValue`` that does not fit, bad ``compress``, ``blocksize`` or
        ``tags``.
    GeoreferenceError
        When the array has no usable grid.
    OutputError
        A ``.tif`` path for several time steps, a missing parent folder, an unsupported dask scheduler, or a
        failed write (nothing is left under the final names).

    Notes
    -----
    Works under the threaded, synchronous and processes schedulers and under a dask.distributed ``Client``,
    with identical files; under the latter two the workers compute and this process writes (see :func:`to_cog`).
    """
    return _write_frames(
        sr, path, cog=False, compress=compress, level=level, overviews=False, blocksize=blocksize, tags=tags,
        progress=progress,
    )


# -- helpers shared with satsr.io.zarr_cube --------------------------------------------------------------------
def check_stack(sr: xr.DataArray) -> None:
    """Check that ``sr`` is a non-empty DataArray with dims ``(y, x)``, ``(band, y, x)`` or ``(time, band, y, x)``.

    Parameters
    ----------
    sr : xarray.DataArray
        The array about to be written.

    Raises
    ------
    InputError
        When it is not a DataArray, has other dims or an empty dimension.
    """
    if not isinstance(sr, xr.DataArray):
        raise InputError(f"expected an xarray.DataArray with dims {STACK_DIMS}, got {type(sr).__name__}")
    as_frames(sr)  # raises on other dims or an empty one


def jsonable(value: Any) -> Any:
    """Convert ``value`` to plain JSON types (NumPy scalars and arrays, tuples, paths, dates...).

    Parameters
    ----------
    value : object
        An attribute value.

    Returns
    -------
    object
        ``None``, bool, int, float, str, list or dict; anything else becomes its ``str``.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value))
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


# -- the writer -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Job:
    """Everything the frames' files need except their pixels: decided once, on the client, from the array."""

    profile: dict[str, Any]
    descriptions: list[str] | None
    frame_tags: list[dict[str, str]]
    rpcs: list[dict[str, Any]] | None
    cog: bool
    codec: str
    level: int | None
    blocksize: int
    overviews: bool
    dtype: np.dtype
    nodata: float | int | None

    def frame(self, t: int) -> _Job:
        """The job for frame ``t`` alone (what a worker needs to assemble that frame's file)."""
        rpcs = self.rpcs[t : t + 1] if self.rpcs is not None else None
        return replace(self, frame_tags=self.frame_tags[t : t + 1], rpcs=rpcs)


def _write_frames(
    sr: xr.DataArray,
    path: PathLike,
    *,
    cog: bool,
    compress: str,
    level: int | None,
    overviews: bool,
    blocksize: int,
    tags: Mapping[str, str] | None,
    progress: bool,
) -> list[Path]:
    """Validate, plan the file names, stream the data, convert to COG if asked; all or nothing."""
    check_stack(sr)
    sr = as_frames(normalize(sr))  # any georeferencing convention in (satsr.io.conventions); 4-D from here on
    job = _plan_job(sr, cog=cog, compress=compress, level=level, overviews=overviews, blocksize=blocksize, tags=tags)
    data = _aligned(sr.data, blocksize)
    outputs, made = _plan_outputs(sr, Path(os.fspath(path)))
    try:
        client = _assembling_client(outputs[0])
        if client is not None:
            _write_on_workers(client, job, data, outputs, progress)
        else:
            _write_here(job, data, outputs, progress)
    except BaseException:
        remove_made(made)  # only the folders this call created, and only where still empty
        raise
    return outputs


def _plan_job(
    sr: xr.DataArray,
    *,
    cog: bool,
    compress: str,
    level: int | None,
    overviews: bool,
    blocksize: int,
    tags: Mapping[str, str] | None,
) -> _Job:
    """Check the options against the array and decide the files' profile, tags and sensor models."""
    codec = _check_compress(compress, cog)
    level = _check_level(codec, level)
    _check_blocksize(blocksize)
    user_tags = _check_tags(tags)
    dtype = np.dtype(sr.dtype)
    if dtype.name not in _GDAL_DTYPES:
        raise InputError(
            f"array {sr.name!r} has dtype {dtype}, which GeoTIFF cannot store; cast it first, e.g. "
            "sr.astype('float32') (float16) or sr.astype('uint8') (bool)"
        )
    nodata = _nodata(sr, dtype)
    profile = _profile(sr, dtype, nodata, blocksize)
    rpcs = frame_rpcs(sr)
    if rpcs is not None:
        # The 'rpc' coordinate holds each frame's model in its source image's pixels; the array's pixel grid says
        # where its pixels sit there (cropped, zoomed): the file gets the model of its own pixels.
        rpcs = [rpc_for_pixels(m, profile["transform"]) for m in rpcs]
        # Sensor geometry: the RPC model is the georeferencing; a geotransform beside it would take precedence in
        # GDAL and place the pixels wrongly, so none is written.
        profile["crs"] = None
        del profile["transform"]
    if cog:
        # Intermediate file: uncompressed (the fastest to write and for the COG driver to re-read) and sparse
        # (blocks that are all nodata take no disk space).
        profile.update(_STAGE_OPTIONS)
    else:
        profile.update(compress=codec, NUM_THREADS="ALL_CPUS")
        if level is not None:
            profile["ZLEVEL" if codec == "DEFLATE" else "ZSTD_LEVEL"] = level
        if codec in _PREDICTOR_COMPRESS and dtype.kind in "iuf":
            profile["predictor"] = 3 if dtype.kind == "f" else 2
    return _Job(profile, _descriptions(sr), _frame_tags(sr, user_tags), rpcs, cog, codec, level, blocksize,
                overviews, dtype, nodata)


def _profile(sr: xr.DataArray, dtype: np.dtype, nodata: float | int | None, blocksize: int) -> dict[str, Any]:
    """The rasterio profile of one frame's tiled GeoTIFF."""
    grid = Grid.from_xarray(sr)
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": int(sr.sizes["band"]),
        "dtype": dtype.name,
        "crs": RioCRS.from_wkt(grid.crs.to_wkt()) if grid.crs is not None else None,
        "transform": grid.transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": blocksize,
        "blockysize": blocksize,
        "BIGTIFF": "IF_SAFER",
    }
    if profile["count"] > 1:
        profile["interleave"] = "pixel"
    return profile


def _frame_tags(sr: xr.DataArray, user_tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Each frame's GeoTIFF tags: the user's, satsr's provenance, the frame's date and exact time label."""
    common_tags = {**user_tags, "satsr": _satsr_tag(sr, user_tags)}
    frame_tags = []
    labels = _time_labels(sr) if _time_scaled(sr) else [None] * int(sr.sizes["time"])
    for stamp, label in zip(_frame_datetimes(sr), labels):
        ftags = dict(common_tags)
        if stamp is not None and "TIFFTAG_DATETIME" not in user_tags:
            ftags["TIFFTAG_DATETIME"] = stamp
        if label is not None:
            ftags["SATSR_TIME"] = label  # full precision: in-between frames fall between whole seconds
        frame_tags.append(ftags)
    return frame_tags


def _write_here(job: _Job, data: da.Array, outputs: Sequence[Path], progress: bool) -> None:
    """Compute ``data`` and write one file per frame from this process, all renamed into place at the end."""
    rpcs: Sequence[dict[str, Any] | None] = job.rpcs if job.rpcs else [None] * len(outputs)
    with rasterio.Env(GDAL_CACHEMAX=_GDAL_CACHE_BYTES, GDAL_NUM_THREADS="ALL_CPUS"), ExitStack() as stack:
        # Every final file goes through atomic_output, entered here so that the renames happen only after
        # all frames are complete: a failed call leaves no new file under any final name.
        finals = [stack.enter_context(atomic_output(p)) for p in outputs]
        if not job.cog:
            writers = [
                _FrameWriter(f, p, job.profile, job.descriptions, t, rpc=rpc)
                for f, p, t, rpc in zip(finals, outputs, job.frame_tags, rpcs)
            ]
            _store(data, writers, progress)
            return
        stages = [temp_sibling(p, "stage") for p in outputs]
        stack.callback(_remove_all, stages)
        pyramids = _pyramids(stages, job.profile, data, job.blocksize, job.overviews, job.nodata)
        for pyr in pyramids:
            if pyr is not None:
                stack.callback(_remove_all, [*pyr.paths, _vrt_path(pyr.base)])
        writers = [
            _FrameWriter(s, p, job.profile, job.descriptions, t, pyr, rpc)
            for s, p, t, pyr, rpc in zip(stages, outputs, job.frame_tags, pyramids, rpcs)
        ]

        def convert(i: int) -> None:
            stage, pyr = stages[i], pyramids[i]
            source = stage
            if pyr is not None:
                source = pyr.write_vrt(_vrt_path(stage), stage, job.descriptions, writers[i].tags, writers[i].rpc)
            _convert_to_cog(source, finals[i], outputs[i], job.codec, job.level, job.blocksize, job.overviews,
                            job.dtype, pyr is not None)
            _remove_all([stage, *(pyr.paths if pyr is not None else ())])  # free disk space early

        # A frame's COG is encoded as soon as its stage file is complete, on one thread beside the
        # computation of the other frames (on a GPU the CPU is otherwise idle meanwhile); only the last
        # frame's conversion waits for the end.
        with _Converter(convert, len(outputs)) as conv:
            for i, w in enumerate(writers):
                w.on_done = functools.partial(conv.submit, i)
            _store(data, writers, progress)


class _Converter:
    """Runs ``convert(i)`` for frames on one background thread as they complete; on exit waits, in frame order.

    On an error (in a conversion or in the computation) the pending conversions are cancelled and the running one
    is waited for before the error propagates, so nothing writes into an output that is about to be removed.
    """

    def __init__(self, convert: Callable[[int], None], n: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._convert, self._n = convert, n
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="satsr-cog")
        self._futures: dict[int, Any] = {}
        self._lock = threading.Lock()

    def submit(self, i: int) -> None:
        with self._lock:
            if i not in self._futures:
                self._futures[i] = self._pool.submit(self._convert, i)

    def __enter__(self) -> _Converter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                for i in range(self._n):
                    self.submit(i)  # a frame whose last chunk never closed its writer (not expected)
                for i in range(self._n):
                    self._futures[i].result()  # raises the first conversion error
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


class _FrameWriter:
    """``dask.array.store`` target for one frame: creates the GeoTIFF on the first chunk, closes it after the last.

    Opening lazily and closing as soon as the frame is complete bounds the open datasets (and their share of
    GDAL's block cache) to the frames in flight rather than the length of the stack. Writes to one frame are
    serialised by the writer's own lock (a GDAL dataset must not be used from two threads at once); overview
    averages are computed outside it.
    """

    def __init__(
        self,
        path: Path,
        label: Path,
        profile: Mapping[str, Any],
        descriptions: Sequence[str] | None,
        tags: Mapping[str, str],
        pyramid: OverviewPyramid | None = None,
        rpc: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = path
        self.rpc = dict(rpc) if rpc is not None else None
        self.label = label
        self.profile = dict(profile)
        self.descriptions = descriptions
        self.tags = dict(tags)
        self.shape = (int(profile["count"]), int(profile["height"]), int(profile["width"]))
        self.dtype = np.dtype(profile["dtype"])
        self.ndim = 3
        self._remaining = int(np.prod(self.shape))
        self.pyramid = pyramid
        self.on_done: Callable[[], None] | None = None  # called once the frame's file is complete and closed
        # One lock per frame: a GDAL dataset must not be used from two threads at once, but different frames'
        # files can be written concurrently.
        self._lock = threading.Lock()
        self._ds: Any = None

    def _open(self) -> None:
        if self.profile["crs"] is None:
            # Pixel-coordinate output (intended): silence rasterio's warning. Only here, because
            # catch_warnings swaps process-wide filters and this runs in dask worker threads.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                ds = rasterio.open(self.path, "w", **self.profile)
        else:
            ds = rasterio.open(self.path, "w", **self.profile)
        try:
            if self.descriptions is not None:
                for i, name in enumerate(self.descriptions, start=1):
                    ds.set_band_description(i, name)
            ds.update_tags(**self.tags)
            if self.rpc is not None:
                ds.rpcs = RPC(**{k: self.rpc[k] for k in RPC_KEYS if k in self.rpc})
        except BaseException:
            ds.close()
            raise
        self._ds = ds

    def __setitem__(self, key: tuple[slice, ...], value: np.ndarray) -> None:
        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (3 - len(key))
        (b0, b1, _), (r0, r1, _), (c0, c1, _) = (k.indices(n) for k, n in zip(key, self.shape))
        value = np.asarray(value)
        # Overview averages are computed outside the lock, so other threads keep writing meanwhile.
        levels = self.pyramid.reduce(value) if self.pyramid is not None else None  # chunks hold all bands
        with self._lock:
            try:
                if self._ds is None:
                    self._open()
                window = Window(c0, r0, c1 - c0, r1 - r0)
                self._ds.write(value, indexes=list(range(b0 + 1, b1 + 1)), window=window)
                if levels is not None and self.pyramid is not None:  # levels come from the pyramid
                    self.pyramid.write(levels, r0, c0)
            except RasterioError as err:
                raise OutputError(
                    f"{self.label}: writing rows {r0}:{r1}, cols {c0}:{c1} failed ({err}); check free disk space "
                    "and write permission in that folder"
                ) from err
            self._remaining -= value.size
            if self._remaining <= 0:
                self.close()
                if self.on_done is not None:
                    self.on_done()

    def close(self) -> None:
        """Flush and close the dataset (a no-op when it is not open)."""
        ds, self._ds = self._ds, None
        try:
            if self.pyramid is not None:
                self.pyramid.close()
            if ds is not None:
                ds.close()
        except RasterioError as err:
            raise OutputError(f"{self.label}: flushing the file failed ({err}); check free disk space") from err

    def abort(self) -> None:
        """Close the dataset ignoring errors (the output is about to be deleted)."""
        with self._lock, contextlib.suppress(Exception):  # waits for a write still running in another thread
            self.close()


def _store(data: da.Array, writers: list[_FrameWriter], progress: bool) -> None:
    """Compute ``data`` (time, band, y, x) once, in one pass over its graph, and write frame ``t`` with ``writers[t]``.

    On the threaded and synchronous schedulers the writers are ``da.store`` targets, called from dask's threads.
    Any other scheduler (processes, dask.distributed) runs tasks in other processes, where the writers (open
    GDAL datasets, locks, the COG converter) cannot go: there the blocks are computed by the scheduler and
    written here as they arrive (:func:`_pull_blocks`). Either way shared upstream tasks (model inference) run
    once and the files are byte for byte the same.
    """
    get = _active_get()
    try:
        if get is None:
            # a failure aborts the writers only once no task still writes
            with dask_progress("writing", enabled=progress), drained_dask_threads():
                sources = [data[i] for i in range(len(writers))]
                # each writer locks its own file; dask's annotation of targets omits plain __setitem__ objects
                stores = da.store(sources, writers, lock=False, compute=False)  # type: ignore[arg-type]
                # persist, not compute: compute joins the blocks' (empty) results in one final task, and with it
                # dask's ordering starts mid-scene and keeps source blocks for much of the sweep, so the peak grew
                # with the scene; without it the blocks go row by row (measured: satsr.upscale + to_cog, 8192 px)
                dask.persist(*(stores if isinstance(stores, tuple) else (stores,)))
        else:
            _pull_blocks(data, writers, get, progress)
        for w in writers:
            w.close()  # all closed already when every chunk arrived; this surfaces flush errors otherwise
    except BaseException:
        for w in writers:
            w.abort()
        raise


# -- schedulers whose tasks run in other processes: the workers compute, this process writes -------------------
def _active_get() -> Callable[..., Any] | None:
    """The active dask scheduler's ``get`` when its tasks run outside this process's threads, else ``None``.

    ``None`` stands for the collection's default (threads), the threaded or synchronous scheduler, and a
    ``concurrent.futures.ThreadPoolExecutor`` given as the scheduler: there the ``da.store`` targets are called
    in this process. Everything else (``"processes"``, a process pool, a dask.distributed ``Client``, local or
    remote) is returned.
    """
    import dask.local
    import dask.threaded
    from dask.base import get_scheduler

    get: Callable[..., Any] | None = get_scheduler()
    if get is None or get is dask.threaded.get or get is dask.local.get_sync or getattr(get, "satsr_local", False):
        return None
    if isinstance(get, functools.partial) and get.func is dask.local.get_async and get.args:
        from concurrent.futures import ThreadPoolExecutor

        if isinstance(getattr(get.args[0], "__self__", None), ThreadPoolExecutor):
            return None
    return get


def _client_of(get: Callable[..., Any]) -> Any:
    """The dask.distributed ``Client`` whose ``get`` this is, else ``None``."""
    owner = getattr(get, "__self__", None)
    if owner is None or "distributed" not in sys.modules:
        return None
    from distributed import Client

    return owner if isinstance(owner, Client) else None


def _discard(block: Any) -> None:
    """Sink task after each block under a local process scheduler: lets the scheduler free the block."""
    return None


def _pull_blocks(data: da.Array, writers: list[_FrameWriter], get: Callable[..., Any], progress: bool) -> None:
    """Compute the blocks of ``data`` on the scheduler ``get`` and write each here as it arrives.

    The whole graph is handed to the scheduler once, so every task (model inference included) runs once, as
    under ``da.store``; this process holds one block at a time and writes it with the same writers, in whatever
    order blocks finish. A block delivered twice (a task re-run after a worker died) is written once.
    """
    import dask
    import dask.local
    import dask.multiprocessing
    from dask.core import flatten

    client = _client_of(get)
    local = get is dask.multiprocessing.get or (isinstance(get, functools.partial) and get.func is dask.local.get_async)
    if client is None and not local:
        name = getattr(get, "__qualname__", type(get).__name__)
        raise OutputError(
            f"{writers[0].label}: the active dask scheduler ({name}) is not supported for writing GeoTIFFs; use the "
            "threaded or processes scheduler or a dask.distributed Client, e.g. with "
            "dask.config.set(scheduler='threads') around the write"
        )
    (data,) = dask.optimize(data)
    keys = list(flatten(data.__dask_keys__()))
    starts = [np.cumsum((0, *c))[:-1].tolist() for c in data.chunks]
    written: set[Any] = set()
    with bar(total=len(keys), desc="writing", unit="block", enabled=progress) as counter:

        def put(key: Any, block: Any) -> None:
            if key in written:
                return
            written.add(key)
            t0, b0, y0, x0 = (starts[axis][i] for axis, i in enumerate(key[1:]))
            block = np.asarray(block)
            nb, h, w = block.shape[1:]
            for dt in range(block.shape[0]):
                writers[t0 + dt][b0 : b0 + nb, y0 : y0 + h, x0 : x0 + w] = block[dt]
            counter.update(1)

        if client is not None:
            _pull_distributed(client, data, keys, put)
        else:
            _pull_local(get, data, keys, put)
    if len(written) != len(keys):  # not expected: every scheduler above delivers every block
        raise OutputError(
            f"{writers[0].label}: the scheduler delivered {len(written)} of {len(keys)} blocks; nothing was written"
        )


def _pull_local(get: Callable[..., Any], data: da.Array, keys: list[Any], put: Callable[[Any, Any], None]) -> None:
    """Local process scheduler (``"processes"``, a process pool): results come back to this process anyway.

    Each block is taken from dask's ``posttask`` callback, which runs in this thread; a sink task after each
    block lets the scheduler release it, so memory holds the blocks in flight, not the output.
    """
    import dask.multiprocessing
    from dask.callbacks import Callback

    wanted = set(keys)
    dsk = dict(data.__dask_graph__())
    sinks = []
    for key in keys:
        sink = ("satsr-written-" + data.name, *key[1:])
        dsk[sink] = (_discard, key)
        sinks.append(sink)

    class _Take(Callback):
        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
            if key in wanted:
                put(key, result)

    # No fusing: a block fused into its sink would never be reported.
    options = {"optimize_graph": False} if get is dask.multiprocessing.get else {}
    with _Take():  # type: ignore[no-untyped-call]  # dask's Callback.__init__ is untyped
        get(dsk, sinks, **options)


def _pull_distributed(client: Any, data: da.Array, keys: list[Any], put: Callable[[Any, Any], None]) -> None:
    """dask.distributed: gather blocks one by one as they complete, releasing each once written.

    The workers keep finished blocks until this process has gathered them (distributed spills them to disk under
    memory pressure); writing is much faster than inference, so few wait. A worker that dies takes its running
    tasks and held blocks with it; the scheduler re-runs them elsewhere and the futures here just complete later.
    """
    from distributed import as_completed

    futures = client.get(data.__dask_graph__(), keys, sync=False)
    pending = {f.key: f for f in futures}
    done = as_completed(futures, loop=client.loop)
    del futures
    try:
        for fut in done:
            key = fut.key
            put(key, fut.result())
            pending.pop(key, None)
            del fut  # the last reference: the cluster may free the block
    except BaseException:
        client.cancel(list(pending.values()))
        done.clear()
        raise


# -- a dask.distributed cluster that sees the output folder: the workers write, the client only coordinates ------
#: ``SATSR_ASSEMBLE``: ``auto`` (workers when they all see the output folder), ``workers`` (require it) or
#: ``client`` (always pull the blocks into this process and write them here).
ASSEMBLE_ENV = "SATSR_ASSEMBLE"


def _assembling_client(output: Path) -> Any:
    """The dask.distributed ``Client`` whose workers should write the files themselves, else ``None``.

    The workers write only when every one of them sees the output's folder (a shared or local disk), which is
    checked with a probe file rather than assumed: a remote cluster whose workers cannot see it falls back to
    pulling the blocks into this process.
    """
    get = _active_get()
    client = _client_of(get) if get is not None else None
    mode = os.environ.get(ASSEMBLE_ENV, "auto").strip().lower() or "auto"
    if mode not in ("auto", "workers", "client"):
        raise OutputError(f"{ASSEMBLE_ENV}={mode!r}: expected 'auto', 'workers' or 'client'")
    if client is None or mode == "client":
        return None
    if _workers_see(client, output.parent):
        return client
    if mode == "workers":
        raise OutputError(
            f"{output.parent}: {ASSEMBLE_ENV}=workers, but not every dask worker can read this folder; write to a "
            f"folder the workers share, or unset {ASSEMBLE_ENV} to pull the blocks into this process"
        )
    return None


def _probe(path: str, token: str) -> bool:
    """Worker side of :func:`_workers_see`."""
    try:
        return Path(path).read_text() == token
    except OSError:
        return False


def _workers_see(client: Any, folder: Path) -> bool:
    """Whether every worker of ``client`` reads the file this process writes in ``folder``."""
    import secrets

    probe = temp_sibling(folder / "workers.probe", "probe")
    token = secrets.token_hex(16)
    try:
        probe.write_text(token)
        seen = client.run(_probe, str(probe), token)
    except OSError:
        return False
    finally:
        remove_path(probe)
    return bool(seen) and all(seen.values())


def _put_block(block: np.ndarray, stage: str, block_info: Any = None) -> np.ndarray:
    """Worker side: write one computed block into the shared zarr stage; returns a 1-element marker.

    The dask blocks' edges fall on the stage's chunk edges (:func:`_aligned`), so no two tasks write one zarr
    chunk, and a task that runs twice (after a worker died) writes the same bytes again.
    """
    import zarr

    (t0, t1), (b0, b1), (y0, y1), (x0, x1) = block_info[0]["array-location"]
    zarr.open_array(stage, mode="r+")[t0:t1, b0:b1, y0:y1, x0:x1] = block
    return np.ones((1, 1, 1, 1), dtype=bool)


def _assemble(job: _Job, stage: str, t: int, target: str, *blocks_done: Any) -> str:
    """Worker side: build frame ``t``'s GeoTIFF/COG at ``target`` from the zarr stage, with the local writers."""
    import dask

    frame = da.from_zarr(stage)[t : t + 1]
    with dask.config.set(scheduler="sync"):  # inside a worker: read the stage here, not through the cluster
        _write_here(job, frame, [Path(target)], progress=False)
    return target


def _write_on_workers(client: Any, job: _Job, data: da.Array, outputs: Sequence[Path], progress: bool) -> None:
    """Blocks computed and written by the workers into a zarr stage; each frame's file assembled by a worker.

    No pixel passes through this process: it submits tasks and waits. The stage (uncompressed zarr, chunked
    like the GeoTIFF blocks) and the frames' files live beside the outputs, in a folder every worker sees; the
    final renames happen here, once every frame is complete, so a failure leaves no new file under any final
    name. A frame is assembled as soon as its own blocks are written, while later frames are still computing.
    """
    import zarr
    from dask.core import flatten
    from distributed import as_completed

    stage = temp_sibling(outputs[0].parent / "blocks.zarr", "stage")
    nb, blk = int(data.shape[1]), job.blocksize
    zarr.create_array(store=str(stage), shape=data.shape, chunks=(1, nb, blk, blk), dtype=job.dtype,
                      fill_value=job.nodata if job.nodata is not None else 0, compressors=None, zarr_format=3)
    # dask's @wraps gives Array.map_blocks the signature of da.map_blocks (an array first, then the function)
    marks = data.map_blocks(
        _put_block, str(stage), dtype=bool, chunks=tuple((1,) * len(c) for c in data.chunks)  # type: ignore[arg-type]
    )
    keys = list(flatten(marks.__dask_keys__()))
    t_starts = np.cumsum((0, *data.chunks[0]))
    futures: list[Any] = []
    try:
        with ExitStack() as stack:
            finals = [stack.enter_context(atomic_output(p)) for p in outputs]
            stack.callback(_remove_all, [stage])
            blocks = client.get(dict(marks.__dask_graph__()), keys, sync=False)
            futures.extend(blocks)
            for t, final in enumerate(finals):
                chunk = int(np.searchsorted(t_starts, t, side="right")) - 1
                done = [f for f, k in zip(blocks, keys) if k[1] == chunk]
                futures.append(client.submit(_assemble, job.frame(t), str(stage), t, str(final), *done, pure=False))
            with bar(total=len(futures), desc="writing", unit="task", enabled=progress) as counter:
                for fut in as_completed(futures, loop=client.loop):
                    fut.result()  # raises the task's own error (OutputError, ModelError...)
                    counter.update(1)
            for final in finals:  # leftovers of an assembly that ran twice (a worker died mid-frame)
                _remove_all(list(final.parent.glob(f".{final.name}{TEMP_MARK}*")))
    except BaseException:
        client.cancel(futures)
        raise


def _convert_to_cog(
    stage: Path,
    dest: Path,
    label: Path,
    codec: str,
    level: int | None,
    blocksize: int,
    overviews: bool,
    dtype: np.dtype,
    precomputed: bool = False,
) -> None:
    """Re-encode the intermediate GeoTIFF as a COG with GDAL's COG driver (copies georeferencing and tags)."""
    options: dict[str, Any] = {
        "COMPRESS": codec,
        "BLOCKSIZE": blocksize,
        # Precomputed overviews (satsr.io._overviews) are copied; otherwise the driver computes them.
        "OVERVIEWS": ("FORCE_USE_EXISTING" if precomputed else "AUTO") if overviews else "NONE",
        "RESAMPLING": "AVERAGE",
        "NUM_THREADS": "ALL_CPUS",
        "BIGTIFF": "IF_SAFER",
    }
    if level is not None:
        options["LEVEL"] = level
    if codec in _PREDICTOR_COMPRESS and dtype.kind in "iuf":
        options["PREDICTOR"] = "YES"  # the driver picks horizontal (integers) or floating-point prediction
    try:
        with rasterio.Env(GDAL_CACHEMAX=_COG_CACHE_BYTES), warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            rasterio.shutil.copy(os.fspath(stage), os.fspath(dest), driver="COG", **options)
    except RasterioError as err:
        raise OutputError(f"{label}: conversion to COG failed ({err}); check free disk space") from err


# -- validation and metadata ----------------------------------------------------------------------------------
def _check_compress(compress: str, cog: bool) -> str:
    codec = str(compress).upper()
    allowed = _COG_COMPRESS if cog else _GTIFF_COMPRESS
    if codec not in allowed:
        raise InputError(f"compress={compress!r} is not supported; use one of {', '.join(sorted(allowed)).lower()}")
    return codec


# Fastest level of the codecs that have one: the size gain of higher levels is small on imagery (see to_cog).
_LEVELS = {"DEFLATE": (1, 12), "ZSTD": (1, 22)}


def _check_level(codec: str, level: int | None) -> int | None:
    if codec not in _LEVELS:
        if level is not None:
            raise InputError(f"compress={codec.lower()} takes no level; levels apply to deflate and zstd")
        return None
    lo, hi = _LEVELS[codec]
    if level is None:
        return lo
    if isinstance(level, bool) or not isinstance(level, int) or not lo <= level <= hi:
        raise InputError(f"level={level!r} is out of range for {codec.lower()} ({lo}..{hi})")
    return level


def _check_blocksize(blocksize: int) -> None:
    if isinstance(blocksize, bool) or not isinstance(blocksize, (int, np.integer)) or blocksize < 16 or blocksize % 16:
        raise InputError(f"blocksize must be a positive multiple of 16 (GeoTIFF tiles), got {blocksize!r}")


def _check_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    if tags is None:
        return {}
    out: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key or "=" in key:
            raise InputError(f"tag name {key!r} is not valid; use a non-empty string without '='")
        if key in _RESERVED_TAGS:
            raise InputError(f"tag name {key!r} is reserved; pick another name")
        out[key] = str(value)
    return out


def _nodata(sr: xr.DataArray, dtype: np.dtype) -> float | int | None:
    number = nodata_of(sr)  # the lookup upscale masks with, so the value written is the one masked
    if number is None:
        return None
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not np.isfinite(number) or number != int(number) or not info.min <= int(number) <= info.max:
            raise InputError(
                f"array {sr.name!r}: _FillValue {number!r} cannot be stored as {dtype} "
                f"(integers {info.min}..{info.max}); set attrs['_FillValue'] to a value in range, or cast the array"
            )
        return int(number)
    return number


def _descriptions(sr: xr.DataArray) -> list[str] | None:
    if "description" not in sr.coords or sr["description"].dims != ("band",):
        return None
    return ["" if v is None else str(v) for v in sr["description"].values.tolist()]


def _satsr_tag(sr: xr.DataArray, user_tags: Mapping[str, str]) -> str:
    meta: dict[str, Any] = {}
    keys = ("satsr_model", "satsr_scale", "satsr_version", "satsr_precision", "satsr_reference",
            "satsr_reference_matching", "satsr_reference_shift", "satsr_reference_coverage", "satsr_fallback",
            "satsr_fallback_tiles", "satsr_self_ensemble")
    for key in keys:  # the reference's provenance goes with a reference-based product
        if sr.attrs.get(key) is not None:
            meta[key.removeprefix("satsr_")] = jsonable(sr.attrs[key])
    meta.setdefault("version", package_version())
    if user_tags:
        meta["tags"] = dict(user_tags)
    return json.dumps(meta, separators=(",", ":"), sort_keys=True)


def _frame_datetimes(sr: xr.DataArray) -> list[str | None]:
    """``TIFFTAG_DATETIME`` strings (``YYYY:MM:DD HH:MM:SS``) per frame; ``None`` when time is not a date."""
    n = int(sr.sizes["time"])
    if "time" not in sr.coords:
        return [None] * n
    values = np.asarray(sr["time"].values)
    if not np.issubdtype(values.dtype, np.datetime64):
        return [None] * n
    out: list[str | None] = []
    for v in values.astype("datetime64[s]"):
        stamp = v.item()  # datetime.datetime within years 1..9999, else an int or None
        out.append(stamp.strftime("%Y:%m:%d %H:%M:%S") if hasattr(stamp, "strftime") else None)
    return out


def _time_scaled(sr: xr.DataArray) -> bool:
    return int(sr.attrs.get("satsr_time_scale", 1) or 1) > 1 and "time" in sr.coords


def _time_labels(sr: xr.DataArray) -> list[str]:
    """Each frame's time as text: ISO 8601 for datetimes (to the millisecond when needed), else the number."""
    values = np.asarray(sr["time"].values)
    if np.issubdtype(values.dtype, np.datetime64):
        out = []
        for v in values.astype("datetime64[ms]"):
            text = np.datetime_as_string(v, unit="ms")
            out.append(text[:-4] if text.endswith(".000") else text)
        return out
    return [f"{float(v):g}" for v in values]


def _frame_names(sr: xr.DataArray) -> list[str]:
    n = int(sr.sizes["time"])
    if _time_scaled(sr):
        # A space-time model's output: frames in between have no source file; every name carries the time.
        stamps = [t.replace("-", "").replace(":", "") for t in _time_labels(sr)]
        return [f"frame_{i:04d}_t{stamp}.tif" for i, stamp in enumerate(stamps)]
    if "source" in sr.coords and sr["source"].dims == ("time",):
        stems = [Path(str(s)).stem if s is not None else "" for s in sr["source"].values.tolist()]
        # Case-insensitive uniqueness: two frames must not share a file on macOS/Windows file systems.
        if all(stems) and len({s.lower() for s in stems}) == n:
            return [f"{s}.tif" for s in stems]
    return [f"frame_{i:04d}.tif" for i in range(n)]


def _plan_outputs(sr: xr.DataArray, path: Path) -> tuple[list[Path], list[Path]]:
    """Final paths, and the folders this call created (to remove on failure), outermost first."""
    n = int(sr.sizes["time"])
    if path.suffix.lower() in _TIFF_SUFFIXES:
        if n != 1:
            raise OutputError(
                f"{path}: the array has {n} time steps but a .tif path holds one; pass a folder to write one "
                "file per time step, or select one step with .isel(time=[i])"
            )
        require_parent(path)
        if path.is_dir():
            raise OutputError(f"{path}: is a folder; remove it or choose another file name")
        return [path], []
    if path.exists() and not path.is_dir():
        raise OutputError(
            f"{path}: exists and is not a folder; pass a folder (one file per time step) or a .tif file name"
        )
    made = make_parent(path / "frame.tif")  # the folder and any missing folders above it
    return [path / name for name in _frame_names(sr)], made


def _aligned(data: Any, blocksize: int) -> da.Array:
    """Dask array whose chunks hold all bands and whose y/x chunk edges fall on GeoTIFF block edges.

    Misaligned chunks would make GDAL write each boundary block twice; for a compressed file the second
    write appends a new copy of the block, so the file grows and work is wasted.
    """
    if not isinstance(data, da.Array):
        data = da.from_array(np.asarray(data), chunks=(1, -1, _NUMPY_CHUNK, _NUMPY_CHUNK))
    new: dict[int, int] = {}
    if len(data.chunks[1]) > 1:
        new[1] = -1
    for axis in (2, 3):
        chunks = data.chunks[axis]
        if any(c % blocksize for c in chunks[:-1]):
            new[axis] = -(-max(chunks) // blocksize) * blocksize
    aligned: da.Array = data.rechunk(new) if new else data
    return aligned


def _vrt_path(stage: Path) -> Path:
    return stage.with_name(stage.name + ".vrt")


def _pyramids(
    stages: Sequence[Path],
    profile: Mapping[str, Any],
    data: da.Array,
    blocksize: int,
    overviews: bool,
    nodata: float | None,
) -> list[OverviewPyramid | None]:
    """One overview pyramid per frame, or ``None`` where GDAL must build the overviews itself."""
    factors = overview_factors((int(profile["height"]), int(profile["width"])), blocksize)
    if not overviews or not factors:
        return [None] * len(stages)
    rows = np.cumsum((0, *data.chunks[2]))[:-1]
    cols = np.cumsum((0, *data.chunks[3]))[:-1]
    out: list[OverviewPyramid | None] = []
    chunk = min(max(data.chunks[2]), max(data.chunks[3]))
    for stage in stages:
        pyr = OverviewPyramid(stage, profile, factors, nodata, chunk)
        out.append(pyr if pyr.aligned(rows.tolist(), cols.tolist()) else None)
    return out


def _remove_all(paths: Sequence[Path]) -> None:
    for p in paths:
        remove_path(p)
