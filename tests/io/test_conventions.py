"""Any georeferenced array in, the right ground out (issue 17, part 3).

Real Landsat 8 COGs cut from ``../shared/data/geotiff`` are loaded the ways users load them (stackstac and odc-stac
through pystac Items, ``rioxarray.open_rasterio``, xarray Datasets from zarr and NetCDF with a CF grid mapping),
super-resolved with ``satsr.upscale`` and written with ``satsr.to_cog``; GDAL (rasterio) then reads back the CRS,
the transform and the corners. Each output must also equal, value for value, the same model run on the same crop
opened with ``satsr.open_stack``: an array on the right ground but shifted or flipped would not.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import odc.stac
import pystac
import pytest
import rasterio
import rioxarray
import stackstac
import xarray as xr
from affine import Affine
from pyproj import CRS
from rasterio.windows import Window

import satsr
from satsr.errors import GeoreferenceError, InputError
from satsr.geo import Grid, read_georef
from satsr.io.conventions import normalize

BANDS = ("red", "green", "blue")
H, W = 48, 64
SCALE = 2


@pytest.fixture(scope="module")
def crop(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A 48 x 64 crop of the Landsat 8 scene as one 3-band COG and three 1-band COGs (one per STAC asset)."""
    folder = tmp_path_factory.mktemp("crop")
    with rasterio.open(shared_data / "geotiff" / "landsat8_rgb_30m_uint16.tif") as src:
        win = Window(100, 200, W, H)
        data, transform, crs = src.read(window=win), src.window_transform(win), src.crs
    profile = dict(driver="COG", width=W, height=H, dtype="uint16", crs=crs, transform=transform)
    with rasterio.open(folder / "rgb.tif", "w", count=3, **profile) as dst:
        dst.write(data)
        dst.descriptions = BANDS
    for i, name in enumerate(BANDS):
        with rasterio.open(folder / f"{name}.tif", "w", count=1, **profile) as dst:
            dst.write(data[i], 1)
    return {"folder": folder, "crs": crs, "transform": transform, "data": data}


@pytest.fixture(scope="module")
def expected(crop: dict, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """The bicubic x2 product of the crop opened with satsr.open_stack: what every loader must give."""
    path = satsr.to_cog(satsr.upscale(satsr.open_stack(crop["folder"] / "rgb.tif"), "bicubic", scale=SCALE),
                        tmp_path_factory.mktemp("expected") / "sr.tif")[0]
    with rasterio.open(path) as ds:
        return ds.read()


@pytest.fixture(scope="module")
def item(crop: dict) -> pystac.Item:
    """A STAC Item with the projection extension, one asset per band (what stackstac and odc-stac load)."""
    bounds = Grid((H, W), crop["transform"], crop["crs"]).bounds
    geometry = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    it = pystac.Item("crop", geometry, [0, 0, 1, 1], dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc), {})
    it.properties.update({
        "proj:epsg": crop["crs"].to_epsg(),  # stackstac 0.5 reads proj:epsg; odc-stac reads proj:code
        "proj:code": f"EPSG:{crop['crs'].to_epsg()}",
        "proj:transform": list(crop["transform"])[:6],
        "proj:shape": [H, W],
        "proj:bbox": list(bounds),
    })
    it.stac_extensions.append("https://stac-extensions.github.io/projection/v2.0.0/schema.json")
    for name in BANDS:
        it.add_asset(name, pystac.Asset(str(crop["folder"] / f"{name}.tif"), media_type=pystac.MediaType.COG,
                                        roles=["data"]))
    return it


def _stack(item: pystac.Item, **kwargs) -> xr.DataArray:
    kwargs = {"dtype": "uint16", "fill_value": np.uint16(0), "rescale": False, "snap_bounds": False, **kwargs}
    return stackstac.stack([item], assets=list(BANDS), **kwargs)


def _check_cog(path: Path, crop: dict, expected: np.ndarray | None, count: int = 3, atol: float = 0) -> None:
    """GDAL reads the input's CRS, a transform refined SCALE times, the input's corners and the expected pixels."""
    with rasterio.open(path) as ds:
        assert ds.crs is not None and CRS.from_user_input(ds.crs) == CRS.from_user_input(crop["crs"])
        assert ds.transform.almost_equals(crop["transform"] * Affine.scale(1 / SCALE))
        assert (ds.height, ds.width, ds.count) == (H * SCALE, W * SCALE, count)
        in_bounds = Grid((H, W), crop["transform"]).bounds
        assert ds.bounds == pytest.approx(in_bounds, abs=1e-6)
        if expected is not None:
            np.testing.assert_allclose(ds.read(), expected[:count], rtol=0, atol=atol)


