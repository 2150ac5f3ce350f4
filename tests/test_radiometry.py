import numpy as np
import pytest

from satsr.errors import InputError
from satsr.radiometry import (
    Radiometry,
    fill_nearest,
    fit_radiometry,
    match_radiometry,
    nodata_mask,
    stretch_limits,
    stretch_to_uint8,
    upsample_mask,
)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16"])
def test_integer_round_trip_is_exact(dtype):
    info = np.iinfo(dtype)
    a = np.linspace(info.min, info.max, 4001).round().astype(dtype)
    r = Radiometry(dtype)
    m = r.to_model(a)
    assert m.dtype == np.float32 and m.min() == 0.0 and m.max() == 1.0
    np.testing.assert_array_equal(r.from_model(m), a)


def test_out_of_range_model_values_are_clipped_and_rounded():
    r = Radiometry("uint8")
    np.testing.assert_array_equal(r.from_model(np.array([-0.2, 0.5, 1.3], np.float32)), [0, 128, 255])


def test_float_is_identity_and_value_range_maps():
    a = np.array([0.0, 0.25, 3.0], np.float32)
    np.testing.assert_array_equal(Radiometry("float32").to_model(a), a)
    r = Radiometry("uint16", value_range=(0, 10000))
    np.testing.assert_allclose(r.to_model(np.array([0, 5000, 10000], np.uint16)), [0, 0.5, 1])
    np.testing.assert_array_equal(r.from_model(np.array([0.12341], np.float32)), [1234])


def test_bad_radiometry():
    with pytest.raises(InputError, match="value_range"):
        Radiometry("uint16", value_range=(5, 5))
    with pytest.raises(InputError, match="does not fit"):
        Radiometry("uint8", nodata=-1)
    with pytest.raises(InputError, match="not supported"):
        Radiometry("complex64")


def test_nodata_mask_and_fill():
    a = np.array([[[1.0, np.nan, 3.0], [0.0, 5.0, 6.0]]], np.float32)
    m = nodata_mask(a, 0.0)
    np.testing.assert_array_equal(m, [[[False, True, False], [True, False, False]]])
    assert nodata_mask(np.ones((2, 2), np.uint8), 0) is None
    filled = fill_nearest(a.copy(), m)
    assert not np.isnan(filled).any()
    assert filled[0, 1, 0] in (1.0, 5.0) and filled[0, 0, 1] in (1.0, 3.0, 5.0)
    allmask = np.ones((1, 2, 2), bool)
    assert (fill_nearest(np.full((1, 2, 2), 9.0), allmask) == 0).all()


def test_upsample_mask():
    m = np.array([[True, False]])
    np.testing.assert_array_equal(upsample_mask(m, 2), [[1, 1, 0, 0], [1, 1, 0, 0]])


def test_non_unit_model_range_round_trip():
    r = Radiometry("uint8", model_range=(-1.0, 1.0))
    a = np.arange(256, dtype=np.uint8)
    m = r.to_model(a)
    assert m.min() == -1.0 and m.max() == 1.0
    np.testing.assert_array_equal(r.from_model(m), a)


def test_radiometry_matching(reference_scene):
    """A real reference (Landsat 8 warped to EPSG:4326, see conftest) from 'another sensor' matched to the LR."""
    from satsr.io.reference import reference_on_grid

    _, lr, ref_path, _ = reference_scene
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


def test_fit_radiometry_undoes_a_linear_change_and_keeps_nan():
    rng = np.random.default_rng(0)
    lr = rng.random((2, 500)) * 1000
    ref = lr * np.array([[2.0], [0.5]]) + np.array([[100.0], [-3.0]])
    fit = fit_radiometry(list(ref), list(lr))
    assert fit.method == "meanstd"
    np.testing.assert_allclose(fit.gain, (0.5, 2.0))
    np.testing.assert_allclose(fit.offset, (-50.0, 6.0), atol=1e-9)
    ref[0, :3] = np.nan
    out = fit.apply(ref)
    assert out.dtype == np.float32 and np.isnan(out[0, :3]).all()
    np.testing.assert_allclose(out[:, 3:], lr[:, 3:], rtol=1e-5)
    with pytest.raises(InputError, match="no valid pixel"):
        fit_radiometry([np.full(4, np.nan)], [np.ones(4)])


def test_stretch_limits_skip_invalid_pixels_and_flat_bands():
    v = np.stack([np.arange(101.0), np.full(101, 7.0), np.full(101, np.nan)]).reshape(3, 1, 101)
    v[0, 0, :50] = np.inf  # infinite values never count
    assert stretch_limits(v) == [(51.0, 99.0), (7.0, 8.0), (0.0, 1.0)]
    bad = np.zeros(v.shape, bool)
    bad[0, 0, 90:] = True  # masked values (nodata) do not count either
    assert stretch_limits(v, bad, (0.0, 100.0))[0] == (50.0, 89.0)


def test_stretch_to_uint8_rounds_clips_and_blacks_out_invalid_pixels():
    v = np.array([[[-5.0, 0.0, 5.0, 10.0, 20.0, np.nan, np.inf, -np.inf]], [[0.0] * 8]])
    out = stretch_to_uint8(v, [(0.0, 10.0), (0.0, 1.0)])
    assert out.dtype == np.uint8 and out[0, 0].tolist() == [0, 0, 128, 255, 255, 0, 255, 0]
    bad = np.zeros(v.shape, bool)
    bad[1, 0, 3] = True  # invalid in one band: black in all bands
    assert stretch_to_uint8(v, [(0.0, 10.0), (0.0, 1.0)], bad)[:, 0, 3].tolist() == [0, 0]


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "int32", "float32"])
def test_conversions_into_given_arrays_match_the_plain_ones(dtype):
    # The pipeline converts windows in its reusable buffers and tile outputs straight into views of the block.
    rng = np.random.default_rng(0)
    rad = Radiometry(np.dtype(dtype))
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "ui" else None
    stored = (rng.integers(info.min, info.max, (3, 9, 11), endpoint=True) if info else rng.normal(size=(3, 9, 11)))
    stored = stored.astype(dtype)
    buf = np.empty(stored.shape, np.float32)
    assert rad.to_model(stored, out=buf) is buf
    np.testing.assert_array_equal(buf, rad.to_model(stored))
    pred = (rng.random((3, 9, 11)) * 1.2 - 0.1).astype(np.float32)
    block = np.zeros((3, 20, 11), dtype)
    assert rad.from_model(pred.copy(), out=block[:, 5:14]) is not None
    np.testing.assert_array_equal(block[:, 5:14], rad.from_model(pred.copy()))
    assert not block[:, :5].any() and not block[:, 14:].any()
