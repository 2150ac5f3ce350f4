"""LGFN: local-global fusion network for video SR (Su et al., IEEE Access 2020).

Seven LR frames in, the centre frame x4 out, as a residual over its bilinear upsampling. Every neighbour's features
are aligned to the centre's by four deformable stages whose offsets come from "decreased multi-dilation" units
(8, 6, 4 then 2 parallel dilated convolutions), then fused by two branches: a local one that carries a running
state from frame to frame, and a global one that shuffles channel groups across the seven frames. A residual
group of 20 channel-attention blocks and pixel shuffle reconstruct. Parameter names follow the authors'
state_dict (``src/model/lgfn.py``), so their checkpoints load; the deformable convolution is satsr's
:class:`~satsr.models.ops.DCNSep` (torchvision), the same operation as their ``ModulatedDeformConv_Sep``.

At the ends of a clip the authors fill missing neighbours with frames from the other side of the window
(``time_padding="far-side"``, :func:`satsr.tiling.time_window`), which the pipeline applies for this model.

``lgfn-s`` (:func:`lgfn_s`) is satsr's light configuration for training from scratch: the same alignment and
fusion at half width and depth, no channel attention (tile-exact), a bicubic skip.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from satsr.errors import InputError
from satsr.models.ops import DCNSep, zero_conv_
from satsr.models.registry import Weights, register

__all__ = ["LGFN"]


def _conv(cin: int, cout: int, k: int = 3, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=dilation * (k // 2), dilation=dilation, bias=True)


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.1)


class ResBlock(nn.Module):
    """``x + conv(lrelu(conv(x)))``; keys ``body.0``, ``body.2`` (``body.1`` is the activation)."""

    def __init__(self, nf: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(nf, nf), nn.LeakyReLU(0.1), _conv(nf, nf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block."""
        return x + self.body(x)

    @torch.no_grad()
    def make_identity_(self) -> None:
        """Make the block the identity (its last convolution zero), for :func:`satsr.models.grow_weights`."""
        zero_conv_(self.body[2])


