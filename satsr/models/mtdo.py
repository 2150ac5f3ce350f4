"""MTDO: multi-temporal difference and dynamic optimisation for satellite video SR (IEEE JSTARS 2025).

Built on LGTD (same alignment, fusion and HAT reconstruction): adjacent (A-TDM) and skipped (S-TDM) frame
differences, a cross-temporal difference module (C-TDM) on the aligned features, a three-route dynamic
optimisation module (T-DROM) and the MACU refinement. Parameter names match the authors' ``modules/MTDO.myNet``.

Behaviour the authors' weights depend on is kept by default (``faithful=True``): C-TDM reverses the list of
aligned features *in place* before its forward branch, so its forward and backward features are identical and
both differences are exactly zero, and T-DROM's third route then concatenates the aligned features in reversed
frame order ``[t+2, t+1, t, t-1, t-2]``. ``faithful=False`` computes the intended differences on the forward and
backward orders and concatenates the features in time order (for training new weights only).

``mtdo-s`` (:func:`mtdo_s`) is satsr's light configuration for training from scratch: the same differences and
dynamic optimisation at half width, LGTD_arc's conv reconstruction instead of HAT, a bicubic skip; tile-exact.
"""

from __future__ import annotations

import torch
from torch import nn

from satsr.errors import InputError
from satsr.models.hat import HAT
from satsr.models.lgtd import TDMS, ConvReconstruction, centre_bicubic
from satsr.models.ops import MSD, ConvBlock, ResnetBlock, TSAFusion, up2, zero_conv_
from satsr.models.registry import Weights, register

__all__ = ["MTDO", "CTDM", "TDROM"]


