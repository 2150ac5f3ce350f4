"""RPC frames on real Pleiades crops: the sensor model is carried through upscale and the writers, or warped away.

Every check of where a pixel lands on the ground goes through GDAL's own RPC transformer (rasterio's
``RPCTransformer``), at the frame's RPC height offset, to 1e-7 degrees (about 1 cm).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from click.testing import CliRunner
from pyproj import Transformer
from rasterio.control import GroundControlPoint
from rasterio.errors import NotGeoreferencedWarning
from rasterio.rpc import RPC
from rasterio.transform import RPCTransformer
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_validate

import satsr
from satsr.cli import main
from satsr.errors import GeoreferenceError, InputError
from satsr.geo import Grid, rpc_for_pixels
from satsr.io.coords import RPC_NOTE, frame_rpcs

TOL_DEG = 1e-7


def _rpc_of(path: Path) -> RPC:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            return src.rpcs


def _ground(rpc: RPC, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """GDAL's RPC transformer: pixel-corner coordinates ``(row, col)`` to ``(lon, lat)`` at the height offset."""
    with RPCTransformer(rpc) as tr:
        lon, lat = tr.xy(rows, cols, zs=np.full(len(rows), rpc.height_off), offset="ul")
    return np.column_stack([lon, lat])


def _sample_points(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The four outer corners, the edges' midpoints and interior points (fractional on purpose)."""
    rows = np.array([0, 0, h, h, h / 2, 0, h, h / 2, 0.5, h / 3 + 0.25, 2 * h / 3, 7.75])
    cols = np.array([0, w, w, 0, 0, w / 2, w / 2, w, 0.5, w / 4 + 0.1, 3 * w / 5, w - 3.5])
    return rows, cols


@pytest.fixture(scope="module")
def pleiades(shared_data: Path) -> list[Path]:
    folder = shared_data / "rpc" / "pleiades_pair"
    return [folder / "img_01.tif", folder / "img_02.tif"]


@pytest.fixture
def rpc_video(pleiades: list[Path], tmp_path: Path) -> list[Path]:
    """Two same-size real RPC frames (a 96 x 128 crop of each Pleiades frame, each with its own cropped model)."""
    out = []
    for i, (src_path, (r0, c0)) in enumerate(zip(pleiades, [(300, 410), (330, 400)])):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(src_path) as src:
                data = src.read(window=Window(c0, r0, 128, 96))
                rpc = rpc_for_pixels(src.rpcs.to_dict(), Affine.translation(c0, r0))
            p = tmp_path / f"frame_{i}.tif"
            with rasterio.open(p, "w", driver="GTiff", width=128, height=96, count=1, dtype="uint16",
                               rpcs=RPC(**rpc)) as dst:
                dst.write(data)
        out.append(p)
    return out


def test_real_frame_is_carried_in_sensor_geometry_to_a_cog(pleiades, tmp_path):
    stack = satsr.open_stack(pleiades[0])
    assert stack.attrs["georeferencing"] == RPC_NOTE
    assert stack.rio.crs is None and Grid.from_xarray(stack).transform == Affine.identity()
    r0, c0, h, w = 200, 37, 150, 170
    sr = satsr.upscale(stack.isel(y=slice(r0, r0 + h), x=slice(c0, c0 + w)), model="bicubic", scale=4)
    assert sr.attrs["georeferencing"] == RPC_NOTE
    (out,) = satsr.to_cog(sr, tmp_path / "sr.tif")
    assert cog_validate(str(out))[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(out) as dst:
            assert dst.shape == (4 * h, 4 * w)
            assert dst.transform == Affine.identity() and dst.crs is None  # no geotransform beside the RPCs
            assert dst.overviews(1)  # the internal overviews went through the VRT path with the RPCs
            out_rpc = dst.rpcs
    rows, cols = _sample_points(h, w)
    expected = _ground(_rpc_of(pleiades[0]), rows + r0, cols + c0)
    got = _ground(out_rpc, 4 * rows, 4 * cols)
    assert np.abs(got - expected).max() < TOL_DEG


def test_gdal_reporting_wgs84_with_rpcs_is_still_sensor_geometry(pleiades, tmp_path):
    """Raw products often arrive with the RPC's WGS 84 as their CRS and no geotransform: that is no map grid."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(pleiades[0]) as src:
            data, rpc = src.read(window=Window(0, 0, 64, 64)), src.rpcs
        p = tmp_path / "wgs84_rpc.tif"
        with rasterio.open(p, "w", driver="GTiff", width=64, height=64, count=1, dtype="uint16", crs="EPSG:4326",
                           rpcs=rpc) as dst:
            dst.write(data)
        with rasterio.open(p) as check:
            assert check.crs is not None and check.crs.to_epsg() == 4326  # what GDAL reports
    stack = satsr.open_stack(p)
    assert stack.attrs["georeferencing"] == RPC_NOTE and stack.rio.crs is None
    sr = satsr.upscale(stack, model="bicubic", scale=4)
    (out,) = satsr.to_geotiff(sr, tmp_path / "sr.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(out) as dst:
            assert dst.transform == Affine.identity()  # no quarter-degree pixels at (0, 0)
            out_rpc = dst.rpcs
    rows, cols = _sample_points(64, 64)
    assert np.abs(_ground(out_rpc, 4 * rows, 4 * cols) - _ground(rpc, rows, cols)).max() < TOL_DEG


def test_rpc_video_keeps_each_frames_model_through_the_cli(rpc_video, tmp_path):
    stack = satsr.open_stack(rpc_video)
    models = frame_rpcs(stack)
    assert len(models) == 2 and models[0] != models[1]
    res = CliRunner().invoke(main, ["upscale", *map(str, rpc_video), "-m", "bicubic", "--scale", "2",
                                    "-o", str(tmp_path / "out"), "--no-progress"])
    assert res.exit_code == 0, res.output
    rows, cols = _sample_points(96, 128)
    for src_path in rpc_video:
        out = tmp_path / "out" / src_path.name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(out) as dst:
                assert dst.shape == (192, 256) and dst.transform == Affine.identity()
                out_rpc = dst.rpcs
        expected = _ground(_rpc_of(src_path), rows, cols)
        assert np.abs(_ground(out_rpc, 2 * rows, 2 * cols) - expected).max() < TOL_DEG


def test_zarr_round_trip_keeps_the_models(rpc_video, tmp_path):
    sr = satsr.upscale(satsr.open_stack(rpc_video), model="bicubic", scale=2)
    satsr.to_zarr(sr, tmp_path / "sr.zarr")
    back = satsr.open_zarr(tmp_path / "sr.zarr")
    assert [json.dumps(m, sort_keys=True) for m in frame_rpcs(back)] == [
        json.dumps(m, sort_keys=True) for m in frame_rpcs(sr)
    ]
    outs = satsr.to_geotiff(back, tmp_path / "from_zarr")
    rows, cols = _sample_points(96, 128)
    for src_path, out in zip(rpc_video, outs):
        expected = _ground(_rpc_of(src_path), rows, cols)
        assert np.abs(_ground(_rpc_of(out), 2 * rows, 2 * cols) - expected).max() < TOL_DEG


def test_in_between_frames_need_one_shared_model(rpc_video):
    pan = satsr.open_stack(rpc_video).isel(y=slice(0, 32), x=slice(0, 32))
    stack = xr.concat([pan] * 3, dim="band").assign_coords(band=[1, 2, 3])  # mstt takes RGB
    with pytest.raises(InputError, match="different RPC sensor models.*orthorectify=True"):
        satsr.upscale(stack, model="mstt", pretrained=False)
    same = stack.assign_coords(rpc=("time", [str(stack.rpc.values[0])] * 2))
    # the authors' initialisation (random on purpose): only the sensor models are checked here
    sr = satsr.upscale(same, model="mstt", pretrained=False)
    assert sr.sizes["time"] == 3 and len(set(sr.rpc.values.tolist())) == 1


def test_gcp_only_file_is_refused_with_a_way_out(tmp_path):
    p = tmp_path / "gcps.tif"
    gcps = [GroundControlPoint(row=r, col=c, x=500000 + 10 * c, y=4200000 - 10 * r) for r, c in
            [(0, 0), (0, 32), (32, 0), (32, 32)]]
    with rasterio.open(p, "w", driver="GTiff", width=32, height=32, count=1, dtype="uint8",
                       gcps=gcps, crs="EPSG:32633") as dst:
        dst.write(np.ones((1, 32, 32), np.uint8))
    with pytest.raises(GeoreferenceError, match="gcps.tif: has only GCPs; warp it onto a map grid"):
        satsr.open_stack(p)


def test_orthorectified_frames_share_one_grid_and_land_where_gdal_says(pleiades):
    stack = satsr.open_stack(pleiades, orthorectify=True, resampling="nearest")
    grid = Grid.from_xarray(stack)
    assert grid.crs.to_epsg() == 32740  # UTM 40S: Reunion island
    assert 0.4 < grid.res[0] < 0.6  # Pleiades pan, 0.5 m
    assert stack.attrs["georeferencing"].startswith("orthorectified") and stack.attrs["_FillValue"] == 0
    to_lonlat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    rng = np.random.default_rng(0)
    for t, path in enumerate(pleiades):
        ortho = stack.isel(time=t, band=0).values
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                raw, rpc = src.read(1), src.rpcs
        rr, cc = rng.integers(0, grid.height, 3000), rng.integers(0, grid.width, 3000)
        x, y = grid.transform @ (cc + 0.5, rr + 0.5)
        lon, lat = to_lonlat.transform(x, y)
        with RPCTransformer(rpc) as tr:
            r, c = tr.rowcol(lon, lat, zs=np.full(len(lon), rpc.height_off), op=lambda v: v)
        r, c = np.asarray(r), np.asarray(c)
        inside = (r >= 1) & (r < raw.shape[0] - 1) & (c >= 1) & (c < raw.shape[1] - 1)
        assert inside.sum() > 800
        same = ortho[rr[inside], cc[inside]] == raw[np.floor(r[inside]).astype(int), np.floor(c[inside]).astype(int)]
        assert same.mean() > 0.97  # nearest neighbour: all but rounding ties at pixel edges
        assert (ortho[rr[~inside], cc[~inside]] == 0).mean() > 0.97  # nodata where the frame does not reach


def test_orthorectify_with_a_dem_and_refusals(pleiades, rpc_video, tmp_path):
    rpc = _rpc_of(pleiades[0])
    dem = tmp_path / "dem.tif"
    lon0, lat0 = rpc.long_off, rpc.lat_off
    with rasterio.open(dem, "w", driver="GTiff", width=40, height=40, count=1, dtype="float32", crs="EPSG:4326",
                       transform=Affine(0.005, 0, lon0 - 0.1, 0, -0.005, lat0 + 0.1)) as dst:
        dst.write(np.full((1, 40, 40), rpc.height_off, np.float32))  # flat, at the model's height offset
    flat = satsr.open_stack(rpc_video, orthorectify=True, resampling="nearest")
    with_dem = satsr.open_stack(rpc_video, orthorectify=True, resampling="nearest", dem=dem,
                                resolution=Grid.from_xarray(flat).res[0])
    assert "DEM dem.tif" in with_dem.attrs["georeferencing"]
    assert Grid.from_xarray(with_dem) == Grid.from_xarray(flat)
    assert (with_dem.values == flat.values).mean() > 0.99
    with pytest.raises(InputError, match="missing.tif: DEM file not found"):
        satsr.open_stack(rpc_video, orthorectify=True, dem=tmp_path / "missing.tif")
    with pytest.raises(GeoreferenceError, match="orthorectify=True makes its own map grid"):
        satsr.open_stack(rpc_video, orthorectify=True, crs="EPSG:32740", transform=(1, 0, 0, 0, -1, 0))
    plain = tmp_path / "plain.tif"
    with rasterio.open(plain, "w", driver="GTiff", width=8, height=8, count=1, dtype="uint8", crs="EPSG:32633",
                       transform=Affine(10, 0, 500000, 0, -10, 4200000)) as dst:
        dst.write(np.ones((1, 8, 8), np.uint8))
    with pytest.raises(GeoreferenceError, match="plain.tif: has no RPC model"):
        satsr.open_stack(plain, orthorectify=True)


def test_cli_orthorectify_writes_a_map_product(rpc_video, tmp_path):
    res = CliRunner().invoke(main, ["upscale", *map(str, rpc_video), "--orthorectify", "-m", "bicubic",
                                    "--scale", "2", "-o", str(tmp_path / "ortho"), "--no-progress"])
    assert res.exit_code == 0, res.output
    lr = Grid.from_xarray(satsr.open_stack(rpc_video, orthorectify=True))
    for src_path in rpc_video:
        with rasterio.open(tmp_path / "ortho" / src_path.name) as dst:
            assert dst.crs.to_epsg() == 32740 and not dst.rpcs
            assert dst.transform == lr.zoom(2).transform and dst.shape == lr.zoom(2).shape
