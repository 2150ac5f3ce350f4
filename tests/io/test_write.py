"""Tests for satsr.io.write (COG / GeoTIFF writers) and satsr.io._atomic, on real files."""

from __future__ import annotations

import json
import threading
import warnings
from pathlib import Path

import dask.array as dska
import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning
from rio_cogeo.cogeo import cog_validate

from satsr.errors import InputError, OutputError
from satsr.geo import Grid
from satsr.io._atomic import atomic_output
from satsr.io.coords import assign_grid
from satsr.io.read import open_stack
from satsr.io.write import package_version, to_cog, to_geotiff
from satsr.testing import write_geotiff

T0 = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0)
BANDS = ("red", "green", "nir")


write_tif = write_geotiff


def random_frame(shape: tuple[int, int, int], dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.normal(100.0, 20.0, shape).astype(dtype)
    return rng.integers(1, 3000, shape).astype(dtype)


@pytest.fixture
def frames(tmp_path: Path) -> list[Path]:
    """Two 3-band uint16 37x53 frames with nodata 0, band names and acquisition times."""
    paths = []
    for i in range(2):
        data = random_frame((3, 37, 53), "uint16", i)
        data[:, :2, :3] = 0  # some nodata pixels
        paths.append(
            write_tif(
                tmp_path / "in" / f"scene_{i + 1}.tif", data, nodata=0, descriptions=BANDS,
                datetime=f"2023:07:0{i + 1} 10:30:0{i}",
            )
        )
    return paths


@pytest.fixture
def float_frame(tmp_path: Path) -> Path:
    """One 2-band float32 37x53 frame with NaN nodata and some NaN pixels."""
    data = random_frame((2, 37, 53), "float32", 7)
    data[1, 10:12, 20:25] = np.nan
    return write_tif(tmp_path / "in" / "float.tif", data, nodata=float("nan"), descriptions=("a", "b"))


def out_dir(tmp_path: Path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def read_all(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


# -- COG ------------------------------------------------------------------------------------------------------
def test_single_frame_cog_keeps_values_grid_and_metadata(frames, tmp_path):
    stack = open_stack(frames[0], chunks=16)
    stack.attrs.update(satsr_model="bicubic", satsr_scale=np.int64(4))
    dest = out_dir(tmp_path) / "sr.tif"

    written = to_cog(stack, dest)

    assert written == [dest]
    is_valid, errors, warns = cog_validate(str(dest))
    assert is_valid and not errors, errors
    assert listing(dest.parent) == ["sr.tif"]  # no temporary left behind
    with rasterio.open(dest) as out, rasterio.open(frames[0]) as src:
        np.testing.assert_array_equal(out.read(), src.read())
        assert out.crs == src.crs and out.transform == src.transform
        assert out.nodata == 0 and out.dtypes == src.dtypes
        assert out.descriptions == BANDS
        assert out.compression.value == "DEFLATE"
        assert out.block_shapes[0] == (512, 512)
        tags = out.tags()
    assert tags["TIFFTAG_DATETIME"] == "2023:07:01 10:30:00"
    assert json.loads(tags["satsr"]) == {"model": "bicubic", "scale": 4, "version": package_version()}


def test_folder_gets_one_cog_per_frame_named_after_sources(frames, tmp_path):
    stack = open_stack(frames, chunks=16)
    dest = tmp_path / "new_folder"  # created: its parent exists

    written = to_cog(stack, dest)

    assert written == [dest / "scene_1.tif", dest / "scene_2.tif"]
    assert listing(dest) == ["scene_1.tif", "scene_2.tif"]
    for i, (src, out) in enumerate(zip(frames, written)):
        assert cog_validate(str(out))[0]
        np.testing.assert_array_equal(read_all(out), read_all(src))
        with rasterio.open(out) as ds:
            assert ds.tags()["TIFFTAG_DATETIME"] == f"2023:07:0{i + 1} 10:30:0{i}"
            assert json.loads(ds.tags()["satsr"]) == {"version": package_version()}
    # The written files read back into the same stack.
    back = open_stack(written)
    np.testing.assert_array_equal(back.values, stack.values)
    assert Grid.from_xarray(back) == Grid.from_xarray(stack)
    np.testing.assert_array_equal(back["time"].values, stack["time"].values)


def test_frame_names_fall_back_to_indices(frames, tmp_path):
    clash = [write_tif(tmp_path / d / "scene.tif", read_all(f), nodata=0) for d, f in zip("ab", frames)]
    stack = open_stack(clash)
    d1 = tmp_path / "clash"
    assert [p.name for p in to_cog(stack, d1)] == ["frame_0000.tif", "frame_0001.tif"]
    d2 = tmp_path / "nosource"
    assert [p.name for p in to_geotiff(stack.drop_vars("source"), d2)] == ["frame_0000.tif", "frame_0001.tif"]
    np.testing.assert_array_equal(read_all(d2 / "frame_0001.tif"), read_all(frames[1]))


def test_float_nan_nodata_from_numpy_backed_array(float_frame, tmp_path):
    stack = open_stack(float_frame).load()  # in-memory NumPy array: written through dask all the same
    assert isinstance(stack.data, np.ndarray)
    dest = out_dir(tmp_path) / "f.tif"

    to_cog(stack, dest, compress="zstd")

    assert cog_validate(str(dest))[0]
    with rasterio.open(dest) as out:
        assert out.dtypes[0] == "float32" and np.isnan(out.nodata)
        assert out.descriptions == ("a", "b")
        np.testing.assert_array_equal(out.read(), read_all(float_frame))  # NaNs compare equal here


def test_large_image_gets_overviews(tmp_path):
    rng = np.random.default_rng(3)
    src = write_tif(tmp_path / "in" / "big.tif", rng.integers(0, 255, (1, 900, 1100), dtype=np.uint8))
    stack = open_stack(src, chunks=256)
    out = out_dir(tmp_path)

    with_ovr = to_cog(stack, out / "ovr.tif")[0]
    without = to_cog(stack, out / "flat.tif", overviews=False, blocksize=256)[0]

    is_valid, errors, _ = cog_validate(str(with_ovr))
    assert is_valid and not errors
    with rasterio.open(with_ovr) as ds:
        assert ds.overviews(1) == [2, 4]  # down to the first level that fits in one 512 block
        np.testing.assert_array_equal(ds.read(), read_all(src))
    with rasterio.open(without) as ds:
        assert ds.overviews(1) == [] and ds.block_shapes[0] == (256, 256)
        np.testing.assert_array_equal(ds.read(), read_all(src))
    assert cog_validate(str(without))[0]


def test_graph_is_computed_once_for_all_frames(frames, tmp_path):
    stack = open_stack(frames, chunks=16)
    calls: list[int] = []
    lock = threading.Lock()

    def counted(block: np.ndarray) -> np.ndarray:
        with lock:
            calls.append(1)
        return block

    stack = stack.copy(data=stack.data.map_blocks(counted, meta=np.empty((0,) * 4, stack.dtype)))
    n_chunks = stack.data.npartitions

    to_cog(stack, tmp_path / "once")

    assert len(calls) == n_chunks == 2 * 3 * 4


@pytest.mark.parametrize("writer", [to_cog, to_geotiff])
def test_a_compute_inside_a_task_does_not_deadlock_one_thread(frames, tmp_path, writer):
    """A block that computes another dask array (a lazy reference's window, read for each tile) while dask has
    one thread: the writer's pool once ran that inner compute too, and waited for ever for its only worker."""
    import dask

    stack = open_stack(frames, chunks=16)
    other = open_stack(frames[::-1], chunks=16)  # lazy, read inside each block

    def with_inner_compute(block: np.ndarray) -> np.ndarray:
        return block + (other.isel(time=0, band=0, y=slice(0, 1), x=slice(0, 1)).values * 0).astype(block.dtype)

    stack = stack.copy(data=stack.data.map_blocks(with_inner_compute, meta=np.empty((0,) * 4, stack.dtype)))
    done: list[object] = []

    def write() -> None:
        with dask.config.set(num_workers=1):
            done.append(writer(stack, tmp_path / "out"))

    worker = threading.Thread(target=write, daemon=True)
    worker.start()
    worker.join(60)
    assert done, "the write did not finish within 60 s (deadlocked)"
    assert np.array_equal(read_all(tmp_path / "out" / "scene_1.tif"), open_stack(frames).isel(time=0).values)


def test_sliced_array_is_written_at_its_own_place(frames, tmp_path):
    stack = open_stack(frames[0], chunks=16).isel(x=slice(10, 30), y=slice(5, 20))
    dest = out_dir(tmp_path) / "crop.tif"
    to_cog(stack, dest)
    with rasterio.open(dest) as out:
        assert out.transform == T0 @ Affine.translation(10, 5)
        assert out.shape == (15, 20)
        np.testing.assert_array_equal(out.read(), read_all(frames[0])[:, 5:20, 10:30])


def test_user_tags_and_progress_bar(frames, tmp_path, capsys, caplog, monkeypatch):
    stack = open_stack(frames[0], chunks=16)
    dest = out_dir(tmp_path) / "t.tif"
    caplog.set_level("INFO", logger="satsr")
    to_cog(stack, dest, tags={"mission": "demo", "level": 2}, progress=True)  # type: ignore[dict-item]
    with rasterio.open(dest) as out:
        tags = out.tags()
    assert tags["mission"] == "demo" and tags["level"] == "2"
    assert json.loads(tags["satsr"])["tags"] == {"mission": "demo", "level": "2"}
    # not on a terminal: a log line (satsr.progress), the count of dask tasks written
    assert any(r.getMessage().startswith("writing: ") and r.getMessage().endswith("done") for r in caplog.records)
    monkeypatch.setenv("SATSR_PROGRESS", "bar")  # a terminal's bar
    to_cog(stack, dest.with_name("u.tif"), progress=True)
    assert "writing" in capsys.readouterr().err


# -- plain GeoTIFF --------------------------------------------------------------------------------------------
def test_geotiff_is_tiled_and_compressed(frames, tmp_path):
    stack = open_stack(frames, chunks=16)
    written = to_geotiff(stack, tmp_path / "g", blocksize=32, compress="lzw")
    assert [p.name for p in written] == ["scene_1.tif", "scene_2.tif"]
    for src, out in zip(frames, written):
        with rasterio.open(out) as ds:
            assert ds.block_shapes[0] == (32, 32) and ds.compression.value == "LZW"
            assert ds.overviews(1) == []
            assert ds.nodata == 0 and ds.descriptions == BANDS
            assert "satsr" in ds.tags() and "TIFFTAG_DATETIME" in ds.tags()
            np.testing.assert_array_equal(ds.read(), read_all(src))
    assert listing(tmp_path / "g") == ["scene_1.tif", "scene_2.tif"]


def test_integer_time_gives_no_datetime_tag(frames, tmp_path):
    stack = open_stack(frames, chunks=16, times=[0, 1])
    written = to_geotiff(stack, tmp_path / "g")
    with rasterio.open(written[0]) as ds:
        assert "TIFFTAG_DATETIME" not in ds.tags()


def test_existing_output_is_replaced(frames, tmp_path):
    dest = out_dir(tmp_path) / "x.tif"
    dest.write_bytes(b"old")
    to_cog(open_stack(frames[1]), dest)
    np.testing.assert_array_equal(read_all(dest), read_all(frames[1]))


# -- pixel coordinates ----------------------------------------------------------------------------------------
def test_pixel_coordinate_arrays_write_without_crs(tmp_path):
    data = random_frame((1, 37, 53), "uint16", 1)
    src = write_tif(tmp_path / "in" / "plain.tif", data, crs=None, transform=None)
    stack = open_stack(src, allow_ungeoreferenced=True)
    dest = out_dir(tmp_path) / "plain_sr.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        to_cog(stack, dest)
        with rasterio.open(dest) as out:
            assert out.crs is None and out.transform == Affine.identity()
            np.testing.assert_array_equal(out.read(), data)

    # A super-resolved pixel grid: no CRS, quarter-pixel transform kept.
    zoomed = Grid((37, 53), Affine.identity()).zoom(4)
    arr = xr.DataArray(
        dska.zeros((1, 1, 148, 212), dtype="uint8", chunks=(1, 1, 64, 64)), dims=("time", "band", "y", "x")
    )
    arr = assign_grid(arr, zoomed)
    dest2 = tmp_path / "out" / "zoomed.tif"
    to_cog(arr, dest2)
    with rasterio.open(dest2) as out:
        assert out.crs is None and out.transform == Affine.scale(0.25)
        assert out.descriptions == (None,)


# -- refusals -------------------------------------------------------------------------------------------------
def test_multi_frame_stack_to_tif_path_is_refused(frames, tmp_path):
    out = out_dir(tmp_path)
    with pytest.raises(OutputError, match="pass a folder"):
        to_cog(open_stack(frames), out / "two.tif")
    with pytest.raises(OutputError, match="pass a folder"):
        to_geotiff(open_stack(frames), out / "two.TIFF")
    assert listing(out) == []


@pytest.mark.parametrize("writer", [to_cog, to_geotiff])
@pytest.mark.parametrize("target", ["missing/deeper/sr.tif", "missing/deeper/folder"])
def test_missing_output_folders_are_created_and_removed_on_failure(frames, tmp_path, writer, target):
    stack = open_stack(frames[:1])
    written = writer(stack, tmp_path / "new" / target)
    assert written[0].is_file() and written[0].parent.parent.name in ("deeper", "missing")
    np.testing.assert_array_equal(read_all(written[0]), read_all(frames[0]))

    def explode(block):
        raise RuntimeError("boom")

    before = listing(tmp_path)
    broken = stack.copy(data=stack.data.map_blocks(explode, dtype=stack.dtype))
    with pytest.raises(RuntimeError, match="boom"):
        writer(broken, tmp_path / "gone" / target)
    assert listing(tmp_path) == before  # the folders it made are gone with the failed output


def test_a_file_in_the_way_of_the_output_folder_is_refused(frames, tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="afile is a file, not a folder"):
        to_cog(open_stack(frames[:1]), tmp_path / "afile" / "sub" / "sr.tif")


def test_file_where_folder_expected_is_refused(frames, tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        to_cog(open_stack(frames), tmp_path / "afile")


def test_bad_arguments_are_refused_before_writing(frames, tmp_path):
    stack = open_stack(frames, chunks=16)
    out = out_dir(tmp_path)
    with pytest.raises(InputError, match="transpose"):
        to_cog(stack.transpose("time", "y", "x", "band"), out)
    with pytest.raises(InputError, match="dtype bool"):
        to_cog(stack > 5, out)
    bad_nodata = stack.copy()
    bad_nodata.attrs["_FillValue"] = -9999
    with pytest.raises(InputError, match="cannot be stored as uint16"):
        to_cog(bad_nodata, out)
    with pytest.raises(InputError, match="compress"):
        to_cog(stack, out, compress="bogus")
    with pytest.raises(InputError, match="compress"):
        to_cog(stack, out, compress="packbits")  # GTiff only
    with pytest.raises(InputError, match="multiple of 16"):
        to_geotiff(stack, out, blocksize=100)
    with pytest.raises(InputError, match="reserved"):
        to_cog(stack, out, tags={"satsr": "x"})
    with pytest.raises(InputError):
        to_cog(stack.values, out)  # type: ignore[arg-type]
    assert listing(out) == []


# -- failures part-way --------------------------------------------------------------------------------------
def failing(stack: xr.DataArray) -> xr.DataArray:
    """The same stack, whose chunk (frame 1, rows 16:32, cols 16:32) raises when computed."""

    def boom(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        if block_info is not None and block_info[0]["chunk-location"] == (1, 0, 1, 1):
            raise RuntimeError("model exploded")
        return block

    return stack.copy(data=stack.data.map_blocks(boom, dtype=stack.dtype))


@pytest.mark.parametrize("writer", [to_cog, to_geotiff])
def test_failure_mid_write_leaves_no_file(frames, tmp_path, writer):
    stack = failing(open_stack(frames, chunks=16))
    existing = out_dir(tmp_path)
    with pytest.raises(RuntimeError, match="model exploded"):
        writer(stack, existing)
    assert listing(existing) == []  # no final file, no hidden temporary

    with pytest.raises(RuntimeError, match="model exploded"):
        writer(stack, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()  # the folder this call created is removed again

    single = failing(open_stack(frames, chunks=16)).isel(time=[1])
    previous = existing / "one.tif"
    previous.write_bytes(b"previous output")
    with pytest.raises(RuntimeError, match="model exploded"):
        writer(single, previous)
    assert listing(existing) == ["one.tif"] and previous.read_bytes() == b"previous output"


# -- atomic_output --------------------------------------------------------------------------------------------
def test_atomic_output_renames_on_success(tmp_path):
    dest = tmp_path / "a.tif"
    with atomic_output(dest) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".a.tif.satsr-tmp-") and tmp.suffix == ".tif"
        assert not tmp.exists()
        tmp.write_text("done")
    assert dest.read_text() == "done" and listing(tmp_path) == ["a.tif"]


def test_atomic_output_cleans_up_on_error(tmp_path):
    dest = tmp_path / "a.tif"
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(dest) as tmp:
            tmp.write_text("half")
            Path(str(tmp) + ".aux.xml").write_text("gdal side file")
            raise KeyboardInterrupt
    assert listing(tmp_path) == []

    store = tmp_path / "s.zarr"
    with pytest.raises(ValueError):
        with atomic_output(store) as tmp:
            (tmp / "sub").mkdir(parents=True)
            (tmp / "sub" / "chunk").write_text("x")
            raise ValueError("stop")
    assert listing(tmp_path) == []


def test_atomic_output_replaces_folders_and_checks_parent(tmp_path):
    store = tmp_path / "s.zarr"
    store.mkdir()
    (store / "old").write_text("old")
    with atomic_output(store) as tmp:
        tmp.mkdir()
        (tmp / "new").write_text("new")
    assert listing(store) == ["new"] and listing(tmp_path) == ["s.zarr"]

    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / "nope" / "deeper" / "a.tif") as tmp:
            tmp.write_text("half")
            raise RuntimeError("the writer failed")
    assert not (tmp_path / "nope").exists()  # created for the write, removed with it
    with atomic_output(tmp_path / "nope" / "deeper" / "a.tif") as tmp:
        tmp.write_text("whole")
    assert (tmp_path / "nope" / "deeper" / "a.tif").read_text() == "whole"
    with pytest.raises(OutputError, match="nothing was written"):
        with atomic_output(tmp_path / "empty.tif"):
            pass
    assert listing(tmp_path) == ["nope", "s.zarr"]


def test_compression_level_is_applied_and_checked(tmp_path):
    import rasterio as _rio

    from satsr.errors import InputError as _InputError
    from satsr.io.read import open_stack as _open
    from satsr.io.write import to_cog as _to_cog
    from satsr.io.write import to_geotiff as _to_geotiff

    src = tmp_path / "lv.tif"
    data = (np.add.outer(np.arange(300), np.arange(320)) % 251).astype("uint8")[None]
    with _rio.open(src, "w", driver="GTiff", width=320, height=300, count=1, dtype="uint8", crs="EPSG:32633",
                   transform=_rio.Affine(10, 0, 0, 0, -10, 0)) as dst:
        dst.write(data)
    da_ = _open(src)
    fast = _to_cog(da_, tmp_path / "fast.tif")[0]
    small = _to_cog(da_, tmp_path / "small.tif", level=9)[0]
    with _rio.open(fast) as a, _rio.open(small) as b:
        np.testing.assert_array_equal(a.read(), b.read())
    assert small.stat().st_size <= fast.stat().st_size
    with pytest.raises(_InputError, match="out of range for deflate"):
        _to_cog(da_, tmp_path / "bad.tif", level=13)
    with pytest.raises(_InputError, match="takes no level"):
        _to_geotiff(da_, tmp_path / "bad.tif", compress="lzw", level=3)
    assert not (tmp_path / "bad.tif").exists()


def test_cog_conversion_overlaps_the_computation_of_later_frames(tmp_path, monkeypatch):
    """Frame 0's COG is encoded while the last frame is still being computed (not after the whole stack)."""
    import time

    import dask

    from satsr.io import write as w

    paths = [write_tif(tmp_path / "in" / f"f{i}.tif", random_frame((1, 64, 64), "uint16", i)) for i in range(4)]
    stack = open_stack(paths, chunks=32)
    events = []

    def slow(block):
        time.sleep(0.05)
        return block

    real = w._convert_to_cog

    def spy(stage, dest, label, *a, **kw):
        events.append(("convert", Path(label).name, time.perf_counter()))
        return real(stage, dest, label, *a, **kw)

    monkeypatch.setattr(w, "_convert_to_cog", spy)
    sr = stack.copy(data=stack.data.map_blocks(slow, dtype=stack.dtype))
    t_end = {}
    real_store = w._store

    def store(sources, writers, progress):
        real_store(sources, writers, progress)
        t_end["computed"] = time.perf_counter()

    monkeypatch.setattr(w, "_store", store)
    with dask.config.set(num_workers=1):
        files = to_cog(sr, tmp_path / "out")
    assert [f.name for f in files] == ["f0.tif", "f1.tif", "f2.tif", "f3.tif"]
    first = min(t for _, _, t in events)
    assert first < t_end["computed"]  # at least one frame was converted before the computation ended
    for f, p in zip(files, paths):
        np.testing.assert_array_equal(read_all(f), read_all(p))


def test_cog_conversion_error_removes_every_output(frames, tmp_path, monkeypatch):
    from satsr.errors import OutputError
    from satsr.io import write as w

    real = w._convert_to_cog

    def fail_second(stage, dest, label, *a, **kw):
        if Path(label).name == "scene_2.tif":
            raise OutputError(f"{label}: conversion to COG failed (disk full); check free disk space")
        return real(stage, dest, label, *a, **kw)

    monkeypatch.setattr(w, "_convert_to_cog", fail_second)
    dest = out_dir(tmp_path)
    with pytest.raises(OutputError, match="scene_2.tif: conversion to COG failed"):
        to_cog(open_stack(frames, chunks=16), dest)
    assert listing(dest) == []
