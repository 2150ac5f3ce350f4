"""``satsr.io.coords.nodata_of``: the one nodata lookup every reader and writer uses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from satsr.errors import InputError
from satsr.io.coords import nodata_of


def _da(attrs: dict | None = None, encoding: dict | None = None) -> xr.DataArray:
    da = xr.DataArray(np.zeros((2, 2), np.uint16), dims=("y", "x"), attrs=attrs or {}, name="scene")
    da.encoding = encoding or {}
    return da


def test_lookup_order_attrs_then_encoding():
    assert nodata_of(_da()) is None
    assert nodata_of(_da(), default=7) == 7.0
    assert nodata_of(_da({"_FillValue": 1, "nodata": 2}, {"_FillValue": 3, "nodata": 4})) == 1.0
    assert nodata_of(_da({"nodata": 2}, {"_FillValue": 3, "nodata": 4})) == 2.0
    assert nodata_of(_da({}, {"_FillValue": 3, "nodata": 4})) == 3.0
    assert nodata_of(_da({}, {"nodata": np.uint16(4)}), default=9) == 4.0
    assert nodata_of(_da({"_FillValue": None}, {"_FillValue": 3})) == 3.0  # None is "not set"
    value = nodata_of(_da({"_FillValue": np.float32("nan")}))
    assert isinstance(value, float) and math.isnan(value)


def test_a_value_that_is_not_a_number_is_named():
    with pytest.raises(InputError, match=r"'scene': nodata 'none' in encoding\['nodata'\] is not a number"):
        nodata_of(_da({}, {"nodata": "none"}))
