import numpy as np
import pytest
from affine import Affine
from pyproj import CRS

from satsr.errors import GeoreferenceError, InputError
from satsr.geo import Grid, zoom_transform

UTM = CRS.from_epsg(32621)


def test_zoom_north_up_by_hand():
    g = Grid((37, 53), Affine(30.0, 0.0, 717345.0, 0.0, -30.0, -2776995.0), UTM)
    z = g.zoom(4)
    assert z.shape == (148, 212)
    assert tuple(z.transform)[:6] == (7.5, 0.0, 717345.0, 0.0, -7.5, -2776995.0)
    assert z.corners == g.corners
    assert z.bounds == (717345.0, -2776995.0 - 37 * 30, 717345.0 + 53 * 30, -2776995.0)
    x, y = z.coords()
    assert x[0] == 717345.0 + 3.75 and x[-1] == 717345.0 + 53 * 30 - 3.75
    assert y[0] == -2776995.0 - 3.75 and y[-1] == -2776995.0 - 37 * 30 + 3.75
    assert z.crs == UTM


def test_zoom_south_up_by_hand():
    g = Grid((4, 6), Affine(10.0, 0.0, 1000.0, 0.0, 10.0, 5000.0), UTM)  # rows go north
    z = g.zoom(2)
    assert tuple(z.transform)[:6] == (5.0, 0.0, 1000.0, 0.0, 5.0, 5000.0)
    x, y = z.coords()
    np.testing.assert_array_equal(y, 5000.0 + 5.0 * (np.arange(8) + 0.5))
    assert z.bounds == g.bounds == (1000.0, 5000.0, 1060.0, 5040.0)


def test_zoom_geographic_by_hand():
    g = Grid((3, 5), Affine(0.25, 0.0, 10.0, 0.0, -0.25, 50.0), CRS.from_epsg(4326))
    z = g.zoom(3)
    assert z.shape == (9, 15)
    assert z.res == pytest.approx((1 / 12, 1 / 12), abs=0)
    x, y = z.coords()
    assert x[0] == pytest.approx(10.0 + 1 / 24) and y[-1] == pytest.approx(49.25 + 1 / 24)
    assert z.corners == g.corners


def test_zoom_transform_rotated_is_exact_composition():
    t = Affine.rotation(20) @ Affine.scale(30, -30)
    t = Affine.translation(500000, 4200000) @ t
    z = zoom_transform(t, 4)
    g, gz = Grid((10, 12), t), Grid((40, 48), z)
    for (xa, ya), (xb, yb) in zip(g.corners, gz.corners):
        assert xa == pytest.approx(xb, abs=1e-6) and ya == pytest.approx(yb, abs=1e-6)
    assert not g.is_rectilinear
    with pytest.raises(GeoreferenceError, match="rotated or sheared"):
        g.coords()


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_zoom_rejects_bad_scale(bad):
    with pytest.raises(InputError, match="positive integer"):
        zoom_transform(Affine.identity(), bad)


def test_from_coords_round_trip_and_irregular():
    g = Grid((7, 9), Affine(2.5, 0, -100.0, 0, -2.5, 300.0), UTM)
    x, y = g.coords()
    assert Grid.from_coords(x, y, UTM) == g
    x2 = x.copy()
    x2[3] += 0.7
    with pytest.raises(GeoreferenceError, match="not regularly spaced"):
        Grid.from_coords(x2, y)


def test_window_and_pad():
    g = Grid((10, 10), Affine(1, 0, 0, 0, -1, 10))
    assert g.pad(2).bounds == (-2.0, -2.0, 12.0, 12.0)
    assert g.window(5, 5, 2, 3).corners[0] == (5.0, 5.0)


def test_degenerate_transform():
    with pytest.raises(GeoreferenceError, match="degenerate"):
        Grid((2, 2), Affine(0, 0, 0, 0, 0, 0))


def test_from_xarray_follows_slicing(make_geotiff):
    import satsr

    da = satsr.open_stack(make_geotiff("s.tif", shape=(1, 40, 50)))
    g = Grid.from_xarray(da)
    sub = da.isel(y=slice(7, 20), x=slice(11, 30))
    assert Grid.from_xarray(sub) == g.window(7, 11, 13, 19)
    strided = da.isel(y=slice(0, 40, 2), x=slice(1, 50, 2))
    gs = Grid.from_xarray(strided)
    assert gs.res == (60.0, 60.0) and gs.transform.c == g.transform.c + 15  # centres of cols 1, 3, ...: 60 m pixels
    sr = satsr.upscale(sub, "nearest", scale=2)
    assert Grid.from_xarray(sr) == g.window(7, 11, 13, 19).zoom(2)


def test_from_xarray_without_coordinates_is_refused():
    import xarray as xr

    with pytest.raises(GeoreferenceError, match="neither x/y coordinates nor a spatial_ref"):
        Grid.from_xarray(xr.DataArray(np.zeros((1, 3, 4, 4)), dims=("time", "band", "y", "x")))
