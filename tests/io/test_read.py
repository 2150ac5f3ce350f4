import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.rpc import RPC

import satsr
from satsr.errors import GeoreferenceError, GridMismatchError, InputError
from satsr.geo import Grid
from satsr.io.coords import PIXEL_COORDS_NOTE, RPC_NOTE, frame_rpcs
from satsr.io.read import raster_info


def test_single_file_is_one_frame_stack(make_geotiff):
    p = make_geotiff("one.tif", shape=(3, 37, 53), nodata=7, descriptions=["B2", "B3", "B4"])
    da = satsr.open_stack(p)
    assert da.dims == ("time", "band", "y", "x") and da.shape == (1, 3, 37, 53)
    assert da.chunks is not None
    with rasterio.open(p) as src:
        np.testing.assert_array_equal(da.values[0], src.read())
        assert Grid.from_xarray(da) == Grid((37, 53), src.transform, src.crs.to_wkt())
    assert da.attrs["_FillValue"] == 7
    assert list(da["description"].values) == ["B2", "B3", "B4"]
    assert da.rio.crs.to_epsg() == 32621 and da.rio.transform() == Affine(30, 0, 500000, 0, -30, 4200000)
    assert da.rio.nodata == 7
    assert float(da.x[0]) == 500015.0 and float(da.y[0]) == 4199985.0


def test_glob_folder_and_list_with_times(make_geotiff, tmp_path):
    paths = [make_geotiff(f"f/t{i}.tif", seed=i, datetime=f"2021:06:0{i + 1} 10:00:00") for i in range(3)]
    for source in (str(tmp_path / "f" / "*.tif"), tmp_path / "f", [paths[0], paths[1], paths[2]]):
        da = satsr.open_stack(source)
        assert da.sizes["time"] == 3
        assert str(da.time.values[1])[:10] == "2021-06-02"
        assert list(da["source"].values) == [str(p) for p in paths]
    np.testing.assert_array_equal(da.isel(time=2).values, satsr.open_stack(paths[2]).isel(time=0).values)


def test_without_time_tags_time_is_frame_index(make_geotiff):
    paths = [make_geotiff(f"t{i}.tif", seed=i) for i in range(2)]
    assert list(satsr.open_stack(paths).time.values) == [0, 1]


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"crs": "EPSG:32622"}, "CRS EPSG:32622 differs from EPSG:32621"),
        ({"shape": (3, 37, 54)}, r"shape \(rows, cols\) \(37, 54\) differs"),
        ({"shape": (4, 37, 53)}, "band count 4 differs"),
        ({"dtype": "uint8"}, "dtype uint8 differs"),
        ({"transform": Affine(30, 0, 500030, 0, -30, 4200000)}, r"grid \(transform\)"),
    ],
)
def test_mismatched_frames_name_the_file(make_geotiff, kw, match):
    a = make_geotiff("a.tif")
    b = make_geotiff("b.tif", **kw)
    with pytest.raises(GridMismatchError, match=match) as err:
        satsr.open_stack([a, b])
    assert str(err.value).startswith(str(b))


def test_not_a_raster_and_truncated(make_geotiff, tmp_path):
    bad = tmp_path / "notes.tif"
    bad.write_text("this is not a raster")
    with pytest.raises(InputError, match="notes.tif: not a readable raster"):
        satsr.open_stack(bad)
    data = np.random.default_rng(0).integers(0, 65535, (3, 256, 256), dtype=np.uint16)
    full = tmp_path / "full.tif"
    with rasterio.open(full, "w", driver="GTiff", width=256, height=256, count=3, dtype="uint16", tiled=True,
                       blockxsize=64, blockysize=64, compress="deflate", crs="EPSG:32621",
                       transform=Affine(30, 0, 0, 0, -30, 0)) as dst:
        dst.write(data)
    cut = tmp_path / "cut.tif"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(InputError, match="cut.tif: not a readable raster, or truncated"):
        satsr.open_stack(cut)


def test_empty_glob_missing_file_empty_folder(tmp_path):
    with pytest.raises(InputError, match="no files match"):
        satsr.open_stack(str(tmp_path / "*.tif"))
    with pytest.raises(InputError, match="no such file"):
        satsr.open_stack(tmp_path / "missing.tif")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="folder holds no rasters"):
        satsr.open_stack(tmp_path / "empty")
    with pytest.raises(InputError, match="no input files"):
        satsr.open_stack([])


