"""Reference images for Ref-SR: reprojected from another CRS onto the output grid, matched, co-registered."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import Resampling, calculate_default_transform, reproject

import satsr
from satsr.errors import GeoreferenceError, InputError
from satsr.io.reference import coregistration_shift, match_radiometry, reference_on_grid
from satsr.testing import write_geotiff


@pytest.fixture(scope="module")
def scene(shared_data, tmp_path_factory):
    """A real Landsat 8 crop (96 x 96 at 30 m, UTM) as the truth; its x4 block mean (120 m) as the LR; and the
    truth warped to geographic coordinates (EPSG:4326) as the reference: another CRS and pixel size."""
    tmp = tmp_path_factory.mktemp("ref")
    with rasterio.open(shared_data / "geotiff" / "landsat8_rgb_30m_uint16.tif") as src:
        win = ((600, 696), (600, 696))
        truth = src.read(window=win).astype(np.float32)
        tr = src.window_transform(win)
        crs = src.crs
    lr = truth.reshape(3, 24, 4, 24, 4).mean(axis=(2, 4))
    lr_path = write_geotiff(tmp / "lr.tif", lr.astype(np.float32), crs=crs.to_string(), transform=tr @ Affine.scale(4))
    west, south, east, north = rasterio.transform.array_bounds(96, 96, tr)
    dst_tr, w, h = calculate_default_transform(crs, "EPSG:4326", 96, 96, west, south, east, north)
    ref = np.zeros((3, h, w), np.float32)
    reproject(truth, ref, src_transform=tr, src_crs=crs, dst_transform=dst_tr, dst_crs="EPSG:4326",
              resampling=Resampling.cubic, dst_nodata=0)
    ref_path = write_geotiff(tmp / "ref.tif", ref, crs="EPSG:4326", transform=dst_tr, nodata=0)
    return truth, satsr.open_stack(lr_path), ref_path, tmp


def test_reference_from_another_crs_lands_on_the_output_grid(scene):
    truth, lr, ref_path, _ = scene
    pixels, covered = reference_on_grid(ref_path, lr, 4)
    assert pixels.shape == (3, 96, 96) and covered.shape == (96, 96)
    assert covered[8:-8, 8:-8].all()  # inside, the warped-back reference covers everything
    err = np.abs(pixels[:, covered] - truth[:, covered])
    assert np.median(err) < 0.02 * truth.mean()  # two cubic warps away from the truth, no shift
    assert np.allclose(coregistration_shift(lr.values[0], pixels.reshape(3, 24, 4, 24, 4).mean(axis=(2, 4))),
                       (0, 0), atol=0.1)


def test_radiometry_matching(scene):
    _, lr, ref_path, _ = scene
    pixels, covered = reference_on_grid(ref_path, lr, 4)
    brighter = pixels * 1.7 + 300  # another sensor
    lrv = lr.values[0].astype(np.float32)
    for method in ("meanstd", "histogram"):
        m = match_radiometry(brighter, lrv, covered, 4, method)
        for b in range(3):
            assert abs(m[b][covered].mean() - lrv[b].mean()) < 0.01 * lrv[b].mean()
            assert abs(m[b][covered].std() - lrv[b].std()) < 0.05 * lrv[b].std()
    assert np.array_equal(match_radiometry(brighter, lrv, covered, 4, "none"), brighter, equal_nan=True)
    with pytest.raises(InputError, match="meanstd"):
        match_radiometry(brighter, lrv, covered, 4, "cdf")


def test_shift_is_measured(scene):
    _, lr, ref_path, _ = scene
    pixels, covered = reference_on_grid(ref_path, lr, 4)
    shifted = np.roll(pixels, 4, axis=-1)  # one LR pixel to the east
    dy, dx = coregistration_shift(lr.values[0], shifted.reshape(3, 24, 4, 24, 4).mean(axis=(2, 4)))
    assert abs(dy) < 0.2 and abs(dx - 1) < 0.2


def test_bad_references_are_clear_errors(scene):
    _, lr, ref_path, tmp = scene
    with rasterio.open(ref_path) as src:
        data, tr = src.read(), src.transform
    far = write_geotiff(tmp / "far.tif", data, crs="EPSG:4326", transform=Affine.translation(40, 0) @ tr, nodata=0)
    with pytest.raises(GeoreferenceError, match="does not overlap"):
        reference_on_grid(far, lr, 4)
    two = write_geotiff(tmp / "two.tif", data[:2], crs="EPSG:4326", transform=tr, nodata=0)
    with pytest.raises(InputError, match="reference has 2 bands and the LR 3"):
        reference_on_grid(two, lr, 4)
    bare = satsr.open_stack(ref_path).drop_vars("spatial_ref")
    with pytest.raises(GeoreferenceError):
        reference_on_grid(bare, lr, 4)
