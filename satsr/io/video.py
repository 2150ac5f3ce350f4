"""Video files in and out: open a clip as a lazy ``(time, band, y, x)`` cube, write a cube as a viewable video.

Reading (:func:`open_video`) goes through PyAV, whose wheels carry FFmpeg, so MP4, MKV, AVI, MOV and WebM
with H.264, H.265, FFV1, MPEG-4, VP9... all open. Opening a clip demuxes its packets once (no decoding) to list
every frame's presentation timestamp and the keyframes; each dask chunk then decodes only its own frames,
starting from the keyframe at or before its first frame. The clip never sits in memory.

Decoders are kept per process between chunks (never in the task graph, which stays picklable): a chunk that
starts where an earlier chunk of the same clip ended carries on with that decoder instead of seeking back to
the keyframe, so reading a clip chunk after chunk decodes each frame once. A per-process cache of decoded chunks
(:data:`CACHE_BYTES`) serves chunks asked for again and those decoded on the way to a later chunk (dask often
runs a clip's chunks last first); with long keyframe intervals, reading out of order still costs extra decoding.

Georeferencing: video containers carry none, so it comes from ``crs=`` and ``transform=`` or from a sidecar
next to the clip: a GDAL world file (``clip.wld`` or ``clip.mp4.wld``: six lines ``a, d, b, e`` and the
centre of the upper-left pixel) with its CRS in ``clip.prj`` / ``clip.mp4.prj`` (WKT, or anything
``pyproj.CRS.from_user_input`` reads, such as ``EPSG:32633``). :func:`to_video` writes that sidecar for
georeferenced outputs, so a written clip opens back in place.

Writing (:func:`to_video`) streams one frame at a time through the encoder into a temporary file that is
renamed onto the target when complete.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import dask.array as da
import numpy as np
import xarray as xr
from affine import Affine
from dask.base import tokenize
from pyproj import CRS

from satsr.errors import GeoreferenceError, InputError, OutputError
from satsr.geo import Grid
from satsr.io._atomic import atomic_output
from satsr.io.coords import PIXEL_COORDS_NOTE, assign_grid
from satsr.progress import bar
from satsr.radiometry import stretch_limits, stretch_to_uint8

__all__ = [
    "VIDEO_SUFFIXES", "is_video", "open_video", "to_video", "video_info", "video_source", "read_sidecar",
    "write_sidecar",
]

#: File suffixes opened as videos by :func:`satsr.open_stack` and ``satsr info``.
VIDEO_SUFFIXES = (
    ".mp4", ".m4v", ".mkv", ".avi", ".mov", ".webm", ".mpg", ".mpeg", ".ts", ".m2ts", ".mts", ".wmv", ".flv",
    ".ogv", ".3gp", ".nut", ".y4m",
)
PathLike = str | os.PathLike[str]

#: Frames per dask chunk along time (all bands, whole frames: a frame is decoded whole anyway).
FRAMES_PER_CHUNK = 8
_GRAY_FORMATS = ("gray", "gray10le", "gray12le", "gray16le", "gray10be", "gray12be", "gray16be", "ya8")
#: Codecs that cannot take yuv420p, and the pixel format written instead.
_PIX_FMT = {"ffv1": "bgr0", "libx264rgb": "rgb24", "png": "rgb24", "rawvideo": "rgb24"}


def is_video(path: PathLike) -> bool:
    """True when ``path`` ends in one of :data:`VIDEO_SUFFIXES` (case-insensitive)."""
    return Path(os.fspath(path)).suffix.lower() in VIDEO_SUFFIXES


def _av_message(err: BaseException) -> str:
    text = str(err).strip()
    return text or type(err).__name__


# -- index ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _VideoIndex:
    """What opening a clip learns from its packets: frames in presentation order, keyframes, format."""

    path: str
    stream: int
    width: int
    height: int
    codec: str
    pix_fmt: str
    time_base: Fraction
    pts: np.ndarray  # int64, every frame's pts, sorted (presentation order)
    keys: np.ndarray  # int64, pts of the keyframes, sorted
    rate: Fraction | None
    gray: bool

    @property
    def bands(self) -> int:
        return 1 if self.gray else 3

    def offsets(self) -> np.ndarray:
        """Each frame's time after the first frame, as ``timedelta64[ns]``."""
        rel = (self.pts - self.pts[0]).astype(object) * self.time_base
        return np.array([round(v * 1_000_000_000) for v in rel], dtype="int64").astype("timedelta64[ns]")


