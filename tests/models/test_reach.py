"""``satsr.models.measure_reach``: how far a one-pixel change moves the output, for models of one or several
output frames."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from satsr import models


class _TwoFramesOut(nn.Module):
    """A toy space-time model: output frame 0 is input frame 0 enlarged x4; frame 1 is frame 1 box-blurred 5 x 5
    (2 px either way) and enlarged. Its reach is frame 1's."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))  # a parameter, as measure_reach finds the device by one

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sharp = F.interpolate(x[:, 0], scale_factor=4, mode="nearest")
        blurred = F.interpolate(F.avg_pool2d(x[:, 1], 5, stride=1, padding=2), scale_factor=4, mode="nearest")
        return self.w * torch.stack([sharp, blurred], dim=1)


def test_reach_of_a_model_of_several_output_frames_is_the_largest_over_them():
    r = models.measure_reach(_TwoFramesOut(), 32, frames_in=2, bands=3, scale=4)
    # a neighbourhood of k pixels reads k + 1: its far output pixels lie k + 3/8 input pixels from the centre
    assert r.at(1e-2) == 3 and r.at(1e-6) == 3 and r.edge == 16


def test_reach_of_a_single_frame_model():
    blur = nn.Conv2d(3, 48, 3, padding=1)  # 3 x 3: one pixel either way, then x4 by pixel shuffle
    model = nn.Sequential(blur, nn.PixelShuffle(4))
    r = models.measure_reach(model, 32, bands=3, scale=4)
    assert r.at(1e-2) == 2  # k + 1, as above
