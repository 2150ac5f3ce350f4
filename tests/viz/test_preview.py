"""satsr.viz.compare_png: the side-by-side PNG of ``satsr upscale --preview``."""

from pathlib import Path

import numpy as np
import pytest
import rasterio

import satsr
from satsr.errors import InputError
from satsr.viz import GAP, compare_png

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        assert src.driver == "PNG"
        assert all(dt == "uint8" for dt in src.dtypes)
        return src.read()


@pytest.fixture
def scene(make_geotiff):
    """A 3-band uint16 scene with a 5x5 nodata corner, and its bicubic x4 (lazy)."""
    data = np.random.default_rng(0).integers(1000, 60000, (3, 37, 53)).astype(np.uint16)
    data[:, :5, :5] = 0
    lr = satsr.open_stack(make_geotiff("scene.tif", data, nodata=0))
    return lr, satsr.upscale(lr, "bicubic", scale=4, device="cpu")


def test_compare_png_rgb_size_and_nodata_black(scene, tmp_path):
    lr, sr = scene
    path = compare_png(lr, sr, tmp_path / "cmp.png")
    assert path == tmp_path / "cmp.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.png", "scene.tif"]  # no temp or .aux.xml left
    img = _read(path)
    assert img.shape == (3, 148, 2 * 212 + GAP)
    left, gap, right = img[:, :, :212], img[:, :, 212 : 212 + GAP], img[:, :, 212 + GAP :]
    assert (gap == 255).all()
    # The nodata corner (5x5 LR pixels = 20x20 SR pixels) is black in both panels, and only there.
    assert (left[:, :20, :20] == 0).all() and (right[:, :20, :20] == 0).all()
    assert left[:, 20:, 20:].any(axis=0).mean() > 0.9 and right[:, 20:, 20:].any(axis=0).mean() > 0.9
    # The left panel is the LR frame upsampled by nearest neighbour: constant 4x4 blocks.
    assert (left[:, 20:, :] == np.repeat(np.repeat(left[:, 20::4, ::4], 4, axis=1), 4, axis=2)[:, :128]).all()
    # A shared 2-98 % stretch: both panels span most of the 8-bit range.
    assert left.max() == right.max() == 255 and np.percentile(left[:, 20:], 1) < 10


def test_compare_png_grey_band_crop_and_downsizing(scene, tmp_path):
    lr, sr = scene
    grey = _read(compare_png(lr, sr, tmp_path / "grey.png", bands=[3]))  # band numbers are 1-based
    assert grey.shape == (1, 148, 2 * 212 + GAP)
    small = _read(compare_png(lr, sr, tmp_path / "small.png", max_size=50))
    k = 5  # ceil(212 / 50)
    assert small.shape == (3, -(-148 // k), 2 * -(-212 // k) + GAP)
    crop = _read(compare_png(lr, sr, tmp_path / "crop.png", crop=(10, 20, 8, 12), bands=[3, 2, 1]))
    assert crop.shape == (3, 32, 2 * 48 + GAP)


def test_compare_png_matches_the_bands_sr_was_made_from(scene, tmp_path):
    """upscale(lr, bands=[3, 2, 1]): the left panel shows lr's bands 3, 2, 1 too, not its first three."""
    lr, _ = scene
    sr = satsr.upscale(lr, "nearest", scale=2, bands=[3, 2, 1], device="cpu")
    img = _read(compare_png(lr, sr, tmp_path / "cmp.png"))
    w = 2 * 53
    left, right = img[:, 20:, :w], img[:, 20:, w + GAP :]
    assert np.array_equal(left, right)  # nearest x2 of the same bands, same stretch: identical panels
    swapped = _read(compare_png(lr.sel(band=[1, 2, 3]), sr.assign_coords(band=[1, 2, 3]), tmp_path / "x.png"))
    assert not np.array_equal(swapped[:, 20:, :w], swapped[:, 20:, w + GAP :])


def test_compare_png_float_nan_and_single_band_default(make_geotiff, tmp_path):
    data = np.random.default_rng(1).random((1, 16, 24)).astype(np.float32)
    data[0, 8:, 12:] = np.nan
    lr = satsr.open_stack(make_geotiff("f.tif", data))
    sr = satsr.upscale(lr, "nearest", scale=2, device="cpu")
    img = _read(compare_png(lr.isel(time=0), sr.isel(time=0), tmp_path / "f.png"))
    assert img.shape == (1, 32, 2 * 48 + GAP)
    assert (img[0, 16:, 24:48] == 0).all() and (img[0, 16:, 48 + GAP + 24 :] == 0).all()
    assert img[0, :16, :24].any()


def test_compare_png_errors(scene, tmp_path):
    lr, sr = scene
    with pytest.raises(InputError, match="1 band .* or 3 bands"):
        compare_png(lr, sr, tmp_path / "x.png", bands=[1, 2])
    with pytest.raises(InputError, match=r"band 4 is out of range: lr has bands \[1, 2, 3\]"):
        compare_png(lr, sr, tmp_path / "x.png", bands=[4])
    with pytest.raises(InputError, match="band 0 is out of range.*1-based"):
        compare_png(lr, sr, tmp_path / "x.png", bands=[0])
    with pytest.raises(InputError, match="frame 2 is out of range"):
        compare_png(lr, sr, tmp_path / "x.png", frame=2)
    with pytest.raises(InputError, match="crop"):
        compare_png(lr, sr, tmp_path / "x.png", crop=(30, 0, 10, 10))
    with pytest.raises(InputError, match="integer multiple"):
        compare_png(lr, sr.isel(x=slice(0, 211)), tmp_path / "x.png")
    compare_png(lr, sr, tmp_path / "missing" / "x.png")  # missing folders are created
    assert (tmp_path / "missing" / "x.png").is_file()
    (tmp_path / "missing" / "x.png").unlink()
    assert not (tmp_path / "x.png").exists()
