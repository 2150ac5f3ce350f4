"""LGTD: local-global temporal difference learning for satellite video SR (Xiao et al., TCSVT 2023).

This is the network the authors' training script trains (``modules/model_final.myNet``): short-term differences
of the RGB frames (S-TDM), multi-scale deformable alignment and TSA fusion of per-frame features, a long-term
difference module on the aligned features (L-TDM), and HAT for reconstruction. Parameter names match their
state_dict so that their checkpoints load.

Behaviour the published weights depend on is kept by default (``faithful=True``):

* L-TDM reverses the list of aligned features *in place* before building its "forward" branch, so the forward
  and backward branches see the same reversed order and their differences are exactly zero; its attention is
  then twice one sigmoid. ``faithful=False`` gives the intended forward/backward difference (for training new
  weights only: the authors' weights were trained with the zero difference).
* S-TDM inserts the centre frame into the caller's list of neighbours; here the frames arrive as one tensor, so
  nothing outside the model is mutated, and the network sees the same five frames either way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from satsr.errors import InputError
from satsr.models.hat import HAT
from satsr.models.ops import MSD, ConvBlock, ResnetBlock, TSAFusion, up2, zero_conv_
from satsr.models.registry import Weights, register

__all__ = ["LGTD", "LGTDArc", "TDMS", "TDML"]


class TDMS(nn.Module):
    """Short-term temporal differences: features of consecutive RGB frame differences compensate the centre frame.

    ``step`` is the frame distance of the differences: 1 (LGTD's S-TDM, MTDO's A-TDM, ``f_i - f_{i+1}``) or
    2 (MTDO's S-TDM, ``f_0 - f_2, f_2 - f_4``; its fusion conv is then named ``conv1_2``, as in the authors' code).
    """

    def __init__(
        self, nframes: int = 5, alpha: float = 0.5, beta: float = 0.5, nres: int = 1, step: int = 1,
        align_corners: bool = True, nf: int = 64, base: int = 128,
    ) -> None:
        super().__init__()
        self.alpha, self.beta, self.step, self.align_corners = alpha, beta, step, align_corners
        self.feat0 = ConvBlock(3, base)
        self.feat_diff = ConvBlock(3, nf)
        n_diff = len(range(0, nframes - step, step))
        fuse = ConvBlock(n_diff * nf, base)
        if step == 1:
            self.conv1 = fuse
        else:
            self.conv1_2 = fuse
        self.res_feat1 = nn.Sequential(*[ResnetBlock(base) for _ in range(nres)], ConvBlock(base, nf))
        self.res_feat2 = nn.Sequential(*[ResnetBlock(base) for _ in range(nres)], ConvBlock(base, nf))
        self.avg_diff = nn.AvgPool2d(2, 2)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``frames`` (B, T, 3, H, W) -> (B, 64, H, W)."""
        b, t, c, h, w = frames.shape
        k = self.step
        first = frames[:, 0 : t - k : k]
        diff = (first - frames[:, k:t:k][:, : first.shape[1]]).reshape(-1, c, h, w)
        diff = self.avg_diff(self.feat_diff(diff)).reshape(b, -1, h // 2, w // 2)
        s = (self.conv1 if k == 1 else self.conv1_2)(diff)
        u1 = up2(self.res_feat1(s), self.align_corners)
        u2 = up2(s, self.align_corners)
        comp = self.res_feat2(self.alpha * self.feat0(frames[:, t // 2]) + self.beta * u2)
        return self.alpha * comp + self.beta * u1


class TDML(nn.Module):
    """Long-term temporal differences between forward and backward sequences of aligned features.

    Returns ``att * F + F`` with ``F`` the concatenated features (``nframes * 64`` channels). ``fus`` is built
    but never used, as in the authors' class (its weights are in their checkpoints).
    """

    def __init__(
        self, nframes: int = 5, faithful: bool = True, unused_fus: bool = True, align_corners: bool = True,
        nf: int = 64,
    ) -> None:
        super().__init__()
        base = nf
        self.faithful, self.align_corners = faithful, align_corners
        self.compress_3 = ConvBlock(nframes * nf, base)
        self.conv1 = ConvBlock(base, base)
        self.conv2 = ConvBlock(base, base)
        self.conv3 = ConvBlock(base, base)
        self.conv4 = ConvBlock(base, nframes * nf)
        self.avg_diff = nn.AvgPool2d(2, 2)
        if unused_fus:  # in the authors' myNet only; never called
            self.fus = nn.Conv2d(base * 2, base, 3, 1, 1)

    def _branch(self, fea: torch.Tensor, diff: torch.Tensor) -> torch.Tensor:
        up = up2(self.conv3(self.avg_diff(fea)), self.align_corners)
        return torch.sigmoid(self.conv4(diff + self.conv2(fea) + up))

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """``feats``: aligned features, one (B, 64, H, W) per frame in time order."""
        whole = torch.cat(feats, dim=1)
        backward = self.conv1(self.compress_3(torch.cat(feats[::-1], dim=1)))
        # Faithful: the authors reverse their list in place first, so "forward" is the reversed order too.
        forward = backward if self.faithful else self.conv1(self.compress_3(whole))
        att = self._branch(forward, forward - backward) + self._branch(backward, backward - forward)
        return att * whole + whole


class LGTD(nn.Module):
    """LGTD (the authors' ``myNet``): 5 LR frames ``(B, T, 3, H, W)`` in [0, 1] -> centre frame x4.

    Parameters
    ----------
    nframes : int, default 5
        Frames per sample (the authors use 5).
    faithful : bool, default True
        Keep the authors' in-place list reversal in L-TDM (see the module docstring); ``False`` for training new
        weights with the intended forward/backward differences.
    align_corners : bool, default True
        Upsample in S-TDM and L-TDM with ``align_corners=True`` as the authors do (their weights expect it).
        ``False`` makes the network translation-equivariant, so that tiles reproduce the whole-image output;
        use it when training new weights.
    nf, n_res, tdm_base, groups : int
        Feature width (64), residual blocks before and after fusion (5), S-TDM width (128) and deformable groups
        (8): the authors' values by default; smaller ones make light models to train from scratch.
    hat : bool, default True
        Build the HAT reconstruction (``False`` only for subclasses that reconstruct otherwise).

    Notes
    -----
    ``H`` and ``W`` must be multiples of 16 (HAT windows, no internal padding). 24,400,399 parameters.

    Tiling: with ``align_corners=True`` the half-resolution branches are resampled at positions that depend on
    the input size (drifting by up to a quarter of a low-resolution pixel from one edge to the other), so no
    tiling reproduces the whole-image output exactly; ``satsr.upscale`` feathers these models' tiles by
    default. HAT's channel attention pools over the whole input, a further (much smaller) global term.
    """

    #: Input height/width rule: HAT's 16-pixel windows.
    multiple_of = 16

    def __init__(
        self, nframes: int = 5, faithful: bool = True, align_corners: bool = True, *, nf: int = 64, n_res: int = 5,
        tdm_base: int = 128, groups: int = 8, hat: bool = True,
    ) -> None:
        super().__init__()
        self.nframes = nframes
        self.fea0 = ConvBlock(3, nf)
        self.fea_all = ConvBlock(3, nf)
        self.res_feat_ext = nn.Sequential(*[ResnetBlock(nf) for _ in range(n_res)])
        self.tdm_s = TDMS(nframes, align_corners=align_corners, nf=nf, base=tdm_base)
        self.tdm_l = TDML(nframes, faithful=faithful, align_corners=align_corners, nf=nf)
        self.fus = nn.Conv2d(nf * nframes, nf, 3, 1, 1)
        self.msd = MSD(nf, groups)
        self.TSA_Fusion = TSAFusion(nf, nframes, nframes // 2)
        if hat:
            self.hat = HAT(in_chans=nf)
        self.res_feat2 = nn.Sequential(*[ResnetBlock(nf) for _ in range(n_res)])
        # The authors re-initialise every convolution (the DCN offset predictor and HAT's convs included).
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``frames`` (B, T, 3, H, W) -> (B, 3, 4H, 4W), the centre frame super-resolved."""
        return self.hat(self.features(frames))

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """The 64-channel fused and compensated features that the reconstruction upsamples."""
        b, t, c, h, w = frames.shape
        if t != self.nframes:
            raise InputError(f"LGTD takes {self.nframes} frames per sample, got {t}")
        m = self.multiple_of
        if h % m or w % m:
            raise InputError(f"{type(self).__name__} input {h} x {w} must be a multiple of {m}")
        centre = t // 2
        s_comp = self.fea0(frames[:, centre]) + self.tdm_s(frames)
        feats = self.res_feat_ext(self.fea_all(frames.reshape(-1, c, h, w))).view(b, t, -1, h, w)
        ref = feats[:, centre]
        aligned = [self.msd(feats[:, i], ref) for i in range(t)]
        fea = self.TSA_Fusion(torch.stack(aligned, dim=1))
        long = self.fus(self.tdm_l(aligned))
        fea = fea + self.res_feat2(fea - long)
        return fea + s_comp


def centre_bicubic(frames: torch.Tensor) -> torch.Tensor:
    """The bicubic x4 of a window's centre frame: ``frames`` (B, T, 3, H, W) -> (B, 3, 4H, 4W).

    The skip of satsr's light models (``residual=True``): the network then learns only the difference.
    """
    return F.interpolate(frames[:, frames.shape[1] // 2], scale_factor=4, mode="bicubic", align_corners=False)


class ConvReconstruction:
    """LGTD_arc's reconstruction, under its parameter names, for an ``nn.Module`` that mixes it in.

    A 3x3 embedding to ``embed`` channels, ``n_recon`` residual blocks, a conv back to ``nf`` channels with
    LeakyReLU(0.01), two pixel-shuffle x2 stages and ``conv_last`` to RGB. Used by :class:`LGTDArc` and by
    :class:`~satsr.models.mtdo.MTDO` without HAT.
    """

    embedding: nn.Conv2d
    reconstruction: nn.Sequential
    conv_before_upsample: nn.Sequential
    upsample: nn.Sequential
    conv_last: nn.Conv2d

    def build_reconstruction(self, nf: int, embed: int, n_recon: int) -> list[nn.Module]:
        """Make the reconstruction's modules (set as attributes) and return them, in build order."""
        self.embedding = nn.Conv2d(nf, embed, 3, 1, 1)
        self.reconstruction = nn.Sequential(*[ResnetBlock(embed) for _ in range(n_recon)])
        self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed, nf, 3, 1, 1), nn.LeakyReLU(0.01))
        self.upsample = nn.Sequential(nn.Conv2d(nf, 4 * nf, 3, 1, 1), nn.PixelShuffle(2),
                                      nn.Conv2d(nf, 4 * nf, 3, 1, 1), nn.PixelShuffle(2))
        self.conv_last = nn.Conv2d(nf, 3, 3, 1, 1)
        return [self.embedding, self.reconstruction, self.conv_before_upsample, self.upsample, self.conv_last]

    def reconstruct(self, fea: torch.Tensor) -> torch.Tensor:
        """``nf``-channel features (B, nf, H, W) -> RGB (B, 3, 4H, 4W)."""
        x = self.reconstruction(self.embedding(fea))
        return self.conv_last(self.upsample(self.conv_before_upsample(x)))


class LGTDArc(LGTD, ConvReconstruction):
    """The class named ``LGTD`` in the authors' repository (``modules/LGTD_arc.py``), which no script imports.

    Same as :class:`LGTD` up to the fused features, but reconstructs with a 3x3 embedding to 180 channels, five
    residual blocks, a conv to 64 channels with LeakyReLU(0.01) and two pixel-shuffle x2 stages. It also builds
    a HAT that its forward never calls: kept so that checkpoints load, and skipped at inference. Its L-TDM has
    no ``fus`` conv. 27,749,171 parameters, of which 20,871,327 are the unused HAT. Input height and width must
    be multiples of 4 (pooling in S-TDM, MSD and TSA). Options as for :class:`LGTD`, plus ``embed`` (180) and
    ``n_recon`` (5), the reconstruction's width and depth, and ``unused_hat`` (``False`` drops the HAT its forward
    never calls: for new models, whose checkpoints then do not carry it), and ``residual`` (``False``; ``True``
    adds the bicubic upsampling of the centre frame to the output, so that the network learns only the
    difference: new models train much faster from it).
    """

    multiple_of = 4

    def __init__(
        self, nframes: int = 5, faithful: bool = True, align_corners: bool = True, *, nf: int = 64, n_res: int = 5,
        tdm_base: int = 128, groups: int = 8, embed: int = 180, n_recon: int = 5, unused_hat: bool = True,
        residual: bool = False,
    ) -> None:
        super().__init__(nframes, faithful, align_corners, nf=nf, n_res=n_res, tdm_base=tdm_base, groups=groups,
                         hat=unused_hat)
        self.residual = residual
        del self.tdm_l.fus
        for m in self.build_reconstruction(nf, embed, n_recon):
            for conv in m.modules():
                if isinstance(conv, nn.Conv2d):
                    nn.init.kaiming_normal_(conv.weight)
                    nn.init.zeros_(conv.bias)  # type: ignore[arg-type]  # all built with a bias

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``frames`` (B, T, 3, H, W) -> (B, 3, 4H, 4W); H, W multiples of 4."""
        out = self.reconstruct(self.features(frames))
        return out + centre_bicubic(frames) if self.residual else out  # the skip is not in the authors' class


@register(
    "lgtd", scale=4, frames_in=5, bands=3, halo=48, multiple_of=16, feather=16, bytes_per_pixel=10500,
    description="LGTD (Xiao et al., TCSVT 2023): local-global temporal differences + HAT, 5 RGB frames, x4",
)
def lgtd(faithful: bool = True, align_corners: bool = True) -> LGTD:
    """The network LGTD's authors train (``model_final.myNet``); options as :class:`LGTD`."""
    return LGTD(5, faithful=faithful, align_corners=align_corners)


@register(
    "lgtd-arc", scale=4, frames_in=5, bands=3, halo=64, multiple_of=4, feather=16, bytes_per_pixel=2100,
    description="LGTD_arc's class LGTD (same features, conv reconstruction), 5 RGB frames, x4",
)
def lgtd_arc(faithful: bool = True, align_corners: bool = True) -> LGTDArc:
    """The class named ``LGTD`` in the authors' ``modules/LGTD_arc.py``; options as :class:`LGTD`."""
    return LGTDArc(5, faithful=faithful, align_corners=align_corners)


def _light_lgtd(faithful: bool, align_corners: bool, *, n_res: int, n_recon: int) -> LGTDArc:
    """``lgtd-s``'s half-width LGTD-arc at a given depth, its last convolution zero (an untrained one is bicubic)."""
    model = LGTDArc(5, faithful=faithful, align_corners=align_corners, nf=32, n_res=n_res, tdm_base=64, groups=8,
                    embed=64, n_recon=n_recon, unused_hat=False, residual=True)
    zero_conv_(model.conv_last)
    return model


@register(
    "lgtd-s", scale=4, frames_in=5, bands=3, halo=40, multiple_of=4, bytes_per_pixel=1100,
    weights=(Weights(
        tag="satsr-mixed-v2", source="trained by satsr: lgtd-s.yaml then lgtd-s-mixed.yaml (model card "
        "satsr/weights/lgtd-s.md)", sha256="8067ea4a9544bdd1bffd9cf7c7933fc2608251968a6f4b8ca4e1598e180f5bc4",
        license="MIT",
        file="lgtd-s.safetensors",
    ),),
    description="satsr's light LGTD (LGTD-arc at half width + bicubic skip, corrected, tile-exact), 1.19 M",
)
def lgtd_s(faithful: bool = False, align_corners: bool = False) -> LGTDArc:
    """A light :class:`LGTDArc` for training from scratch (on a CPU too): half width, fewer blocks, no HAT.

    ``nf=32, n_res=2, tdm_base=64, groups=8, embed=64, n_recon=4``, plus a bicubic skip (``residual=True``)
    with the last convolution starting at zero, so that an untrained model is exactly bicubic; the corrected
    differences and ``align_corners=False`` by default, so tiles reproduce the whole image exactly.
    """
    return _light_lgtd(faithful, align_corners, n_res=2, n_recon=4)


@register(
    "lgtd-m", scale=4, frames_in=5, bands=3, halo=56, multiple_of=4, bytes_per_pixel=1300,
    description="lgtd-s made deeper (3 feature and 12 reconstruction blocks), grown from its weights, 1.82 M",
)
def lgtd_m(faithful: bool = False, align_corners: bool = False) -> LGTDArc:
    """:func:`lgtd_s` made deeper: ``n_res=3`` and ``n_recon=12``.

    One more residual block before and after fusion, eight more in the reconstruction. Its blocks extend
    :func:`lgtd_s`'s sequences, so it trains from ``lgtd-s`` weights with :func:`satsr.models.grow_weights`
    (config key ``grow_from``): it starts as exactly that model.
    """
    return _light_lgtd(faithful, align_corners, n_res=3, n_recon=12)