def _open_container(path: str) -> Any:
    try:
        return av.open(path, "r")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (av.FFmpegError, OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable video ({_av_message(err)})") from err


def _index(path: str) -> _VideoIndex:
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a folder, not a video file")
    container = _open_container(path)
    try:
        if not container.streams.video:
            raise InputError(f"{path}: holds no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise InputError(f"{path}: video stream has no frame size; the file is damaged or not a video")
        pts: list[int] = []
        keys: list[int] = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0 or packet.is_discard or packet.is_corrupt:
                    continue
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is None:
                    raise InputError(
                        f"{path}: packets without timestamps; remux the clip first, e.g. "
                        "ffmpeg -fflags +genpts -i clip -c copy clip.mkv"
                    )
                pts.append(int(ts))
                if packet.is_keyframe:
                    keys.append(int(ts))
        except av.FFmpegError as err:
            raise InputError(f"{path}: cannot read the video packets ({_av_message(err)})") from err
        if not pts:
            raise InputError(f"{path}: the video stream holds no frames")
        frames = np.sort(np.asarray(pts, dtype=np.int64))
        if np.any(np.diff(frames) == 0):
            raise InputError(f"{path}: several frames share one timestamp; remux or re-encode the clip")
        time_base = stream.time_base or Fraction(1, 1)
        rate = stream.average_rate or stream.guessed_rate
        pix_fmt = ctx.format.name if ctx.format is not None else ""
        index = _VideoIndex(
            path=path, stream=stream.index, width=int(ctx.width), height=int(ctx.height), codec=ctx.name,
            pix_fmt=pix_fmt, time_base=Fraction(time_base), pts=frames,
            keys=np.sort(np.asarray(keys or [frames[0]], dtype=np.int64)),
            rate=Fraction(rate) if rate else None, gray=pix_fmt in _GRAY_FORMATS,
        )
    finally:
        container.close()
    # Decode the first frame now: a damaged stream fails at open time, not halfway through a long job.
    _VideoReader(index, _stamp(path)).read(0, 1, keep=False)
    return index


def _stamp(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size


# -- decoding -------------------------------------------------------------------------------------------------
class _Cursor:
    """An open container and its decoder, positioned after the frame with pts ``last``."""

    def __init__(self, index: _VideoIndex) -> None:
        self.container = _open_container(index.path)
        self.stream = self.container.streams.video[index.stream]
        self.stream.thread_type = "AUTO"  # frame and slice threads inside libavcodec
        self.frames = self.container.decode(self.stream)
        self.last: int | None = None  # pts of the last frame taken out; None: at the start or just after a seek

    def seek(self, pts: int) -> None:
        self.container.seek(int(pts), stream=self.stream, backward=True, any_frame=False)
        self.frames = self.container.decode(self.stream)
        self.last = None

    def close(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 (closing must not hide the error that made us close)
            pass


class _CursorPool:
    """Idle decoders of this process, per clip, so that consecutive chunks continue instead of seeking.

    Not part of any task graph: it lives in the worker process (reset after a fork) and holds at most
    ``limit`` idle decoders (the least recently used is closed first).
    """

    def __init__(self, limit: int = 8) -> None:
        self.limit = limit
        self.lock = threading.Lock()
        self.idle: list[tuple[Any, _Cursor]] = []
        self.pid = os.getpid()

    def take(self, key: Any, first: int, key_before: int) -> _Cursor | None:
        """An idle cursor of clip ``key`` left at pts ``key_before`` or later and before ``first``, or None."""
        with self.lock:
            if self.pid != os.getpid():  # a forked child must not share its parent's decoders
                self.idle, self.pid = [], os.getpid()
            best, best_last = None, 0
            for i, (k, cur) in enumerate(self.idle):
                if k == key and cur.last is not None and key_before <= cur.last < first:
                    if best is None or cur.last > best_last:
                        best, best_last = i, cur.last
            return self.idle.pop(best)[1] if best is not None else None

    def give(self, key: Any, cursor: _Cursor) -> None:
        with self.lock:
            if self.pid != os.getpid():
                return
            self.idle.append((key, cursor))
            while len(self.idle) > self.limit:
                self.idle.pop(0)[1].close()

    def clear(self) -> None:
        with self.lock:
            for _, cur in self.idle:
                cur.close()
            self.idle = []


_POOL = _CursorPool()


class _VideoReader:
    """Array-like ``(time, band, y, x)`` over a clip; dask calls ``__getitem__`` with one chunk's index.

    It holds only the path and the index (plain numbers), so it pickles for dask.distributed.
    """

    def __init__(self, index: _VideoIndex, stamp: tuple[int, int], starts: Sequence[int] = (0,)) -> None:
        self.index = index
        self.stamp = stamp
        self.starts = np.asarray([*starts, len(index.pts)], dtype=np.int64)  # chunk edges along time
        self.shape = (len(index.pts), index.bands, index.height, index.width)
        self.dtype = np.dtype(np.uint8)
        self.ndim = 4

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            i = key.index(Ellipsis)
            key = key[:i] + (slice(None),) * (4 - len(key) + 1) + key[i + 1 :]
        key = key + (slice(None),) * (4 - len(key))
        frames = np.arange(self.shape[0])[key[0]]
        block: np.ndarray
        if np.ndim(frames) == 0:
            block = self.read(int(frames), int(frames) + 1)[0]
        elif frames.size == 0:
            block = np.empty((0, *self.shape[1:]), self.dtype)
        else:
            t0, t1 = int(frames.min()), int(frames.max()) + 1
            block = self.read(t0, t1)
            if not (isinstance(key[0], slice) and key[0].step in (None, 1)):
                block = block[frames - t0]
        # Bands and pixels: numpy applies several index arrays jointly, so apply them one axis at a time.
        axis = 0 if np.ndim(frames) == 0 else 1
        for k in key[1:]:
            block = block[(slice(None),) * axis + (k,)]
            axis += 0 if np.ndim(k) == 0 and not isinstance(k, slice) else 1
        return block

    def read(self, t0: int, t1: int, *, keep: bool = True) -> np.ndarray:
        """Decode frames ``t0 .. t1 - 1`` (presentation order) into a ``(t1 - t0, band, y, x)`` array.

        ``keep``: leave the decoder in this process's pool, for a chunk that starts where this one ends.
        """
        idx = self.index
        cached = _CACHE.get((idx.path, self.stamp, t0, t1))
        if cached is not None:
            return cached
        wanted = idx.pts[t0:t1]
        slot = {int(p): j for j, p in enumerate(wanted)}
        first, last = int(wanted[0]), int(wanted[-1])
        k = int(np.searchsorted(idx.keys, first, side="right")) - 1
        key_before = int(idx.keys[k]) if k >= 0 else int(idx.pts[0])
        out = np.empty((len(wanted), idx.bands, idx.height, idx.width), np.uint8)
        pool_key = (idx.path, idx.stream, self.stamp)
        # A decoder left at the frame just before the keyframe, or later, continues: no seek, nothing decoded twice.
        kpos = int(np.searchsorted(idx.pts, key_before))
        cursor = _POOL.take(pool_key, first, int(idx.pts[kpos - 1]) if kpos > 0 else key_before)
        seen: set[int] = set()
        for attempt in range(2):
            if cursor is None:
                cursor = _Cursor(idx)
                if attempt == 0 and k > 0:
                    cursor.seek(key_before)
            try:
                seen = self._decode(cursor, slot, first, last, out, t0 if keep else 0)
            except InputError:
                cursor.close()
                raise
            except (av.FFmpegError, OSError, ValueError) as err:
                cursor.close()
                raise InputError(
                    f"{idx.path}: decoding frames {t0}..{t1 - 1} failed ({_av_message(err)})"
                ) from err
            if len(seen) == len(wanted):
                if keep and cursor.last is not None:
                    _POOL.give(pool_key, cursor)
                else:
                    cursor.close()
                if keep and t0 in self.starts and t1 in self.starts:
                    _CACHE.put((idx.path, self.stamp, t0, t1), out)
                return out
            cursor.close()
            cursor = None  # a seek that landed past the frame (rare containers): decode from the start once
        missing = [t0 + j for j in range(len(wanted)) if j not in seen]
        raise InputError(
            f"{idx.path}: frames {missing[:5]}{'...' if len(missing) > 5 else ''} could not be decoded; the file "
            "may be truncated or damaged"
        )

    def _decode(
        self, cursor: _Cursor, slot: dict[int, int], first: int, last: int, out: np.ndarray, t0: int
    ) -> set[int]:
        """Decode on from ``cursor`` until pts ``last``; fill ``out`` at the slots of wanted pts; return them.

        Frames decoded on the way to ``first`` that complete an earlier chunk (of the frames before ``t0`` that
        the block cache can hold) are kept there: dask often asks for the chunks of a clip last first.
        """
        idx = self.index
        fmt = "gray" if idx.gray else "rgb24"
        seen: set[int] = set()
        lo = t0 - _CACHE.limit // max(out[0].nbytes, 1)  # earlier frames would be evicted before use
        pending: dict[int, tuple[np.ndarray, set[int]]] = {}
        for frame in cursor.frames:
            pts = frame.pts if frame.pts is not None else frame.dts
            if pts is None:
                continue
            cursor.last = int(pts)
            if pts < first:
                i = int(np.searchsorted(idx.pts, pts))
                if lo <= i < t0 and i < len(idx.pts) and idx.pts[i] == pts:
                    self._keep_on_the_way(frame, i, fmt, pending)
                continue
            j = slot.get(int(pts))
            if j is not None:
                rgb = frame.to_ndarray(format=fmt)
                out[j] = rgb[None] if rgb.ndim == 2 else rgb.transpose(2, 0, 1)
                seen.add(j)
            if pts >= last:
                break
        else:
            cursor.last = None  # the decoder is exhausted: never reuse it
        return seen

    def _keep_on_the_way(self, frame: Any, i: int, fmt: str, pending: dict[int, tuple[np.ndarray, set[int]]]) -> None:
        c = int(np.searchsorted(self.starts, i, side="right")) - 1
        a, b = int(self.starts[c]), int(self.starts[c + 1])
        key = (self.index.path, self.stamp, a, b)
        if c not in pending:
            if _CACHE.has(key):
                return
            pending[c] = (np.empty((b - a, self.index.bands, self.index.height, self.index.width), np.uint8), set())
        block, got = pending[c]
        rgb = frame.to_ndarray(format=fmt)
        block[i - a] = rgb[None] if rgb.ndim == 2 else rgb.transpose(2, 0, 1)
        got.add(i)
        if len(got) == b - a:
            _CACHE.put(key, block)
            del pending[c]


class _BlockCache:
    """Decoded chunks of this process, least recently used first out, at most ``limit`` bytes.

    Serves a chunk asked for again (a loop over single frames computes each chunk once per frame) and the chunks
    decoded on the way to a later one. Blocks are read-only: dask never writes into its inputs.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lock = threading.Lock()
        self.blocks: OrderedDict[Any, np.ndarray] = OrderedDict()
        self.nbytes = 0

    def get(self, key: Any) -> np.ndarray | None:
        with self.lock:
            block = self.blocks.get(key)
            if block is not None:
                self.blocks.move_to_end(key)
            return block

    def has(self, key: Any) -> bool:
        with self.lock:
            return key in self.blocks

    def put(self, key: Any, block: np.ndarray) -> None:
        if block.nbytes > self.limit:
            return
        block.flags.writeable = False
        with self.lock:
            if key in self.blocks:
                return
            self.blocks[key] = block
            self.nbytes += block.nbytes
            while self.nbytes > self.limit:
                _, old = self.blocks.popitem(last=False)
                self.nbytes -= old.nbytes

    def clear(self) -> None:
        with self.lock:
            self.blocks.clear()
            self.nbytes = 0


#: Bytes of decoded chunks each process keeps (see :class:`_BlockCache`).
CACHE_BYTES = 256 * 2**20
_CACHE = _BlockCache(CACHE_BYTES)


# -- sidecar --------------------------------------------------------------------------------------------------
def _sidecar_names(path: Path, suffix: str) -> list[Path]:
    return [path.with_suffix(suffix), path.with_name(path.name + suffix)]


def read_sidecar(path: PathLike) -> tuple[CRS | None, Affine | None, Path | None]:
    """Georeferencing of a video from its world file and ``.prj``, when they exist.

    Parameters
    ----------
    path : str or path
        The video file. Looked for: ``<stem>.wld`` or ``<name>.wld`` (e.g. ``clip.wld`` or ``clip.mp4.wld``),
        and ``<stem>.prj`` or ``<name>.prj`` for the CRS.

    Returns
    -------
    tuple
        ``(crs, transform, world_file)``; each is ``None`` when absent.

    Raises
    ------
    GeoreferenceError
        A world file that is not six numbers, or a ``.prj`` that pyproj cannot read.
    """
    p = Path(os.fspath(path))
    world = next((w for w in _sidecar_names(p, ".wld") if w.is_file()), None)
    prj = next((w for w in _sidecar_names(p, ".prj") if w.is_file()), None)
    transform = crs = None
    if world is not None:
        try:
            a, d, b, e, xc, yc = (float(v) for v in world.read_text().split())
        except ValueError:
            raise GeoreferenceError(
                f"{world}: a world file holds six numbers, one a line (a, d, b, e, x and y of the upper-left "
                "pixel's centre)"
            ) from None
        # A world file gives the centre of the upper-left pixel; the affine transform its corner.
        transform = Affine(a, b, xc - a / 2 - b / 2, d, e, yc - d / 2 - e / 2)
    if prj is not None:
        try:
            crs = CRS.from_user_input(prj.read_text().strip())
        except Exception as err:  # noqa: BLE001 (pyproj raises CRSError or ValueError variants)
            raise GeoreferenceError(f"{prj}: not a CRS pyproj can read ({err})") from None
    return crs, transform, world


def write_sidecar(path: PathLike, grid: Grid) -> list[Path]:
    """Write the world file ``<stem>.wld`` (and ``<stem>.prj`` when ``grid`` has a CRS) next to ``path``.

    Parameters
    ----------
    path : str or path
        The video (or image) the sidecar describes.
    grid : Grid
        Its grid; ``grid.crs`` ``None`` writes no ``.prj``.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    p = Path(os.fspath(path))
    t = grid.transform
    xc, yc = t.c + (t.a + t.b) / 2, t.f + (t.d + t.e) / 2  # centre of the upper-left pixel
    written = []
    world = p.with_suffix(".wld")
    world.write_text("\n".join(repr(float(v)) for v in (t.a, t.d, t.b, t.e, xc, yc)) + "\n")
    written.append(world)
    if grid.crs is not None:
        prj = p.with_suffix(".prj")
        prj.write_text(grid.crs.to_wkt() + "\n")
        written.append(prj)
    return written


def _place(
    path: str, crs: Any, transform: Any, allow_ungeoreferenced: bool, shape: tuple[int, int]
) -> tuple[Grid, str | None]:
    """The frames' grid from ``crs=``/``transform=`` and the sidecar, with open_stack's rules."""
    user_t = Affine(*tuple(transform)[:6]) if transform is not None else None
    try:
        user_crs = CRS.from_user_input(crs) if crs is not None else None
    except Exception as err:  # noqa: BLE001
        raise GeoreferenceError(f"{path}: crs={crs!r} is not a CRS pyproj can read ({err})") from None
    side_crs, side_t, world = read_sidecar(path)
    if side_t is not None and user_t is not None and not user_t.almost_equals(side_t):
        raise GeoreferenceError(f"{path}: world file {world} conflicts with transform={tuple(user_t)[:6]}")
    if side_crs is not None and user_crs is not None and side_crs != user_crs:
        raise GeoreferenceError(f"{path}: sidecar CRS {side_crs.name} conflicts with crs={crs!r}")
    grid_t = side_t if side_t is not None else user_t
    grid_crs = side_crs if side_crs is not None else user_crs
    note = None
    if grid_t is None or grid_crs is None:
        if allow_ungeoreferenced and grid_t is None and grid_crs is None:
            grid_t, note = Affine.identity(), PIXEL_COORDS_NOTE
        else:
            have = ("transform only" if grid_crs is None else "CRS only") if (grid_t or grid_crs) else (
                "no CRS or geotransform (videos carry none)"
            )
            raise GeoreferenceError(
                f"{path}: has {have}; pass crs= and transform= (CLI: --crs, --transform), put a world file "
                f"{Path(path).with_suffix('.wld').name} and {Path(path).with_suffix('.prj').name} next to it, or "
                "allow_ungeoreferenced=True (--allow-ungeoreferenced) to work in pixel coordinates"
            )
    grid = Grid(shape, grid_t, grid_crs)
    try:
        grid.require_rectilinear()
    except GeoreferenceError as err:
        raise GeoreferenceError(f"{path}: {err}") from None
    return grid, note


# -- the task graph -------------------------------------------------------------------------------------------
def _time_chunks(index: _VideoIndex, frames_per_chunk: int) -> list[tuple[int, int]]:
    """Chunks ``(t0, t1)`` along time, each within one group of pictures (keyframe to keyframe).

    A group longer than ``frames_per_chunk`` is split into near-equal parts; a part's task decodes from the
    group's keyframe (or continues a decoder left where the previous part ended).
    """
    starts = np.searchsorted(index.pts, index.keys)  # frame position of each keyframe
    edges = sorted({0, *(int(s) for s in starts if 0 < s < len(index.pts)), len(index.pts)})
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        parts = -(-(b - a) // frames_per_chunk)
        cuts = [a + round(j * (b - a) / parts) for j in range(parts + 1)]
        out += list(zip(cuts[:-1], cuts[1:]))
    return out


def _read_chunk(reader: _VideoReader, t0: int, t1: int) -> np.ndarray:
    """One chunk's task."""
    return reader.read(t0, t1)


# -- open -----------------------------------------------------------------------------------------------------
def open_video(
    path: PathLike,
    *,
    crs: Any = None,
    transform: Affine | Sequence[float] | None = None,
    allow_ungeoreferenced: bool = False,
    start_time: Any = None,
    times: Sequence[Any] | None = None,
    chunks: int | None = None,
    frames_per_chunk: int = FRAMES_PER_CHUNK,
) -> xr.DataArray:
    """Open a video file as a lazy ``(time, band, y, x)`` uint8 DataArray, decoding frames only when computed.

    Parameters
    ----------
    path : str or path
        An MP4, MKV, AVI, MOV, WebM... file (anything FFmpeg reads); its first video stream is used.
    crs, transform : optional
        Where the frames lie. Needed unless a sidecar world file (and ``.prj``) gives them; see the module
        notes. ``transform`` is an ``affine.Affine`` or six numbers ``a, b, c, d, e, f``.
    allow_ungeoreferenced : bool, default False
        Accept a clip nothing places; the result is then in pixel coordinates and says so in
        ``attrs["georeferencing"]``.
    start_time : str, datetime or numpy.datetime64, optional
        Acquisition time of the first frame. The time coordinate is then ``start_time`` plus each frame's
        container timestamp (``datetime64[ns]``); without it, the offsets from the first frame
        (``timedelta64[ns]``).
    times : sequence, optional
        Explicit time coordinate, one value per frame (overrides the container's timestamps).
    chunks : int, optional
        Spatial chunk size; default whole frames (a frame is decoded whole in any case, and a decoded chunk is
        split without decoding it again).
    frames_per_chunk : int, default 8
        Frames per dask chunk along time. A chunk decodes from the keyframe at or before its first frame
        (or continues a decoder left where the previous chunk ended) to its last frame.

    Returns
    -------
    xarray.DataArray
        Dask-backed, dims ``(time, band, y, x)``, uint8: 3 bands (red, green, blue) or 1 for grey video.
        Coordinates as :func:`satsr.open_stack` (``x``/``y``, ``spatial_ref``, ``band``, ``description``,
        ``source``) and ``time``; ``attrs`` hold ``video_codec``, ``video_fps`` (average frame rate) and
        ``video_pix_fmt``.

    Raises
    ------
    InputError
        Missing file, a file FFmpeg cannot read as video, undecodable frames, bad ``times``/``start_time``.
    GeoreferenceError
        Nothing places the frames (and ``allow_ungeoreferenced`` is False), conflicting sidecar and
        arguments, a rotated or sheared transform.

    Examples
    --------
    >>> clip = satsr.open_video("clip.mp4", crs="EPSG:32633", transform=(1, 0, 500000, 0, -1, 4200000),
    ...                         start_time="2023-05-01T10:00:00")  # doctest: +SKIP
    >>> clip.isel(time=slice(0, 8)).values.shape  # doctest: +SKIP
    (8, 3, 1024, 1024)
    """
    p = os.fspath(path)
    if not isinstance(frames_per_chunk, int) or frames_per_chunk < 1:
        raise InputError(f"frames_per_chunk must be a positive whole number, got {frames_per_chunk!r}")
    index = _index(p)
    grid, note = _place(p, crs, transform, allow_ungeoreferenced, (index.height, index.width))
    n = len(index.pts)
    stamp = _stamp(p)
    bounds = _time_chunks(index, frames_per_chunk)
    reader = _VideoReader(index, stamp, [t0 for t0, _ in bounds])
    name = "open_video-" + tokenize(p, stamp, frames_per_chunk)
    graph = {(name, i, 0, 0, 0): (_read_chunk, reader, t0, t1) for i, (t0, t1) in enumerate(bounds)}
    tchunks = tuple(t1 - t0 for t0, t1 in bounds)
    data = da.Array(graph, name, (tchunks, (index.bands,), (index.height,), (index.width,)),
                    meta=np.empty((0,) * 4, np.uint8))
    if chunks is not None and chunks < max(index.height, index.width):
        data = data.rechunk((tchunks, index.bands, chunks, chunks))

    offsets = index.offsets()
    if times is not None:
        if start_time is not None:
            raise InputError("give times= or start_time=, not both")
        if len(times) != n:
            raise InputError(f"{p}: times has {len(times)} values for {n} frames")
        tcoord = np.asarray(times)
    elif start_time is not None:
        try:
            t0 = np.datetime64(start_time, "ns")
        except (ValueError, TypeError):
            raise InputError(f"start_time={start_time!r} is not a date and time, e.g. '2023-05-01T10:00:00'") from None
        if np.isnat(t0):
            raise InputError("start_time must be a date and time, not NaT")
        tcoord = t0 + offsets
    else:
        tcoord = offsets
    arr = xr.DataArray(
        data,
        dims=("time", "band", "y", "x"),
        coords={
            "time": tcoord,
            "band": np.arange(1, index.bands + 1),
            "description": ("band", ["gray"] if index.gray else ["red", "green", "blue"]),
            "source": ("time", np.full(n, p, dtype=object)),
        },
        name=Path(p).stem,
    )
    arr = assign_grid(arr, grid)
    arr.attrs["video_codec"] = index.codec
    arr.attrs["video_pix_fmt"] = index.pix_fmt
    if index.rate:
        arr.attrs["video_fps"] = float(index.rate)
    if note:
        arr.attrs["georeferencing"] = note
    return arr


def video_source(source: Any) -> str | None:
    """For :func:`satsr.open_stack`: the path when ``source`` is one video file; refuse videos in lists."""
    if isinstance(source, (str, os.PathLike)):
        s = os.fspath(source)
        return s if is_video(s) and not any(c in s for c in "*?[") else None
    if isinstance(source, Sequence):
        videos = [os.fspath(p) for p in source if isinstance(p, (str, os.PathLike)) and is_video(p)]
        if videos:
            raise InputError(f"{videos[0]}: a video opens on its own, not in a list of frames; open one clip at a time")
    return None


def video_info(path: PathLike) -> dict[str, Any]:
    """Describe a video as ``satsr info`` shows it: frames, fps, duration, size, codec, georeferencing.

    Parameters
    ----------
    path : str or path
        The video file.

    Returns
    -------
    dict
        Plain values (strings, numbers, lists) ready to print or dump as JSON.

    Raises
    ------
    InputError
        When the file does not exist or is not a readable video.
    """
    p = os.fspath(path)
    index = _index(p)
    container = _open_container(p)
    try:
        fmt = container.format.name
        bit_rate = container.bit_rate
    finally:
        container.close()
    offsets = index.offsets().astype(np.int64) / 1e9
    n = len(index.pts)
    step = float(np.median(np.diff(offsets))) if n > 1 else None
    # Duration: first frame's start to the last frame's end (the last frame lasts one typical step).
    duration = float(offsets[-1] + (step or (1 / float(index.rate) if index.rate else 0.0)))
    info: dict[str, Any] = {
        "path": p,
        "container": fmt,
        "codec": index.codec,
        "pix_fmt": index.pix_fmt,
        "size": f"{index.width} x {index.height} (cols x rows)",
        "width": index.width,
        "height": index.height,
        "bands": index.bands,
        "frames": n,
        "fps": float(index.rate) if index.rate else None,
        "duration_s": round(duration, 6),
        "variable_frame_rate": bool(n > 2 and np.ptp(np.diff(offsets)) > 1e-3 * (step or 1)),
        "keyframes": len(index.keys),
        "bit_rate": int(bit_rate) if bit_rate else None,
        "time_base": str(index.time_base),
    }
    crs, transform, world = read_sidecar(p)
    info["georeferenced"] = crs is not None and transform is not None
    info["sidecar"] = str(world) if world is not None else None
    info["crs"] = _crs_name(crs)
    info["transform"] = list(tuple(transform)[:6]) if transform is not None else None
    if crs is not None and transform is not None:  # info["georeferenced"]
        g = Grid((index.height, index.width), transform, crs)
        info["bounds"] = list(g.bounds)
    return info


def _crs_name(crs: CRS | None) -> str:
    if crs is None:
        return "none"
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


# -- write ----------------------------------------------------------------------------------------------------
def _frames_per_second(sr: xr.DataArray, fps: float | None) -> Fraction:
    if fps is not None:
        if not fps > 0:
            raise InputError(f"fps must be positive, got {fps!r}")
        return Fraction(fps).limit_denominator(1001)
    n = int(sr.sizes["time"])
    t = np.asarray(sr["time"].values) if "time" in sr.coords else None
    if t is None or not (np.issubdtype(t.dtype, np.datetime64) or np.issubdtype(t.dtype, np.timedelta64)):
        raise InputError(
            f"array {sr.name!r}: its time coordinate holds no times (frame numbers?), so the frame rate is "
            "unknown; pass fps= (CLI: --video-fps)"
        )
    if n < 2:
        return Fraction(1)
    ticks = t.astype("datetime64[ns]" if t.dtype.kind == "M" else "timedelta64[ns]").astype(np.int64)
    steps: np.ndarray = np.diff(ticks)
    step = float(np.median(steps))
    if step <= 0 or np.max(np.abs(steps - step)) > 0.01 * step:
        raise InputError(
            f"array {sr.name!r}: its frames are not evenly spaced in time, so no single frame rate fits; pass "
            "fps= (CLI: --video-fps)"
        )
    rate = 1e9 / step
    if rate < 1:
        raise InputError(
            f"array {sr.name!r}: frames {step / 1e9:g} s apart would play at {rate:.3g} frames per second; pass "
            "fps= (CLI: --video-fps) to choose a playback rate"
        )
    return Fraction(rate).limit_denominator(1001)


def _stretch_limits(frame: np.ndarray, value_range: tuple[float, float] | None) -> list[tuple[float, float]]:
    """Per-band ``(low, high)`` mapped to 0 and 255: ``value_range``, else the 2 and 98 % percentiles."""
    if value_range is None:
        return stretch_limits(frame)
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise InputError(f"value_range must be (low, high) with low < high, got {value_range!r}")
    return [(lo, hi)] * frame.shape[0]


def _to_uint8(frame: np.ndarray, limits: list[tuple[float, float]] | None) -> np.ndarray:
    if limits is None:
        return frame.astype(np.uint8, copy=False)
    # Through float32, as videos were always scaled: frames stay bit for bit what they were.
    return stretch_to_uint8(frame.astype(np.float32), limits)


def _pick_bands(sr: xr.DataArray, bands: Sequence[int] | None, what: str) -> xr.DataArray:
    nb = int(sr.sizes["band"])
    if bands is None:
        if nb in (1, 3):
            return sr
        if nb > 3:
            return sr.isel(band=[0, 1, 2])
        return sr.isel(band=[0])
    sel = [int(b) for b in bands]
    if len(sel) not in (1, 3):
        raise InputError(f"bands must name 1 band (grey) or 3 bands (RGB), got {len(sel)}: {list(bands)}")
    bad = [b for b in sel if not 1 <= b <= nb]
    if bad:
        raise InputError(f"{what}: band {bad[0]} is out of range; the array has bands 1..{nb} (positions, 1-based)")
    return sr.isel(band=[b - 1 for b in sel])


def _as_stack(arr: xr.DataArray, what: str) -> xr.DataArray:
    if not isinstance(arr, xr.DataArray):
        raise InputError(f"{what} must be an xarray.DataArray, got {type(arr).__name__}")
    if arr.dims == ("band", "y", "x"):
        arr = arr.expand_dims("time")
    if arr.dims != ("time", "band", "y", "x"):
        raise InputError(f"{what}: expected dims (time, band, y, x) or (band, y, x), got {arr.dims}")
    if any(int(arr.sizes[d]) == 0 for d in arr.dims):
        raise InputError(f"{what} is empty; nothing to write")
    return arr


def _baseline_frames(sr: xr.DataArray, baseline: xr.DataArray) -> np.ndarray:
    """For each frame of ``sr``, the frame of ``baseline`` to show beside it (the nearest in time)."""
    n, m = int(sr.sizes["time"]), int(baseline.sizes["time"])
    if n == m:
        return np.arange(n)
    if "time" in sr.coords and "time" in baseline.coords:
        t, b = np.asarray(sr["time"].values), np.asarray(baseline["time"].values)
        if t.dtype.kind == b.dtype.kind and t.dtype.kind in "Mmfiu":
            tv, bv = t.astype(np.float64) if t.dtype.kind in "fiu" else t.astype("int64"), (
                b.astype(np.float64) if b.dtype.kind in "fiu" else b.astype("int64"))
            pos = np.clip(np.searchsorted(bv, tv), 1, max(m - 1, 1))
            prev = np.clip(pos - 1, 0, m - 1)
            pos = np.clip(pos, 0, m - 1)
            return np.where(np.abs(bv[prev] - tv) <= np.abs(bv[pos] - tv), prev, pos)
    raise InputError(f"baseline has {m} frames and the array {n}, and no comparable time coordinates to match them")


def to_video(
    sr: xr.DataArray,
    path: PathLike,
    *,
    fps: float | None = None,
    codec: str = "libx264",
    crf: int | None = 18,
    pix_fmt: str | None = None,
    options: Mapping[str, str] | None = None,
    value_range: tuple[float, float] | None = None,
    bands: Sequence[int] | None = None,
    baseline: xr.DataArray | None = None,
    gap: int = 4,
    sidecar: bool = True,
    progress: bool = True,
) -> Path:
    """Write a ``(time, band, y, x)`` array as a viewable video, one frame computed at a time.

    Parameters
    ----------
    sr : xarray.DataArray
        Dims ``(time, band, y, x)`` (or ``(band, y, x)``), NumPy- or dask-backed; the output of
        :func:`satsr.upscale` or :func:`open_video`. Frames are computed one by one, never the whole clip.
    path : str or path
        Output file; its suffix picks the container (``.mp4``, ``.mkv``, ``.avi``, ``.mov``...). Written to a
        temporary name and renamed when complete; missing folders are created.
    fps : float, optional
        Frames per second. Default: from the time coordinate when its steps are regular (datetimes or
        timedeltas, as :func:`open_video` gives); required otherwise.
    codec : str, default "libx264"
        FFmpeg encoder: ``libx264`` (H.264, plays everywhere), ``libx265``, ``mpeg4``, ``ffv1`` (lossless),
        ``libvpx-vp9``...
    crf : int or None, default 18
        Constant rate factor for ``libx264``/``libx265``/VP9 (lower is better; 18 looks lossless). Ignored by
        other encoders; ``None`` leaves the encoder's default.
    pix_fmt : str, optional
        Encoded pixel format. Default ``yuv420p`` (what players expect; width and height are padded to even
        numbers), ``bgr0`` for ``ffv1`` (exact RGB).
    options : mapping, optional
        More encoder options, passed to FFmpeg as they are (e.g. ``{"preset": "slow"}``).
    value_range : (float, float), optional
        Values mapped to black and white. Default: uint8 data as they are; other dtypes stretched between the
        2 and 98 % percentiles of the first frame, per band (one stretch for the whole clip: no flicker).
    bands : sequence of int, optional
        Positions (1-based) of the 1 (grey) or 3 (RGB) bands to show. Default: the first three (or the one).
    baseline : xarray.DataArray, optional
        Shown on the left of ``sr``, same size (e.g. the bicubic upscale of the input: the command line's
        ``--video-side-by-side`` makes it), with the same bands and stretch. A baseline with fewer frames
        (a space-time model's input) is matched to ``sr`` by nearest time.
    gap : int, default 4
        Width in pixels of the black gap between baseline and ``sr``.
    sidecar : bool, default True
        Also write ``<stem>.wld`` and ``<stem>.prj`` (see the module notes) when ``sr`` is georeferenced and no
        baseline is shown, so that :func:`open_video` places the clip again.
    progress : bool, default True
        Show progress over the frames.

    Returns
    -------
    pathlib.Path
        The video written.

    Raises
    ------
    InputError
        Wrong dims, unknown frame rate, bad bands or value range, a baseline of another size.
    OutputError
        An unknown container or encoder, or an encoder failure (nothing is left behind).

    Examples
    --------
    >>> sr = satsr.upscale(satsr.open_video("clip.mp4", crs=crs, transform=t), "bicubic")  # doctest: +SKIP
    >>> satsr.to_video(sr, "clip_x4.mp4")  # doctest: +SKIP
    """
    sr = _pick_bands(_as_stack(sr, "to_video: the array"), bands, "to_video")
    n, nb = int(sr.sizes["time"]), int(sr.sizes["band"])
    h, w = int(sr.sizes["y"]), int(sr.sizes["x"])
    rate = _frames_per_second(sr, fps)
    base_idx = None
    if baseline is not None:
        baseline = _pick_bands(_as_stack(baseline, "to_video: baseline"), bands, "to_video baseline")
        if (int(baseline.sizes["y"]), int(baseline.sizes["x"])) != (h, w):
            raise InputError(
                f"baseline is {int(baseline.sizes['x'])} x {int(baseline.sizes['y'])} px but the array {w} x {h}; "
                "upscale the baseline to the same size"
            )
        base_idx = _baseline_frames(sr, baseline)
    if not isinstance(gap, int) or gap < 0:
        raise InputError(f"gap must be a whole number >= 0, got {gap!r}")
    out = Path(os.fspath(path))
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise OutputError(f"{out}: not a video file name; use one of {', '.join(VIDEO_SUFFIXES[:6])}...")
    try:
        av.codec.Codec(codec, "w")
    except Exception:  # noqa: BLE001 (PyAV raises UnknownCodecError or ValueError)
        raise OutputError(f"{out}: FFmpeg has no encoder {codec!r} here; try libx264, libx265, mpeg4 or ffv1") from None
    fmt = pix_fmt or _PIX_FMT.get(codec, "yuv420p")
    width = 2 * w + gap if baseline is not None else w
    height = h
    if fmt.startswith(("yuv420", "yuvj420", "nv12")):
        width, height = width + width % 2, height + height % 2  # chroma subsampling needs even sizes
    opts: dict[str, object] = {k: str(v) for k, v in (options or {}).items()}  # PyAV's Stream.options type
    if crf is not None and codec in ("libx264", "libx264rgb", "libx265", "libvpx-vp9", "libvpx"):
        opts.setdefault("crf", str(int(crf)))
    if codec == "libx265":
        opts.setdefault("x265-params", "log-level=error")
    gray = nb == 1

    def frame_of(arr: xr.DataArray, t: int) -> np.ndarray:
        values = np.asarray(arr.isel(time=t).values)
        return np.repeat(values, 3, axis=0) if gray else values

    limits = None
    canvas = np.zeros((height, width, 3), np.uint8)
    with atomic_output(out) as tmp:
        try:
            container = av.open(os.fspath(tmp), "w")
        except (av.FFmpegError, ValueError, OSError) as err:
            raise OutputError(f"{out}: cannot create the video ({_av_message(err)})") from err
        try:
            stream = container.add_stream(codec, rate=rate)
            if not isinstance(stream, av.VideoStream):
                raise OutputError(f"{out}: {codec!r} is not a video codec; try libx264, libx265, mpeg4 or ffv1")
            stream.width, stream.height, stream.pix_fmt = width, height, fmt
            stream.options = opts
            with bar(n, "writing video", "frame", enabled=progress) as counter:
                for t in range(n):
                    values = frame_of(sr, t)
                    if t == 0 and not (sr.dtype == np.uint8 and value_range is None):
                        limits = _stretch_limits(values, value_range)
                    right = _to_uint8(values, limits)
                    x0 = 0
                    if baseline is not None and base_idx is not None:
                        canvas[:h, :w] = _to_uint8(frame_of(baseline, int(base_idx[t])), limits).transpose(1, 2, 0)
                        x0 = w + gap
                    canvas[:h, x0 : x0 + w] = right.transpose(1, 2, 0)
                    frame = av.VideoFrame.from_ndarray(canvas, format="rgb24")
                    for packet in stream.encode(frame):
                        container.mux(packet)
                    counter.update(1)
                for packet in stream.encode():
                    container.mux(packet)
        except (av.FFmpegError, ValueError) as err:
            raise OutputError(f"{out}: encoding with {codec} failed ({_av_message(err)})") from err
        finally:
            container.close()
    if sidecar and baseline is None:
        try:
            grid = Grid.from_xarray(sr)
        except (GeoreferenceError, InputError):
            grid = None
        if grid is not None and grid.crs is not None and sr.attrs.get("georeferencing") != PIXEL_COORDS_NOTE:
            write_sidecar(out, grid)
    return out
