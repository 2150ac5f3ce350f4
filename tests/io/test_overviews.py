import warnings
from pathlib import Path

import numpy as np
import rasterio
from rio_cogeo.cogeo import cog_validate

import satsr
from satsr.io._overviews import OverviewPyramid, overview_factors
from satsr.testing import write_geotiff


def test_factors_match_gdal_auto():
    assert overview_factors((1100, 900), 512) == [2, 4]
    assert overview_factors((4096, 4096), 512) == [2, 4, 8]
    assert overview_factors((16384, 16384), 512) == [2, 4, 8, 16, 32]
    assert overview_factors((512, 300), 512) == []


def test_alignment_check():
    pyr = OverviewPyramid(Path("x.tif"), {"dtype": "uint16"}, [2, 4, 8], None)
    assert pyr.aligned([0, 512, 1024], [0, 512])
    assert not pyr.aligned([0, 500], [0])


def _block_mean(a, f, nodata):
    c, h, w = a.shape
    hp, wp = -(-h // f) * f, -(-w // f) * f
    x = np.full((c, hp, wp), np.nan)
    x[:, :h, :w] = a
    if nodata is not None:
        x[x == nodata] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN groups: nodata
        return np.nanmean(x.reshape(c, hp // f, f, wp // f, f), axis=(2, 4))


def test_cog_overviews_are_nodata_aware_block_means(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(1, 60000, (2, 300, 270)).astype(np.uint16)
    data[:, 40:100, 30:90] = 0  # nodata block
    data[:, 150, 151] = 0
    src = write_geotiff(tmp_path / "in.tif", data, nodata=0)
    sr = satsr.upscale(satsr.open_stack(src), "nearest", scale=4, tile=64)  # 1200 x 1080 output
    out = satsr.to_cog(sr, tmp_path / "out.tif", blocksize=256)[0]
    assert cog_validate(out)[0]
    full = sr.values[0].astype(np.float64)
    with rasterio.open(out) as ds:
        assert ds.overviews(1) == [2, 4, 8]
        for f in ds.overviews(1):
            h, w = -(-1200 // f), -(-1080 // f)
            got = ds.read(out_shape=(2, h, w), resampling=rasterio.enums.Resampling.nearest)
            want = _block_mean(full, f, 0)
            valid = ~np.isnan(want)
            assert (got[~valid] == 0).all(), f
            np.testing.assert_array_equal(got[valid], np.clip(np.rint(want[valid]), 1, None).astype(np.uint16), f)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif", "out.tif"]


def test_float_nan_overviews(tmp_path):
    data = np.random.default_rng(1).random((1, 200, 200)).astype(np.float32)
    data[0, :50, :50] = np.nan
    src = write_geotiff(tmp_path / "f.tif", data, nodata=None)
    sr = satsr.upscale(satsr.open_stack(src), "nearest", scale=4)
    out = satsr.to_cog(sr, tmp_path / "f_x4.tif", blocksize=256)[0]
    with rasterio.open(out) as ds:
        ov = ds.read(1, out_shape=(400, 400))
    assert np.isnan(ov[:100, :100]).all() and np.isfinite(ov[100:, 100:]).all()
