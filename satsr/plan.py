"""A plan before the run: what an ``upscale`` job will compute, hold and cost, from a short calibration.

:func:`plan_upscale` builds the job's graph (nothing is computed), counts its blocks, tasks, model forwards and
bytes, and times the model on a few windows cut from the real input, the size the job will use, to estimate the
run time on this machine and per worker. ``satsr upscale ... --dry-run`` prints it.

The estimate is the forwards' time: ``forwards x seconds per forward / workers``. Reading, stitching and writing
run beside the forwards on other threads; for a neural model they add little (the tests compare the estimate
with a measured run), for an interpolator they dominate and the estimate is a floor.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from torch import nn

from satsr._defaults import DEFAULT_MODEL
from satsr.engine import make_runner, resolve_device
from satsr.errors import InputError
from satsr.models import get_spec
from satsr.pipeline import upscale
from satsr.tiling import TilePlan, space_time_windows

__all__ = ["JobPlan", "format_duration", "plan_upscale"]


@dataclass(frozen=True)
class JobPlan:
    """What one ``upscale`` job computes and costs (see :func:`plan_upscale`)."""

    model: str
    device: str
    precision: str
    shape_in: tuple[int, ...]
    shape_out: tuple[int, ...]
    tile: int
    halo: int
    window: tuple[int, int]
    tiles_per_frame: int
    forwards: int
    blocks: int
    tasks: int
    bytes_in: int
    bytes_out: int
    seconds_per_forward: float
    memory_per_worker: int

    def seconds(self, workers: int = 1) -> float:
        """Estimated wall time of the forwards with ``workers`` workers (each with this machine's cores)."""
        if workers < 1:
            raise InputError(f"workers must be >= 1, got {workers}")
        return self.forwards * self.seconds_per_forward / workers

    def table(self, workers: tuple[int, ...] = (1, 2, 4)) -> str:
        """The plan as a short table for a terminal."""

        def mb(n: int) -> str:
            return f"{n / 2**20:,.1f} MB"

        rows = [
            ("model", f"{self.model} ({self.precision} on {self.device})"),
            ("input", f"{' x '.join(map(str, self.shape_in))} (time, band, y, x), {mb(self.bytes_in)}"),
            ("output", f"{' x '.join(map(str, self.shape_out))}, {mb(self.bytes_out)}"),
            ("tiles", f"{self.tile} px tiles, halo {self.halo}, windows {self.window[0]} x {self.window[1]}, "
                      f"{self.tiles_per_frame} per frame"),
            ("forwards", f"{self.forwards:,} model forwards, {self.seconds_per_forward:.3f} s each (calibrated)"),
            ("graph", f"{self.blocks:,} output blocks, {self.tasks:,} tasks"),
            ("memory", f"about {mb(self.memory_per_worker)} per worker"),
        ]
        rows += [(f"time, {w} worker{'s' if w > 1 else ''}", format_duration(self.seconds(w))) for w in workers]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def format_duration(s: float) -> str:
    """Seconds as a short human duration: ``12.3 s``, ``4.5 min``, ``2.1 h``."""
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def plan_upscale(da: xr.DataArray, model: str | nn.Module = DEFAULT_MODEL, *, calibration: int = 2,
                 seconds_per_forward: float | None = None, **options: Any) -> JobPlan:
    """Plan ``satsr.upscale(da, model, **options)`` without running it.

    Parameters
    ----------
    da : xarray.DataArray
        The input, as for :func:`satsr.upscale`.
    model : str or torch.nn.Module, default "lgtd-s"
    calibration : int, default 2
        Windows timed (after one warm-up forward) to estimate the seconds per forward.
    seconds_per_forward : float, optional
        A calibration already made (e.g. another scene's, with the same model, device and window size): nothing
        is timed.
    **options
        :func:`satsr.upscale`'s keyword arguments (``scale``, ``tile``, ``halo``, ``bands``, ``device``,
        ``precision``, ``pretrained``...).

    Returns
    -------
    JobPlan

    Raises
    ------
    InputError, ModelError, GeoreferenceError
        As :func:`satsr.upscale` (the job is validated the same way).
    """
    if calibration < 1:
        raise InputError(f"calibration must be >= 1 window, got {calibration}")
    if options.get("reference") is not None:
        raise InputError("plan_upscale does not plan reference-based jobs yet; run a small crop to time one")
    sr = upscale(da, model, **options)  # validates everything, builds the graph, computes nothing
    src = da if "time" in da.dims else da.expand_dims("time")
    if options.get("bands") is not None:
        src = src.sel(band=[int(b) for b in options["bands"]])
    if src.dims != ("time", "band", "y", "x"):
        src = src.transpose("time", "band", "y", "x")
    spec = get_spec(model)
    n_t, n_b, h, w = (int(v) for v in src.shape)
    s = int(sr.attrs["satsr_scale"])
    tile, halo = int(sr.attrs["satsr_tile"]), int(sr.attrs["satsr_halo"])
    # The job's own lattice, from what upscale recorded (tile, halo, blend and feather width as it chose them).
    plan = TilePlan((h, w), tile, halo, s, spec.multiple_of, str(sr.attrs["satsr_blend"]),  # type: ignore[arg-type]
                    int(sr.attrs["satsr_feather"]), n_frames=n_t, frames_in=spec.frames_in,
                    time_padding=spec.time_padding)  # type: ignore[arg-type]
    gy, gx = plan.grid_shape
    wh, ww = plan.window_shape
    windows_t = len(space_time_windows(n_t, spec.frames_in, spec.time_scale)) if spec.time_scale > 1 else n_t
    forwards = gy * gx * windows_t

    device = resolve_device(options.get("device", "auto"))
    runner = make_runner(model, options.get("scale"), options.get("model_options"), device, options.get("batch_size"),
                         options.get("pretrained"), options.get("precision", "auto"), options.get("compile", "auto"),
                         options.get("channels_last"), options.get("self_ensemble", False))
    per = seconds_per_forward
    if per is None:
        per = _calibrate(runner, src, spec.frames_in, (wh, ww), forwards, calibration)
    window_bytes = int(spec.bytes_per_pixel or 64) * spec.frames_in * wh * ww
    block_bytes = math.prod(max(cs) for cs in sr.data.chunks) * sr.dtype.itemsize
    n_params = sum(p.numel() for p in runner.model.parameters()) * 4
    return JobPlan(
        model=spec.name, device=str(device), precision=runner.precision, shape_in=(n_t, n_b, h, w),
        shape_out=tuple(int(v) for v in sr.shape), tile=tile, halo=halo, window=(wh, ww),
        tiles_per_frame=gy * gx, forwards=forwards, blocks=math.prod(sr.data.numblocks),
        tasks=len(sr.data.__dask_graph__()), bytes_in=int(src.nbytes), bytes_out=int(sr.nbytes),
        seconds_per_forward=per, memory_per_worker=window_bytes + 4 * block_bytes + n_params,
    )


def _calibrate(runner: Any, src: xr.DataArray, frames_in: int, window: tuple[int, int], forwards: int,
               calibration: int) -> float:
    """Seconds per forward of ``runner`` on real pixels of the job's first frames, one window in size."""
    wh, ww = window
    frames = list(range(min(frames_in, int(src.sizes["time"]))))
    cut = np.asarray(src.isel(time=frames, y=slice(0, wh), x=slice(0, ww)).values, dtype=np.float32)
    top = float(np.iinfo(src.dtype).max) if np.dtype(src.dtype).kind in "ui" else 1.0
    cut = np.clip(cut / top, 0, 1)
    # reflected where the image is smaller than one window
    cut = np.pad(cut, ((0, frames_in - len(frames)), (0, 0), (0, wh - cut.shape[-2]), (0, ww - cut.shape[-1])),
                 mode="edge")
    one = cut[None] if frames_in > 1 else cut[:1]
    # As many windows per forward as the job will batch (runner.choose_batch), up to the job's own count.
    batch = max(1, min(runner.choose_batch(tuple(one.shape[1:])), forwards))
    x = np.repeat(one, batch, axis=0)
    runner(x)  # warm-up: first-call allocations, OpenMP team, lazy kernels
    t0 = time.perf_counter()
    for _ in range(calibration):
        runner(x)
    return (time.perf_counter() - t0) / calibration / batch
