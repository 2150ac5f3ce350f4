"""Co-registration: phase correlation recovers known sub-pixel shifts, on synthetic and on real imagery."""

import math

import numpy as np
import pytest

from satsr.coregistration import coregistration_shift, phase_shift
from satsr.errors import InputError


@pytest.mark.parametrize("shift", [(0.0, 0.0), (0.3, -0.45), (3.2, 1.7)])
def test_phase_shift_recovers_known_shift(shift):
    rng = np.random.default_rng(1)
    # A smooth random texture shifted exactly in the Fourier domain.
    a = np.fft.ifft2(np.fft.fft2(rng.random((128, 128))) * np.exp(-((np.fft.fftfreq(128)[:, None] ** 2
                                                                    + np.fft.fftfreq(128)[None] ** 2) * 60))).real
    fy, fx = np.fft.fftfreq(128)[:, None], np.fft.fftfreq(128)[None]
    b = np.fft.ifft2(np.fft.fft2(a) * np.exp(-2j * np.pi * (fy * shift[0] + fx * shift[1]))).real
    dy, dx = phase_shift(a, b)
    assert dy == pytest.approx(shift[0], abs=0.02) and dx == pytest.approx(shift[1], abs=0.02)


def test_phase_shift_refuses_mismatched_images():
    with pytest.raises(InputError, match="2-D images of one shape"):
        phase_shift(np.zeros((8, 8)), np.zeros((8, 9)))


def test_phase_shift_keeps_its_old_import_path():
    from satsr import geo

    assert geo.phase_shift is phase_shift


def test_shift_is_measured(reference_scene):
    """A real reference (Landsat 8 warped to EPSG:4326, see conftest) moved one LR pixel east."""
    from satsr.io.reference import reference_on_grid

    _, lr, ref_path, _ = reference_scene
    pixels, covered = reference_on_grid(ref_path, lr, 4)
    shifted = np.roll(pixels, 4, axis=-1)  # one LR pixel to the east
    dy, dx = coregistration_shift(lr.values[0], shifted.reshape(3, 24, 4, 24, 4).mean(axis=(2, 4)))
    assert abs(dy) < 0.2 and abs(dx - 1) < 0.2


def test_coregistration_shift_without_enough_overlap_is_nan():
    a = np.ones((3, 20, 20))
    b = np.full((3, 20, 20), np.nan)
    assert all(math.isnan(v) for v in coregistration_shift(a, b))  # nothing shared
    b[:, :5, :5] = 1.0
    assert all(math.isnan(v) for v in coregistration_shift(a, b))  # shared, but under 8 pixels across
