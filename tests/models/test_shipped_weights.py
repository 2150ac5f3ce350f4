"""The weights satsr ships (lgtd-s): they load by default, are checked, and beat bicubic on real video."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from satsr import models
from satsr.errors import CheckpointError
from satsr.models.registry import bundled_weights
from satsr.train.evaluate import evaluate_clips, gains


def test_shipped_weights_load_by_default_and_are_checked():
    spec = models.get_spec("lgtd-s")
    path = bundled_weights(spec)
    assert path is not None and path.stat().st_size < 8 * 2**20  # a few MB at most
    trained = models.create("lgtd-s")
    assert trained.conv_last.weight.abs().sum() > 0  # an untrained lgtd-s has a zero last conv
    assert not models.create("lgtd-s", pretrained=False).conv_last.weight.any()
    assert torch.equal(models.create("lgtd-s", pretrained=True).conv_last.weight, trained.conv_last.weight)
    damaged = replace(spec, weights=tuple(replace(w, sha256="0" * 64) for w in spec.weights))
    with pytest.raises(CheckpointError, match="differs from the recorded"):
        bundled_weights(damaged)


@pytest.mark.slow
def test_shipped_lgtd_s_beats_bicubic_on_real_jilin_video(shared_data):
    """The issue's target on the real Jilin-1 clip (never trained on), standard protocol, centre frame 3."""
    scores = evaluate_clips(shared_data / "jilin1_airport", {"lgtd-s": "lgtd-s", "bicubic": "bicubic"},
                            centres=[3], device="cpu")
    s = {x.model: x.scores for x in scores}
    assert s["lgtd-s"]["psnr"] >= s["bicubic"]["psnr"] + 1.0, s
    assert s["lgtd-s"]["ssim"] > s["bicubic"]["ssim"], s
    assert gains(scores)["lgtd-s"]["psnr"] == pytest.approx(s["lgtd-s"]["psnr"] - s["bicubic"]["psnr"])
