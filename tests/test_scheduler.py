"""Writers under every dask scheduler: threads, processes and a dask.distributed cluster (issue 20).

The cluster tests start a real 2-process ``LocalCluster`` (``processes=True``, one thread per worker) on a crop of
the real Landsat scene, and compare each product with the one the threaded scheduler writes.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import dask
import numpy as np
import pytest
import rasterio
import torch
from rasterio.windows import Window
from torch import nn

import satsr
from satsr import engine
from satsr.errors import OutputError
from satsr.io import write
from satsr.io.write import _active_get

distributed = pytest.importorskip("distributed")

CROP = 128


# -- data -----------------------------------------------------------------------------------------------------
def _crop(src: Path, dest: Path, offset: int = 0) -> Path:
    """A CROP x CROP window of a real scene (shifted by ``offset`` pixels), on the grid of the first crop."""
    with rasterio.open(src) as f:
        profile = f.profile.copy()
        data = f.read(window=Window(offset, offset, CROP, CROP))
        profile.update(width=CROP, height=CROP, transform=f.window_transform(Window(0, 0, CROP, CROP)),
                       tiled=False)
        profile.pop("blockxsize", None)
        profile.pop("blockysize", None)
    with rasterio.open(dest, "w", **profile) as f:
        f.write(data)
    return dest


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> list[Path]:
    """Two frames of one grid, cut from the real Landsat scene."""
    scene = shared_data / "geotiff" / "landsat8_rgb_30m_uint16.tif"
    folder = tmp_path_factory.mktemp("frames")
    return [_crop(scene, folder / "t0.tif"), _crop(scene, folder / "t1.tif", offset=64)]


def _read(path: Path) -> tuple[np.ndarray, dict, dict, list, int]:
    with rasterio.open(path) as f:
        return f.read(), f.profile, f.tags(), f.descriptions, len(f.overviews(1))


def _assert_same_files(got: list[Path], want: list[Path]) -> None:
    """Same names, pixels, profile, tags, band names and overviews."""
    assert [p.name for p in got] == [p.name for p in want]
    for g, w in zip(got, want):
        a, b = _read(g), _read(w)
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:] == b[1:]


def _no_temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".satsr-" in p.name)


# -- a small torch model (user module), optionally slow on workers ---------------------------------------------
class _Nearest(nn.Module):
    """x2 nearest-neighbour upscaling; sleeps ``delay`` s per forward outside the test process, or fails there."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1))  # something to ship
        self.delay, self.fail, self.home = delay, fail, os.getpid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if os.getpid() != self.home:
            if self.fail:
                raise RuntimeError("model failed on a worker")
            time.sleep(self.delay)
        return nn.functional.interpolate(x, scale_factor=2, mode="nearest") * self.weight


def _module(**kw: object) -> nn.Module:
    return satsr.models.wrap(_Nearest(**kw), scale=2, name="nearest-test")  # type: ignore[arg-type]


# -- cluster ----------------------------------------------------------------------------------------------------
def _cluster() -> distributed.LocalCluster:
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                    silence_logs=40)


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    with _cluster() as cluster, distributed.Client(cluster) as c:
        c.run(lambda: __import__("satsr.pipeline"))  # import torch & co. once per worker, before any timing
        yield c


def _threads() -> object:
    return dask.config.set(scheduler="threads")


# -- tests ------------------------------------------------------------------------------------------------------
def test_scheduler_detection() -> None:
    assert _active_get() is None  # no client here: arrays default to threads
    with dask.config.set(scheduler="sync"):
        assert _active_get() is None
    with dask.config.set(scheduler="processes"):
        assert _active_get() is not None


def test_unknown_scheduler_is_refused(frames: list[Path], tmp_path: Path) -> None:
    def custom_get(dsk: object, keys: object, **kw: object) -> object:
        raise AssertionError("must not run")

    sr = satsr.upscale(satsr.open_stack(frames[0]), "bicubic", scale=2)
    with dask.config.set(scheduler=custom_get), pytest.raises(OutputError, match="not supported"):
        satsr.to_cog(sr, tmp_path / "out.tif")
    assert not any(tmp_path.iterdir())


def test_user_module_runner_is_built_once_per_process() -> None:
    runner = engine.make_runner(_module(), None, None, torch.device("cpu"), None)
    blob = pickle.dumps(runner)
    first, second = pickle.loads(blob), pickle.loads(pickle.dumps(runner))
    assert first is second and first is not runner  # one runner per process, not one per task
    assert pickle.loads(pickle.dumps(first)) is first  # passed on under the same token
    again = pickle.loads(pickle.dumps(engine.make_runner(_module(), None, None, torch.device("cpu"), None)))
    assert again is not first  # another upscale call, another module: its own runner


@pytest.mark.slow
def test_processes_scheduler(frames: list[Path], tmp_path: Path) -> None:
    sr = satsr.upscale(satsr.open_stack(frames), "bicubic", scale=2)
    with _threads():
        want_cog = satsr.to_cog(sr, tmp_path / "threads_cog")
        want_tif = satsr.to_geotiff(sr, tmp_path / "threads_tif")
        want = satsr.to_zarr(sr, tmp_path / "threads.zarr")
    # One pool of 2 spawned processes for the three writes (dask would start one per computation).
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool, \
            dask.config.set(scheduler="processes", pool=pool):
        assert _active_get() is not None
        _assert_same_files(satsr.to_cog(sr, tmp_path / "cog"), want_cog)
        _assert_same_files(satsr.to_geotiff(sr, tmp_path / "tif"), want_tif)
        got = satsr.to_zarr(sr, tmp_path / "cube.zarr")
    with _threads():
        np.testing.assert_array_equal(satsr.open_zarr(got).values, satsr.open_zarr(want).values)
    assert _no_temporaries(tmp_path) == []


