"""Building blocks shared by the satellite VSR models, in plain PyTorch (no compiled extensions).

Parameter names follow the authors' code so that their checkpoints load: :class:`ConvBlock` and
:class:`ResnetBlock` (RBPN/MSDTGP lineage), :class:`MSD` (multi-scale deformable alignment of MSDTGP, reused by
LGTD, MTDO and MSTT-STVSR), :class:`TSAFusion` (EDVR's temporal-spatial attention fusion) and :class:`DCNSep`, the
modulated deformable convolution (DCNv2) whose offsets and masks come from a *separate* feature map, with the
parameter names of ``DCN_sep`` / ``ModulatedDeformConv_Sep`` (``weight``, ``bias``, ``conv_offset_mask.*``).
The sampling runs on ``torchvision.ops.deform_conv2d``, which has the same offset layout (per deformable group,
per kernel point ``k = ky * kw + kx``: channel ``2k`` is the row offset, ``2k + 1`` the column offset) and the
same zero-outside bilinear rule as the CUDA builds.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import deform_conv2d

from satsr.errors import ModelError

__all__ = [
    "ConvBlock", "DCNSep", "DCNv3", "MSD", "ResnetBlock", "TSAFusion", "dcnv3_core", "deform_conv2d_sampled",
    "set_dcn_impl", "up2", "zero_dcn_offsets",
]


def up2(x: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """Bilinear x2 upsampling of feature maps, as LGTD's and MTDO's temporal-difference branches use it.

    The authors upsample with ``align_corners=True``, which places samples by the image size: the network is then
    not translation-equivariant, and a tile's output differs from the whole image's (see LGTD's Notes).
    """
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=align_corners)


class ConvBlock(nn.Module):
    """Conv2d followed by a PReLU with one shared slope (init 0.25). Keys ``conv.*``, ``act.weight``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=True)
        self.act = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``act(conv(x))``."""
        return self.act(self.conv(x))


@torch.no_grad()
def zero_conv_(conv: nn.Module) -> None:
    """Zero a convolution's weight and bias in place.

    For a last layer that starts at zero: a model that starts as its skip, a residual block as the identity.
    """
    assert isinstance(conv, nn.Conv2d)
    conv.weight.zero_()
    if conv.bias is not None:
        conv.bias.zero_()


class ResnetBlock(nn.Module):
    """``act(conv2(act(conv1(x))) + x)``: the one PReLU is applied twice, as in the authors' blocks."""

    def __init__(self, channels: int, kernel_size: int = 3, stride: int = 1, padding: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size, stride, padding, bias=True)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size, stride, padding, bias=True)
        self.act = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block with a shared PReLU."""
        return self.act(self.conv2(self.act(self.conv1(x))) + x)

    @torch.no_grad()
    def make_identity_(self) -> None:
        """Make the block the identity (``conv2`` zero, PReLU slope 1), for :func:`satsr.models.grow_weights`."""
        zero_conv_(self.conv2)
        self.act.weight.fill_(1.0)


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
        nn.init.zeros_(self.conv_offset_mask.bias)  # type: ignore[arg-type]  # built with a bias

    #: ``"torchvision"`` (``torchvision.ops.deform_conv2d``) or ``"grid_sample"`` (:func:`deform_conv2d_sampled`:
    #: the same forward, and on the CPU a backward pass several times faster; see :func:`set_dcn_impl`).
    impl: str = "torchvision"

    def forward(self, x: torch.Tensor, fea: torch.Tensor) -> torch.Tensor:
        """Deformable convolution of ``x`` with offsets and masks predicted from ``fea``."""
        o1, o2, m = torch.chunk(self.conv_offset_mask(fea), 3, dim=1)
        offset = torch.cat((o1, o2), dim=1)
        if self.impl == "grid_sample" and self.stride == 1 and min(x.shape[-2:]) > 1:
            return deform_conv2d_sampled(x, offset, self.weight, self.bias, torch.sigmoid(m), self.padding,
                                         self.dilation)
        return _deform_conv2d(
            x, offset, self.weight, self.bias, stride=self.stride, padding=self.padding, dilation=self.dilation,
            mask=torch.sigmoid(m),
        )


def _deform_conv2d(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                   **kw: Any) -> torch.Tensor:
    """``torchvision.ops.deform_conv2d`` in float32, whatever autocast made of its inputs.

    Offsets are sub-pixel positions: CUDA's autocast already runs this op in float32, but torchvision has no CPU
    autocast rule (and no bf16/fp16 CPU kernel), so under ``torch.autocast("cpu")`` the inputs arrive in half
    precision. Casting here gives both devices the same float32 sampling.
    """
    if x.dtype not in (torch.float16, torch.bfloat16) and offset.dtype == x.dtype == weight.dtype:
        return deform_conv2d(x, offset, weight, bias, **kw)  # float32 or float64 as given
    mask = kw.pop("mask", None)
    with torch.autocast(x.device.type, enabled=False):
        return deform_conv2d(x.float(), offset.float(), weight.float(), None if bias is None else bias.float(),
                             mask=None if mask is None else mask.float(), **kw)


def deform_conv2d_sampled(
    x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, mask: torch.Tensor,
    padding: int = 1, dilation: int = 1,
) -> torch.Tensor:
    """Modulated deformable convolution (stride 1) by bilinear sampling with ``grid_sample`` and one matmul.

    Same result as ``torchvision.ops.deform_conv2d`` (same offset layout; samples outside the image read zero:
    ``grid_sample`` with ``align_corners=True`` and zero padding is exactly its bilinear rule), to float rounding.
    The gradients of the input, mask and weight agree too; the offset gradient can differ where a sample sits on
    the image border, where the bilinear weight is not differentiable. On the CPU the backward pass is several
    times faster than torchvision's, which is what makes training on a CPU practical; it uses more memory
    (the sampled columns are kept for the backward).
    """
    b, c, h, w = x.shape
    cout, _, kh, kw = weight.shape
    k = kh * kw
    g = offset.shape[1] // (2 * k)
    # Positions and sampling in float32 at least, whatever autocast made of the inputs: in bf16 (8 bits of
    # mantissa) pixel indices above 256 are not even exact, and a normalised position is off by up to 0.4% of the
    # window's side (lgfn-s lost 0.43 dB on whole Jilin-1 frames in bf16). The matmul below keeps x's dtype.
    pos = torch.promote_types(x.dtype, torch.float32)
    with torch.autocast(x.device.type, enabled=False):
        off = offset.to(pos).view(b, g, k, 2, h, w)
        ky, kx = torch.meshgrid(torch.arange(kh, device=x.device, dtype=pos),
                                torch.arange(kw, device=x.device, dtype=pos), indexing="ij")
        ky = (ky.reshape(1, 1, k, 1, 1) * dilation - padding)
        kx = (kx.reshape(1, 1, k, 1, 1) * dilation - padding)
        ys = torch.arange(h, device=x.device, dtype=pos).view(1, 1, 1, h, 1)
        xs = torch.arange(w, device=x.device, dtype=pos).view(1, 1, 1, 1, w)
        gy = (ys + ky + off[:, :, :, 0]) * (2 / (h - 1)) - 1  # normalised for align_corners=True
        gx = (xs + kx + off[:, :, :, 1]) * (2 / (w - 1)) - 1
        grid = torch.stack((gx, gy), dim=-1).view(b * g, k * h, w, 2)
        sampled = F.grid_sample(x.to(pos).reshape(b * g, c // g, h, w), grid, mode="bilinear",
                                padding_mode="zeros", align_corners=True).to(x.dtype)  # (b*g, c/g, k*h, w)
    sampled = sampled.view(b, g, c // g, k, h, w) * mask.view(b, g, 1, k, h, w)
    out = torch.matmul(weight.reshape(cout, c * k), sampled.reshape(b, c * k, h * w)).view(b, cout, h, w)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def _dcnv3_sampled(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor, group: int, k: int) -> torch.Tensor:
    """:func:`dcnv3_core` by bilinear sampling with ``grid_sample`` (the rule of :func:`deform_conv2d_sampled`).

    ``mask`` (N, group, k * k, H, W). The same output to float rounding; on the CPU its backward pass is many
    times faster than torchvision's (which dominates a CPU training step of ``rgtgan-s`` otherwise). Needs
    ``H, W > 1``. Runs in float32 under autocast, as :func:`_deform_conv2d` does: sample positions in half
    precision would be off by up to a pixel.
    """
    if any(t.dtype in (torch.float16, torch.bfloat16) for t in (x, offset, mask)):
        with torch.autocast(x.device.type, enabled=False):
            return _dcnv3_sampled(x.float(), offset.float(), mask.float(), group, k)
    n, h, w, c = x.shape
    pad = (k - 1) // 2
    off = offset.view(n, h, w, group, k, k, 2).permute(0, 3, 4, 5, 1, 2, 6)  # (n, g, kx, ky, h, w, (dx, dy))
    pts = torch.arange(k, device=x.device, dtype=x.dtype) - pad
    gx = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, 1, 1, 1, w) + pts.view(1, 1, k, 1, 1, 1)
    gy = torch.arange(h, device=x.device, dtype=x.dtype).view(1, 1, 1, 1, h, 1) + pts.view(1, 1, 1, k, 1, 1)
    gx = (gx + off[..., 0]) * (2 / (w - 1)) - 1  # normalised for align_corners=True
    gy = (gy + off[..., 1]) * (2 / (h - 1)) - 1
    grid = torch.stack((gx, gy), dim=-1).reshape(n * group, k * k * h, w, 2)
    planes = x.permute(0, 3, 1, 2).reshape(n * group, c // group, h, w)
    sampled = F.grid_sample(planes, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    m = mask.contiguous().view(n, group, 1, k * k, h, w)
    out = (sampled.view(n, group, c // group, k * k, h, w) * m).sum(3)
    return out.reshape(n, c, h, w).permute(0, 2, 3, 1)


def zero_dcn_offsets(model: nn.Module) -> nn.Module:
    """Zero every :class:`DCNSep` offset/mask predictor (DCNv2's own init: no deformation, masks 0.5).

    For measuring an untrained network's reach and cost: the authors' Kaiming re-initialisation predicts random
    offsets of many pixels, which trained weights do not have. Returns ``model``.
    """
    for m in model.modules():
        if isinstance(m, DCNSep):
            nn.init.zeros_(m.conv_offset_mask.weight)
            nn.init.zeros_(m.conv_offset_mask.bias)  # type: ignore[arg-type]  # built with a bias
    return model


def set_dcn_impl(model: nn.Module, impl: str) -> nn.Module:
    """Switch every :class:`DCNSep` and :class:`DCNv3` in ``model`` to ``"torchvision"`` or ``"grid_sample"``.

    Returns ``model``.
    """
    if impl not in ("torchvision", "grid_sample"):
        raise ModelError(f"impl must be 'torchvision' or 'grid_sample', got {impl!r}")
    for m in model.modules():
        if isinstance(m, (DCNSep, DCNv3)):
            m.impl = impl
    return model


class MSD(nn.Module):
    """Multi-scale deformable alignment of a neighbour feature onto a reference feature.

    ``o1 = lrelu(offset_conv1([nbr, ref]))``; three parallel convolutions of ``o1`` (3x3, 5x5, 7x7); their
    concatenation through ``offset_conv2`` gives ``o2``; the neighbour is sampled by :class:`DCNSep` with offsets
    and masks predicted from ``o1 + o2``. LeakyReLU slope 0.1 throughout.
    """

    def __init__(self, channels: int = 64, deformable_groups: int = 8) -> None:
        super().__init__()
        c = channels
        self.offset_conv1 = nn.Conv2d(2 * c, c, 3, 1, 1)
        self.mul_scale1 = nn.Conv2d(c, c, 3, 1, 1)
        self.mul_scale2 = nn.Conv2d(c, c, 5, 1, 2)
        self.mul_scale3 = nn.Conv2d(c, c, 7, 1, 3)
        self.offset_conv2 = nn.Conv2d(3 * c, c, 3, 1, 1)
        self.dcnpack = DCNSep(c, c, 3, 1, 1, deformable_groups=deformable_groups)
        self.lrelu = nn.LeakyReLU(0.1)

    def forward(self, nbr: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Align ``nbr`` (B, C, H, W) to ``ref`` (B, C, H, W)."""
        o1 = self.lrelu(self.offset_conv1(torch.cat((nbr, ref), dim=1)))
        scales = [self.lrelu(conv(o1)) for conv in (self.mul_scale1, self.mul_scale2, self.mul_scale3)]
        o2 = self.lrelu(self.offset_conv2(torch.cat(scales, dim=1)))
        return self.lrelu(self.dcnpack(nbr, o1 + o2))


class TSAFusion(nn.Module):
    """Temporal-spatial attention fusion of aligned frame features (EDVR's TSA), ``(B, N, C, H, W) -> (B, C, H, W)``.

    Temporal attention weighs each frame by the sigmoid of its per-pixel correlation with the centre frame's
    embedding; the weighted frames are fused by a 1x1 conv; a two-level spatial attention pyramid (max and average
    pooling, bilinear upsampling with ``align_corners=False``) modulates the result:
    ``fea * sigmoid(att) * 2 + att_add``. ``H`` and ``W`` must be multiples of 4.
    """

    def __init__(self, channels: int = 64, nframes: int = 5, center: int | None = None) -> None:
        super().__init__()
        c, n = channels, nframes
        self.center = nframes // 2 if center is None else center
        self.tAtt_1 = nn.Conv2d(c, c, 3, 1, 1)
        self.tAtt_2 = nn.Conv2d(c, c, 3, 1, 1)
        self.fea_fusion = nn.Conv2d(n * c, c, 1, 1)
        self.sAtt_1 = nn.Conv2d(n * c, c, 1, 1)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.avgpool = nn.AvgPool2d(3, stride=2, padding=1)
        self.sAtt_2 = nn.Conv2d(2 * c, c, 1, 1)
        self.sAtt_3 = nn.Conv2d(c, c, 3, 1, 1)
        self.sAtt_4 = nn.Conv2d(c, c, 1, 1)
        self.sAtt_5 = nn.Conv2d(c, c, 3, 1, 1)
        self.sAtt_L1 = nn.Conv2d(c, c, 1, 1)
        self.sAtt_L2 = nn.Conv2d(2 * c, c, 3, 1, 1)
        self.sAtt_L3 = nn.Conv2d(c, c, 3, 1, 1)
        self.sAtt_add_1 = nn.Conv2d(c, c, 1, 1)
        self.sAtt_add_2 = nn.Conv2d(c, c, 1, 1)
        self.lrelu = nn.LeakyReLU(0.1)

    def _pool_pair(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.maxpool(x), self.avgpool(x)), dim=1)

    def forward(self, aligned: torch.Tensor) -> torch.Tensor:
        """Fuse ``aligned`` (B, N, C, H, W) into one feature map."""
        b, n, c, h, w = aligned.shape
        emb_ref = self.tAtt_2(aligned[:, self.center])
        emb = self.tAtt_1(aligned.reshape(-1, c, h, w)).view(b, n, c, h, w)
        cor = torch.sigmoid((emb * emb_ref.unsqueeze(1)).sum(dim=2, keepdim=True))  # (B, N, 1, H, W)
        weighted = (aligned * cor).reshape(b, n * c, h, w)
        fea = self.lrelu(self.fea_fusion(weighted))

        att = self.lrelu(self.sAtt_1(weighted))
        att = self.lrelu(self.sAtt_2(self._pool_pair(att)))
        att_l = self.lrelu(self.sAtt_L1(att))
        att_l = self.lrelu(self.sAtt_L2(self._pool_pair(att_l)))
        att_l = self.lrelu(self.sAtt_L3(att_l))
        att_l = F.interpolate(att_l, scale_factor=2, mode="bilinear", align_corners=False)
        att = self.lrelu(self.sAtt_3(att)) + att_l
        att = self.lrelu(self.sAtt_4(att))
        att = F.interpolate(att, scale_factor=2, mode="bilinear", align_corners=False)
        att = self.sAtt_5(att)
        att_add = self.sAtt_add_2(self.lrelu(self.sAtt_add_1(att)))
        return fea * torch.sigmoid(att) * 2 + att_add


