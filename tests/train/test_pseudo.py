"""Pseudo-video from a still: the true motion is what phase correlation measures, and nothing else changes."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from scipy import ndimage

from satsr.coregistration import phase_shift
from satsr.errors import InputError
from satsr.train.pseudo import make_clip


def _read(path: Path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            return src.read().astype(np.float64) / 255


@pytest.fixture(scope="module")
def still(shared_data: Path) -> np.ndarray:
    """A real 480x480 satellite still (RRSSRD validation HR)."""
    return _read(sorted((shared_data / "refsr" / "rrssrd" / "val_1st" / "HR").glob("*.jpg"))[0])


@pytest.mark.parametrize(
    ("seed", "drift", "jitter"), [(0, (0.3, 0.3), 0.15), (1, (1.0, 1.0), 0.3), (2, (1.5, 0.5), 0.3)]
)
def test_true_shifts_recovered_by_phase_correlation(still, seed, drift, jitter):
    clip, p = make_clip(still, 7, size=256, drift=drift, jitter=jitter, rotation=0, rng=seed, return_params=True)
    c = p["centre"]
    assert c == 3 and np.array_equal(p["shifts"][c], [0.0, 0.0]) and np.all(p["rotations"] == 0)
    assert np.abs(p["shifts"]).max() > 0.3  # the test measures real motion
    gray = clip.mean(axis=1)
    # Sign: content at p in the centre frame is at p + shift in frame t, i.e. phase_shift(centre, frame t).
    measured = np.array([phase_shift(gray[c], gray[t]) for t in range(7)])
    np.testing.assert_allclose(measured, p["shifts"], atol=0.1)


def test_drift_is_linear_in_time(still):
    _, p = make_clip(still, 5, size=128, drift=(0.8, 0.8), jitter=0.0, rotation=0, rng=4, return_params=True)
    np.testing.assert_allclose(p["shifts"], np.outer(np.arange(5) - 2, p["velocity"]), atol=1e-12)
    assert np.all(np.abs(p["velocity"]) <= 0.8)


def test_centre_frame_is_the_still_itself(still):
    clip = make_clip(still[:, :200, :300], 5, size=(120, 150), rng=0)
    np.testing.assert_allclose(clip[2], still[:, 40:160, 75:225], atol=1e-5)


def test_shape_dtype_range_and_default_size(still):
    clip = make_clip(still, 5, size=96, rng=0)
    assert clip.shape == (5, 3, 96, 96) and clip.dtype == np.float32
    assert clip.min() >= 0 and clip.max() <= 1
    small = still[:, :100, :120]
    full = make_clip(small, 3, rng=0)
    assert full.shape[:2] == (3, 3) and 80 < full.shape[2] < 100 and full.shape[3] - full.shape[2] == 20
    assert make_clip(small[0], 3, size=32, rng=0).shape == (3, 1, 32, 32)


def test_deterministic_for_a_seed(still):
    a = make_clip(still, 5, size=64, movers=2, rng=7)
    b = make_clip(still, 5, size=64, movers=2, rng=np.random.default_rng(7))
    c = make_clip(still, 5, size=64, movers=2, rng=8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def _patch_shift(a: np.ndarray, b: np.ndarray, cy: int, cx: int, half: int = 32) -> np.ndarray:
    sl = (slice(cy - half, cy + half), slice(cx - half, cx + half))
    return np.array(phase_shift(a[sl], b[sl]))


def test_rotation_turns_about_the_frame_centre(still):
    clip, p = make_clip(still, 5, size=256, drift=0, jitter=0, rotation=3.0, rng=0, return_params=True)
    gray = clip.mean(axis=1)
    theta = math.radians(p["rotations"][4])
    ctr = (256 - 1) / 2
    # The centre barely moves; a corner patch moves as R(theta) q - q (q: its position from the centre).
    assert np.abs(_patch_shift(gray[2], gray[4], 128, 128)).max() < 0.1
    for cy, cx in ((48, 48), (48, 208), (208, 48), (208, 208)):
        q = np.array([cy - 0.5 - ctr, cx - 0.5 - ctr])  # the patch centre lies between pixels cy-1 and cy
        rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
        want = rot @ q - q
        assert np.abs(want).max() > 1.0  # a visible turn
        # Phase correlation of a turning patch is only roughly a translation.
        np.testing.assert_allclose(_patch_shift(gray[2], gray[4], cy, cx), want, atol=0.3)


def test_frames_sample_the_still_where_the_params_say(still):
    """Exact geometry: output pixel o of frame t shows the still at centre + R(-theta_t)(o - centre - shift_t)."""
    clip, p = make_clip(still, 5, size=200, drift=1.0, jitter=0.3, rotation=3.0, rng=0, return_params=True)
    top, ctr = (480 - 200) // 2, (200 - 1) / 2
    o = np.array([[5, 7], [190, 13], [100, 100], [17, 180], [199, 199]], dtype=np.float64)
    for t in range(5):
        th = math.radians(-p["rotations"][t])
        inv = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
        src = top + ctr + (o - ctr - p["shifts"][t]) @ inv.T
        for b in range(3):
            want = ndimage.map_coordinates(still[b], src.T, order=3, mode="reflect")
            got = clip[t, b, o[:, 0].astype(int), o[:, 1].astype(int)]
            np.testing.assert_allclose(got, np.clip(want, 0, 1), atol=1e-5)


def test_movers_change_only_small_regions(still):
    plain = make_clip(still, 5, size=128, movers=0, rng=11)
    moving, p = make_clip(still, 5, size=128, movers=3, rng=11, return_params=True)
    boxes = p["movers"]
    assert boxes.shape == (3, 5, 4) and p["mover_values"].shape == (3, 3)
    changed = np.abs(moving - plain).max(axis=1) > 1e-6  # (T, h, w)
    assert 0 < changed.mean() < 0.02
    yy, xx = np.mgrid[0:128, 0:128] + 0.5  # pixel centres in edge coordinates
    for t in range(5):
        inside = np.zeros((128, 128), bool)
        for y0, x0, y1, x1 in boxes[:, t]:
            inside |= (yy > y0 - 0.5) & (yy < y1 + 0.5) & (xx > x0 - 0.5) & (xx < x1 + 0.5)
        assert not np.any(changed[t] & ~inside)
    # Movers move: their boxes are not where they were.
    travel = np.hypot(*(boxes[:, -1, :2] - boxes[:, 0, :2]).T)
    assert np.all(travel > 1.0)


def test_bad_input(still):
    with pytest.raises(InputError, match="does not fit"):
        make_clip(still[:, :50, :50], 3, size=64)
    with pytest.raises(InputError, match="C, H, W"):
        make_clip(still[None], 3, size=64)
    with pytest.raises(InputError, match=">= 0"):
        make_clip(still, 3, size=64, jitter=-1)
    with pytest.raises(InputError, match="n_frames"):
        make_clip(still, 0, size=64)
