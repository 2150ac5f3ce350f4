import numpy as np
import pytest
import rasterio

from satsr.degrade import degrade, imresize
from satsr.errors import InputError


def test_reproduces_the_jilin_lr_frames_bit_for_bit(shared_data):
    """Jilin-189's LR4x frames are MATLAB-bicubic x1/4 of GT with replicated edges: every pixel matches."""
    root = shared_data / "jilin1_airport"
    for gt_path in sorted((root / "GT").glob("*.png"))[:3]:
        with rasterio.open(gt_path) as g, rasterio.open(root / "LR4x" / gt_path.name) as lr:
            gt, want = g.read().astype(np.float64), lr.read()
        got = np.clip(np.round(imresize(gt, 0.25)), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(got, want)
        # MATLAB's documented symmetric padding differs only in the outer 2 LR pixels
        sym = np.clip(np.round(imresize(gt, 0.25, edge="symmetric")), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(sym[:, 2:-2, 2:-2], want[:, 2:-2, 2:-2])


def test_shapes_constants_and_identity():
    rng = np.random.default_rng(0)
    x = rng.random((2, 3, 37, 50)).astype(np.float32)
    assert imresize(x, 0.25).shape == (2, 3, 10, 13) and imresize(x, 0.25).dtype == np.float32
    assert imresize(x, 4).shape == (2, 3, 148, 200)
    np.testing.assert_allclose(imresize(x, 1.0), x, atol=1e-6)
    np.testing.assert_allclose(imresize(np.full((9, 11), 0.3), 1 / 3), 0.3, atol=1e-12)
    # antialiasing: stripes of period 3 px (above the x1/4 Nyquist) nearly vanish, and alias without it
    stripes = np.tile(np.cos(2 * np.pi * np.arange(64) / 3), (64, 1))
    assert np.ptp(imresize(stripes, 0.25)[2:-2, 2:-2]) < 0.01
    assert np.ptp(imresize(stripes, 0.25, antialias=False)[2:-2, 2:-2]) > 1


def test_degrade_is_seeded_and_clipped():
    hr = np.random.default_rng(1).random((3, 64, 64))
    a = degrade(hr, 4, blur_sigma=1.2, noise_sigma=0.02, rng=np.random.default_rng(7))
    b = degrade(hr, 4, blur_sigma=1.2, noise_sigma=0.02, rng=np.random.default_rng(7))
    assert a.shape == (3, 16, 16) and a.dtype == np.float32 and np.array_equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    np.testing.assert_allclose(degrade(hr, 4), np.clip(imresize(hr, 0.25), 0, 1), atol=1e-6)


def test_errors():
    with pytest.raises(InputError, match="scale must be > 0"):
        imresize(np.zeros((4, 4)), 0)
    with pytest.raises(InputError, match="at least 2 axes"):
        imresize(np.zeros(4), 0.5)
    with pytest.raises(InputError, match="edge must be"):
        imresize(np.zeros((4, 4)), 0.5, edge="wrap")


def test_one_bicubic_for_numpy_and_torch_with_bounded_caches():
    """RGTGAN's torch resize uses imresize's weights (one home, satsr._bicubic); the caches are bounded."""
    import torch

    from satsr._bicubic import resize_matrix, resize_weights
    from satsr.models.rgtgan import matlab_resize

    x = np.random.default_rng(2).random((3, 20, 28))
    for scale in (4, 0.25):
        np.testing.assert_allclose(matlab_resize(torch.from_numpy(x), scale).numpy(), imresize(x, scale), atol=1e-12)
    assert resize_weights.cache_info().maxsize and resize_matrix.cache_info().maxsize
    assert not resize_matrix(20, 4).flags.writeable  # shared by every caller: read-only