# -- loaders --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("xy_coords", ["topleft", "center", False])
def test_stackstac_stack_lands_on_its_ground(item, crop, expected, xy_coords, tmp_path):
    stack = _stack(item, xy_coords=xy_coords)
    georef = read_georef(stack)
    assert georef.crs_source == "attrs['crs']" and georef.transform_source == "attrs['transform']"
    assert georef.registration == {"topleft": "corner", "center": "center", False: "none"}[xy_coords]
    assert georef.grid == Grid((H, W), crop["transform"], crop["crs"])

    sr = satsr.upscale(stack, "bicubic", scale=SCALE)
    assert sr.dims == stack.dims and list(sr["band"].values) == [1, 2, 3]
    assert list(sr["description"].values) == list(BANDS)  # stackstac's asset ids become band descriptions
    assert "crs" not in sr.attrs and "transform" not in sr.attrs and "proj:transform" not in sr.coords
    out = satsr.to_cog(sr, tmp_path / "sr.tif")[0]
    _check_cog(out, crop, expected)
    with rasterio.open(out) as ds:
        assert ds.descriptions == BANDS


def test_stackstac_bands_by_number_and_float_default(item, crop, expected, tmp_path):
    stack = stackstac.stack([item], assets=list(BANDS), snap_bounds=False)  # float64, NaN fill: the defaults
    sr = satsr.upscale(stack, "bicubic", scale=SCALE, bands=[3, 1])
    assert list(sr["description"].values) == ["blue", "red"] and sr.dtype == np.float64
    out = satsr.to_cog(sr, tmp_path / "sr.tif")[0]
    _check_cog(out, crop, None, count=2)
    with rasterio.open(out) as ds:
        np.testing.assert_allclose(ds.read(1), expected[2], atol=1.0)  # float model output vs rounded uint16


def test_odc_stac_dataset_lands_on_its_ground(item, crop, expected, tmp_path):
    ds = odc.stac.load([item], bands=list(BANDS), dtype="uint16", nodata=0)
    sr = satsr.upscale(ds, "bicubic", scale=SCALE)  # one variable per band: stacked in variable order
    assert sr.dims == ("time", "band", "y", "x") and list(sr["description"].values) == list(BANDS)
    _check_cog(satsr.to_cog(sr, tmp_path / "ds.tif")[0], crop, expected)
    arr = ds.to_dataarray("band").transpose("time", "band", "y", "x")  # the array users make of it
    _check_cog(satsr.to_cog(satsr.upscale(arr, "bicubic", scale=SCALE), tmp_path / "da.tif")[0], crop, expected)


def test_rioxarray_band_y_x_round_trip(crop, expected, tmp_path):
    da = rioxarray.open_rasterio(crop["folder"] / "rgb.tif")
    assert da.dims == ("band", "y", "x")
    sr = satsr.upscale(da, "bicubic", scale=SCALE)
    assert sr.dims == ("band", "y", "x") and list(sr["description"].values) == list(BANDS)  # from long_name
    _check_cog(satsr.to_cog(sr, tmp_path / "sr.tif")[0], crop, expected)
    _check_cog(satsr.to_geotiff(sr, tmp_path / "plain.tif")[0], crop, expected)


def test_two_d_array_in_every_writer(crop, expected, tmp_path):
    da = rioxarray.open_rasterio(crop["folder"] / "green.tif").isel(band=0)
    assert da.dims == ("y", "x")
    sr = satsr.upscale(da, "bicubic", scale=SCALE)
    assert sr.dims == ("y", "x")
    _check_cog(satsr.to_cog(sr, tmp_path / "sr.tif")[0], crop, expected[1:2], count=1)
    back = satsr.open_zarr(satsr.to_zarr(sr, tmp_path / "sr.zarr"))
    assert back.dims == ("time", "band", "y", "x")
    assert Grid.from_xarray(back) == Grid((H, W), crop["transform"], crop["crs"]).zoom(SCALE)
    np.testing.assert_array_equal(back.values[0, 0], expected[1])