class _CALayer(nn.Module):
    """Channel attention: global average, 1x1 squeeze (``conv_du.0``) and excite (``conv_du.2``), sigmoid."""

    def __init__(self, nf: int, reduction: int = 8) -> None:
        super().__init__()
        self.conv_du = nn.Sequential(_conv(nf, nf // reduction, 1), nn.ReLU(), _conv(nf // reduction, nf, 1),
                                     nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rescale channels."""
        return x * self.conv_du(x.mean(dim=(2, 3), keepdim=True))


class RCAB(nn.Module):
    """Residual channel-attention block: ``x + CA(conv(relu(conv(x))))``; keys ``body.0/2/3``.

    ``attention=False`` drops the channel attention (``x + conv(relu(conv(x)))``): its global average pools over
    the whole input, which no tile can reproduce.
    """

    def __init__(self, nf: int, attention: bool = True) -> None:
        super().__init__()
        ca = [_CALayer(nf)] if attention else []
        self.body = nn.Sequential(_conv(nf, nf), nn.ReLU(), _conv(nf, nf), *ca)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block with channel attention."""
        return x + self.body(x)

    @torch.no_grad()
    def make_identity_(self) -> None:
        """Make the block the identity, for :func:`satsr.models.grow_weights`.

        Its second convolution is zeroed: the channel attention then scales zeros.
        """
        zero_conv_(self.body[2])


class ResidualGroup(nn.Module):
    """``n`` RCABs then a conv, around one residual; keys ``body.0..n``."""

    def __init__(self, nf: int = 64, n: int = 20, attention: bool = True) -> None:
        super().__init__()
        self.body = nn.Sequential(*[RCAB(nf, attention) for _ in range(n)], _conv(nf, nf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual group."""
        return x + self.body(x)


class MDCU(nn.Module):
    """Decreased multi-dilation unit: ``factor`` parallel dilated 3x3 convs (dilation 1..factor) merged by a 1x1."""

    def __init__(self, nf: int = 64, factor: int = 8) -> None:
        super().__init__()
        self.conv1 = _conv(nf, nf)
        self.d_list = nn.ModuleList(_conv(nf, nf // 2, dilation=d) for d in range(1, factor + 1))
        self.conv2 = _conv(nf // 2 * factor, nf, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x + lrelu(conv2(cat(lrelu(d_i(lrelu(conv1(x)))))))``."""
        y = _lrelu(self.conv1(x))
        return x + _lrelu(self.conv2(torch.cat([_lrelu(d(y)) for d in self.d_list], dim=1)))


class CDAlign(nn.Module):
    """Cascaded deformable alignment of a neighbour's features to the centre's (``stages`` stages)."""

    def __init__(self, nf: int = 64, groups: int = 8, stages: int = 4) -> None:
        super().__init__()
        self.offset_conv1 = nn.ModuleList(_conv(2 * nf, nf) for _ in range(stages))
        self.offset_conv2 = nn.ModuleList(MDCU(nf, (stages - i) * 2) for i in range(stages))
        self.dc = nn.ModuleList(DCNSep(nf, nf, 3, deformable_groups=groups) for _ in range(stages))

    def forward(self, nbr: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """The aligned neighbour features."""
        for conv1, conv2, dc in zip(self.offset_conv1, self.offset_conv2, self.dc):
            nbr = dc(nbr, conv2(_lrelu(conv1(torch.cat([nbr, ref], dim=1)))))
        return nbr


class LocalFusion(nn.Module):
    """Frame-to-frame fusion: a running state (starting at frame 0) is fused with each frame in turn."""

    def __init__(self, nf: int = 64) -> None:
        super().__init__()
        self.conv1 = _conv(2 * nf, nf)
        self.conv2 = _conv(2 * nf, nf, 1)
        self.res_block = nn.Sequential(ResBlock(nf), ResBlock(nf))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        """Seven fused features from seven."""
        out, state = [], feats[0]
        for f in feats:
            c = _lrelu(self.conv1(torch.cat([state, f], dim=1)))
            c = _lrelu(self.conv2(torch.cat([c, f], dim=1)))
            state = self.res_block(c) + f
            out.append(state)
        return out


class GlobalFusion(nn.Module):
    """Cross-frame fusion of the seven frames' features.

    Each frame's features are split in ``n`` groups and group ``i`` of every frame goes to slot ``i`` ("video
    shuffle", its own inverse), processed per slot by multi-branch convs, and shuffled back.
    """

    def __init__(self, n: int = 7, nf: int = 64) -> None:
        super().__init__()
        self.n, self.group = n, nf // n
        ch = self.group * n  # 63 for 64 features
        mid = ch // 2  # 31
        self.conv1 = _conv(nf, ch)
        self.conv2c = _conv(ch, mid, 1)
        self.conv21 = _conv(mid, mid, 1)
        self.conv22 = _conv(mid, mid)
        self.conv23 = nn.Sequential(_conv(mid, mid), nn.LeakyReLU(0.1), _conv(mid, mid))
        self.conv2m = _conv(3 * mid, ch)
        self.conv3 = _conv(ch, nf)

    def _shuffle(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _, h, w = x.shape
        return x.view(b, n, n, self.group, h, w).transpose(1, 2).reshape(b * n, n * self.group, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, n, nf, H, W)`` to the same shape."""
        b, n, c, h, w = x.shape
        y = _lrelu(self.conv1(x.reshape(b * n, c, h, w))).view(b, n, -1, h, w)
        y = _lrelu(self.conv2c(self._shuffle(y)))
        y = _lrelu(self.conv2m(torch.cat([_lrelu(self.conv21(y)), _lrelu(self.conv22(y)),
                                          _lrelu(self.conv23(y))], dim=1)))
        y = self.conv3(self._shuffle(y.view(b, n, -1, h, w)))
        return x + y.view(b, n, c, h, w)


class DualFusion(nn.Module):
    """``blocks`` local and global fusion blocks (10 each) on the aligned features, merged per frame by a 1x1 conv."""

    def __init__(self, n: int = 7, nf: int = 64, blocks: int = 10) -> None:
        super().__init__()
        self.lc_fusion_blocks = nn.ModuleList(LocalFusion(nf) for _ in range(blocks))
        self.gl_fusion_blocks = nn.ModuleList(GlobalFusion(n, nf) for _ in range(blocks))
        self.merge = _conv(2 * nf, nf, 1)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        """Seven fused features."""
        lc = feats
        for block in self.lc_fusion_blocks:
            lc = block(lc)
        gl = torch.stack(feats, dim=1)
        for block in self.gl_fusion_blocks:
            gl = block(gl)
        return [_lrelu(self.merge(torch.cat([lc[i], gl[:, i]], dim=1))) for i in range(len(feats))]


class LGFN(nn.Module):
    """LGFN with the authors' configuration (64 features, 7 frames, x4) by default.

    Input ``(B, 7, 3, H, W)`` RGB in [0, 1], any ``H`` and ``W``; output ``(B, 3, 4H, 4W)``.

    Parameters
    ----------
    nf, n_frames, n_colors : int
        Features (64), frames (must be 7) and bands (3), as the authors' options.
    n_res, stages, groups, fusion_blocks, n_rcab : int
        Residual blocks of the frame features (5), alignment stages (4; their multi-dilation units have
        ``2 * stages`` down to 2 branches), deformable groups (8), local and global fusion blocks (10 each) and
        RCABs of the residual group (20): hard-coded in the authors' class; smaller ones make light models.
    attention : bool, default True
        Channel attention in the RCABs. ``False`` removes their global pooling, so that tiles reproduce the whole
        image exactly.
    skip : {"bilinear", "bicubic"}
        Upsampling of the centre frame that the output is a residual over: the authors' bilinear, or bicubic.
    """

    def __init__(
        self, nf: int = 64, n_frames: int = 7, n_colors: int = 3, *, n_res: int = 5, stages: int = 4,
        groups: int = 8, fusion_blocks: int = 10, n_rcab: int = 20, attention: bool = True, skip: str = "bilinear",
    ) -> None:
        super().__init__()
        if n_frames != 7:
            raise InputError(f"LGFN is built for 7 frames (its global fusion splits 63 channels in 7), got {n_frames}")
        if skip not in ("bilinear", "bicubic"):
            raise InputError(f"skip must be 'bilinear' or 'bicubic', got {skip!r}")
        self.n_frames, self.skip = n_frames, skip
        self.feat0 = _conv(n_colors, nf)
        self.res_feat = nn.Sequential(*[ResBlock(nf) for _ in range(n_res)], _conv(nf, nf))
        self.cd_align = CDAlign(nf, groups=groups, stages=stages)
        self.dual_fusion = DualFusion(n_frames, nf, fusion_blocks)
        self.merge = _conv(nf * n_frames, nf)
        self.rg = ResidualGroup(nf, n_rcab, attention)
        self.tail = nn.Sequential(
            nn.Sequential(_conv(nf, 4 * nf), nn.PixelShuffle(2), _conv(nf, 4 * nf), nn.PixelShuffle(2)),
            _conv(nf, n_colors),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Super-resolve the centre frame of ``x``."""
        b, n, c, h, w = x.shape
        if n != self.n_frames:
            raise InputError(f"LGFN takes {self.n_frames} frames, got {n}")
        centre = n // 2
        up = F.interpolate(x[:, centre], scale_factor=4, mode=self.skip, align_corners=False)
        feats = self.res_feat(_lrelu(self.feat0(x.reshape(b * n, c, h, w)))).view(b, n, -1, h, w)
        ref = feats[:, centre]
        if torch.is_grad_enabled():  # training: all neighbours in one batch, the same arithmetic, ~10% faster
            nbrs = torch.cat([feats[:, :centre], feats[:, centre + 1 :]], dim=1).flatten(0, 1)
            moved = self.cd_align(nbrs, ref.repeat_interleave(n - 1, dim=0)).view(b, n - 1, -1, h, w).unbind(1)
            aligned = [*moved[:centre], ref, *moved[centre:]]
        else:  # inference: one neighbour at a time, under half the peak memory
            aligned = [ref if i == centre else self.cd_align(feats[:, i], ref) for i in range(n)]
        res = _lrelu(self.merge(torch.cat(self.dual_fusion(aligned), dim=1)))
        res = self.rg(res) + ref
        return self.tail(res) + up


@register(
    "lgfn", scale=4, frames_in=7, bands=3, halo=32, multiple_of=1, time_padding="far-side", bytes_per_pixel=2200,
    description="LGFN (Su et al., IEEE Access 2020): deformable alignment + local/global fusion, 7 RGB frames, x4",
)
def lgfn() -> LGFN:
    """The authors' LGFN (``src/model/lgfn.py``, 7,849,837 parameters)."""
    return LGFN()


@register(
    "lgfn-s", scale=4, frames_in=7, bands=3, halo=24, multiple_of=1, bytes_per_pixel=1100,
    weights=(Weights(
        tag="satsr-mixed-v2", source="trained by satsr: satsr/train/configs/lgfn-s-video.yaml, then "
        "lgfn-s-mixed.yaml (model card satsr/weights/lgfn-s.md)",
        sha256="faeda9a47c2bbfe43975a41f7980861f5af807b3fb609f6c3a7602aa14e5589a",
        license="MIT",
        file="lgfn-s.safetensors",
    ),),
    description="satsr's light LGFN (half width, 2 alignment stages, 2+2 fusion blocks, bicubic skip, "
    "tile-exact), 0.66 M",
)
def lgfn_s() -> LGFN:
    """A light :class:`LGFN` for training from scratch (on a CPU too): half width, fewer stages and blocks.

    It keeps LGFN's mechanism: deformable alignment steered by decreasing multi-dilation units, and the local and
    global fusion. ``nf=32, n_res=2, stages=2`` (multi-dilation units of 4 then 2 branches), ``groups=4`` (8
    channels per deformable group, as the authors' 64 in 8), ``fusion_blocks=2, n_rcab=6``; RCABs without channel
    attention, whose global pooling no tile can reproduce, so that tiles reproduce the whole image exactly; a
    bicubic skip (``skip="bicubic"``) with the last convolution starting at zero, so that an untrained model is
    exactly bicubic. Clip ends repeat the end frame (``time_padding="clamp"``), as for satsr's other models: it
    is trained on windows inside the clips. Halo: its reach at 1e-6 of the peak change is 12 px with the offsets
    at rest (``python benchmarks/receptive_field.py --model lgfn-s --size 96 --zero-offsets``); 24 leaves room
    for the offsets trained weights learn (``lgfn``: 13 measured, 32 declared).
    """
    return _light_lgfn(n_res=2, n_rcab=6)


@register(
    "lgfn-m", scale=4, frames_in=7, bands=3, halo=48, multiple_of=1, bytes_per_pixel=1200,
    weights=(Weights(
        tag="satsr-grown-v1", source="trained by satsr: grown from lgfn-s v2 by lgfn-m-mixed.yaml "
        "(model card satsr/weights/lgfn-m.md)",
        sha256="fdc94282bfd428b2a4f9e719949bb56327c80f954b46d66dce141074ecbd4c77",
        license="MIT",
        file="lgfn-m.safetensors",
    ),),
    description="lgfn-s made deeper (3 feature blocks, 16 reconstruction RCABs), grown from its weights, 0.86 M",
)
def lgfn_m() -> LGFN:
    """:func:`lgfn_s` made deeper: ``n_res=3`` and ``n_rcab=16``.

    It trains from ``lgfn-s`` weights with :func:`satsr.models.grow_weights` (config key ``grow_from``), starting
    as exactly that model: the new blocks start as the identity, and the reconstruction's closing convolution
    moves after them. The 11 new blocks reach 22 px further than ``lgfn-s`` (3x3 convolutions at LR
    resolution, two per block): halo 48 = 24 + 22, rounded up. The shipped weights reach 18 px at 1e-6 of the
    peak change (``python benchmarks/receptive_field.py --model lgfn-m --size 96 --weights shipped``; model card
    ``satsr/weights/lgfn-m.md``).
    """
    return _light_lgfn(n_res=3, n_rcab=16)


def _light_lgfn(*, n_res: int, n_rcab: int) -> LGFN:
    """The light LGFN of ``lgfn-s`` and ``lgfn-m`` at a given depth.

    Half width, 2 alignment stages, 2+2 fusion blocks, a bicubic skip and the last convolution at zero (an
    untrained model is exactly bicubic).
    """
    model = LGFN(32, n_res=n_res, stages=2, groups=4, fusion_blocks=2, n_rcab=n_rcab, attention=False,
                 skip="bicubic")
    zero_conv_(model.tail[1])
    return model
