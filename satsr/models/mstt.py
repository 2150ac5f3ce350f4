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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from satsr.errors import InputError
from satsr.models.flow import coarse_to_fine_flow
from satsr.models.ops import MSD
from satsr.models.registry import register

__all__ = ["MSTT", "flow_warp", "SpaceTimeTransformer"]

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
    """Multi-head attention over all frames: head ``i`` tokenises its 64 channels in patches of ``PATCHES[i]``."""

    def __init__(self, hidden: int = 256, patches: Sequence[int] = PATCHES) -> None:
        super().__init__()
        self.patches = tuple(patches)
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
    def __init__(self, hidden: int = 256) -> None:
        super().__init__()
        self.attention = _Attention(hidden)
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
    """The authors' ``MSTT``: encoder to half resolution, ``stacks`` transformer blocks, decoder, ``x + tanh``."""

    def __init__(self, nf: int = 64, hidden: int = 256, stacks: int = 1) -> None:
        super().__init__()
        self.transformer = nn.ModuleList(_TransformerBlock(hidden) for _ in range(stacks))
        self.encoder = nn.Sequential(
            nn.Conv2d(nf, nf, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(nf, 128, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(128, hidden, 3, 1, 1), nn.LeakyReLU(0.2),
        )
        self.decoder = nn.Sequential(
            _Up2Conv(hidden, 128), nn.LeakyReLU(0.2), nn.Conv2d(128, nf, 3, 1, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(nf, nf, 3, 1, 1), nn.LeakyReLU(0.2),
        )

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """``(B, T, nf, H, W)`` to the same shape."""
        b, t, c, h, w = feats.shape
        y = self.encoder(feats.reshape(b * t, c, h, w))
        for block in self.transformer:
            y = block(y, b)
        return feats + torch.tanh(self.decoder(y)).view(b, t, c, h, w)


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

    Notes
    -----
    ``forward(x, f_flow, b_flow)``: ``x`` (B, 4, 3, H, W) RGB in [0, 1], ``H`` and ``W`` multiples of 80;
    ``f_flow[i]`` the flow from input ``i`` to ``i + 1`` and ``b_flow[i]`` from ``i + 1`` to ``i`` (three each,
    (B, H, W, 2), x then y, LR pixels; or tensors (B, 3, H, W, 2)). Returns (B, 7, 3, 4H, 4W), not residual.
    The authors' forward also computes a backward alignment it never uses; it is skipped here (same output).
    """

    def __init__(self, nf: int = 64, groups: int = 8, front_rbs: int = 5, back_rbs: int = 20) -> None:
        super().__init__()
        self.flow_options: dict[str, Any] = {}  # keyword arguments of coarse_to_fine_flow
        self.conv_first = nn.Conv2d(3, nf, 3, 1, 1)
        self.feature_extraction = nn.Sequential(*[ResidualBlockNoBN(nf) for _ in range(front_rbs)])
        self.MSD_align = MSD(nf, groups)
        self.fusion = nn.Conv2d(2 * nf, nf, 1)
        self.blending = nn.Conv2d(2 * nf, nf, 1)
        self.MSST_former = SpaceTimeTransformer(nf)
        self.recon_trunk = nn.Sequential(*[ResidualBlockNoBN(nf) for _ in range(back_rbs)])
        self.upconv1 = nn.Conv2d(nf, nf * 4, 3, 1, 1)
        self.upconv2 = nn.Conv2d(nf, 64 * 4, 3, 1, 1)
        self.HRconv = nn.Conv2d(64, 64, 3, 1, 1)
        self.conv_last = nn.Conv2d(64, 3, 3, 1, 1)

    def flows(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Ce Liu's flow between neighbouring frames of ``x`` (B, T, 3, H, W), forward and backward.

        Each is (B, T - 1, H, W, 2), computed on the CPU in float64 as the authors' pyflow does.
        """
        frames = x.detach().to("cpu", torch.float64).permute(0, 1, 3, 4, 2).numpy()
        b, t = frames.shape[:2]
        fwd = [[coarse_to_fine_flow(frames[i, k], frames[i, k + 1], **self.flow_options) for k in range(t - 1)]
               for i in range(b)]
        bwd = [[coarse_to_fine_flow(frames[i, k + 1], frames[i, k], **self.flow_options) for k in range(t - 1)]
               for i in range(b)]
        as_t = lambda f: torch.from_numpy(np.asarray(f)).to(x.device, x.dtype)  # noqa: E731
        return as_t(fwd), as_t(bwd)

    def forward(
        self, x: torch.Tensor, f_flow: Sequence[torch.Tensor] | torch.Tensor | None = None,
        b_flow: Sequence[torch.Tensor] | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Seven HR frames from four LR frames and their neighbour flows (computed when not given)."""
        b, n, c, h, w = x.shape
        if n != 4:
            raise InputError(f"MSTT takes 4 frames (frames 1, 3, 5, 7 of a septuplet), got {n}")
        if h % 80 or w % 80:
            raise InputError(f"MSTT needs heights and widths that are multiples of 80, got {h} x {w}")
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
        out = self.conv_last(F.leaky_relu(self.HRconv(out), 0.1))
        return out.view(b, t, -1, 4 * h, 4 * w)


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
