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


def test_format_gains_reports_the_temporal_gain():
    scores = [ClipScore("a", "net", (3,), {"psnr": 32.0, "ssim": 0.92, "temporal_gain": 0.7}),
              ClipScore("a", "bicubic", (3,), {"psnr": 30.5, "ssim": 0.89, "temporal_gain": 0.0})]
    assert format_gains(scores).splitlines() == [
        "net over bicubic: +1.50 dB PSNR, +0.0300 SSIM",
        "net from its neighbouring frames: +0.70 dB PSNR (against the same model on the centre frame alone)",
    ]


class _FirstFrame:
    """A 3-frame 'model' that upscales the first frame of its window: its neighbours only hurt it."""

    def __new__(cls):
        import torch.nn.functional as F
        from torch import nn

        from satsr.models import wrap

        class Net(nn.Module):
            def forward(self, x):
                return F.interpolate(x[:, 0], scale_factor=4, mode="bicubic", align_corners=False)

        return wrap(Net(), scale=4, frames_in=3, halo=4, bands=3)


def test_temporal_gain_lr_resampler_and_holdout_on_real_frames(shared_data):
    import numpy as np

    from satsr.degrade import imresize
    from satsr.metrics import evaluate as evaluate_pair
    from satsr.train.evaluate import evaluate_clips, load_clip

    clip = shared_data / "jilin1_airport"
    net = _FirstFrame()
    scores = {s.model: s.scores for s in evaluate_clips(clip, {"first": net, "bicubic": "bicubic"}, centres=[3],
                                                        device="cpu")}
    assert scores["bicubic"]["temporal_gain"] == 0.0
    # by hand: the net on frames 2, 3, 4 sees frame 2; on 3, 3, 3 it sees frame 3, which is bicubic of frame 3
    import torch
    import torch.nn.functional as F

    lr, gt = load_clip(clip)
    alone = F.interpolate(torch.from_numpy(lr[3:4]), scale_factor=4, mode="bicubic", align_corners=False)[0].numpy()
    alone_psnr = evaluate_pair(np.clip(alone, 0, 1), gt[3])["psnr"]
    assert scores["first"]["temporal_gain"] == pytest.approx(scores["first"]["psnr"] - alone_psnr, abs=0.02)
    assert scores["first"]["temporal_gain"] < -0.05  # frame 2 is not frame 3: the aircraft and the platform moved

    # LR made by another resampler: not the stored LR4x frames
    lr_pil, gt_pil = load_clip(clip, lr_method="pil_bicubic")
    np.testing.assert_array_equal(gt_pil, gt)
    assert np.abs(lr_pil - lr).max() > 0.01
    pil = {s.model: s.scores for s in evaluate_clips(clip, {"bicubic": "bicubic"}, centres=[3], device="cpu",
                                                     lr_method="pil_bicubic", temporal=False)}
    assert "temporal_gain" not in pil["bicubic"] and abs(pil["bicubic"]["psnr"] - scores["bicubic"]["psnr"]) > 1e-3

    # held-aside frames of a long JPEG clip, GT area-reduced x2
    long_clip = shared_data / "satvideo" / "macf_012"
    held = evaluate_clips(long_clip, {"bicubic": "bicubic"}, holdout=0.2, prescale=2, device="cpu", temporal=False)
    assert held[0].frames == tuple(range(96, 120))  # 120 frames, the last 20%; bicubic needs no neighbours
    lr_h, gt_h = load_clip(long_clip, prescale=2, frames=slice(96, 97))
    assert gt_h.shape == (1, 3, 512, 512) and lr_h.shape == (1, 3, 128, 128)
    np.testing.assert_allclose(lr_h, np.clip(imresize(gt_h, 1 / 4), 0, 1), atol=1e-6)
    one = evaluate_pair(np.clip(imresize(lr_h[0], 4), 0, 1), gt_h[0])
    assert 15 < one["psnr"] < 45
    with pytest.raises(Exception, match="centres or holdout"):
        evaluate_clips(long_clip, {"bicubic": "bicubic"}, holdout=0.2, centres=[3])
