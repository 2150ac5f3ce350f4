"""Reference images for Ref-SR: reprojected from another CRS onto the output grid, matched, co-registered."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

import satsr
from satsr.coregistration import coregistration_shift
from satsr.errors import GeoreferenceError, InputError
from satsr.io.reference import reference_on_grid
from satsr.testing import write_geotiff


@pytest.fixture(scope="module")
def scene(reference_scene):
    """The Landsat 8 truth, its x4 LR and the truth warped to EPSG:4326 as the reference (see conftest)."""
    return reference_scene


def test_reference_from_another_crs_lands_on_the_output_grid(scene):
    truth, lr, ref_path, _ = scene
    pixels, covered = reference_on_grid(ref_path, lr, 4)
    assert pixels.shape == (3, 96, 96) and covered.shape == (96, 96)
    assert covered[8:-8, 8:-8].all()  # inside, the warped-back reference covers everything
    err = np.abs(pixels[:, covered] - truth[:, covered])
    assert np.median(err) < 0.02 * truth.mean()  # two cubic warps away from the truth, no shift
    assert np.allclose(coregistration_shift(lr.values[0], pixels.reshape(3, 24, 4, 24, 4).mean(axis=(2, 4))),
                       (0, 0), atol=0.1)


def test_moved_helpers_stay_importable_from_here():
    """Radiometric matching and co-registration moved to their own modules; the old import path still works."""
    from satsr import coregistration, radiometry
    from satsr.io import reference

    assert reference.Matching is radiometry.Matching
    assert reference.RadiometryMatch is radiometry.RadiometryMatch
    assert reference.fit_radiometry is radiometry.fit_radiometry
    assert reference.match_radiometry is radiometry.match_radiometry
    assert reference.coregistration_shift is coregistration.coregistration_shift


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