def _must_not_run(*args: object, **kwargs: object) -> None:
    raise AssertionError("this write path must not be taken here")


@pytest.mark.slow
@pytest.mark.parametrize("assemble", ["workers", "client"])
def test_writers_under_a_client(client: distributed.Client, frames: list[Path], tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch, assemble: str) -> None:
    # "workers": the workers write the blocks and assemble the files, no pixel passes through this process (the
    # pull path would fail); "client": the blocks are pulled here and written by this process.
    monkeypatch.setenv(write.ASSEMBLE_ENV, assemble)
    monkeypatch.setattr(write, "_pull_blocks" if assemble == "workers" else "_write_on_workers", _must_not_run)
    sr = satsr.upscale(satsr.open_stack(frames), "bicubic", scale=2)
    with _threads():
        want_cog = satsr.to_cog(sr, tmp_path / "threads_cog")
        want_tif = satsr.to_geotiff(sr, tmp_path / "threads_tif")
        want_one = satsr.to_cog(sr.isel(time=[0]), tmp_path / "threads" / "one.tif")
        want = satsr.to_zarr(sr, tmp_path / "threads.zarr")
    assert _active_get() is not None  # the client is the default scheduler now
    got_cog = satsr.to_cog(sr, tmp_path / "cog")
    _assert_same_files(got_cog, want_cog)
    for g, w in zip(got_cog, want_cog):
        assert g.read_bytes() == w.read_bytes()  # the COG driver lays out the same bytes whatever the block order
    _assert_same_files(satsr.to_geotiff(sr, tmp_path / "tif"), want_tif)
    _assert_same_files(satsr.to_cog(sr.isel(time=[0]), tmp_path / "one.tif"), want_one)
    got = satsr.to_zarr(sr, tmp_path / "cube.zarr")
    with _threads():
        np.testing.assert_array_equal(satsr.open_zarr(got).values, satsr.open_zarr(want).values)
    assert _no_temporaries(tmp_path) == []


def test_assemble_setting_is_checked(client: distributed.Client, frames: list[Path], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(write.ASSEMBLE_ENV, "everywhere")
    with pytest.raises(OutputError, match="SATSR_ASSEMBLE='everywhere'"):
        satsr.to_cog(satsr.open_stack(frames), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_workers_see_the_output_folder(client: distributed.Client, tmp_path: Path) -> None:
    # a LocalCluster's workers share this machine's disk; a folder that does not exist is seen by nobody
    assert write._workers_see(client, tmp_path)
    assert not write._workers_see(client, tmp_path / "missing")
    assert list(tmp_path.iterdir()) == []  # the probe file is gone


@pytest.mark.slow
def test_user_module_under_a_client(client: distributed.Client, frames: list[Path], tmp_path: Path) -> None:
    model = _module()
    with _threads():
        want = satsr.to_cog(satsr.upscale(satsr.open_stack(frames), model, tile=32, batch_size=1), tmp_path / "a")
    got = satsr.to_cog(satsr.upscale(satsr.open_stack(frames), model, tile=32, batch_size=1), tmp_path / "b")
    _assert_same_files(got, want)
    # Each worker built the module's runner once (a cache entry per token), not once per task.
    counts = client.run(lambda: len(engine._MODULE_RUNNERS))
    assert set(counts.values()) <= {0, 1}, counts


@pytest.mark.slow
def test_worker_error_propagates_and_leaves_nothing(client: distributed.Client, frames: list[Path],
                                                    tmp_path: Path) -> None:
    sr = satsr.upscale(satsr.open_stack(frames), _module(fail=True), tile=64, batch_size=1)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="model failed on a worker"):
        satsr.to_cog(sr, out)
    assert not out.exists()  # the folder this call made is gone again, and nothing is left in tmp_path
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_worker_killed_mid_run(client: distributed.Client, frames: list[Path], tmp_path: Path) -> None:
    # Last in this file: the nanny restarts the killed worker, but leave the other tests an undisturbed cluster.
    # 2 frames x 16 blocks of 32 x 32 (one tile each), 0.15 s per forward on a worker: about 2.5 s on 2 workers.
    model = _module(delay=0.15)
    with _threads():
        want = satsr.to_cog(satsr.upscale(satsr.open_stack(frames), model, tile=32, batch_size=1), tmp_path / "a")
    sr = satsr.upscale(satsr.open_stack(frames), model, tile=32, batch_size=1)
    client.wait_for_workers(2)
    victim = next(iter(client.run(os.getpid).values()))
    killed: list[float] = []

    def kill() -> None:
        # once the computation has been running a while, i.e. with blocks done and blocks to go
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done = client.run_on_scheduler(lambda dask_scheduler: sum(
                1 for ts in dask_scheduler.tasks.values() if ts.state == "memory"))
            if done >= 8:
                os.kill(victim, signal.SIGKILL)
                killed.append(time.monotonic())
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill)
    killer.start()
    got = satsr.to_cog(sr, tmp_path / "b")
    finished = time.monotonic()
    killer.join()
    assert killed and killed[0] < finished, "the worker was not killed while the job ran"
    assert victim not in client.run(os.getpid).values()
    _assert_same_files(got, want)
    assert _no_temporaries(tmp_path) == []
