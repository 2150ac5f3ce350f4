"""MTDO: multi-temporal difference and dynamic optimisation for satellite video SR (IEEE JSTARS 2025).

Built on LGTD (same alignment, fusion and HAT reconstruction): adjacent (A-TDM) and skipped (S-TDM) frame
differences, a cross-temporal difference module (C-TDM) on the aligned features, a three-route dynamic
optimisation module (T-DROM) and the MACU refinement. Parameter names match the authors' ``modules/MTDO.myNet``.

Behaviour the authors' weights depend on is kept by default (``faithful=True``): C-TDM reverses the list of
aligned features *in place* before its forward branch, so its forward and backward features are identical and
both differences are exactly zero, and T-DROM's third route then concatenates the aligned features in reversed
frame order ``[t+2, t+1, t, t-1, t-2]``. ``faithful=False`` computes the intended differences on the forward and
backward orders and concatenates the features in time order (for training new weights only).
"""

from __future__ import annotations

import torch
from torch import nn

from satsr.errors import InputError
from satsr.models.hat import HAT
from satsr.models.lgtd import TDMS
from satsr.models.ops import MSD, ConvBlock, ResnetBlock, TSAFusion, up2
from satsr.models.registry import register

__all__ = ["MTDO", "CTDM", "TDROM"]


class CTDM(nn.Module):
    """Cross-temporal differences of the aligned features in forward and backward frame order."""

    def __init__(self, nframes: int = 5, faithful: bool = True) -> None:
        super().__init__()
        self.faithful = faithful
        self.compress_3 = ConvBlock(nframes * 64, 64)
        self.conv1 = ConvBlock(64, 64)

    def forward(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(forward - backward, backward - forward)``; exactly zero when faithful."""
        backward = self.conv1(self.compress_3(torch.cat(feats[::-1], dim=1)))
        forward = backward if self.faithful else self.conv1(self.compress_3(torch.cat(feats, dim=1)))
        return forward - backward, backward - forward


class TDROM(nn.Module):
    """Three routes: adjacent differences, skipped differences (MFEU), and C-TDM attention on the aligned features."""

    def __init__(self, nframes: int = 5, alpha: float = 0.5, beta: float = 0.5, align_corners: bool = True) -> None:
        super().__init__()
        self.alpha, self.beta, self.align_corners = alpha, beta, align_corners
        self.feat0 = ConvBlock(3, 128)
        self.conv2 = ConvBlock(192, 192)
        self.conv3 = ConvBlock(192, 192)
        self.conv4 = ConvBlock(192, 64)
        self.conv5 = ConvBlock(64, 64)
        self.conv6 = ConvBlock(64, 64)
        self.conv7 = ConvBlock(64, nframes * 64)
        self.avg_diff = nn.AvgPool2d(2, 2)

    def _gate(self, c: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv7(c + self.conv5(c) + up2(self.conv6(self.avg_diff(c)), self.align_corners)))

    def forward(self, centre: torch.Tensor, a: torch.Tensor, s: torch.Tensor, cf: torch.Tensor, cb: torch.Tensor,
                feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(R12, R3)``: routes 1+2 (64 ch) and route 3 (``nframes * 64`` ch over ``feats``)."""
        lr_f0 = self.feat0(centre)
        sa = torch.cat((a, lr_f0), dim=1)
        ss = torch.cat((s, lr_f0), dim=1)
        f1 = self.conv4(sa)
        f3 = self.conv4(ss + self.conv2(ss) + up2(self.conv3(self.avg_diff(ss)), self.align_corners))
        r12 = self.alpha * f1 + self.beta * f3
        att = self._gate(cf) + self._gate(cb)
        return r12, att * feats + feats


class MTDO(nn.Module):
    """MTDO (the authors' ``myNet``): 5 LR frames ``(B, 5, 3, H, W)`` in [0, 1] -> centre frame x4.

    Parameters
    ----------
    nframes : int, default 5
        Must be 5: the skipped-difference module is built for two differences.
    faithful : bool, default True
        Keep the authors' in-place list reversal (see the module docstring).
    align_corners : bool, default True
        The authors' size-dependent ``align_corners=True`` upsampling in the difference modules; ``False`` makes
        the network translation-equivariant (tiles then reproduce the whole image). See :class:`LGTD`'s Notes.

    Notes
    -----
    ``H`` and ``W`` must be multiples of 16. 25,995,674 parameters.
    """

    def __init__(self, nframes: int = 5, faithful: bool = True, align_corners: bool = True) -> None:
        super().__init__()
        if nframes != 5:
            raise InputError(f"MTDO is built for 5 frames, got nframes={nframes}")
        self.nframes, self.faithful = nframes, faithful
        self.fea0 = ConvBlock(3, 64)
        self.fea_all = ConvBlock(3, 64)
        self.res_feat_ext = nn.Sequential(*[ResnetBlock(64) for _ in range(5)])
        self.A_tdm = TDMS(nframes, step=1, align_corners=align_corners)
        self.S_tdm = TDMS(nframes, step=2, align_corners=align_corners)
        self.C_tdm = CTDM(nframes, faithful=faithful)
        self.T_drom = TDROM(nframes, align_corners=align_corners)
        self.fus = nn.Conv2d(64 * nframes, 64, 3, 1, 1)
        self.msd = MSD(64, 8)
        self.TSA_Fusion = TSAFusion(64, nframes, nframes // 2)
        self.hat = HAT()
        self.res_feat2 = nn.Sequential(*[ResnetBlock(64) for _ in range(5)])
        for m in self.modules():  # the authors re-initialise every convolution
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``frames`` (B, 5, 3, H, W) -> (B, 3, 4H, 4W), the centre frame super-resolved."""
        b, t, c, h, w = frames.shape
        if t != self.nframes:
            raise InputError(f"MTDO takes {self.nframes} frames per sample, got {t}")
        if h % 16 or w % 16:
            raise InputError(f"MTDO input {h} x {w} must be a multiple of 16 (HAT windows)")
        centre = frames[:, t // 2]
        fea_x = self.fea0(centre)
        a, s = self.A_tdm(frames), self.S_tdm(frames)
        feats = self.res_feat_ext(self.fea_all(frames.reshape(-1, c, h, w))).view(b, t, -1, h, w)
        aligned = [self.msd(feats[:, i], feats[:, t // 2]) for i in range(t)]
        cf, cb = self.C_tdm(aligned)
        # Faithful: C-TDM reversed the authors' list in place, so route 3 sees the frames in reverse order.
        route3 = torch.cat(aligned[::-1] if self.faithful else aligned, dim=1)
        r12, r3 = self.T_drom(centre, a, s, cf, cb, route3)
        fea = self.TSA_Fusion(torch.stack(aligned, dim=1))
        fea = fea + self.res_feat2(fea - self.fus(r3))
        return self.hat(fea + r12 + fea_x)


@register(
    "mtdo", scale=4, frames_in=5, bands=3, halo=48, multiple_of=16, feather=16, bytes_per_pixel=12000,
    description="MTDO (JSTARS 2025): multi-temporal differences + dynamic optimisation + HAT, 5 RGB frames, x4",
)
def mtdo(faithful: bool = True, align_corners: bool = True) -> MTDO:
    """The authors' ``modules/MTDO.myNet``; options as :class:`MTDO`."""
    return MTDO(5, faithful=faithful, align_corners=align_corners)
