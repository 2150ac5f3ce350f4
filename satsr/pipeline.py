"""``upscale``: a lazy, tiled, batched super-resolution of a ``(time, band, y, x)`` stack.

The dask graph has one task per output block. A block is a square of whole lattice tiles (see
:mod:`satsr.tiling`); its task gathers the input chunks it needs (halo and time window included), runs the
tiles through the model in batches and stitches them. Blocks never overlap, so each output pixel is made once,
and only a few blocks are in memory at a time: the scene is never materialised.

The model is loaded once per process and reused: registered models through a per-process cache keyed by
name, scale, options, device and precision; a user's module travels once in the graph. Forwards run one at a
time on the model's own thread (:class:`satsr.engine.Runner`), so the cores are not oversubscribed while the
dask threads read, stitch and write.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import dask
import dask.array as dska
import numpy as np
import xarray as xr
from dask.base import tokenize
from dask.core import get_dependencies
from dask.highlevelgraph import HighLevelGraph
from torch import nn

from satsr._defaults import DEFAULT_MODEL
from satsr._version import package_version
from satsr.engine import Compile, Device, Precision, Runner, make_runner, resolve_device
from satsr.errors import GeoreferenceError, InputError, SatsrWarning
from satsr.geo import Grid
from satsr.io.conventions import as_frames, normalize, restore_dims
from satsr.io.coords import assign_grid, frame_rpcs, nodata_of
from satsr.io.reference import PreparedReference, prepare_reference
from satsr.models import ModelSpec
from satsr.models.ensemble import TRANSFORMS, SelfEnsemble
from satsr.radiometry import Matching, Radiometry, fill_nearest, nodata_mask, upsample_mask
from satsr.tiling import Blend, BufferPool, Stitcher, TilePlan, default_tile, gather, space_time_windows

__all__ = ["upscale", "ReferenceOptions", "resolve_device"]

# -- the block tasks -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _BlockJob:
    plan: TilePlan
    radiometry: Radiometry
    frames: tuple[int, ...]  # frame indices of parts, sorted unique
    origin: tuple[int, int]  # image (row, col) of the gathered parts' top-left pixel


#: A predict task's result: ``{(ty, tx): (fy0, fx0, pred)}`` (see :func:`_predict`).
_Predictions = dict[tuple[int, int], tuple[int, int, np.ndarray]]


def _assemble(parts: list[Any]) -> np.ndarray:
    """Nested ``[frame][row][col]`` chunks -> one ``(frames, C, rows, cols)`` array."""
    return np.concatenate(
        [np.concatenate([np.concatenate(row, axis=-1) for row in frame], axis=-2) for frame in parts], axis=0
    )


#: Float32 bytes converted back to the stored dtype at a time: a strip of rows stays in the CPU's cache through
#: the conversion's passes (inverse map, round, clip, cast) instead of a whole tile streaming through memory each.
_STRIP_BYTES = 512 * 2**10


def _crop(parts: list[Any], origin: tuple[int, int], region: tuple[int, int, int, int]) -> np.ndarray:
    """The image region ``(y0, y1, x0, x1)`` of nested ``[frame][row][col]`` chunks whose first pixel is at ``origin``.

    ``(frames, C, rows, cols)`` in the chunks' dtype: only the pixels asked for are copied (the chunks around a
    block are mostly not needed: a tile's halo reaches a few pixels into them).
    """
    y0, y1, x0, x1 = region
    first = parts[0][0][0]
    bottom = origin[0] + sum(row[0].shape[-2] for row in parts[0])
    right = origin[1] + sum(chunk.shape[-1] for chunk in parts[0][0])
    if y0 < origin[0] or x0 < origin[1] or y1 > bottom or x1 > right:
        raise InputError("window reaches outside the gathered source region (tiling bug)")
    out = np.empty((len(parts), first.shape[-3], y1 - y0, x1 - x0), first.dtype)
    for f, frame in enumerate(parts):
        cy = origin[0]
        for row in frame:
            cx = origin[1]
            for chunk in row:
                h, w = chunk.shape[-2:]
                iy0, iy1, ix0, ix1 = max(cy, y0), min(cy + h, y1), max(cx, x0), min(cx + w, x1)
                if iy0 < iy1 and ix0 < ix1:
                    out[f, :, iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = chunk[0, :, iy0 - cy : iy1 - cy,
                                                                                ix0 - cx : ix1 - cx]
                cx += w
            cy += row[0].shape[-2]
    return out


def _window_source(parts: list[Any], job: _BlockJob, window: list[int],
                   tiles: Sequence[tuple[int, int]]) -> tuple[np.ndarray, tuple[int, int], bool]:
    """What the tiles' windows are cut from, for the frames ``window``: pixels, origin, model values or not.

    Returns ``(frames_in, C, rows, cols)`` pixels, the image position of their first pixel, and whether they are
    model values already (else stored values). Without nodata only the region the windows read is copied, in the
    stored dtype; the windows are converted to model values one batch at a time. With nodata the holes are first
    filled from the whole gathered area (their nearest valid pixels may lie outside that region), as model values.
    """
    plan, rad = job.plan, job.radiometry
    sel = [job.frames.index(i) for i in window]
    y0, y1, x0, x1 = plan.source_range(tiles)
    region = _crop(parts, job.origin, (y0, y1, x0, x1))
    if nodata_mask(region, rad.nodata) is None:
        return (region if sel == list(range(len(job.frames))) else region[sel]), (y0, x0), False
    src = _assemble(parts)
    mask = nodata_mask(src, rad.nodata)
    x = rad.to_model(src)
    if mask is not None:
        fill_nearest(x, mask)
    return x[sel], job.origin, True


def _tile_outputs(parts: list[Any], job: _BlockJob, window: list[int], tiles: Sequence[tuple[int, int]],
                  runner: Runner, pool: BufferPool, ref_parts: list[Any] | None = None, fallback: Runner | None = None,
                  fallback_tiles: Sequence[tuple[int, int]] = ()) -> Iterator[tuple[tuple[int, int], int, int,
                                                                                     np.ndarray]]:
    """Model outputs of ``tiles`` for the frames ``window``, batch by batch: ``(tile, fy0, fx0, pred)``.

    ``pred`` is cut to the tile's footprint, whose first LR pixel is ``(fy0, fx0)``: ``(C, h, w)``, or
    ``(frames_out, C, h, w)`` for a space-time model; the caller may overwrite it. A batch's windows are cut into
    the thread's reusable buffer from ``pool``. A reference model also gets ``ref_parts`` (the prepared
    reference over the same blocks, ``scale`` times larger: the windows are cut in lockstep); the tiles in
    ``fallback_tiles`` (where the reference does not cover the footprint) go through the single-image
    ``fallback`` model instead.
    """
    plan, rad = job.plan, job.radiometry
    x, origin, ready = _window_source(parts, job, window, tiles)  # (frames_in, C, rows, cols)
    s = plan.scale
    refx = None
    if ref_parts is not None:
        # The reference is in the LR's stored units (matched); NaN where it has no data.
        refx = rad.to_model(_assemble([ref_parts]))[0]
        ref_origin, ref_shape = (job.origin[0] * s, job.origin[1] * s), (plan.shape[0] * s, plan.shape[1] * s)
    win_shape = (plan.frames_in, x.shape[1], *plan.window_shape) if plan.frames_in > 1 else (
        x.shape[1], *plan.window_shape)
    skip = set(fallback_tiles)
    groups = ((runner, [tl for tl in tiles if tl not in skip]), (fallback, [tl for tl in tiles if tl in skip]))
    for model, todo in groups:
        if not todo or model is None:
            continue
        bs = model.choose_batch(win_shape)
        buf = pool.take((min(bs, len(todo)), *win_shape), np.float32)
        for i in range(0, len(todo), bs):
            batch = todo[i : i + bs]
            inp = buf[: len(batch)]
            for k, tl in enumerate(batch):
                w = gather(x, origin, plan.window(*tl), plan.shape)
                inp[k] = w if plan.frames_in > 1 else w[0]
            if not ready:
                rad.to_model(inp, out=inp)
            x_in: np.ndarray | tuple[np.ndarray, ...] = inp  # a reference model also gets the reference windows
            if refx is not None and model is runner:
                refs = []
                for tl, w in zip(batch, inp):
                    wy0, wy1, wx0, wx1 = plan.window(*tl)
                    r = np.array(gather(refx, ref_origin, (wy0 * s, wy1 * s, wx0 * s, wx1 * s), ref_shape))
                    hole = ~np.isfinite(r)
                    if hole.any():  # a halo past the reference's edge: the LR's own pixels, no texture to transfer
                        r[hole] = np.repeat(np.repeat(w, s, axis=-2), s, axis=-1)[hole]
                    refs.append(r)
                x_in = (inp, np.stack(refs))
            preds = model(x_in)
            if np.may_share_memory(preds, buf) or not preds.flags.writeable:
                preds = preds.copy()  # a model that hands back its input: the buffer is refilled for the next batch
            for tl, pred in zip(batch, preds):
                fy0, fy1, fx0, fx1 = plan.footprint(*tl)
                wy0, _, wx0, _ = plan.window(*tl)
                yield tl, fy0, fx0, pred[..., (fy0 - wy0) * s : (fy1 - wy0) * s, (fx0 - wx0) * s : (fx1 - wx0) * s]
            del preds, pred  # not kept through the next batch's forward


def _predict(parts: list[Any], job: _BlockJob, window: list[int], tiles: list[tuple[int, int]], runner: Runner,
             pool: BufferPool, ref_parts: list[Any] | None = None, fallback: Runner | None = None,
             fallback_tiles: Sequence[tuple[int, int]] = ()) -> _Predictions:
    """Model outputs of ``tiles`` for the frames ``window``, cut to their footprints: ``{(ty, tx): (fy0, fx0, pred)}``.

    See :func:`_tile_outputs` for the arguments.
    """
    return {tl: (fy0, fx0, pred) for tl, fy0, fx0, pred in _tile_outputs(
        parts, job, window, tiles, runner, pool, ref_parts, fallback, fallback_tiles)}


def _to_stored(rad: Radiometry, pred: np.ndarray, out: np.ndarray) -> None:
    """Float32 model values ``pred`` (overwritten) into ``out`` (the stored dtype, same shape), a strip at a time."""
    rows = max(1, _STRIP_BYTES // max(1, pred[..., :1, :].nbytes))
    for r in range(0, pred.shape[-2], rows):
        rad.from_model(pred[..., r : r + rows, :], out=out[..., r : r + rows, :])


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """The C library's ``malloc_trim`` where it has one (glibc), else ``None`` (musl, macOS, Windows)."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _trim_heap() -> None:
    """Hand the C heap's free pages back to the system, at the end of a block task.

    Each block frees tens of MB of arrays of mixed sizes (the source region, the block after writing, the
    overview averages) into glibc's per-thread heaps, which keep them: the free part of the heap at the peak grew
    with the number of blocks (61 MB for a 2048 px scene, 103 MB for 8192 px, bicubic). ``malloc_trim(0)`` hands
    it back (about 1 ms a call, measured); it is called here, once a block, instead of changing the allocator's
    settings for the whole process (a lower mmap threshold made every CPU forward map fresh pages: slower).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _stitch(predictions: list[_Predictions], own: list[Any], job: _BlockJob, out_index: int | None,
            region: tuple[int, int, int, int], channels: int) -> np.ndarray:
    """Blend the tile outputs over ``region`` and convert back to the stored values; nodata stays nodata.

    ``out_index`` picks one frame of a space-time model's outputs (``None`` for other models). ``own`` holds the
    source chunks over ``region`` of the input frame(s) the output frame comes from (for the nodata mask: nodata
    in either neighbour of an in-between frame), or is empty when the data has no nodata value.
    """
    plan, rad = job.plan, job.radiometry
    stitch = Stitcher(plan, region, channels)
    for preds in predictions:
        for tl, (fy0, fx0, pred) in preds.items():
            stitch.add(*tl, pred if out_index is None else pred[out_index], origin=(fy0, fx0))
    out = _finish(rad.from_model(stitch.result()), own, job, region)[None]
    _trim_heap()
    return out


def _finish(out: np.ndarray, own: list[Any], job: _BlockJob, region: tuple[int, int, int, int]) -> np.ndarray:
    """A block ``out`` in the stored dtype (changed in place and returned) with nodata where the source has it.

    See :func:`_stitch` for ``own``.
    """
    plan, rad = job.plan, job.radiometry
    hole = None
    if own:
        m = nodata_mask(_assemble(own), rad.nodata)
        if m is not None and m.any():
            y0, y1, x0, x1 = region
            oy, ox = job.origin
            hole = upsample_mask(np.any(m, axis=0)[:, y0 - oy : y1 - oy, x0 - ox : x1 - ox], plan.scale)
    if rad.nodata is not None and not np.isnan(rad.nodata):
        # A valid pixel that happens to land on the nodata value would read as a hole: nudge it off.
        clash = out == np.asarray(rad.nodata).astype(out.dtype)
        if hole is not None:
            clash &= ~hole
        if clash.any():
            top = np.iinfo(out.dtype).max if out.dtype.kind in "ui" else np.inf
            out[clash] = rad.nodata + 1 if rad.nodata < top else rad.nodata - 1
    if hole is not None:
        out[hole] = rad.fill_value()
    return out


def _run_block(parts: list[Any], own: list[Any], job: _BlockJob, own_job: _BlockJob, window: list[int],
               region: tuple[int, int, int, int], runner: Runner, channels: int, pool: BufferPool,
               ref_parts: list[Any] | None = None, fallback: Runner | None = None,
               fallback_tiles: Sequence[tuple[int, int]] = ()) -> np.ndarray:
    """Crop blending: a block's tiles are its own, so predicting and stitching fuse into one task.

    Each batch's outputs go straight into the block in the stored dtype as the batch completes: no float32 copy
    of the block, and one batch's outputs in memory at a time.
    """
    plan, rad, s = job.plan, job.radiometry, job.plan.scale
    y0, y1, x0, x1 = region
    out = None
    filled = 0
    for _, fy0, fx0, pred in _tile_outputs(parts, job, window, plan.tiles_in(*region), runner, pool, ref_parts,
                                           fallback, fallback_tiles):
        if out is None:  # made once the first outputs are back: not held through the forward
            out = np.empty((channels, (y1 - y0) * s, (x1 - x0) * s), rad.dtype)
        fy1, fx1 = fy0 + pred.shape[-2] // s, fx0 + pred.shape[-1] // s
        iy0, iy1, ix0, ix1 = max(fy0, y0), min(fy1, y1), max(fx0, x0), min(fx1, x1)
        if iy0 < iy1 and ix0 < ix1:
            _to_stored(rad, pred[:, (iy0 - fy0) * s : (iy1 - fy0) * s, (ix0 - fx0) * s : (ix1 - fx0) * s],
                       out[:, (iy0 - y0) * s : (iy1 - y0) * s, (ix0 - x0) * s : (ix1 - x0) * s])
            filled += (iy1 - iy0) * (ix1 - ix0)
        del pred  # a view of its batch's outputs: not kept through the next batch's forward
    if out is None or filled != (y1 - y0) * (x1 - x0):  # the tiles' cores partition the image
        raise InputError(f"tiles cover {filled} of the {(y1 - y0) * (x1 - x0)} pixels of block {region} (tiling bug)")
    out = _finish(out, own, own_job, region)[None]
    _trim_heap()
    return out


def _last_rows(chunk: np.ndarray, n: int) -> np.ndarray:
    """A copy of the last ``n`` rows of a source block (the copy lets the block itself go)."""
    return chunk[..., -n:, :].copy()


def _reference_block(ref: PreparedReference, region: tuple[int, int, int, int]) -> np.ndarray:
    """The prepared reference over an output-grid region, ``(1, C, rows, cols)`` (a chunk of the reference)."""
    return ref.window(*region)[None]


def _owner(plan: TilePlan, tile: tuple[int, int], bh: int, bw: int) -> tuple[int, int]:
    """The block (row, col) holding a tile's core (blocks are whole tiles, so the core's corner decides)."""
    y0, _, x0, _ = plan.core(*tile)
    return y0 // bh, x0 // bw


def _blocks(n: int, size: int) -> list[tuple[int, int]]:
    return [(i, min(i + size, n)) for i in range(0, n, size)]


# -- what travels together ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReferenceOptions:
    """The reference image of a reference-based model (``rgtgan``), and how it is paired with the LR scene.

    Pass it as ``upscale(da, "rgtgan", reference=ReferenceOptions("ref.tif", matching="histogram"))``. The
    keywords ``reference_bands=``, ``reference_matching=``, ``uncovered=``, ``fallback=`` and ``max_shift=`` of
    :func:`upscale` are shorthand for its fields when ``reference=`` is the image itself.

    Parameters
    ----------
    image : xarray.DataArray or path
        A sharper image of the same place, from another date or sensor, in any CRS and resolution. It is warped
        onto the output grid (the LR grid refined ``scale`` times) with GDAL, window by window, and cut in lockstep
        with the LR's tiles (the same halo in ground units).
    bands : sequence of int, optional
        The reference's bands (1-based), in the order of the LR's (after ``bands``). Default all.
    matching : {"meanstd", "histogram", "none"}, default "meanstd"
        Map the reference's values onto the LR's, band by band, before inference (references from other
        sensors differ in brightness and contrast); fitted where the reference covers the LR's first frame.
    uncovered : {"error", "fallback"}, default "error"
        Where the reference does not cover the scene: raise, or run the tiles it does not fully cover through
        ``fallback``. The output's attributes report the coverage and the number of fallback tiles.
    fallback : str or torch.nn.Module, default "bicubic"
        The single-image model for uncovered tiles (its halo must fit within the reference model's).
    max_shift : float, default 0.5
        Residual shift (LR pixels) between the LR and the reference, measured by phase correlation, above which
        a :class:`satsr.errors.SatsrWarning` says to co-register them first. The shift is always recorded in
        ``attrs["satsr_reference_shift"]`` (``"dy dx"``).

    Raises
    ------
    InputError
        ``uncovered`` is neither ``"error"`` nor ``"fallback"``.
    """

    image: xr.DataArray | str | os.PathLike[str]
    bands: Sequence[int] | None = None
    matching: Matching = "meanstd"
    uncovered: Literal["error", "fallback"] = "error"
    fallback: str | nn.Module = "bicubic"
    max_shift: float = 0.5

    def __post_init__(self) -> None:
        if self.bands is not None:  # a tuple: the options stay immutable (and hashable with a path image)
            object.__setattr__(self, "bands", tuple(int(b) for b in self.bands))
        if self.uncovered not in ("error", "fallback"):
            raise InputError(f"uncovered must be 'error' or 'fallback', got {self.uncovered!r}")


# ReferenceOptions field -> upscale's shorthand keyword for it
_SHORTHAND = {"bands": "reference_bands", "matching": "reference_matching", "uncovered": "uncovered",
              "fallback": "fallback", "max_shift": "max_shift"}


def _reference_options(reference: ReferenceOptions | xr.DataArray | str | os.PathLike[str] | None,
                       **shorthand: Any) -> ReferenceOptions | None:
    """``reference=`` and the shorthand keywords (by field name; ``None``: not given) as one options object."""
    given = {k: v for k, v in shorthand.items() if v is not None}
    if reference is None:
        return None  # the shorthand alone means nothing (the CLI passes its defaults with every job)
    if isinstance(reference, ReferenceOptions):
        if given:
            names = ", ".join(f"{_SHORTHAND[k]}=" for k in given)
            raise InputError(f"{names} given beside reference=ReferenceOptions(...): set the ReferenceOptions' "
                             f"fields ({', '.join(given)}) instead")
        return reference
    return ReferenceOptions(reference, **given)


@dataclass(frozen=True)
class _Layout:
    """How the job is cut: the tile lattice, the output blocks over it and the model's windows in time."""

    plan: TilePlan
    radiometry: Radiometry
    block: tuple[int, int]  # (rows, cols) input pixels per output block: a square of whole tiles
    rows: tuple[tuple[int, int], ...]  # the blocks' row ranges (input pixels)
    cols: tuple[tuple[int, int], ...]  # and column ranges
    bands: int
    time_scale: int  # output frames per input frame interval (1 for a spatial model)
    # per window: (input frames, [(output frame, its index among the window's outputs, or None)])
    windows: tuple[tuple[list[int], Sequence[tuple[int, int | None]]], ...]
    with_nodata: bool  # whether a stitch task needs the source's nodata mask
    batch_size: int | None  # tiles per forward asked for (None: the runner chooses)

    @property
    def chunks(self) -> tuple[tuple[int, ...], ...]:
        """The output's dask chunks: one output frame and all bands per block, ``scale`` times larger."""
        s, n_out = self.plan.scale, (self.plan.n_frames - 1) * self.time_scale + 1
        return ((1,) * n_out, (self.bands,), tuple((b - a) * s for a, b in self.rows),
                tuple((b - a) * s for a, b in self.cols))


def upscale(
    da: xr.DataArray | xr.Dataset,
    model: str | nn.Module = DEFAULT_MODEL,
    *,
    scale: int | None = None,
    tile: int | None = None,
    halo: int | None = None,
    blend: Blend | None = None,
    feather: int | None = None,
    batch_size: int | None = None,
    device: Device = "auto",
    value_range: tuple[float, float] | None = None,
    model_options: Mapping[str, Any] | None = None,
    pretrained: str | os.PathLike[str] | bool | None = None,
    bands: Sequence[int] | None = None,
    reference: ReferenceOptions | xr.DataArray | str | os.PathLike[str] | None = None,
    reference_bands: Sequence[int] | None = None,
    reference_matching: Matching | None = None,
    uncovered: Literal["error", "fallback"] | None = None,
    fallback: str | nn.Module | None = None,
    max_shift: float | None = None,
    precision: Precision = "auto",
    compile: Compile = "auto",  # noqa: A002 (torch's own word for it)
    channels_last: bool | None = None,
    self_ensemble: bool = False,
) -> xr.DataArray:
    """Super-resolve a raster stack lazily, tile by tile, keeping its georeferencing exact.

    Parameters
    ----------
    da : xarray.DataArray or xarray.Dataset
        Dims ``(time, band, y, x)`` (as :func:`satsr.open_stack` returns), ``(band, y, x)`` or ``(y, x)``;
        NumPy or dask. Its georeferencing may come in any convention :func:`satsr.geo.read_georef` reads:
        satsr's, rioxarray's or odc-geo's ``spatial_ref``, a CF grid-mapping variable of another name, stackstac's
        ``crs``/``transform`` attributes with pixel-centre or corner coordinates; a non-numeric ``band``
        coordinate (stackstac's asset ids) becomes the ``description`` and bands are then numbered 1..n. A
        Dataset gives its data variable, or its band variables stacked (odc-stac's layout; see
        :func:`satsr.io.conventions.normalize`).
    model : str or torch.nn.Module, default "lgtd-s"
        A registered name (see ``satsr.models.list_models()``) or a module described by
        ``satsr.models.wrap``. The default, ``"lgtd-s"``, is satsr's own trained x4 model for RGB (3 bands):
        pick the bands with ``bands=[...]``, or name a band-agnostic model (``"bicubic"``, ``"lanczos"``...)
        for other band counts. A module is prepared in place, as ``model.to(device).eval()`` would: on the
        device, in eval mode, in channels-last layout where that runs faster, and with satsr's deformable
        convolutions sampled by ``grid_sample`` for bf16 on a CPU (the same output). Pass
        ``copy.deepcopy(net)`` to keep a module you are still training as it is.
    scale : int, optional
        Upscaling factor; default the model's.
    tile : int, optional
        Tile size in input pixels. Default (:func:`satsr.tiling.default_tile`): sized to the halo, the smallest
        tile (at least ``spec.tile``) whose window computes at most 1.3 times the pixels it keeps, capped by a
        quarter of the device's available memory (``spec.bytes_per_pixel``) and by the image (one tile).
    halo : int, optional
        Context pixels per tile side; default the model's declared halo.
    blend : {"crop", "feather"}, optional
        ``"crop"`` keeps each tile's core (exact when ``halo`` covers the receptive field); ``"feather"``
        cross-fades overlapping tiles over ``feather`` pixels (hides seams of models with a wider field).
        Default ``"feather"`` for models that declare a feather width (``spec.feather``, e.g. LGTD and MTDO,
        whose tiles cannot match the whole image exactly), else ``"crop"``.
    feather : int, optional
        Overlap width in input pixels for ``blend="feather"``; default ``spec.feather`` or ``max(halo, 1)``.
    batch_size : int, optional
        Tiles per forward pass; default on CPU 4 for windows up to 512 x 512 pixels (frames included), else 1;
        on CUDA from the free memory measured on one tile (halved on out-of-memory).
    device : str, default "auto"
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    value_range : tuple of float, optional
        Stored values that map to the model's ``[0, 1]``; default the full integer range of the dtype
        (identity for floats). Output is converted back and keeps the input dtype.
    model_options : mapping, optional
        Keyword arguments of the registered model's builder.
    pretrained : str, path or bool, optional
        Weights of a registered model, as :func:`satsr.models.create` takes them: default the weights satsr
        ships (``lgtd-s``), a :class:`~satsr.errors.ModelError` for a network without any (``lgfn``, ``mtdo``...);
        a checkpoint path (the authors', in the layouts ``create`` reads); ``False`` for random weights on
        purpose (tests, benchmarks).
    bands : sequence of int, optional
        Band numbers (1-based, GDAL's numbering, the ``band`` coordinate) to feed the model, in the order it
        expects them; e.g. ``bands=[4, 3, 2]`` for the RGB of a Landsat 8 stack. Default all bands.
    reference : ReferenceOptions, xarray.DataArray or path, optional
        For a reference-based model (``rgtgan``): a :class:`ReferenceOptions` (the reference image and how it is
        paired with the scene), or the image alone (a sharper image of the same place, from another date or
        sensor, in any CRS and resolution), paired as the shorthand keywords below say.
    reference_bands : sequence of int, optional
        Shorthand for ``ReferenceOptions.bands`` beside a reference image: the reference's bands (1-based), in
        the order of the LR's (after ``bands``). Default all.
    reference_matching : {"meanstd", "histogram", "none"}, optional
        Shorthand for ``ReferenceOptions.matching`` (default ``"meanstd"``): how the reference's values are
        mapped onto the LR's before inference.
    uncovered : {"error", "fallback"}, optional
        Shorthand for ``ReferenceOptions.uncovered`` (default ``"error"``): where the reference does not cover
        the scene, raise, or run the tiles it does not fully cover through ``fallback``.
    fallback : str or torch.nn.Module, optional
        Shorthand for ``ReferenceOptions.fallback`` (default ``"bicubic"``): the single-image model for
        uncovered tiles.
    precision : {"auto", "fp32", "bf16", "fp16"}, default "auto"
        Autocast dtype of the forward: ``"auto"`` is bf16 on a CUDA GPU that has it (fp16 otherwise), bf16 on a
        CPU that computes it natively (AVX512-BF16 or AMX; ``SATSR_CPU_BF16=0``/``1`` overrides the detection)
        and fp32 on other CPUs. Outputs are float32 before the conversion back to the stored dtype either way.
        Measured against fp32, bf16 stays above 45 dB PSNR for every registered model (``tests/test_engine.py``).
    compile : bool or "auto", default "auto"
        ``torch.compile`` the model. ``"auto"``: once the job's first forwards show that its eager time is well
        above a compile's (:func:`satsr.engine.compile_pays`), on the CPU or CUDA; ``SATSR_COMPILE=0``/``1``
        overrides ``"auto"``. Compiled once, at the job's one window shape. The first compiled batch is checked
        against the eager model; where compiling fails or differs, it runs eagerly with one warning.
    channels_last : bool, optional
        NHWC memory layout of the weights and 4-D inputs; default on CUDA, and on the CPU in bf16.
    max_shift : float, optional
        Shorthand for ``ReferenceOptions.max_shift`` (default 0.5): the residual shift (LR pixels) against the
        reference above which a :class:`satsr.errors.SatsrWarning` says to co-register them first.
    self_ensemble : bool, default False
        Average the model's outputs over the eight flips and transposes of each tile
        (:class:`satsr.models.SelfEnsemble`): a little sharper and cleaner for eight times the compute, no
        training needed. Measured gains are in the README ("Self-ensemble"). Tiles stay seamless as without it.

    Returns
    -------
    xarray.DataArray
        Lazy (dask) array of the same dims and dtype, ``scale`` times larger in ``y`` and ``x``, with the same
        CRS, the transform ``transform * Affine.scale(1 / scale)`` and the same outer bounds; nodata stays nodata
        (the value :func:`satsr.io.coords.nodata_of` reads, declared in ``attrs["_FillValue"]`` when the input had
        it in its encoding only).
        Its georeferencing is satsr's (pixel-centre ``x``/``y`` and ``spatial_ref``), whatever the input's was.
        ``attrs`` gain ``satsr_model``, ``satsr_scale``, ``satsr_version``, ``satsr_halo``, ``satsr_tile``; with
        a reference also ``satsr_reference``, ``satsr_reference_matching``, ``satsr_reference_shift``,
        ``satsr_reference_coverage`` (fraction of LR pixels covered), ``satsr_fallback`` and
        ``satsr_fallback_tiles`` (tiles per frame that went through the fallback model); with ``self_ensemble``
        also ``satsr_self_ensemble`` (8, the forwards averaged).

    Raises
    ------
    InputError
        Wrong dims, a band count the model cannot take, unsupported dtype, bad tile/halo/device; shorthand
        reference keywords beside a :class:`ReferenceOptions`.
    UnknownModelError
        Unknown model name.
    ModelError
        A scale the model does not support, unknown model options; a network with neither shipped nor given
        weights (the message names the ways out).
    GeoreferenceError
        Missing, unreadable, ambiguous or conflicting georeferencing (a CRS is never dropped: an input whose
        metadata had one but whose grid has none is refused); rotated or sheared grids; a reference without CRS,
        not overlapping the scene, or (with ``uncovered="error"``) not covering all of it.
    CheckpointError
        A ``pretrained`` file that cannot be read or does not fit the model.

    Examples
    --------
    >>> sr = satsr.upscale(satsr.open_stack("scene.tif"), model="bicubic", scale=4)  # doctest: +SKIP
    >>> satsr.to_cog(sr, "scene_x4.tif")  # doctest: +SKIP
    >>> ref = satsr.ReferenceOptions("aerial.tif", matching="histogram", uncovered="fallback")  # doctest: +SKIP
    >>> sr = satsr.upscale(lr, "rgtgan", pretrained="300000_G.pth", reference=ref)  # doctest: +SKIP
    """
    ref = _reference_options(reference, bands=reference_bands, matching=reference_matching, uncovered=uncovered,
                             fallback=fallback, max_shift=max_shift)
    da, dims_in = _frames(da, bands)  # (time, band, y, x); the output gets dims_in back
    runner = make_runner(model, scale, model_options, resolve_device(device), batch_size, pretrained, precision,
                         compile, channels_last, self_ensemble)
    grid = _check_fits(da, runner.spec, ref)
    plan = _tile_plan(runner, da.shape, tile, halo, blend, feather)
    layout = _layout(da, runner, plan, value_range, batch_size)
    data, ref_attrs = _lazy_output(da, layout, runner, ref)
    out = _output_array(da, data, grid, layout, runner)
    out.attrs.update(ref_attrs)
    return restore_dims(out, dims_in)


# -- the steps of upscale -------------------------------------------------------------------------------------
def _frames(da: xr.DataArray | xr.Dataset, bands: Sequence[int] | None) -> tuple[xr.DataArray, tuple[Hashable, ...]]:
    """The input as satsr's ``(time, band, y, x)`` frames of the chosen bands, and its own dims (for the output)."""
    da = normalize(da)  # any georeferencing convention in, satsr's own (spatial_ref, band numbers) from here on
    dims_in = tuple(da.dims)
    da = as_frames(da)
    if bands is not None:
        have = [int(b) for b in da["band"].values]
        missing = [b for b in bands if int(b) not in have]
        if missing or not len(bands):
            raise InputError(f"bands={list(bands)}: the stack has bands {have} (1-based); pick from those")
        da = da.sel(band=[int(b) for b in bands])
    return da, dims_in


def _check_fits(da: xr.DataArray, spec: ModelSpec, ref: ReferenceOptions | None) -> Grid:
    """Refuse what the model cannot take (band count, a missing or needless reference); the input's grid."""
    n_b = int(da.sizes["band"])
    if spec.bands is not None and n_b != spec.bands:
        raise InputError(
            f"{spec.name} takes {spec.bands} bands, the stack has {n_b}; choose them with bands=[...] "
            f"(1-based band numbers, in the model's order, e.g. bands=[3, 2, 1]; CLI: --bands 3,2,1), or use a "
            f"model that takes any band count, e.g. model='bicubic' (CLI: --model bicubic)"
        )
    grid = Grid.from_xarray(da)
    grid.require_rectilinear()
    if spec.needs_reference and ref is None:
        raise InputError(f"{spec.name} is a reference-based model: pass reference= (a DataArray or a raster path of "
                         "the same place; CLI --reference), or use a single-image model such as 'lgtd-s'")
    if ref is not None and not spec.needs_reference:
        raise InputError(f"reference= was given, but {spec.name} is not a reference-based model (use 'rgtgan')")
    return grid


def _tile_plan(runner: Runner, shape: tuple[int, ...], tile: int | None, halo: int | None, blend: Blend | None,
               feather: int | None) -> TilePlan:
    """The tile lattice: the model's halo and blending unless given, a tile sized to them and to the device.

    ``shape`` is the input's ``(time, band, y, x)``.
    """
    spec = runner.spec
    n_t, _, h, w = shape
    hl = spec.halo if halo is None else int(halo)
    if blend is None:
        blend = "feather" if spec.feather else "crop"
    fw = (spec.feather or max(hl, 1) if feather is None else int(feather)) if blend == "feather" else 0
    if tile is None:  # sized to the halo, within the device's memory budget, at most the image
        tile = default_tile(hl, spec.multiple_of, feather=fw, shape=(h, w), frames=spec.frames_in,
                            max_window_pixels=runner.window_budget(), min_tile=spec.tile)
    if feather is None and fw:
        # A default width fits the tile (at most half of it); an image smaller than two pixels is just cropped.
        t = -(-int(tile) // spec.multiple_of) * spec.multiple_of
        fw = min(fw, min(t, h, w) // 2)
        blend = blend if fw else "crop"
    return TilePlan(
        (h, w), int(tile), hl, spec.scale, spec.multiple_of, blend, fw, n_frames=n_t, frames_in=spec.frames_in,
        time_padding=spec.time_padding,  # type: ignore[arg-type]
    )


def _layout(da: xr.DataArray, runner: Runner, plan: TilePlan, value_range: tuple[float, float] | None,
            batch_size: int | None) -> _Layout:
    """Blocks over the lattice (squares of whole tiles, about one batch each), radiometry and time windows."""
    spec = runner.spec
    n_t, n_b, h, w = (int(v) for v in da.shape)
    rad = Radiometry(da.dtype, nodata_of(da), value_range, spec.value_range)
    th, tw = plan.tile_shape
    k = max(1, math.isqrt(batch_size or (4 if runner.device.type == "cpu" else 16)))
    bh, bw = th * k, tw * k
    if batch_size is None and runner.device.type == "cpu" and plan.blend == "crop":
        # One batch per block, in one row of tiles. One batch: while a block's forward runs, another dask thread
        # converts and writes the one before. One row: dask holds about two rows of source blocks (a block's halo
        # reaches into the rows above and below), so the rows' height sets how much of a wide scene is in memory.
        # (Feathered blocks keep k x k tiles: their tiles' outputs wait for the neighbouring blocks.)
        win = (plan.frames_in, n_b, *plan.window_shape) if plan.frames_in > 1 else (n_b, *plan.window_shape)
        bh, bw = th, tw * runner.choose_batch(win)
    r = spec.time_scale
    # A spatial model makes output frame t from its window of input frames; a space-time model makes several
    # output frames from each window (each output frame belongs to exactly one window).
    windows = (space_time_windows(n_t, spec.frames_in, r) if r > 1
               else [(plan.time_window(t), [(t, None)]) for t in range(n_t)])
    with_nodata = rad.nodata is not None or np.dtype(da.dtype).kind == "f"  # NaN is nodata in floats
    return _Layout(plan, rad, (bh, bw), tuple(_blocks(h, bh)), tuple(_blocks(w, bw)), n_b, r, tuple(windows),
                   with_nodata, batch_size)


def _lazy_output(da: xr.DataArray, layout: _Layout, runner: Runner,
                 ref: ReferenceOptions | None) -> tuple[dska.Array, dict[str, Any]]:
    """The output's dask array (the source cut into blocks, one task per output block), and the reference's attrs."""
    bh, bw = layout.block
    src = da.data if isinstance(da.data, dska.Array) else dska.from_array(da.data, chunks=(1, layout.bands, bh, bw))
    name = "upscale-" + tokenize(src.name, layout.block, runner.spec.name, layout.plan, layout.radiometry,
                                 str(runner.device), layout.batch_size, id(runner),
                                 None if ref is None else (id(ref.image), ref.matching, ref.uncovered,
                                                           str(ref.fallback), ref.bands))
    runner_key = "runner-" + name
    (gy, gx), (th, tw) = layout.plan.grid_shape, layout.plan.tile_shape
    # The graph holds the runner told the job's size (compile="auto" weighs it): its windows, and the most a
    # task sends at once (a block's tiles).
    job = runner.for_job(len(layout.windows) * gy * gx, min(layout.block[0] // th, gy) * min(layout.block[1] // tw, gx))
    # Scratch arrays reused from block to block by each dask thread (the job's graph holds them: freed with it).
    pool_key = "buffers-" + name
    dsk: dict[Any, Any] = {runner_key: job, pool_key: BufferPool()}
    ref_graph: _RefGraph | None = None
    ref_attrs: dict[str, Any] = {}
    if ref is not None:
        ref_graph, ref_attrs = _reference_graph(dsk, name, da, ref, layout, runner)
    source, upstream = _source_blocks(src, layout, dsk)
    _build_graph(dsk, name, source, layout, runner_key, pool_key, ref_graph)
    deps: list[Any] = list(upstream)  # dask types its collections as a Protocol its Array does not declare
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=deps)
    return dska.Array(graph, name, layout.chunks, meta=np.empty((0, 0, 0, 0), dtype=da.dtype)), ref_attrs


def _output_array(da: xr.DataArray, data: dska.Array, grid: Grid, layout: _Layout, runner: Runner) -> xr.DataArray:
    """``data`` with the input's coordinates and attributes, the zoomed grid and the job's ``satsr_*`` attributes."""
    r, plan = layout.time_scale, layout.plan
    coords = {k: v for k, v in da.coords.items() if not set(v.dims) & {"x", "y"} and k != "spatial_ref"}
    if r > 1:
        coords = _space_time_coords(da, coords, r)
    if r > 1 and "rpc" in da.coords:
        coords["rpc"] = _space_time_rpcs(da, r)
    out = xr.DataArray(data, dims=da.dims, coords=coords, name=da.name, attrs=dict(da.attrs))
    out = assign_grid(out, grid.zoom(plan.scale))
    if layout.radiometry.nodata is not None and nodata_of(out) is None:
        # Declared only in the input's encoding (rioxarray's mask_and_scale): the output's holes hold it too.
        out.attrs["_FillValue"] = layout.radiometry.nodata
    out.attrs.update(
        satsr_model=runner.spec.name,
        satsr_scale=plan.scale,
        satsr_version=package_version(),
        satsr_halo=plan.halo,
        satsr_tile=plan.tile,
        satsr_blend=plan.blend,
        satsr_feather=plan.feather,
        satsr_precision=runner.precision,
    )
    if r > 1:
        out.attrs["satsr_time_scale"] = r
    if isinstance(runner.model, SelfEnsemble):
        out.attrs["satsr_self_ensemble"] = len(TRANSFORMS)
    return out


@dataclass(frozen=True)
class _RefGraph:
    """Graph keys of a reference model's extra inputs and which tiles fall back."""

    name: str  # chunk (name, row block, col block) of the prepared reference on the output grid
    fallback_key: str | None
    fallback_tiles: frozenset[tuple[int, int]]


def _reference_graph(dsk: dict[Any, Any], name: str, da: xr.DataArray, ref: ReferenceOptions, layout: _Layout,
                     runner: Runner) -> tuple[_RefGraph, dict[str, Any]]:
    """Prepare the reference, add its chunk tasks (one per block, ``scale`` times larger) and the fallback runner."""
    plan = layout.plan
    s = plan.scale
    prep = prepare_reference(ref.image, da, s, matching=ref.matching, bands=ref.bands)
    dy, dx = prep.shift
    if math.isfinite(dy) and math.hypot(dy, dx) > ref.max_shift:
        warnings.warn(f"{prep.name}: the reference is shifted by ({dy:.2f}, {dx:.2f}) LR pixels (dy, dx) against "
                      f"the LR, more than max_shift={ref.max_shift}; co-register them first, or the transferred "
                      "texture lands in the wrong place", SatsrWarning, stacklevel=4)
    fb_tiles = []
    for ty in range(plan.grid_shape[0]):
        for tx in range(plan.grid_shape[1]):
            fy0, fy1, fx0, fx1 = plan.footprint(ty, tx)
            if not prep.covered_lr[fy0:fy1, fx0:fx1].all():
                fb_tiles.append((ty, tx))
    if fb_tiles and ref.uncovered == "error":
        raise GeoreferenceError(
            f"{prep.name}: the reference covers {100 * prep.coverage:.1f}% of the LR scene ({len(fb_tiles)} of "
            f"{plan.grid_shape[0] * plan.grid_shape[1]} tiles are not fully covered); pass uncovered='fallback' (CLI "
            "--uncovered fallback) to run those tiles through a single-image model, or use a reference covering "
            "the whole scene")
    fb_key = None
    fb_name = ""
    if fb_tiles:
        fb_runner = make_runner(ref.fallback, s, None, runner.device, layout.batch_size)
        fspec = fb_runner.spec
        if fspec.needs_reference or fspec.frames_in != 1 or fspec.time_scale != 1:
            raise InputError(f"fallback: {fspec.name} is not a single-image model; use e.g. 'bicubic'")
        if fspec.halo > plan.halo or plan.multiple_of % fspec.multiple_of:
            raise InputError(f"fallback: {fspec.name} needs a halo of {fspec.halo} (and inputs in multiples of "
                             f"{fspec.multiple_of}); the reference model's tiles have {plan.halo} (and "
                             f"{plan.multiple_of}); pass a larger halo=, or a fallback model with a smaller halo")
        fb_key = "fallback-" + name
        dsk[fb_key] = fb_runner
        fb_name = fspec.name
    prep_key = "reference-prep-" + name
    dsk[prep_key] = prep
    ref_name = "reference-" + name
    for a, (y0, y1) in enumerate(layout.rows):
        for b, (x0, x1) in enumerate(layout.cols):
            dsk[(ref_name, a, b)] = (_reference_block, prep_key, (y0 * s, y1 * s, x0 * s, x1 * s))
    attrs = {
        "satsr_reference": prep.name,
        "satsr_reference_matching": ref.matching,
        "satsr_reference_shift": f"{dy:.3f} {dx:.3f}",
        "satsr_reference_coverage": round(prep.coverage, 6),
        "satsr_fallback": fb_name,
        "satsr_fallback_tiles": len(fb_tiles),
    }
    return _RefGraph(ref_name, fb_key, frozenset(fb_tiles)), attrs


#: dask.array's functions that read a window of an array-like (``dask.array.from_array``'s chunk tasks).
_GETTERS = tuple(f for f in (getattr(dska.core, n, None) for n in ("getter", "getter_nofancy", "getter_inline")) if f)


def _window_reads(data: dska.Array) -> bool:
    """Whether every chunk of ``data`` is a window read of an array-like, as ``dask.array.from_array`` makes.

    :func:`satsr.open_stack` (a file reader) and zarr arrays are: a slice of such an array reads just its window
    (dask fuses the slice into the read).
    """
    graph = dict(data.__dask_graph__())
    for key, node in graph.items():
        deps = get_dependencies(graph, key)
        if deps and (getattr(node, "func", None) not in _GETTERS or any(get_dependencies(graph, d) for d in deps)):
            return False
    return True


def _source_blocks(src: dska.Array, layout: _Layout,
                   dsk: dict[Any, Any]) -> tuple[dict[tuple[int, int, int], Any], list[dska.Array]]:
    """The source cut into the output's blocks: a graph key per ``(frame, row block, col block)``.

    Also returns the collections the keys come from; other tasks are added to ``dsk``. Each block's pixels should
    be a task of their own, a root of the graph: dask then walks the blocks row by row and holds about two rows of
    source blocks. Pieces of a rechunk are not roots (they slice larger chunks that several blocks share), and
    dask orders them so that it holds more of the source the larger the scene (simulated with dask's ordering:
    up to 350 MB of source for an 8192 x 8192 x 3 uint16 scene in 1024 px chunks and 512 px blocks, against
    52 MB when the chunks are the blocks). So a source whose chunks are window reads (:func:`_window_reads`) is
    read block by block, each block its own window; any other is rechunked.
    """
    bh, bw = layout.block
    chunks = (1, layout.bands, bh, bw)
    n_t, _, h, w = (int(v) for v in src.shape)
    index = [(f, a, b) for f in range(n_t) for a in range(len(layout.rows)) for b in range(len(layout.cols))]
    if src.chunks != dska.core.normalize_chunks(chunks, src.shape, dtype=src.dtype) and _window_reads(src):
        keys = {}
        for f, a, b in index:
            (y0, y1), (x0, x1) = layout.rows[a], layout.cols[b]
            piece = src[f : f + 1, :, y0:y1, x0:x1]
            if piece.npartitions > 1:  # straddles chunks: its windows joined in one task
                piece = piece.rechunk(piece.shape)
            (piece,) = dask.optimize(piece)
            dsk.update(piece.__dask_graph__())
            keys[f, a, b] = (piece.name, 0, 0, 0, 0)
        return keys, []
    src = src.rechunk(chunks)
    return {(f, a, b): (src.name, f, 0, a, b) for f, a, b in index}, [src]


def _build_graph(dsk: dict[Any, Any], name: str, source: Mapping[tuple[int, int, int], Any], layout: _Layout,
                 runner_key: str,
                 pool_key: str, ref: _RefGraph | None = None) -> None:
    """The upscale graph: per (time window, block) a predict task, per (output frame, block) a stitch task.

    Crop blending of a spatial model fuses the two into one task per block (a block's tiles are its own).
    Feathering predicts only the tiles whose core is in the block; each block then stitches the outputs of the
    up to nine predict tasks around it, so no tile is computed twice.
    """
    plan, rad, r = layout.plan, layout.radiometry, layout.time_scale
    (bh, bw), ny, nx = layout.block, len(layout.rows), len(layout.cols)
    pname = "predict-" + name
    # A block's windows reach ``margin`` rows into the row of blocks above: it takes them as a copy of those rows
    # (a small task per source block) rather than the whole source block, so that dask drops each row of source
    # blocks once its own row of output is done, and holds about one row instead of two. With nodata the whole
    # blocks around are kept: holes are filled from the nearest valid pixel anywhere in them.
    m, hname = plan.margin, "halo-" + name
    strips = not layout.with_nodata and 0 < m <= bh
    for k, (window, owned) in enumerate(layout.windows):
        frames = tuple(sorted(set(window)))
        for i, (y0, y1) in enumerate(layout.rows):
            for j, (x0, x1) in enumerate(layout.cols):
                region = (y0, y1, x0, x1)
                needed = plan.tiles_in(*region)
                if plan.blend != "crop":
                    needed = [tl for tl in needed if _owner(plan, tl, bh, bw) == (i, j)]
                sy0, sy1, sx0, sx1 = plan.source_range(needed)
                rows = range(sy0 // bh, (sy1 - 1) // bh + 1)
                cols = range(sx0 // bw, (sx1 - 1) // bw + 1)
                # the row above lends its last `m` rows (unless a window reflected at the bottom edge reaches higher)
                top = strips and rows[0] == i - 1 and sy0 >= i * bh - m
                if top:
                    for f in frames:
                        for b in cols:
                            dsk.setdefault((hname, f, i - 1, b), (_last_rows, source[f, i - 1, b], m))
                parts = [[[(hname, f, a, b) if top and a == i - 1 else source[f, a, b] for b in cols] for a in rows]
                         for f in frames]
                job = _BlockJob(plan, rad, frames, (i * bh - m if top else rows[0] * bh, cols[0] * bw))
                extra: tuple[Any, ...] = ()
                if ref is not None:
                    ref_parts = [[(ref.name, a, b) for b in cols] for a in rows]
                    extra = (ref_parts, ref.fallback_key, [tl for tl in needed if tl in ref.fallback_tiles])
                for out_t, o in owned:
                    # nodata of the input frame, or of the two input frames an in-between frame lies between
                    near = [out_t] if r == 1 else sorted({out_t // r, -(-out_t // r)})
                    own = [[[source[f, i, j]]] for f in near] if layout.with_nodata else []
                    own_job = _BlockJob(plan, rad, tuple(near), (i * bh, j * bw))
                    if plan.blend == "crop" and r == 1:
                        dsk[(name, out_t, 0, i, j)] = (_run_block, parts, own, job, own_job, window, region,
                                                       runner_key, layout.bands, pool_key, *extra)
                        continue
                    if (pname, k, i, j) not in dsk:
                        dsk[(pname, k, i, j)] = (_predict, parts, job, window, needed, runner_key, pool_key,
                                                 *extra)
                    around = [(pname, k, i, j)] if plan.blend == "crop" else [
                        (pname, k, a, b) for a in range(max(i - 1, 0), min(i + 2, ny))
                        for b in range(max(j - 1, 0), min(j + 2, nx))]
                    dsk[(name, out_t, 0, i, j)] = (_stitch, around, own, own_job, o, region, layout.bands)


def _space_time_rpcs(da: xr.DataArray, r: int) -> tuple[str, list[str]]:
    """The ``rpc`` coordinate of a space-time output: each output frame's RPC model, in the input's pixel space.

    (The writers rescale it with the output grid.) A frame made between two inputs has a sensor model only when
    both neighbours share one (a staring platform); otherwise there is no honest model for it.
    """
    rpcs = [str(v) for v in np.atleast_1d(da.coords["rpc"].values)]
    frame_rpcs(da)  # validates them
    out = []
    for k in range((len(rpcs) - 1) * r + 1):
        lo, frac = divmod(k, r)
        if frac and rpcs[lo] != rpcs[lo + 1]:
            raise InputError(
                f"frames {lo} and {lo + 1} have different RPC sensor models, so the frames made between them would "
                "have none; open the stack with orthorectify=True (--orthorectify) to put the frames on one map grid"
            )
        out.append(rpcs[lo])
    return ("time", out)


def _space_time_coords(da: xr.DataArray, coords: Mapping[Hashable, Any], r: int) -> dict[Hashable, Any]:
    """Time coordinates of a space-time output: the inputs' times and ``r - 1`` times between each pair.

    Datetimes are interpolated; frame indices become fractions. ``source`` names the input frames and is empty
    for the frames made in between. Other per-frame coordinates are dropped.
    """
    n = int(da.sizes["time"])
    pos = np.arange((n - 1) * r + 1) / r  # output frame positions in input frames
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    frac = pos - lo
    out = {k: v for k, v in coords.items() if "time" not in v.dims}
    if "time" in da.coords:
        t = np.asarray(da["time"].values)
        if np.issubdtype(t.dtype, np.datetime64):
            ns = t.astype("datetime64[ns]").astype(np.int64)
            times = (ns[lo] + np.round((ns[hi] - ns[lo]) * frac).astype(np.int64)).astype("datetime64[ns]")
        elif np.issubdtype(t.dtype, np.number):
            times = t[lo] + (t[hi] - t[lo]) * frac
        else:
            times = pos
        out["time"] = ("time", times)
    else:
        out["time"] = ("time", pos)
    if "source" in da.coords and da["source"].dims == ("time",):
        src = da["source"].values
        out["source"] = ("time", np.array([src[lo[k]] if frac[k] == 0 else "" for k in range(len(pos))],
                                          dtype=object))
    return out