def _png(tmp_path, name="frame.png"):
    p = tmp_path / name
    data = np.random.default_rng(0).integers(0, 255, (3, 20, 30), dtype=np.uint8)
    with rasterio.open(p, "w", driver="PNG", width=30, height=20, count=3, dtype="uint8") as dst:
        dst.write(data)
    return p


def test_ungeoreferenced_png(tmp_path):
    p = _png(tmp_path)
    with pytest.raises(GeoreferenceError, match="frame.png: has no CRS or geotransform; pass crs= and transform="):
        satsr.open_stack(p)
    da = satsr.open_stack(p, allow_ungeoreferenced=True)
    assert da.attrs["georeferencing"] == PIXEL_COORDS_NOTE
    assert float(da.x[0]) == 0.5 and Grid.from_xarray(da).crs is None
    t = Affine(0.92, 0, 300000, 0, -0.92, 4400000)
    da = satsr.open_stack(p, crs="EPSG:32650", transform=t)
    g = Grid.from_xarray(da)
    assert g.crs.to_epsg() == 32650 and g.transform == t


def test_rpc_only_geotiff_keeps_its_model(tmp_path):
    p = tmp_path / "rpc.tif"
    rpc = RPC(height_off=100, height_scale=500, lat_off=40, lat_scale=0.1, line_den_coeff=[1] + [0] * 19,
              line_num_coeff=[0, 0, -1] + [0] * 17, line_off=10, line_scale=10, long_off=-105, long_scale=0.1,
              samp_den_coeff=[1] + [0] * 19, samp_num_coeff=[0, 1] + [0] * 18, samp_off=10, samp_scale=10)
    with rasterio.open(p, "w", driver="GTiff", width=20, height=20, count=1, dtype="uint8", rpcs=rpc) as dst:
        dst.write(np.ones((1, 20, 20), np.uint8))
    da = satsr.open_stack(p)
    assert da.attrs["georeferencing"] == RPC_NOTE and da.rio.crs is None
    (got,) = frame_rpcs(da)
    assert got["line_num_coeff"][2] == -1 and got["long_off"] == -105 and got["samp_scale"] == 10
    with pytest.raises(GeoreferenceError, match="rpc.tif: has an RPC sensor model"):
        satsr.open_stack(p, crs="EPSG:4326", transform=(1, 0, 0, 0, -1, 0))


def test_conflicting_user_georeferencing(make_geotiff):
    p = make_geotiff("g.tif")
    with pytest.raises(GeoreferenceError, match="conflicts with crs"):
        satsr.open_stack(p, crs="EPSG:4326")


def test_rotated_grid_is_refused(make_geotiff):
    t = Affine.translation(500000, 4200000) @ Affine.rotation(10) @ Affine.scale(30, -30)
    p = make_geotiff("rot.tif", transform=t)
    with pytest.raises(GeoreferenceError, match="rot.tif: .*rotated or sheared"):
        satsr.open_stack(p)


def test_raster_info(make_geotiff):
    p = make_geotiff("i.tif", shape=(2, 10, 12), nodata=0, descriptions=["a", "b"], datetime="2020:01:02 03:04:05")
    info = raster_info(p)
    assert info["crs"] == "EPSG:32621" and info["bands"] == 2 and info["nodata"] == 0
    assert info["size"] == "12 x 10 (cols x rows)" and info["resolution"] == [30.0, 30.0]
    assert info["band_descriptions"] == ["a", "b"] and info["time"].startswith("2020-01-02T03:04:05")


def test_lazy_reader_handles_any_index(make_geotiff):
    p = make_geotiff("idx.tif", shape=(3, 23, 31))
    with rasterio.open(p) as src:
        a = src.read()
    da = satsr.open_stack(p, chunks=8)
    np.testing.assert_array_equal(da.isel(band=1).values[0], a[1])
    np.testing.assert_array_equal(da.isel(x=[3, 1, 7]).values[0], a[:, :, [3, 1, 7]])
    np.testing.assert_array_equal(da.isel(y=slice(20, 2, -3)).values[0], a[:, 20:2:-3])
    np.testing.assert_array_equal(da.isel(band=-1, y=5).values[0], a[-1, 5])
