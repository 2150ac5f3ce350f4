"""MSTT-STVSR: space-time SR of satellite video with a multi-scale spatial-temporal transformer (Xiao et al., JAG 2022).

Four LR frames in (frames 1, 3, 5, 7 of a septuplet), seven HR frames out: the four inputs x4 and the three frames
in between. The in-between features are made twice for each pair of neighbours (a multi-scale deformable
alignment, :class:`~satsr.models.ops.MSD`, shared with LGTD; and a warp along optical flow) and blended; the seven
feature maps then go through one transformer block whose four heads attend over all frames in non-overlapping
patches of 40, 20, 10 and 5 pixels (at half resolution), and are reconstructed frame by frame. Parameter names
follow the authors' ``models/Model_arch.py`` (class ``MSTTr``), so their checkpoints load.

The network needs optical flow between neighbouring inputs: given, or computed with Ce Liu's coarse-to-fine flow
(:mod:`satsr.models.flow`, the authors' choice and settings) when not. Inputs must be multiples of 80 pixels
(``satsr.upscale`` pads them).

Its attention spans every patch of every frame of the input, a global term: tiles of a large frame cannot match
the whole frame exactly, so the pipeline feathers them (16 px); a frame up to the tile size (256 px by default,
rounded to 320) runs whole.

``mstt-s`` is satsr's light variant for training from scratch (0.82 M parameters): the same flow-guided space-time
design at reduced width and depth, with a skip that makes an untrained model the simple baseline (the key frames
bicubic, the frames in between the bicubic of the mean of their two LR neighbours; :func:`in_between_baseline`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from satsr.errors import InputError, ModelError
from satsr.models.flow import coarse_to_fine_flow
from satsr.models.ops import MSD, zero_conv_
from satsr.models.registry import Weights, register

__all__ = ["MSTT", "flow_warp", "SpaceTimeTransformer", "neighbour_flows", "in_between_baseline"]

PATCHES = (40, 20, 10, 5)


class ResidualBlockNoBN(nn.Module):
    """``x + conv2(relu(conv1(x)))``."""

    def __init__(self, nf: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf, nf, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block."""
        return x + self.conv2(F.relu(self.conv1(x)))

    @torch.no_grad()
    def make_identity_(self) -> None:
        """Make the block the identity (``conv2`` zero), for :func:`satsr.models.grow_weights`."""
        zero_conv_(self.conv2)