class CTDM(nn.Module):
    """Cross-temporal differences of the aligned features in forward and backward frame order."""

    def __init__(self, nframes: int = 5, faithful: bool = True, *, nf: int = 64) -> None:
        super().__init__()
        self.faithful = faithful
        self.compress_3 = ConvBlock(nframes * nf, nf)
        self.conv1 = ConvBlock(nf, nf)

    def forward(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(forward - backward, backward - forward)``; exactly zero when faithful."""
        backward = self.conv1(self.compress_3(torch.cat(feats[::-1], dim=1)))
        forward = backward if self.faithful else self.conv1(self.compress_3(torch.cat(feats, dim=1)))
        return forward - backward, backward - forward


class TDROM(nn.Module):
    """Three routes: adjacent differences, skipped differences (MFEU), and C-TDM attention on the aligned features.

    ``nf`` is the feature width (64) and ``base`` that of the centre frame's own features (128); routes 1 and 2
    work on their concatenation (192 channels).
    """

    def __init__(self, nframes: int = 5, alpha: float = 0.5, beta: float = 0.5, align_corners: bool = True, *,
                 nf: int = 64, base: int = 128) -> None:
        super().__init__()
        self.alpha, self.beta, self.align_corners = alpha, beta, align_corners
        wide = base + nf
        self.feat0 = ConvBlock(3, base)
        self.conv2 = ConvBlock(wide, wide)
        self.conv3 = ConvBlock(wide, wide)
        self.conv4 = ConvBlock(wide, nf)
        self.conv5 = ConvBlock(nf, nf)
        self.conv6 = ConvBlock(nf, nf)
        self.conv7 = ConvBlock(nf, nframes * nf)
        self.avg_diff = nn.AvgPool2d(2, 2)

    def _gate(self, c: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv7(c + self.conv5(c) + up2(self.conv6(self.avg_diff(c)), self.align_corners)))

    def forward(self, centre: torch.Tensor, a: torch.Tensor, s: torch.Tensor, cf: torch.Tensor, cb: torch.Tensor,
                feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(R12, R3)``: routes 1+2 (``nf`` ch) and route 3 (``nframes * nf`` ch over ``feats``)."""
        lr_f0 = self.feat0(centre)
        sa = torch.cat((a, lr_f0), dim=1)
        ss = torch.cat((s, lr_f0), dim=1)
        f1 = self.conv4(sa)
        f3 = self.conv4(ss + self.conv2(ss) + up2(self.conv3(self.avg_diff(ss)), self.align_corners))
        r12 = self.alpha * f1 + self.beta * f3
        att = self._gate(cf) + self._gate(cb)
        return r12, att * feats + feats


class MTDO(nn.Module, ConvReconstruction):
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
    nf, n_res, tdm_base, groups : int
        Feature width (64), residual blocks before and after fusion (5), width of the difference modules' centre
        features (128) and deformable groups (8): the authors' values by default; smaller ones make light models.
    hat : bool, default True
        Reconstruct with HAT, as the authors do. ``False`` reconstructs as LGTD_arc does (see
        :class:`~satsr.models.lgtd.LGTDArc`: a 3x3 embedding to ``embed`` channels, ``n_recon`` residual blocks,
        two pixel-shuffle x2 stages, ``conv_last``), which needs no 16-pixel windows and no global pooling.
    embed, n_recon : int
        Width (180) and depth (5) of that conv reconstruction (``hat=False`` only).
    residual : bool, default False
        Add the bicubic upsampling of the centre frame to the output, so that the network learns only the
        difference (not in the authors' network; new models train much faster from it).

    Notes
    -----
    With HAT, ``H`` and ``W`` must be multiples of 16; without, of 4 (pooling in the difference modules and TSA).
    25,995,674 parameters with the defaults.
    """

    def __init__(
        self, nframes: int = 5, faithful: bool = True, align_corners: bool = True, *, nf: int = 64, n_res: int = 5,
        tdm_base: int = 128, groups: int = 8, hat: bool = True, embed: int = 180, n_recon: int = 5,
        residual: bool = False,
    ) -> None:
        super().__init__()
        if nframes != 5:
            raise InputError(f"MTDO is built for 5 frames, got nframes={nframes}")
        self.nframes, self.faithful, self.residual = nframes, faithful, residual
        self.multiple_of = 16 if hat else 4
        self.fea0 = ConvBlock(3, nf)
        self.fea_all = ConvBlock(3, nf)
        self.res_feat_ext = nn.Sequential(*[ResnetBlock(nf) for _ in range(n_res)])
        self.A_tdm = TDMS(nframes, step=1, align_corners=align_corners, nf=nf, base=tdm_base)
        self.S_tdm = TDMS(nframes, step=2, align_corners=align_corners, nf=nf, base=tdm_base)
        self.C_tdm = CTDM(nframes, faithful=faithful, nf=nf)
        self.T_drom = TDROM(nframes, align_corners=align_corners, nf=nf, base=tdm_base)
        self.fus = nn.Conv2d(nf * nframes, nf, 3, 1, 1)
        self.msd = MSD(nf, groups)
        self.TSA_Fusion = TSAFusion(nf, nframes, nframes // 2)
        if hat:
            self.hat = HAT(in_chans=nf)
        else:  # LGTD_arc's reconstruction, with its parameter names
            self.build_reconstruction(nf, embed, n_recon)
        self.res_feat2 = nn.Sequential(*[ResnetBlock(nf) for _ in range(n_res)])
        for m in self.modules():  # the authors re-initialise every convolution
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``frames`` (B, 5, 3, H, W) -> (B, 3, 4H, 4W), the centre frame super-resolved."""
        fea = self.features(frames)
        out = self.hat(fea) if hasattr(self, "hat") else self.reconstruct(fea)
        return out + centre_bicubic(frames) if self.residual else out  # the skip is not in the authors' network

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """The ``nf``-channel features that the reconstruction upsamples (``fea + R12 + fea_x``)."""
        b, t, c, h, w = frames.shape
        if t != self.nframes:
            raise InputError(f"MTDO takes {self.nframes} frames per sample, got {t}")
        m = self.multiple_of
        if h % m or w % m:
            why = " (HAT windows)" if m == 16 else ""
            raise InputError(f"MTDO input {h} x {w} must be a multiple of {m}{why}")
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
        return fea + r12 + fea_x


@register(
    "mtdo", scale=4, frames_in=5, bands=3, halo=48, multiple_of=16, feather=16, bytes_per_pixel=12000,
    description="MTDO (JSTARS 2025): multi-temporal differences + dynamic optimisation + HAT, 5 RGB frames, x4",
)
def mtdo(faithful: bool = True, align_corners: bool = True) -> MTDO:
    """The authors' ``modules/MTDO.myNet``; options as :class:`MTDO`."""
    return MTDO(5, faithful=faithful, align_corners=align_corners)


def _light_mtdo(faithful: bool, align_corners: bool, *, n_res: int, n_recon: int) -> MTDO:
    """``mtdo-s``'s half-width MTDO at a given depth, its last convolution zero (an untrained one is bicubic)."""
    model = MTDO(5, faithful=faithful, align_corners=align_corners, nf=32, n_res=n_res, tdm_base=48, groups=8,
                 hat=False, embed=64, n_recon=n_recon, residual=True)
    zero_conv_(model.conv_last)
    return model


@register(
    "mtdo-s", scale=4, frames_in=5, bands=3, halo=40, multiple_of=4, bytes_per_pixel=1300,
    weights=(Weights(
        tag="satsr-mixed-v2", source="trained by satsr: satsr/train/configs/mtdo-s-video.yaml, then "
        "mtdo-s-mixed.yaml (model card satsr/weights/mtdo-s.md)",
        sha256="3dc86028792e298d35bc974459de63d87703f6bed2b847573b15707f511be51d",
        license="MIT",
        file="mtdo-s.safetensors",
    ),),
    description="satsr's light MTDO (half width, LGTD-arc's conv reconstruction + bicubic skip, corrected, "
    "tile-exact), 1.38 M",
)
def mtdo_s(faithful: bool = False, align_corners: bool = False) -> MTDO:
    """A light :class:`MTDO` for training from scratch (on a CPU too): half width, fewer blocks, no HAT.

    It keeps MTDO's mechanism: the adjacent, skipped and cross-temporal differences and the three-route dynamic
    optimisation. ``nf=32, n_res=2, tdm_base=48, groups=8``, reconstructed as ``lgtd-s`` is (``hat=False,
    embed=64, n_recon=4``), plus a bicubic skip (``residual=True``) with the last convolution starting at zero,
    so that an untrained model is exactly bicubic; the corrected differences and ``align_corners=False`` by
    default, so tiles reproduce the whole image exactly. Its halo is its measured reach at 1e-6 of the peak
    change, 40 px (``python benchmarks/receptive_field.py --model mtdo-s --size 96 --zero-offsets``).
    """
    return _light_mtdo(faithful, align_corners, n_res=2, n_recon=4)


@register(
    "mtdo-m", scale=4, frames_in=5, bands=3, halo=56, multiple_of=4, bytes_per_pixel=1300,
    weights=(Weights(
        tag="satsr-grown-v1", source="trained by satsr: grown from mtdo-s v2 by mtdo-m-mixed.yaml, then "
        "mtdo-m-mixed2.yaml (model card satsr/weights/mtdo-m.md)",
        sha256="30cecbd7cc5f40c9429d1085ba300445e8472ca9cb5db6e879edf29f0492ffec",
        license="MIT",
        file="mtdo-m.safetensors",
    ),),
    description="mtdo-s made deeper (3 feature and 12 reconstruction blocks), grown from its weights, 2.01 M",
)
def mtdo_m(faithful: bool = False, align_corners: bool = False) -> MTDO:
    """:func:`mtdo_s` made deeper: ``n_res=3`` and ``n_recon=12``.

    It trains from ``mtdo-s`` weights with :func:`satsr.models.grow_weights` (config key ``grow_from``), starting
    as exactly that model.
    """
    return _light_mtdo(faithful, align_corners, n_res=3, n_recon=12)
