"""Tests for satsr.io.zarr_cube: zarr v3 round trips on real files."""

from __future__ import annotations

import json
import pathlib
from pathlib import Path

import dask.array as dska
import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine

from satsr.errors import InputError, OutputError
from satsr.geo import Grid
from satsr.io.coords import assign_grid
from satsr.io.read import open_stack
from satsr.io.zarr_cube import open_zarr, to_zarr
from satsr.testing import write_geotiff

T0 = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0)


write_tif = write_geotiff


@pytest.fixture
def stack(tmp_path: Path) -> xr.DataArray:
    """Two 3-band uint16 37x53 frames, nodata 0, band names and times, in 16-pixel chunks."""
    rng = np.random.default_rng(0)
    paths = [
        write_tif(
            tmp_path / "in" / f"scene_{i}.tif", rng.integers(0, 3000, (3, 37, 53)).astype("uint16"), nodata=0,
            descriptions=("red", "green", "nir"), datetime=f"2023:07:0{i + 1} 10:30:00",
        )
        for i in range(2)
    ]
    out = open_stack(paths, chunks=16)
    out.attrs.update(satsr_model="bicubic", satsr_scale=4)
    return out


@pytest.fixture
def float_stack(tmp_path: Path) -> xr.DataArray:
    """One 2-band float32 frame with NaN nodata and NaN pixels; integer time."""
    data = np.random.default_rng(1).normal(size=(2, 37, 53)).astype("float32")
    data[0, :4, :4] = np.nan
    p = write_tif(tmp_path / "in" / "f.tif", data, nodata=float("nan"))
    return open_stack(p, chunks=32)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # rioxarray uses Affine * Affine
def test_round_trip_keeps_values_grid_coords_and_attrs(stack, tmp_path):
    dest = tmp_path / "cube.zarr"

    assert to_zarr(stack, dest) == dest

    assert sorted(p.name for p in tmp_path.iterdir()) == ["cube.zarr", "in"]  # no temporary left
    back = open_zarr(dest)
    assert isinstance(back.data, dska.Array)  # lazy
    assert back.dims == ("time", "band", "y", "x") and back.dtype == np.uint16
    assert back.data.chunksize == (1, 3, 16, 16)
    np.testing.assert_array_equal(back.values, stack.values)
    assert Grid.from_xarray(back) == Grid.from_xarray(stack)
    for name in ("time", "band", "x", "y"):
        np.testing.assert_array_equal(back[name].values, stack[name].values)
    assert back["time"].dtype.kind == "M"
    assert back["description"].values.tolist() == ["red", "green", "nir"]
    assert back["source"].values.tolist() == stack["source"].values.tolist()
    assert back["source"].dtype.kind == "U"
    assert back.attrs == stack.attrs
    assert back.coords["spatial_ref"].attrs["GeoTransform"] == stack.coords["spatial_ref"].attrs["GeoTransform"]
    assert back.rio.crs.to_epsg() == 32621 and back.rio.transform() == T0


def test_store_is_zarr_v3_with_crs_and_transform_attrs(stack, tmp_path):
    dest = to_zarr(stack, tmp_path / "cube.zarr")
    root = json.loads((dest / "zarr.json").read_text())
    assert root["zarr_format"] == 3 and root["node_type"] == "group"
    meta = json.loads((dest / stack.name / "zarr.json").read_text())
    assert meta["zarr_format"] == 3
    assert meta["chunk_grid"]["configuration"]["chunk_shape"] == [1, 3, 16, 16]
    attrs = meta["attributes"]
    assert attrs["transform"] == [30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0]
    assert rasterio.crs.CRS.from_wkt(attrs["crs_wkt"]).to_epsg() == 32621
    assert attrs["grid_mapping"] == "spatial_ref"
    assert (dest / "spatial_ref" / "zarr.json").is_file()


def test_float_nan_nodata_and_integer_time(float_stack, tmp_path):
    back = open_zarr(to_zarr(float_stack, tmp_path / "f.zarr"))
    assert back.dtype == np.float32 and np.isnan(back.attrs["_FillValue"])
    np.testing.assert_array_equal(back.values, float_stack.values)
    assert back["time"].values.tolist() == [0]
    assert Grid.from_xarray(back) == Grid.from_xarray(float_stack)


def test_pixel_coordinate_array(tmp_path):
    grid = Grid((40, 24), Affine.scale(0.25))  # no CRS: a super-resolved pixel grid
    arr = xr.DataArray(
        dska.arange(2 * 40 * 24, dtype="int16", chunks=40 * 24).reshape((2, 1, 40, 24)),
        dims=("time", "band", "y", "x"), coords={"time": [0.0, 0.5]}, name="frames",
    )
    arr = assign_grid(arr, grid)
    dest = to_zarr(arr, tmp_path / "p.zarr")
    meta = json.loads((dest / "frames" / "zarr.json").read_text())["attributes"]
    assert "crs_wkt" not in meta and meta["transform"] == [0.25, 0.0, 0.0, 0.0, 0.25, 0.0]
    back = open_zarr(dest)
    assert Grid.from_xarray(back) == grid
    np.testing.assert_array_equal(back.values, arr.values)
    assert back["time"].values.tolist() == [0.0, 0.5]