def flow_warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``x`` (B, C, H, W) at ``pixel + flow`` (flow (B, H, W, 2): x then y displacement, in pixels).

    As the authors' ``flow_warp``: positions are normalised by ``W - 1`` and ``H - 1`` but sampled with
    ``align_corners=False`` (PyTorch's default since 1.3, which their weights were trained with), so a zero flow
    shifts the image by a fraction of a pixel towards the centre; bilinear, zeros outside.
    """
    b, _, h, w = x.shape
    if flow.shape != (b, h, w, 2):
        raise InputError(f"flow must be (B, H, W, 2) = {(b, h, w, 2)}, got {tuple(flow.shape)}")
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device, dtype=x.dtype),
                            torch.arange(w, device=x.device, dtype=x.dtype), indexing="ij")
    vx = 2.0 * (gx + flow[..., 0]) / max(w - 1, 1) - 1.0
    vy = 2.0 * (gy + flow[..., 1]) / max(h - 1, 1) - 1.0
    return F.grid_sample(x, torch.stack((vx, vy), dim=3), mode="bilinear", padding_mode="zeros",
                         align_corners=False)


class _Attention(nn.Module):
    """Multi-head attention over all frames, one head per patch size.

    Head ``i`` tokenises its ``hidden / heads`` channels in patches of ``patches[i]`` (64 channels and
    :data:`PATCHES` in the authors' network).
    """

    def __init__(self, hidden: int = 256, patches: Sequence[int] = PATCHES) -> None:
        super().__init__()
        self.patches = tuple(int(p) for p in patches)
        if not self.patches or min(self.patches) < 1 or hidden % len(self.patches):
            raise ModelError(f"MSTT: hidden={hidden} must split evenly into one head per patch size "
                             f"{self.patches}")
        self.query_embedding = nn.Conv2d(hidden, hidden, 1)
        self.value_embedding = nn.Conv2d(hidden, hidden, 1)
        self.key_embedding = nn.Conv2d(hidden, hidden, 1)
        self.output_linear = nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1), nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor, b: int) -> torch.Tensor:
        """``x + attention(x)``, ``x`` (B*T, hidden, H, W)."""
        bt, c, h, w = x.shape
        t, d = bt // b, c // len(self.patches)
        q, k, v = (emb(x).chunk(len(self.patches), dim=1)
                   for emb in (self.query_embedding, self.key_embedding, self.value_embedding))
        heads = []
        for p, qi, ki, vi in zip(self.patches, q, k, v):
            nh, nw = h // p, w // p

            def tokens(z: torch.Tensor, p: int = p, nh: int = nh, nw: int = nw) -> torch.Tensor:
                # (B*T, d, H, W) -> (B, T*nh*nw, d*p*p): one token per frame and patch
                return (z.reshape(b, t, d, nh, p, nw, p).permute(0, 1, 3, 5, 2, 4, 6)
                        .reshape(b, t * nh * nw, d * p * p))

            qt, kt, vt = tokens(qi), tokens(ki), tokens(vi)
            attn = torch.softmax(qt @ kt.transpose(1, 2) / math.sqrt(qt.shape[-1]), dim=-1)
            y = (attn @ vt).reshape(b, t, nh, nw, d, p, p).permute(0, 1, 4, 2, 5, 3, 6).reshape(bt, d, h, w)
            heads.append(y)
        return x + self.output_linear(torch.cat(heads, dim=1))


class _FeedForward(nn.Module):
    def __init__(self, hidden: int = 256) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=2, dilation=2), nn.LeakyReLU(0.2),
                                  nn.Conv2d(hidden, hidden, 3, padding=1), nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Two convolutions."""
        return self.conv(x)


class _TransformerBlock(nn.Module):
    def __init__(self, hidden: int = 256, patches: Sequence[int] = PATCHES) -> None:
        super().__init__()
        self.attention = _Attention(hidden, patches)
        self.feed_forward = _FeedForward(hidden)

    def forward(self, x: torch.Tensor, b: int) -> torch.Tensor:
        """``x <- x + (x + attention)`` (the authors add the residual twice), then ``x <- x + ff(x)``."""
        x = x + self.attention(x, b)
        return x + self.feed_forward(x)


class _Up2Conv(nn.Module):
    """Bilinear x2 (``align_corners=True``, as the authors) then a 3x3 conv; key ``conv``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Upsample and convolve."""
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


class SpaceTimeTransformer(nn.Module):
    """The authors' ``MSTT``: encoder to half resolution, ``stacks`` transformer blocks, decoder, ``x + tanh``.

    ``mid`` (128) is the width of the encoder's strided convolution and the decoder's first one, ``patches`` the
    patch size of each attention head (:data:`PATCHES`).
    """

    def __init__(self, nf: int = 64, hidden: int = 256, stacks: int = 1, *, mid: int = 128,
                 patches: Sequence[int] = PATCHES) -> None:
        super().__init__()
        self.transformer = nn.ModuleList(_TransformerBlock(hidden, patches) for _ in range(stacks))
        self.encoder = nn.Sequential(
            nn.Conv2d(nf, nf, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(nf, mid, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(mid, hidden, 3, 1, 1), nn.LeakyReLU(0.2),
        )
        self.decoder = nn.Sequential(
            _Up2Conv(hidden, mid), nn.LeakyReLU(0.2), nn.Conv2d(mid, nf, 3, 1, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(nf, nf, 3, 1, 1), nn.LeakyReLU(0.2),
        )

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """``(B, T, nf, H, W)`` to the same shape."""
        b, t, c, h, w = feats.shape
        y = self.encoder(feats.reshape(b * t, c, h, w))
        for block in self.transformer:
            y = block(y, b)
        return feats + torch.tanh(self.decoder(y)).view(b, t, c, h, w)


def neighbour_flows(frames: np.ndarray, **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """Ce Liu's flow between neighbouring frames, forward (``k`` to ``k + 1``) and backward (``k + 1`` to ``k``).

    Parameters
    ----------
    frames : numpy.ndarray
        ``(T, 3, H, W)`` RGB in ``[0, 1]``; computed in float64, as the authors' pyflow does.
    **options
        Keyword arguments of :func:`~satsr.models.flow.coarse_to_fine_flow` (default the authors' settings).

    Returns
    -------
    tuple of numpy.ndarray
        ``(fwd, bwd)``, each ``(T - 1, H, W, 2)`` float64, x then y displacement in pixels.
    """
    hwc = np.asarray(frames, dtype=np.float64).transpose(0, 2, 3, 1)
    pairs = range(len(hwc) - 1)
    fwd = [coarse_to_fine_flow(hwc[k], hwc[k + 1], **options) for k in pairs]
    bwd = [coarse_to_fine_flow(hwc[k + 1], hwc[k], **options) for k in pairs]
    shape = (0, *hwc.shape[1:3], 2)
    return (np.stack(fwd) if fwd else np.zeros(shape)), (np.stack(bwd) if bwd else np.zeros(shape))


def in_between_baseline(x: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """The space-time baseline: each input frame upsampled, and between two inputs the upsampled mean of them.

    ``(B, N, C, h, w)`` to ``(B, 2N - 1, C, h*scale, w*scale)``, with PyTorch's bicubic (``align_corners=False``,
    the registered ``bicubic``).
    """
    b, n, c, h, w = x.shape
    mids = (x[:, :-1] + x[:, 1:]) * 0.5
    seq = torch.cat([torch.stack((x[:, :-1], mids), dim=2).flatten(1, 2), x[:, -1:]], dim=1)
    up = F.interpolate(seq.flatten(0, 1), scale_factor=scale, mode="bicubic", align_corners=False)
    return up.view(b, 2 * n - 1, c, h * scale, w * scale)


class MSTT(nn.Module):
    """MSTT-STVSR's network (the authors' ``MSTTr``): 4 LR frames and their flows in, 7 HR frames out.

    Parameters
    ----------
    nf : int, default 64
        Feature channels.
    groups : int, default 8
        Deformable groups of the alignment.
    front_rbs, back_rbs : int
        Residual blocks before alignment (5) and in reconstruction: 20 in the paper's configuration
        (5,664,283 parameters), 40 in the one ``test.py`` builds (7,141,403).
    hidden, mid : int, keyword-only, default 256 and 128
        Width of the transformer and of its encoder's strided convolution (:class:`SpaceTimeTransformer`).
    patches : sequence of int, keyword-only, default :data:`PATCHES`
        Patch size of each attention head at half resolution; inputs must be multiples of twice their least
        common multiple (80 for the authors' 40, 20, 10, 5), kept as ``multiple_of``.
    hr_nf : int, keyword-only, default 64
        Channels after the second pixel shuffle (``HRconv``).
    residual : bool, keyword-only, default False
        Add :func:`in_between_baseline` of the inputs to the output (not in the authors' class), so that the
        network learns only the difference to bicubic and, between inputs, to the bicubic of their mean.

    Notes
    -----
    ``forward(x, f_flow, b_flow)``: ``x`` (B, 4, 3, H, W) RGB in [0, 1], ``H`` and ``W`` multiples of
    ``multiple_of``; ``f_flow[i]`` the flow from input ``i`` to ``i + 1`` and ``b_flow[i]`` from ``i + 1`` to ``i``
    (three each, (B, H, W, 2), x then y, LR pixels; or tensors (B, 3, H, W, 2)). Returns (B, 7, 3, 4H, 4W), not
    residual unless ``residual``. The authors' forward also computes a backward alignment it never uses; it is
    skipped here (same output).
    """

    def __init__(self, nf: int = 64, groups: int = 8, front_rbs: int = 5, back_rbs: int = 20, *, hidden: int = 256,
                 mid: int = 128, patches: Sequence[int] = PATCHES, hr_nf: int = 64, residual: bool = False) -> None:
        super().__init__()
        self.flow_options: dict[str, Any] = {}  # keyword arguments of coarse_to_fine_flow
        self.multiple_of = 2 * math.lcm(*(int(p) for p in patches))
        self.residual = residual
        self.conv_first = nn.Conv2d(3, nf, 3, 1, 1)
        self.feature_extraction = nn.Sequential(*[ResidualBlockNoBN(nf) for _ in range(front_rbs)])
        self.MSD_align = MSD(nf, groups)
        self.fusion = nn.Conv2d(2 * nf, nf, 1)
        self.blending = nn.Conv2d(2 * nf, nf, 1)
        self.MSST_former = SpaceTimeTransformer(nf, hidden, mid=mid, patches=patches)
        self.recon_trunk = nn.Sequential(*[ResidualBlockNoBN(nf) for _ in range(back_rbs)])
        self.upconv1 = nn.Conv2d(nf, nf * 4, 3, 1, 1)
        self.upconv2 = nn.Conv2d(nf, hr_nf * 4, 3, 1, 1)
        self.HRconv = nn.Conv2d(hr_nf, hr_nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(hr_nf, 3, 3, 1, 1)

    def flows(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Ce Liu's flow between neighbouring frames of ``x`` (B, T, 3, H, W), forward and backward.

        Each is (B, T - 1, H, W, 2), computed on the CPU in float64 as the authors' pyflow does
        (:func:`neighbour_flows`).
        """
        frames = x.detach().to("cpu", torch.float64).numpy()
        pairs = [neighbour_flows(f, **self.flow_options) for f in frames]
        as_t = lambda f: torch.from_numpy(np.stack(f)).to(x.device, x.dtype)  # noqa: E731
        return as_t([p[0] for p in pairs]), as_t([p[1] for p in pairs])

    def forward(
        self, x: torch.Tensor, f_flow: Sequence[torch.Tensor] | torch.Tensor | None = None,
        b_flow: Sequence[torch.Tensor] | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Seven HR frames from four LR frames and their neighbour flows (computed when not given)."""
        b, n, c, h, w = x.shape
        if n != 4:
            raise InputError(f"MSTT takes 4 frames (frames 1, 3, 5, 7 of a septuplet), got {n}")
        m = self.multiple_of
        if h % m or w % m:
            raise InputError(f"MSTT needs heights and widths that are multiples of {m}, got {h} x {w}")
        if f_flow is None or b_flow is None:
            f_flow, b_flow = self.flows(x)
        fea = self.feature_extraction(F.leaky_relu(self.conv_first(x.reshape(b * n, c, h, w)), 0.1))
        fea = fea.view(b, n, -1, h, w)
        seq = [fea[:, 0]]
        for i in range(n - 1):
            a, z = fea[:, i], fea[:, i + 1]
            aligned = self.MSD_align(a, z)  # the earlier frame's features aligned towards the later one's
            warped_b = flow_warp(z, f_flow[i] if not torch.is_tensor(f_flow) else f_flow[:, i])
            warped_f = flow_warp(a, b_flow[i] if not torch.is_tensor(b_flow) else b_flow[:, i])
            b1 = self.fusion(torch.cat([aligned, warped_b], dim=1))
            b2 = self.fusion(torch.cat([warped_f, warped_b], dim=1))
            seq += [self.blending(torch.cat([b1, b2], dim=1)), z]
        feats = self.MSST_former(torch.stack(seq, dim=1))
        t = feats.shape[1]
        out = self.recon_trunk(feats.reshape(b * t, -1, h, w))
        out = F.leaky_relu(F.pixel_shuffle(self.upconv1(out), 2), 0.1)
        out = F.leaky_relu(F.pixel_shuffle(self.upconv2(out), 2), 0.1)
        out = self.conv_last(F.leaky_relu(self.HRconv(out), 0.1)).view(b, t, -1, 4 * h, 4 * w)
        if self.residual:  # learn the difference to bicubic (in between: to the bicubic of the neighbours' mean)
            out = out + in_between_baseline(x, 4)
        return out


_MSTT_SPEC = dict(scale=4, frames_in=4, time_scale=2, bands=3, halo=40, multiple_of=80, feather=16,
                  bytes_per_pixel=25000)


@register(
    "mstt", **_MSTT_SPEC,
    description="MSTT-STVSR (Xiao et al., JAG 2022): space-time x4, 4 RGB frames in, 7 out (frames in between), "
    "Ce Liu flow",
)
def mstt() -> MSTT:
    """The paper's configuration (20 reconstruction blocks, 5,664,283 parameters)."""
    return MSTT(back_rbs=20)


@register(
    "mstt-40", **_MSTT_SPEC,
    description="MSTT-STVSR with 40 reconstruction blocks (the configuration the authors' test.py builds)",
)
def mstt_40() -> MSTT:
    """40 reconstruction blocks (7,141,403 parameters)."""
    return MSTT(back_rbs=40)


# halo 16: on 4 real Jilin-1 LR frames (128 px, conv_last given random weights) a one-pixel change moves the output
# by 1e-4 of its peak out to 5 px, 1e-5 to 10 px and 1e-6 to 14 px, then stays at a floor of 5e-7 to the edge (the
# global terms: the flow's pyramid and the attention). Tiled through satsr.upscale (64 px tiles, feathered) against
# the whole 160 px clip, margins of 32 and 64 px gave the same error (max 2.4e-3 and 2.3e-3, mean 5.2e-5 and
# 5.0e-5 on outputs of order one), so no larger halo helps; the tiles are feathered. bytes_per_pixel: 7,789 at 64
# and at 128 px (benchmarks/window_memory.py).
@register(
    "mstt-s", scale=4, frames_in=4, time_scale=2, bands=3, halo=16, multiple_of=32, feather=16, bytes_per_pixel=7800,
    weights=(Weights(
        tag="satsr-mixed-v5", source="trained by satsr: satsr/train/configs/mstt-s-video.yaml, then "
        "mstt-s-video-more.yaml and mstt-s-mixed.yaml, -mixed2 and -mixed3 (model card satsr/weights/mstt-s.md)",
        sha256="dcb4ebfeddfb7cd56b12ecff07cf23effada32aa82abe01bd73cb1bb33d95816",
        license="MIT",
        file="mstt-s.safetensors",
    ),),
    description="satsr's light MSTT-STVSR (same flow-guided space-time design at half width and depth, bicubic "
    "skip; in between: bicubic of the neighbours' mean), 0.82 M",
)
def mstt_s() -> MSTT:
    """A light :class:`MSTT` for training from scratch (on a CPU too), the same mechanism at reduced size.

    ``nf=32, groups=8, front_rbs=2, back_rbs=4``, a transformer of 96 channels (``mid=64``) whose three heads
    attend in patches of 16, 8 and 4 pixels at half resolution (inputs multiples of 32; a 32 x 32 LR crop is one
    largest patch per frame, as the authors' 80 px crops are for their 40 px patches), ``hr_nf=16``; Ce Liu's
    flow with the authors' settings. A skip (``residual=True``) adds the bicubic of each input frame and, between
    two inputs, the bicubic of their mean; the last convolution starts at zero, so that an untrained model is
    exactly that baseline. The residual blocks start Kaiming x 0.1, as the authors initialise them.
    """
    return _light_mstt(back_rbs=4)


# halo 32: mstt-s's 16 and the reach of the 8 new reconstruction blocks (two 3x3 convolutions each, at LR: 16 px).
@register(
    "mstt-m", scale=4, frames_in=4, time_scale=2, bands=3, halo=32, multiple_of=32, feather=16, bytes_per_pixel=7800,
    weights=(Weights(
        tag="satsr-grown-v2", source="trained by satsr: grown from mstt-s v5 by mstt-m-mixed.yaml, then "
        "mstt-m-mixed2.yaml (model card satsr/weights/mstt-m.md)",
        sha256="e0473f60c43cea19d8aac66ffe122762ecd6727466dd7ed58f9599bb37b3c297",
        license="MIT",
        file="mstt-m.safetensors",
    ),),
    description="mstt-s made deeper (12 reconstruction blocks), grown from its weights, space-time, 0.97 M",
)
def mstt_m() -> MSTT:
    """:func:`mstt_s` made deeper: ``back_rbs=12``.

    It trains from ``mstt-s`` weights with :func:`satsr.models.grow_weights` (config key ``grow_from``), starting
    as exactly that model: the 8 new reconstruction blocks start as the identity. They run at LR on every output
    frame, after the alignment and the transformer.
    """
    return _light_mstt(back_rbs=12)


def _light_mstt(*, back_rbs: int) -> MSTT:
    """The light MSTT of ``mstt-s`` and ``mstt-m`` at a given reconstruction depth (see :func:`mstt_s`)."""
    model = MSTT(32, 8, 2, back_rbs, hidden=96, mid=64, patches=(16, 8, 4), hr_nf=16, residual=True)
    for block in model.modules():
        if isinstance(block, ResidualBlockNoBN):
            for conv in (block.conv1, block.conv2):
                nn.init.kaiming_normal_(conv.weight, a=0, mode="fan_in")
                conv.weight.data.mul_(0.1)
                nn.init.zeros_(conv.bias)  # type: ignore[arg-type]  # built with a bias
    zero_conv_(model.conv_last)
    return model
