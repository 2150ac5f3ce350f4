"""Ce Liu's coarse-to-fine flow in NumPy against the authors' C++ (tests/data/README.md)."""

import numpy as np
import pytest
import rasterio

from satsr.errors import InputError
from satsr.models.flow import coarse_to_fine_flow


@pytest.fixture(scope="module")
def official(vectors):
    return np.load(vectors.data / "liu_flow_official.npz")


def _epe(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a - b) ** 2).sum(axis=-1))


def test_matches_the_cpp_code_on_a_known_shift(official):
    im1 = official["shifted_im1"].astype(np.float64)
    im2 = official["shifted_im2"].astype(np.float64)
    flow = coarse_to_fine_flow(im1, im2)
    ref = official["shifted_flow"].astype(np.float64)
    assert _epe(flow, ref).mean() <= 1e-5 and _epe(flow, ref).max() <= 1e-4
    inner = flow[16:-16, 16:-16].reshape(-1, 2).mean(axis=0)
    assert np.allclose(inner, [-2.4, 1.7], atol=0.1)  # the shift is recovered: x then y


@pytest.mark.slow
def test_matches_the_cpp_code_on_real_jilin_frames(shared_data, official):
    frames = sorted((shared_data / "jilin1_airport" / "LR4x").glob("*.png"))

    def read(p):
        with rasterio.open(p) as src:
            return src.read().transpose(1, 2, 0).astype(np.float64) / 255

    flow = coarse_to_fine_flow(read(frames[0]), read(frames[2]))
    epe = _epe(flow, official["jilin_0_2_flow"].astype(np.float64))
    assert epe.mean() <= 1e-5 and epe.max() <= 1e-4  # the issue asks for a mean of 0.05 px at most


def test_grey_images_and_errors():
    rng = np.random.default_rng(0)
    a = rng.random((40, 48))
    flow = coarse_to_fine_flow(a, a)
    assert flow.shape == (40, 48, 2) and np.abs(flow).max() < 1e-6  # identical images: no motion
    with pytest.raises(InputError, match="two .* images of one shape"):
        coarse_to_fine_flow(a, a[:, :40])
    with pytest.raises(InputError, match="too small"):
        coarse_to_fine_flow(a[:10, :10], a[:10, :10])