class _ToChannelsLast(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """NCHW to NHWC."""
        return x.permute(0, 2, 3, 1)


def dcnv3_core(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor, group: int, kernel: int = 3,
               offset_scale: float = 1.0, impl: str = "torchvision") -> torch.Tensor:
    """DCNv3's sampling step (InternImage) with ``torchvision.ops.deform_conv2d``; channels-last in and out.

    ``x`` (N, H, W, C); ``offset`` (N, H, W, group * k * k * 2), per group and point ``(dx, dy)`` with the points
    in x-major order (``p = kx * k + ky``); ``mask`` (N, H, W, group, k * k) or flattened, the same point order.
    For each group and channel, ``out = sum_p mask_p * bilinear(x, q + d_p + offset_p)``, zero outside the image:
    a depthwise deformable convolution with an all-ones kernel once the points are put in torchvision's order
    (y-major, ``(dy, dx)``). ``impl="grid_sample"`` samples with ``grid_sample`` instead (:func:`_dcnv3_sampled`).
    """
    n, h, w, c = x.shape
    k = kernel
    if impl == "grid_sample" and min(h, w) > 1:
        m = mask.reshape(n, h, w, group, k * k).permute(0, 3, 4, 1, 2)
        return _dcnv3_sampled(x, offset * offset_scale, m, group, k)
    off = (offset * offset_scale).view(n, h, w, group, k, k, 2).flip(-1)  # (.., kx, ky, (dy, dx))
    off = off.permute(0, 3, 5, 4, 6, 1, 2).reshape(n, group * k * k * 2, h, w)
    m = mask.reshape(n, h, w, group, k, k).permute(0, 3, 5, 4, 1, 2).reshape(n, group * k * k, h, w)
    ones = torch.ones(c, 1, k, k, dtype=x.dtype, device=x.device)
    y = _deform_conv2d(x.permute(0, 3, 1, 2), off, ones, None, padding=(k - 1) // 2, mask=m)
    return y.permute(0, 2, 3, 1)


class DCNv3(nn.Module):
    """InternImage's DCNv3 as RGTGAN modifies it: the offsets come from a separate feature map.

    Keys ``dw_conv.0`` (depthwise conv), ``dw_conv.1.1`` (LayerNorm, eps 1e-6), ``offset``, ``mask``,
    ``input_proj``, ``output_proj``. ``forward(x, offset_feature)``, both (N, H, W, C): ``input_proj(x)`` is
    sampled by :func:`dcnv3_core` with offsets ``offset(offset_feature)`` and, per group, softmax weights
    ``mask(gelu(ln(dw_conv(x))))``; then ``output_proj``. Initialised as the original (offsets and mask at zero,
    Xavier projections).
    """

    def __init__(self, channels: int = 80, kernel_size: int = 3, group: int = 8, offset_scale: float = 1.0) -> None:
        super().__init__()
        c, k = channels, kernel_size
        self.group, self.kernel_size, self.offset_scale = group, k, offset_scale
        self.dw_conv = nn.Sequential(
            nn.Conv2d(c, c, k, 1, (k - 1) // 2, groups=c),
            nn.Sequential(_ToChannelsLast(), nn.LayerNorm(c, eps=1e-6)),
            nn.GELU(),
        )
        self.offset = nn.Linear(c, group * k * k * 2)
        self.mask = nn.Linear(c, group * k * k)
        self.input_proj = nn.Linear(c, c)
        self.output_proj = nn.Linear(c, c)
        for lin in (self.offset, self.mask):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        for lin in (self.input_proj, self.output_proj):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    #: ``"torchvision"`` or ``"grid_sample"`` (the same output; a faster backward on a CPU): see :func:`set_dcn_impl`.
    impl: str = "torchvision"

    def forward(self, x: torch.Tensor, offset_feature: torch.Tensor) -> torch.Tensor:
        """Deformable aggregation of ``x`` steered by ``offset_feature`` (both N, H, W, C)."""
        n, h, w, _ = x.shape
        k2 = self.kernel_size**2
        proj = self.input_proj(x)
        logits = self.mask(self.dw_conv(x.permute(0, 3, 1, 2))).reshape(n, h, w, self.group, k2)
        if self.impl == "grid_sample" and min(h, w) > 1:  # softmax over a leading axis: several times faster
            mask = torch.softmax(logits.permute(0, 3, 4, 1, 2), 2)
            off = self.offset(offset_feature) * self.offset_scale
            return self.output_proj(_dcnv3_sampled(proj, off, mask, self.group, self.kernel_size))
        out = dcnv3_core(proj, self.offset(offset_feature), torch.softmax(logits, -1), self.group, self.kernel_size,
                         self.offset_scale)
        return self.output_proj(out)
