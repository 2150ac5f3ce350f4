"""Gains over the baseline, as `satsr evaluate` and `make demo` print them."""

import pytest

from satsr.train.evaluate import ClipScore, format_gains, gains


def _scores() -> list[ClipScore]:
    return [
        ClipScore("a", "net", (3,), {"psnr": 32.0, "ssim": 0.92}),
        ClipScore("a", "bicubic", (3,), {"psnr": 30.5, "ssim": 0.89}),
        ClipScore("b", "net", (3,), {"psnr": 29.0, "ssim": 0.80}),
        ClipScore("b", "bicubic", (3,), {"psnr": 28.5, "ssim": 0.81}),
        ClipScore("c", "net", (3,), {"psnr": 50.0, "ssim": 0.99}),  # no baseline on this clip: left out
    ]


def test_gains_are_mean_differences_over_shared_clips():
    g = gains(_scores())
    assert list(g) == ["net"]
    assert g["net"]["psnr"] == pytest.approx((1.5 + 0.5) / 2)
    assert g["net"]["ssim"] == pytest.approx((0.03 - 0.01) / 2)
    assert gains(_scores(), baseline="bilinear") == {}


def test_format_gains():
    assert format_gains(_scores()) == "net over bicubic: +1.00 dB PSNR, +0.0100 SSIM"
    assert format_gains([]) == ""