def test_stackstac_array_straight_into_zarr(item, crop, tmp_path):
    back = satsr.open_zarr(satsr.to_zarr(_stack(item), tmp_path / "s.zarr"))  # STAC metadata coords included
    assert Grid.from_xarray(back) == Grid((H, W), crop["transform"], crop["crs"])
    np.testing.assert_array_equal(back.values[0], crop["data"])


@pytest.mark.parametrize("fmt", ["zarr", "netcdf"])
def test_dataset_with_a_cf_grid_mapping_of_another_name(crop, expected, fmt, tmp_path):
    grid = Grid((H, W), crop["transform"], crop["crs"])
    x, y = grid.coords()
    cf = {k: v for k, v in CRS.from_user_input(crop["crs"]).to_cf().items() if k != "crs_wkt"}  # parameters only
    ds = xr.Dataset(
        {"green": (("y", "x"), crop["data"][1], {"grid_mapping": "utm"}), "utm": ((), np.int32(0), cf)},
        coords={"x": x, "y": y},
    )
    if fmt == "zarr":
        ds.to_zarr(tmp_path / "in.zarr", zarr_format=3, consolidated=False)
        back = xr.open_zarr(tmp_path / "in.zarr", zarr_format=3, consolidated=False)
    else:
        pytest.importorskip("scipy")  # xarray writes NetCDF3 with scipy when netCDF4/h5netcdf are missing
        ds.to_netcdf(tmp_path / "in.nc")
        back = xr.open_dataset(tmp_path / "in.nc")
    assert "utm" in back.data_vars  # the grid mapping is a data variable, not a coordinate, of the Dataset
    sr = satsr.upscale(back, "bicubic", scale=SCALE)
    # NetCDF3 has no uint16: the values come back as int16, whose wider value range rounds a few pixels apart.
    _check_cog(satsr.to_cog(sr, tmp_path / "sr.tif")[0], crop, expected[1:2], count=1, atol=0 if fmt == "zarr" else 1)
    with pytest.raises(GeoreferenceError, match="'utm', which the array does not carry.*pass the whole Dataset"):
        satsr.upscale(back["green"], "bicubic", scale=SCALE)


def test_corner_registered_coordinates_with_a_stored_transform(crop, expected, tmp_path):
    da = satsr.open_stack(crop["folder"] / "rgb.tif")
    corners = da.assign_coords(x=da.x - 15.0, y=da.y + 15.0)  # top-left corners; spatial_ref keeps the transform
    assert read_georef(corners).registration == "corner"
    assert Grid.from_xarray(corners) == Grid.from_xarray(da)
    sub = corners.isel(y=slice(5, None), x=slice(7, None))  # and sliced: the origin follows the first coordinate
    assert Grid.from_xarray(sub) == Grid.from_xarray(da).window(5, 7, H - 5, W - 7)
    _check_cog(satsr.to_cog(satsr.upscale(corners, "bicubic", scale=SCALE), tmp_path / "sr.tif")[0], crop, expected)


def test_cf_grid_mapping_forms(crop):
    grid = Grid((H, W), crop["transform"], crop["crs"])
    x, y = grid.coords()
    t = crop["transform"]
    gm = xr.Variable((), 0, {"crs_wkt": crop["crs"].to_wkt(), "GeoTransform": [t.c, t.a, t.b, t.f, t.d, t.e]})
    da = xr.DataArray(np.zeros((H, W), "uint16"), dims=("y", "x"), coords={"x": x, "y": y, "crs": gm},
                      attrs={"grid_mapping": "crs: x y"})  # CF's extended form
    georef = read_georef(da)
    assert georef.grid == grid and georef.crs_source == "grid-mapping variable 'crs'"
    assert georef.transform_source == "grid-mapping variable 'crs' (GeoTransform)"
    unnamed = da.copy()
    unnamed.attrs = {}
    assert read_georef(unnamed).grid == grid  # the only grid-mapping coordinate, whatever its name
    out = normalize(da)
    assert "crs" not in out.coords and out.encoding["grid_mapping"] == "spatial_ref" and "grid_mapping" not in out.attrs
    assert Grid.from_xarray(out) == grid and out.rio.crs == crop["crs"]  # rioxarray reads the result too


