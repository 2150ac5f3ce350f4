import numpy as np
import pytest

from satsr.errors import InputError
from satsr.radiometry import Radiometry, fill_nearest, nodata_mask, upsample_mask


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
