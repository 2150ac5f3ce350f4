"""Building blocks shared by the satellite VSR models, in plain PyTorch (no compiled extensions).

So far: :class:`DCNSep`, the modulated deformable convolution (DCNv2) whose offsets and masks come from a
*separate* feature map, as LGTD, MTDO, MSTT-STVSR and LGFN use it. Parameter names match the authors'
``DCN_sep`` / ``ModulatedDeformConv_Sep`` (``weight``, ``bias``, ``conv_offset_mask.*``) so their checkpoints load.
The sampling runs on ``torchvision.ops.deform_conv2d``, which has the same offset layout (per deformable group,
per kernel point ``k = ky * kw + kx``: channel ``2k`` is the row offset, ``2k + 1`` the column offset) and the
same zero-outside bilinear rule as the CUDA builds.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.ops import deform_conv2d

__all__ = ["DCNSep"]


class DCNSep(nn.Module):
    """Modulated deformable convolution with offsets and masks predicted from a separate feature map.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and output.
    kernel_size : int, default 3
        Square kernel size.
    stride, padding, dilation : int
        As for ``nn.Conv2d``.
    deformable_groups : int, default 8
        Groups of input channels sharing one set of offsets and masks.
    bias : bool, default True
        Learnable bias.
    offset_channels : int, optional
        Channels of the feature the offsets come from; default ``in_channels``.

    Notes
    -----
    ``forward(x, fea)``: ``conv_offset_mask(fea)`` gives ``3 * deformable_groups * k * k`` channels, split in three
    equal chunks ``o1, o2, m``; the offsets are ``cat(o1, o2)`` and the mask ``sigmoid(m)``. As in the authors'
    class, ``conv_offset_mask`` starts at zero (every offset 0, every mask 0.5).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        dilation: int = 1,
        deformable_groups: int = 8,
        bias: bool = True,
        offset_channels: int | None = None,
    ) -> None:
        super().__init__()
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.deformable_groups = deformable_groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        k2 = kernel_size * kernel_size
        self.conv_offset_mask = nn.Conv2d(
            offset_channels or in_channels, 3 * deformable_groups * k2, kernel_size, stride, padding, dilation
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform ``weight`` in ``+-1/sqrt(fan_in)``, zero bias, zero offset/mask predictor (the DCNv2 init)."""
        fan_in = self.weight.shape[1] * self.weight.shape[2] * self.weight.shape[3]
        bound = 1.0 / math.sqrt(fan_in)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        nn.init.zeros_(self.conv_offset_mask.weight)
        nn.init.zeros_(self.conv_offset_mask.bias)

    def forward(self, x: torch.Tensor, fea: torch.Tensor) -> torch.Tensor:
        """Deformable convolution of ``x`` with offsets and masks predicted from ``fea``."""
        o1, o2, m = torch.chunk(self.conv_offset_mask(fea), 3, dim=1)
        offset = torch.cat((o1, o2), dim=1)
        return deform_conv2d(
            x, offset, self.weight, self.bias, stride=self.stride, padding=self.padding, dilation=self.dilation,
            mask=torch.sigmoid(m),
        )