def test_rio_write_crs_without_transform(crop):
    da = satsr.open_stack(crop["folder"] / "rgb.tif").isel(time=0)
    bare = xr.DataArray(da.values, dims=da.dims, coords={"x": da.x.values, "y": da.y.values})
    assert Grid.from_xarray(bare.rio.write_crs(crop["crs"])) == Grid((H, W), crop["transform"], crop["crs"])
    assert Grid.from_xarray(bare).crs is None  # no CRS anywhere: pixel/unknown CRS, as before


# -- refusals -------------------------------------------------------------------------------------------------
def test_conflicting_crs_sources_are_refused(item, tmp_path):
    stack = _stack(item).rio.write_crs("EPSG:32622")  # spatial_ref now says 32622...
    stack.attrs["crs"] = "epsg:32621"  # ...and attrs['crs'] (which write_crs removes) says 32621
    with pytest.raises(GeoreferenceError, match=r"says the CRS is EPSG:32622 but attrs\['crs'\] says EPSG:32621"):
        satsr.upscale(stack, "bicubic", scale=SCALE)
    with pytest.raises(GeoreferenceError, match="says the CRS is"):
        satsr.to_cog(stack, tmp_path / "x.tif")
    assert not list(tmp_path.iterdir())


def test_unreadable_crs_is_refused(item):
    stack = _stack(item)
    stack.attrs["crs"] = "epsg:99999999"
    with pytest.raises(GeoreferenceError, match=r"attrs\['crs'\] = 'epsg:99999999' is not a CRS satsr can read"):
        satsr.upscale(stack, "bicubic", scale=SCALE)


def test_an_input_that_had_a_crs_never_comes_out_without_one(item, tmp_path):
    with xr.set_options(keep_attrs=False):
        stack = _stack(item) + 0  # drops stackstac's crs and transform attrs, not its epsg coordinate
    assert "crs" not in stack.attrs
    with pytest.raises(GeoreferenceError, match="'epsg' = 32621 says its data had one"):
        satsr.upscale(stack, "bicubic", scale=SCALE)
    with pytest.raises(GeoreferenceError, match="says its data had one"):
        satsr.to_cog(stack, tmp_path / "x.tif")
    with pytest.raises(GeoreferenceError, match="says its data had one"):
        satsr.to_zarr(stack, tmp_path / "x.zarr")
    assert not list(tmp_path.iterdir())


def test_transform_and_coordinates_that_disagree_are_refused(item, crop):
    stack = _stack(item)
    with pytest.raises(GeoreferenceError, match="step by 60 but attrs\\['transform'\\] has pixels of 30"):
        read_georef(stack.isel(x=slice(None, None, 2)))
    off = stack.assign_coords(x=stack.x + 9.0)
    with pytest.raises(GeoreferenceError, match="lies 0.300 pixel past a pixel edge"):
        read_georef(off)
    da = satsr.open_stack(crop["folder"] / "rgb.tif")
    da.attrs["transform"] = crop["transform"] * Affine.translation(0.5, 0.5)  # says the coordinates are corners
    with pytest.raises(GeoreferenceError, match="one of them is stale"):
        read_georef(da)


def test_ambiguous_or_malformed_inputs_are_refused(crop):
    da = satsr.open_stack(crop["folder"] / "rgb.tif").isel(time=0)
    two = da.drop_vars("spatial_ref").assign_coords(a=da.spatial_ref.variable, b=da.spatial_ref.variable)
    two.encoding.pop("grid_mapping", None)
    with pytest.raises(GeoreferenceError, match="several grid-mapping coordinates"):
        read_georef(two)
    with pytest.raises(InputError, match="needs 'y' and 'x'"):
        read_georef(da.rename(x="lon"))
    with pytest.raises(InputError, match="several data variables"):
        normalize(xr.Dataset({"a": da.isel(band=0), "b": da.isel(band=0).astype("float32")}))


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_pixel_coordinate_stacks_keep_their_note(tmp_path):
    path = tmp_path / "png.tif"
    with rasterio.open(path, "w", driver="GTiff", width=16, height=16, count=1, dtype="uint8") as dst:
        dst.write(np.arange(256, dtype="uint8").reshape(1, 16, 16))
    da = satsr.open_stack(path, allow_ungeoreferenced=True)
    sr = satsr.upscale(da, "bicubic", scale=2)
    assert sr.attrs["georeferencing"] == da.attrs["georeferencing"] and Grid.from_xarray(sr).crs is None
