"""Classical baselines (nearest, bilinear, bicubic) as ``nn.Module`` with the same interface as networks.

They use ``torch.nn.functional.interpolate`` with ``align_corners=False``: output pixel centres sit at
``(i + 0.5) / scale - 0.5`` in input pixels, which is exactly the pixel-is-area grid
``transform * Affine.scale(1 / scale)`` that satsr writes. So the baselines are also the reference for
sub-pixel alignment.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from satsr.models.registry import register

__all__ = ["Interpolate"]

_SCALES = tuple(range(1, 17))


class Interpolate(nn.Module):
    """Upsample by an integer factor with a fixed kernel.

    Parameters
    ----------
    scale : int
        Upscaling factor.
    mode : {"nearest", "bilinear", "bicubic"}
        Kernel. ``bicubic`` uses Keys' cubic with ``a = -0.75`` (PyTorch's choice, as OpenCV).
    """

    def __init__(self, scale: int = 4, mode: Literal["nearest", "bilinear", "bicubic"] = "bicubic") -> None:
        super().__init__()
        self.scale = int(scale)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Upsample ``(B, C, H, W)`` to ``(B, C, H*scale, W*scale)``."""
        if self.mode == "nearest":
            # "nearest-exact" picks the input pixel whose area contains the output centre (plain "nearest"
            # floors and is off by a fraction of a pixel for some scales).
            return F.interpolate(x, scale_factor=self.scale, mode="nearest-exact")
        return F.interpolate(x, scale_factor=self.scale, mode=self.mode, align_corners=False)

    def extra_repr(self) -> str:  # noqa: D102
        return f"scale={self.scale}, mode={self.mode!r}"


@register(
    "nearest", scale=4, scales=_SCALES, bands=None, halo=0, scale_is_argument=True, bytes_per_pixel=200,
    description="nearest neighbour (pixel replication); exact, no new detail",
)
def nearest(scale: int = 4) -> Interpolate:
    """Nearest-neighbour upsampling."""
    return Interpolate(scale, "nearest")


@register(
    "bilinear", scale=4, scales=_SCALES, bands=None, halo=1, scale_is_argument=True, bytes_per_pixel=200,
    description="bilinear interpolation (2x2 taps)",
)
def bilinear(scale: int = 4) -> Interpolate:
    """Bilinear upsampling."""
    return Interpolate(scale, "bilinear")


@register(
    "bicubic", scale=4, scales=_SCALES, bands=None, halo=2, scale_is_argument=True, bytes_per_pixel=200,
    description="bicubic interpolation (4x4 taps, a=-0.75); the classical baseline",
)
def bicubic(scale: int = 4) -> Interpolate:
    """Bicubic upsampling."""
    return Interpolate(scale, "bicubic")