def test_unserialisable_attrs_and_numpy_data(stack, tmp_path):
    arr = stack.load()  # NumPy-backed
    arr.attrs.update(
        nothing=None, pair=(1, 2), path=pathlib.Path("a/b"), when=np.datetime64("2020-01-02"),
        scale=np.float32(0.5), nested={"k": (np.int64(3),)}, grid_mapping="spatial_ref",
    )
    arr["x"].attrs["odd"] = (1, 2)
    before = dict(arr.attrs)

    back = open_zarr(to_zarr(arr, tmp_path / "a.zarr"))

    assert arr.attrs == before  # the caller's array is untouched
    assert back.attrs["pair"] == [1, 2] and back.attrs["path"] == "a/b" and back.attrs["when"] == "2020-01-02"
    assert back.attrs["scale"] == 0.5 and back.attrs["nested"] == {"k": [3]} and back.attrs["nothing"] is None
    assert back["x"].attrs["odd"] == [1, 2]
    assert back.data.chunksize == (1, 3, 37, 53)
    np.testing.assert_array_equal(back.values, stack.values)


def test_sliced_and_rechunked_array(stack, tmp_path):
    part = stack.isel(x=slice(5, 50), y=slice(3, 30)).chunk({"y": 10, "x": (20, 25)})
    back = open_zarr(to_zarr(part, tmp_path / "s.zarr", progress=True))
    assert Grid.from_xarray(back) == Grid.from_xarray(part)
    assert Grid.from_xarray(back).transform == T0 @ Affine.translation(5, 3)
    np.testing.assert_array_equal(back.values, part.values)
    assert back.data.chunksize == (1, 3, 10, 20)


def test_existing_store_is_replaced_other_folders_are_not(stack, tmp_path):
    dest = tmp_path / "cube.zarr"
    to_zarr(stack, dest)
    to_zarr(stack.isel(time=[1]), dest)
    assert open_zarr(dest).sizes["time"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cube.zarr", "in"]

    precious = tmp_path / "photos"
    precious.mkdir()
    (precious / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(OutputError, match="not a zarr store"):
        to_zarr(stack, precious)
    assert [p.name for p in precious.iterdir()] == ["holiday.jpg"]

    (tmp_path / "file.zarr").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        to_zarr(stack, tmp_path / "file.zarr")
    to_zarr(stack, tmp_path / "missing" / "c.zarr")  # missing folders are created
    assert (tmp_path / "missing" / "c.zarr").is_dir()


def test_failure_mid_write_leaves_previous_store(stack, tmp_path):
    def boom(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        if block_info is not None and block_info[0]["chunk-location"] == (1, 0, 2, 1):
            raise RuntimeError("model exploded")
        return block

    bad = stack.copy(data=stack.data.map_blocks(boom, dtype=stack.dtype))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(RuntimeError, match="model exploded"):
        to_zarr(bad, out / "new.zarr")
    assert list(out.iterdir()) == []

    to_zarr(stack, out / "old.zarr")
    with pytest.raises(RuntimeError, match="model exploded"):
        to_zarr(bad, out / "old.zarr")
    assert [p.name for p in out.iterdir()] == ["old.zarr"]
    np.testing.assert_array_equal(open_zarr(out / "old.zarr").values, stack.values)


def test_bad_inputs(stack, tmp_path):
    with pytest.raises(InputError, match="transpose"):
        to_zarr(stack.transpose("band", "time", "y", "x"), tmp_path / "a.zarr")
    with pytest.raises(InputError, match="not a zarr v3 store"):
        open_zarr(tmp_path / "in")
    assert not (tmp_path / "a.zarr").exists()


@pytest.mark.parametrize("writer", ["zarr", "cog"])
def test_a_failure_leaves_nothing_even_while_other_tasks_still_write(stack, tmp_path, writer):
    """One chunk fails at once while another is still being computed: no temporary output may reappear later."""
    import time

    from satsr.io.write import to_cog

    def slow_or_boom(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        if block_info is not None:
            loc = block_info[0]["chunk-location"]
            if loc == (0, 0, 0, 0):
                raise RuntimeError("model exploded")
            if loc == (1, 0, 0, 0):
                time.sleep(0.5)  # still running when the failure is raised
        return block

    bad = stack.copy(data=stack.data.map_blocks(slow_or_boom, dtype=stack.dtype))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(RuntimeError, match="model exploded"):
        if writer == "zarr":
            to_zarr(bad, out / "new.zarr")
        else:
            to_cog(bad, out / "cogs")
    time.sleep(1.0)  # any late write would have happened by now
    assert list(out.iterdir()) == []
