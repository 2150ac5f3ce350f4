"""RGTGAN's generator RGTNet: reference-based SR with gradient-assisted texture enhancement (TGRS 2024).

Inputs are the LR scene, its x4 upsampling, a sharper reference image of the same place at the output size, and
that reference downsampled and upsampled again x4 (``forward(lr, lr_ux4, ref, ref_dux4)``). Content and gradient
features of the three HR-size images are aligned reference-to-LR by a three-level pyramid of DCNv3 blocks
(:class:`~satsr.models.ops.DCNv3`, emulated exactly with torchvision), and a three-scale texture transfer adds the
aligned reference texture to the LR content. The output is a residual over ``lr_ux4``.

Parameter names follow the authors' ``codes/models/archs/RGTNet_arch.py`` (19,909,931 parameters, including
blocks their forward never calls and blocks whose output it throws away, kept so that checkpoints load). The
discarded computations (the ``DenseRes`` offset refiner at every level, the content extractor's ``tail``) are
skipped here; ``compute_discarded=True`` runs them anyway, as the authors' forward does, which changes only the
time taken.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from satsr._bicubic import resize_matrix
from satsr.errors import InputError, ModelError
from satsr.models.ops import DCNv3, set_dcn_impl, zero_conv_
from satsr.models.registry import Weights, register

__all__ = ["RGTGAN", "RGTNet", "derive_inputs", "gradient_map", "gtem_shuffle", "matlab_resize"]


def _conv_selu(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2), nn.SELU())


class _StrideOneDeconv(nn.ConvTranspose2d):
    """A stride-1, size-preserving transposed convolution, run as the equivalent convolution.

    Same parameters (weights stored ``(in, out, k, k)``) and output to float rounding: the convolution with the
    kernel flipped and its in/out axes swapped. PyTorch's CPU transposed convolution has no fast kernel for it.
    """

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        """``conv_transpose2d(x)`` for stride 1, as ``conv2d``."""
        k, p = self.kernel_size[0], int(self.padding[0])  # built with integer padding
        w = self.weight.transpose(0, 1).flip(2, 3)
        return F.conv2d(x, w, self.bias, padding=k - 1 - p)


def _deconv_selu(cin: int, cout: int, k: int) -> nn.Sequential:
    # Stride-1 transposed convolutions (size-preserving); their weights are stored (in, out, k, k).
    return nn.Sequential(_StrideOneDeconv(cin, cout, k, 1, k // 2), nn.SELU())


def _lr(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x)  # slope 0.01, the default the authors use between their SELU blocks


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.1)


class ResBlock(nn.Module):
    """``x + conv(relu(conv(x)))``; keys ``body.0``, ``body.2``."""

    def __init__(self, nf: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(nf, nf, 3, 1, 1), nn.ReLU(), nn.Conv2d(nf, nf, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block."""
        return self.body(x) + x


def _res_blocks(nf: int, n: int) -> nn.Sequential:
    return nn.Sequential(*[ResBlock(nf) for _ in range(n)])


def gradient_map(x: torch.Tensor, weight_v: torch.Tensor, weight_h: torch.Tensor) -> torch.Tensor:
    """Per band ``sqrt(dv^2 + dh^2 + 1e-6)`` with central differences, zero padding (``get_g_nopadding``)."""
    b, c, h, w = x.shape
    flat = x.reshape(b * c, 1, h, w)
    v = F.conv2d(flat, weight_v, padding=1)
    hh = F.conv2d(flat, weight_h, padding=1)
    return torch.sqrt(v.pow(2) + hh.pow(2) + 1e-6).view(b, c, h, w)


class _Gradient(nn.Module):
    """Holds the two difference kernels as frozen parameters (keys ``weight_h``, ``weight_v``)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight_h = nn.Parameter(torch.tensor([[[[0.0, 0, 0], [-1, 0, 1], [0, 0, 0]]]]), requires_grad=False)
        self.weight_v = nn.Parameter(torch.tensor([[[[0.0, -1, 0], [0, 0, 0], [0, 1, 0]]]]), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gradient magnitude per band."""
        return gradient_map(x, self.weight_v, self.weight_h)


def gtem_shuffle(x: torch.Tensor) -> torch.Tensor:
    """The GTEM's "pixel shuffle", bit for bit: (B, 4C, h, w) to (B, C, 2h, 2w).

    Output channel ``k`` takes input channels ``4k .. 4k + 3`` as a per-pixel 4-vector, reorders it to
    ``(c0, c2, c1, c3)``, lays the vectors out in raster order and reads the buffer as a (2h, 2w) image: each
    input pixel becomes a 1 x 4 run of an output row pair's flattened buffer, not a 2 x 2 block.
    """
    b, c4, h, w = x.shape
    v = x.view(b, c4 // 4, 4, h, w)[:, :, [0, 2, 1, 3]]
    return v.permute(0, 1, 3, 4, 2).reshape(b, c4 // 4, 2 * h, 2 * w)


class _DenseLayers(nn.Module):
    """The seven ``dconv_ud`` layers of a three-branch dense block (used by the GTEM and the texture transfer).

    ``nf`` channels (the authors' 64); ``reps = (outer, inner)`` repetitions of the shared layers (their (3, 3)).
    """

    def __init__(self, nf: int = 64, reps: tuple[int, int] = (3, 3)) -> None:
        super().__init__()
        self.reps = (int(reps[0]), int(reps[1]))
        self.dconv_ud1 = _deconv_selu(nf, nf, 3)
        self.dconv_ud2 = _deconv_selu(nf, nf, 3)
        self.dconv_ud3 = _deconv_selu(nf, nf, 3)
        self.dconv_ud4 = _deconv_selu(4 * nf, nf, 1)
        self.dconv_ud5 = _deconv_selu(4 * nf, nf, 1)
        self.dconv_ud6 = _deconv_selu(4 * nf, nf, 1)
        self.dconv_ud7 = _deconv_selu(3 * nf, nf, 3)

    def dense(self, h: torch.Tensor) -> torch.Tensor:
        """``outer`` repetitions, the same weights each time: ``h <- h + lr(ud7(cat(x1, x2, x3)))``."""
        outer, inner = self.reps
        for _ in range(outer):
            x1 = x2 = x3 = h
            for _ in range(inner):
                s = torch.cat([_lr(self.dconv_ud1(x1)), _lr(self.dconv_ud2(x2)), _lr(self.dconv_ud3(x3))], 1)
                x1 = _lr(self.dconv_ud4(torch.cat([s, x1], 1)))
                x2 = _lr(self.dconv_ud5(torch.cat([s, x2], 1)))
                x3 = _lr(self.dconv_ud6(torch.cat([s, x3], 1)))
            h = h + _lr(self.dconv_ud7(torch.cat([x1, x2, x3], 1)))
        return h


class Encoder(nn.Module):
    """Four 5x5 conv + SELU layers; returns the features at full, 1/2 and 1/4 size."""

    def __init__(self, cin: int, nf: int) -> None:
        super().__init__()
        self.layer_f = _conv_selu(cin, nf, 5)
        self.conv1 = _conv_selu(nf, nf, 5)
        self.conv2 = _conv_selu(nf, nf, 5, 2)
        self.conv3 = _conv_selu(nf, nf, 5, 2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[level 1, level 2, level 3]``."""
        c1 = self.conv1(self.layer_f(x))
        c2 = self.conv2(c1)
        return [c1, c2, self.conv3(c2)]


class GTEM(_DenseLayers):
    """Gradient texture enhancement of a gradient map (the authors' ``GTEM_F``): 3 bands in, 3 out.

    Widths ``nf``, ``2 nf``, ``4 nf`` (the authors' 64, 128, 256), ``n_blocks`` residual blocks (their 16) and
    ``reps`` dense repetitions (their (3, 3)). ``faithful`` upsamples with the authors' :func:`gtem_shuffle`, which
    moves pixels by an amount that depends on the image width (so a tile's output differs from the whole image's);
    ``faithful=False`` uses the standard 2 x 2 pixel shuffle, which is translation-equivariant.
    """

    def __init__(self, cin: int = 3, nf: int = 64, *, n_blocks: int = 16, reps: tuple[int, int] = (3, 3),
                 faithful: bool = True) -> None:
        super().__init__(nf, reps)
        self.faithful = faithful
        self.conv_e1 = _conv_selu(cin, nf, 3)
        self.conv_e2 = _conv_selu(nf, nf, 3)
        self.conv_e3 = _conv_selu(nf, 2 * nf, 3, 2)
        self.conv_e4 = _conv_selu(2 * nf, 2 * nf, 3)
        self.conv_e5 = _conv_selu(2 * nf, 4 * nf, 3, 2)
        self.conv_e7 = _conv_selu(4 * nf, nf, 3)
        self.res_dense = _res_blocks(nf, n_blocks)
        self.conv_e8 = _conv_selu(nf, 4 * nf, 3)
        self.dconv_m3 = _deconv_selu(nf, nf, 3)
        self.dconv_m4 = _deconv_selu(nf, 2 * nf, 3)
        self.dconv_m5 = _deconv_selu(2 * nf, 4 * nf, 3)
        self.dconv_m6 = _deconv_selu(4 * nf, nf, 3)
        self.dconv_d3 = _deconv_selu(nf, 4 * nf, 3)
        self.dconv_d4 = _deconv_selu(nf, 4 * nf, 3)
        self.dconv_fusion2 = _deconv_selu(nf, 3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Enhanced gradient map, same size."""
        f = _lr(self.conv_e1(x))
        f = _lr(self.conv_e3(self.conv_e2(f)))
        f = _lr(self.conv_e5(_lr(self.conv_e4(f))))
        f = _lr(self.conv_e7(f))
        r = f
        f = self.dense(f)
        f = _lr(self.conv_e8(self.res_dense(f) + f))
        mask = torch.sigmoid(_lr(self.dconv_m5(_lr(self.dconv_m4(_lr(self.dconv_m3(r)))))))
        y = _lr(self.dconv_m6(mask * f + f))
        shuffle = gtem_shuffle if self.faithful else lambda t: F.pixel_shuffle(t, 2)
        y = _lr(shuffle(self.dconv_d3(y)))
        y = _lr(shuffle(self.dconv_d4(y)))
        return (self.dconv_fusion2(y) + x) - x  # the authors' "+ x - x_fa" with x_fa = x, kept for its rounding


class DenseResNet3(nn.Module):
    """Multi-scale offset refiner whose output RGTNet computes and discards (kept for loading)."""

    def __init__(self, nf: int = 80) -> None:
        super().__init__()
        self.offset_conv1 = nn.Conv2d(2 * nf, nf, 3, 1, 1)
        self.conv3 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv5 = nn.Conv2d(nf, nf, 5, 1, 2)
        self.conv7 = nn.Conv2d(nf, nf, 7, 1, 3)
        self.offset_conv2 = nn.Conv2d(3 * nf, nf, 3, 1, 1)

    def forward(self, ref: torch.Tensor, off: torch.Tensor) -> torch.Tensor:
        """The refined offset feature."""
        o1 = _lrelu(self.offset_conv1(torch.cat([ref, off], 1)))
        o2 = torch.cat([_lrelu(self.conv3(o1)), _lrelu(self.conv5(o1)), _lrelu(self.conv7(o1))], 1)
        return _lrelu(self.offset_conv2(o2)) + o1


def _nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1)


def _nchw(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2)


def _up2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class GPCDAlign(nn.Module):
    """Pyramid, cascading and DCNv3 alignment of reference features to the LR's (the authors' ``GPCD_Align``).

    ``nf`` channels in (and in the DCNv3 blocks), ``nf_out`` out. ``unused=False`` leaves out the blocks the
    authors build but whose output never reaches the result (``*offset_head*``, ``*offset_tail``, ``DenseRes``):
    fewer parameters, the same output, no ``compute_discarded``.
    """

    # the levels 2 and 1 layers forward uses, made by setattr in __init__
    L2_offset_conv1: nn.Conv2d
    L2_offset_conv2: nn.Conv2d
    L2_offset_conv3: nn.Conv2d
    L2_dcnpack: DCNv3
    L2_fea_conv: nn.Conv2d
    L1_offset_conv1: nn.Conv2d
    L1_offset_conv2: nn.Conv2d
    L1_offset_conv3: nn.Conv2d
    L1_dcnpack: DCNv3
    L1_fea_conv: nn.Conv2d

    def __init__(self, nf: int = 80, nf_out: int = 64, groups: int = 8, n_blocks: int = 16, *,
                 unused: bool = True) -> None:
        super().__init__()
        conv = lambda cin, cout: nn.Conv2d(cin, cout, 3, 1, 1)  # noqa: E731
        self.unused = unused
        self.L3_offset_conv1 = conv(2 * nf, nf)
        self.L3_offset_conv2 = conv(nf, nf)
        if unused:  # built in the authors' order, so that parameter order (and init) matches theirs
            self.L3_offset_head_conv1 = conv(2 * nf, nf)  # never called
            self.DenseRes = DenseResNet3(nf)
            self.L3_offset_head_conv2 = conv(nf, nf)  # never called
            self.L3_offset_tail = _res_blocks(nf, n_blocks)  # never called
        self.L3_dcnpack = DCNv3(nf, 3, group=groups)
        self.L3_fea_conv = conv(nf, nf_out)
        for lvl in ("L2", "L1"):
            setattr(self, f"{lvl}_offset_conv1", conv(2 * nf, nf))
            setattr(self, f"{lvl}_offset_conv2", conv(2 * nf, nf))
            setattr(self, f"{lvl}_offset_conv3", conv(nf, nf))
            if unused:
                setattr(self, f"{lvl}_offset_head_conv1", conv(2 * nf, nf))  # never called
                setattr(self, f"{lvl}_offset_head_conv2", conv(nf, nf))  # never called
                setattr(self, f"{lvl}_offset_tail", _res_blocks(nf, n_blocks))  # never called
            setattr(self, f"{lvl}_dcnpack", DCNv3(nf, 3, group=groups))
            setattr(self, f"{lvl}_fea_conv", conv(nf + nf_out, nf_out if lvl == "L2" else nf))
        self.cas_offset_conv1 = conv(2 * nf, nf)
        self.cas_offset_conv2 = conv(nf, nf)
        if unused:
            self.offset_head_conv1 = conv(2 * nf, nf)  # never called
            self.offset_head_conv2 = conv(nf, nf)  # never called
            self.offset_tail = _res_blocks(nf, n_blocks)  # never called
        self.cas_dcnpack = DCNv3(nf, 3, group=groups)
        self.cas_fea_conv = conv(nf, nf_out)
        self.compute_discarded = False

    def _dcn(self, pack: DCNv3, fea: torch.Tensor, off: torch.Tensor) -> torch.Tensor:
        return _nchw(pack(_nhwc(fea), _nhwc(off)))

    def forward(self, ref_use: list[torch.Tensor], ref: list[torch.Tensor], lr: list[torch.Tensor]
                ) -> list[torch.Tensor]:
        """Aligned reference features ``[level 1 (64), level 2 (64), level 3 (64)]``."""
        if self.compute_discarded:
            for a, b in zip(ref, lr):
                self.DenseRes(a, b)
        o3 = _lrelu(self.L3_offset_conv2(_lrelu(self.L3_offset_conv1(torch.cat([ref[2], lr[2]], 1)))))
        out3 = _lrelu(self.L3_fea_conv(self._dcn(self.L3_dcnpack, ref_use[2], o3)))
        o2 = _lrelu(self.L2_offset_conv1(torch.cat([ref[1], lr[1]], 1)))
        o2 = _lrelu(self.L2_offset_conv2(torch.cat([o2, _up2(o3) * 2], 1)))
        o2 = _lrelu(self.L2_offset_conv3(o2))
        a2 = self._dcn(self.L2_dcnpack, ref_use[1], o2)
        out2 = _lrelu(self.L2_fea_conv(torch.cat([a2, _up2(out3)], 1)))
        o1 = _lrelu(self.L1_offset_conv1(torch.cat([ref[0], lr[0]], 1)))
        o1 = _lrelu(self.L1_offset_conv2(torch.cat([o1, _up2(o2) * 2], 1)))
        o1 = _lrelu(self.L1_offset_conv3(o1))
        a1 = self._dcn(self.L1_dcnpack, ref_use[0], o1)
        f1 = self.L1_fea_conv(torch.cat([a1, _up2(out2)], 1))
        if self.compute_discarded:
            self.DenseRes(f1, lr[0])
        o = _lrelu(self.cas_offset_conv2(_lrelu(self.cas_offset_conv1(torch.cat([f1, lr[0]], 1)))))
        out1 = _lrelu(self.cas_fea_conv(self._dcn(self.cas_dcnpack, f1, o)))
        return [out1, out2, out3]


class ContentExtractor(nn.Module):
    """Head, 16 residual blocks and a skip on the LR; its ``tail`` (an SR branch) is computed and discarded.

    ``tail=False`` leaves the discarded ``tail`` out (same output).
    """

    def __init__(self, ngf: int = 64, n_blocks: int = 16, *, tail: bool = True) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(3, ngf, 3, 1, 1), nn.LeakyReLU(0.1))
        self.body = _res_blocks(ngf, n_blocks)
        if tail:
            self.tail = nn.Sequential(
                nn.Conv2d(ngf, ngf * 4, 3, 1, 1), nn.PixelShuffle(2), nn.LeakyReLU(0.1),
                nn.Conv2d(ngf, ngf * 4, 3, 1, 1), nn.PixelShuffle(2), nn.LeakyReLU(0.1),
                nn.Conv2d(ngf, ngf, 3, 1, 1), nn.LeakyReLU(0.1), nn.Conv2d(ngf, 3, 3, 1, 1),
            )
        self.compute_discarded = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Content features at LR size."""
        h = self.head(x)
        h = self.body(h) + h
        if self.compute_discarded:
            self.tail(h)
        return h


class RAM(nn.Module):
    """Condition-driven affine modulation: ``features * sigmoid(...) + (...)`` from ``cat(features, conditions)``."""

    def __init__(self, nf: int = 64, n_condition: int = 64, hidden: int = 32) -> None:
        super().__init__()
        self.mul_conv1 = nn.Conv2d(nf + n_condition, hidden, 3, 1, 1)
        self.mul_conv2 = nn.Conv2d(hidden, nf, 3, 1, 1)
        self.add_conv1 = nn.Conv2d(nf + n_condition, hidden, 3, 1, 1)
        self.add_conv2 = nn.Conv2d(hidden, nf, 3, 1, 1)

    def forward(self, features: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """Modulated features."""
        cat = torch.cat((features, conditions), 1)
        mul = torch.sigmoid(self.mul_conv2(_lrelu(self.mul_conv1(cat))))
        return features * mul + self.add_conv2(_lrelu(self.add_conv1(cat)))


class TextureTransfer(_DenseLayers):
    """Three scales (LR, x2, x4) of texture injection from the aligned reference maps into the LR content.

    ``ngf`` channels throughout (the authors' 64; also the dense block's), ``n_blocks`` residual blocks per scale
    (or a ``(small, medium, large)`` triple), ``reps`` dense repetitions, ``ram_hidden`` channels inside each
    :class:`RAM` (their 32).
    """

    def __init__(self, ngf: int = 64, n_blocks: int | tuple[int, int, int] = 16, *, reps: tuple[int, int] = (3, 3),
                 ram_hidden: int = 32) -> None:
        super().__init__(ngf, reps)
        blocks = (n_blocks,) * 3 if isinstance(n_blocks, int) else tuple(n_blocks)
        for s, nb in zip(("small", "medium", "large"), blocks, strict=True):
            setattr(self, f"ram_head_{s}", RAM(ngf, ngf, ram_hidden))
            setattr(self, f"head_{s}", nn.Sequential(nn.Conv2d(ngf * 2, ngf, 3, 1, 1), nn.LeakyReLU(0.1)))
            setattr(self, f"body_{s}", _res_blocks(ngf, nb))
            if s != "large":
                setattr(self, f"tail_{s}", nn.Sequential(nn.Conv2d(ngf, ngf * 4, 3, 1, 1), nn.PixelShuffle(2),
                                                         nn.LeakyReLU(0.1)))
        self.tail_large = nn.Sequential(nn.Conv2d(ngf, ngf // 2, 3, 1, 1), nn.LeakyReLU(0.1),
                                        nn.Conv2d(ngf // 2, 3, 3, 1, 1))

    def forward(self, x: torch.Tensor, maps: list[torch.Tensor]) -> torch.Tensor:
        """The texture residual at 4x the content's size."""
        for s, m in (("small", maps[2]), ("medium", maps[1]), ("large", maps[0])):
            h = getattr(self, f"ram_head_{s}")(m, x)
            h = getattr(self, f"head_{s}")(torch.cat([x, h], 1))
            h = getattr(self, f"body_{s}")(self.dense(h)) + x
            x = getattr(self, f"tail_{s}")(h)
        return x


class RGTNet(nn.Module):
    """RGTGAN's generator, x4.

    ``forward(lr, lr_ux4, ref, ref_dux4)``: ``lr`` (B, 3, h, w); the others (B, 3, 4h, 4w), RGB in [0, 1]; ``h``
    and ``w`` multiples of 4 (the encoders halve twice). Returns (B, 3, 4h, 4w) = network output + ``lr_ux4``.

    The positional options and the defaults of the keyword-only ones are the authors' network (their checkpoints
    load); the keyword-only ones make smaller variants (``rgtgan-s``) with the same data flow.

    Parameters
    ----------
    ngf : int, default 64
        Width of the content encoder, the content extractor and the texture transfer.
    n_blocks : int, default 16
        Residual blocks of the content extractor and of each texture-transfer scale.
    tt_blocks : (int, int, int), optional
        Residual blocks of the texture transfer at LR, x2 and x4 size, if not ``n_blocks`` each (blocks at LR size
        cost a sixteenth of those at x4).
    groups : int, default 8
        DCNv3 groups of the alignment (``ngf + grad_nf`` must be a multiple).
    compute_discarded : bool, default False
        Run the blocks whose output the authors' forward throws away (needs ``unused=True``).
    grad_nf : int, optional
        Width of the gradient encoder; default ``ngf // 4``. The alignment runs at ``ngf + grad_nf`` channels.
    gtem_nf : int, default 64
        GTEM width (it also uses 2x and 4x that).
    gtem_blocks : int, default 16
        GTEM residual blocks.
    dense_reps : (int, int), default (3, 3)
        Outer and inner repetitions of the dense blocks of the GTEM and the texture transfer.
    ram_hidden : int, default 32
        Channels inside the texture transfer's modulation (RAM) blocks.
    unused : bool, default True
        Build the blocks the authors' forward never calls or whose output it discards (for their checkpoints).
    faithful : bool, default True
        The authors' GTEM upsampling (:func:`gtem_shuffle`: not translation-equivariant, so tiles cannot
        reproduce the whole image); ``False``: the standard pixel shuffle (same parameters).
    """

    def __init__(self, ngf: int = 64, n_blocks: int = 16, groups: int = 8, compute_discarded: bool = False, *,
                 grad_nf: int | None = None, gtem_nf: int = 64, gtem_blocks: int = 16,
                 dense_reps: tuple[int, int] = (3, 3), ram_hidden: int = 32, unused: bool = True,
                 tt_blocks: tuple[int, int, int] | None = None, faithful: bool = True) -> None:
        super().__init__()
        grad_nf = ngf // 4 if grad_nf is None else int(grad_nf)
        if (ngf + grad_nf) % groups:
            raise ModelError(f"RGTNet: ngf + grad_nf ({ngf + grad_nf}) must be a multiple of groups ({groups})")
        self.get_g_nopadding = _Gradient()
        self.Encoder = Encoder(3, ngf)
        self.Encoder_grad_ori = Encoder(3, grad_nf)
        self.gpcd_align = GPCDAlign(ngf + grad_nf, ngf, groups, n_blocks, unused=unused)
        self.content_extractor = ContentExtractor(ngf, n_blocks, tail=unused)
        self.texture_transfer = TextureTransfer(ngf, tt_blocks or n_blocks, reps=dense_reps, ram_hidden=ram_hidden)
        self.GTEM = GTEM(3, gtem_nf, n_blocks=gtem_blocks, reps=dense_reps, faithful=faithful)
        self.unused = unused
        self.compute_discarded = compute_discarded

    @property
    def compute_discarded(self) -> bool:
        """Run the blocks whose output the authors' forward throws away (same output, more time)."""
        return self.gpcd_align.compute_discarded

    @compute_discarded.setter
    def compute_discarded(self, value: bool) -> None:
        if value and not self.unused:
            raise ModelError("compute_discarded needs the discarded blocks: build RGTNet with unused=True")
        self.gpcd_align.compute_discarded = self.content_extractor.compute_discarded = bool(value)

    def forward(self, lr: torch.Tensor, lr_ux4: torch.Tensor, ref: torch.Tensor, ref_dux4: torch.Tensor
                ) -> torch.Tensor:
        """Reference-based x4 SR of ``lr``."""
        b, _, h, w = lr.shape
        if h % 4 or w % 4:
            raise InputError(f"RGTNet needs LR heights and widths that are multiples of 4, got {h} x {w}")
        for name, t in (("lr_ux4", lr_ux4), ("ref", ref), ("ref_dux4", ref_dux4)):
            if tuple(t.shape[-2:]) != (4 * h, 4 * w):
                raise InputError(f"{name} must be 4x the LR ({4 * h} x {4 * w}), got {tuple(t.shape[-2:])}")
        feats = []
        for img in (lr_ux4, ref_dux4, ref):
            content = self.Encoder(img)
            grad = self.Encoder_grad_ori(self.GTEM(self.get_g_nopadding(img)))
            feats.append([torch.cat([c, g], 1) for c, g in zip(content, grad)])
        lr_f, ref_d_f, ref_f = feats
        maps = self.gpcd_align(ref_f, ref_d_f, lr_f)
        return self.texture_transfer(self.content_extractor(lr), maps) + lr_ux4


# -- the pair interface the pipeline calls -------------------------------------------------------------------
def matlab_resize(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Resize ``(..., H, W)`` by ``scale`` as MATLAB's ``imresize(x, scale, "bicubic")`` (replicated edges).

    The weights of :func:`satsr.degrade.imresize` (both come from ``satsr._bicubic``), applied as two matrix
    products so that it runs on the model's device and dtype.
    """
    h, w = x.shape[-2:]
    # torch.tensor copies the cached read-only matrices (torch.from_numpy would share them).
    my = torch.tensor(resize_matrix(h, scale), dtype=x.dtype, device=x.device)
    mx = torch.tensor(resize_matrix(w, scale), dtype=x.dtype, device=x.device)
    return torch.matmul(torch.matmul(my, x), mx.T)


def derive_inputs(lr: torch.Tensor, ref: torch.Tensor, scale: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lr_ux4, ref_dux4)``: the LR upsampled ``scale`` times, the reference downsampled and upsampled again.

    MATLAB bicubic. From the stored LR JPEGs this differs from the data sets' supplied ``LR_UX4`` by 2.0/255 (mean
    absolute, RRSSRD; torch's bicubic: 2.2), because the supplied files were upsampled from the LR *before* it was
    saved as JPEG; they score 0.45 dB (RRSSRD) to 1.3-1.5 dB (KaggleSRD) above any upsampling of the stored LR.
    ``Ref_DUX4`` is matched within 0.75/255.
    """
    return matlab_resize(lr, scale), matlab_resize(matlab_resize(ref, 1 / scale), scale)


class RGTGAN(RGTNet):
    """:class:`RGTNet` called as the pipeline calls reference models: ``forward(lr, ref)``.

    ``lr_ux4`` and ``ref_dux4`` are derived inside (:func:`derive_inputs`); the parameters (and checkpoint keys)
    are RGTNet's.
    """

    def forward(self, lr: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Reference-based x4 SR of ``lr`` (B, 3, h, w) with ``ref`` (B, 3, 4h, 4w) on the output grid."""
        lr_ux4, ref_dux4 = derive_inputs(lr, ref, 4)
        return super().forward(lr, lr_ux4, ref, ref_dux4)


@register(
    "rgtgan", scale=4, bands=3, halo=16, multiple_of=4, feather=8, needs_reference=True, tile=64,
    bytes_per_pixel=152000, cpu_bf16=False,
    description="RGTGAN (TGRS 2024): reference-based x4 SR, texture from a sharper image of the same place",
    weights=(),
)
def rgtgan(ngf: int = 64, n_blocks: int = 16, groups: int = 8, compute_discarded: bool = False) -> RGTGAN:
    """RGTGAN's generator with the pair interface; the authors' checkpoints (``<iter>_G.pth``) load as they are."""
    return RGTGAN(ngf, n_blocks, groups, compute_discarded)


@register(
    "rgtgan-s", scale=4, bands=3, halo=40, multiple_of=4, needs_reference=True, tile=64, bytes_per_pixel=65000,
    weights=(Weights(
        tag="satsr-refvideo-v2", source="trained by satsr: satsr/train/configs/rgtgan-s-video.yaml, then "
        "rgtgan-s-ref-more.yaml (model card satsr/weights/rgtgan-s.md)",
        sha256="a9ae3d8ad54232c069aae8899ab30e0ab2b57ee5ee9c0531551bfc633dbef037",
        license="MIT",
        file="rgtgan-s.safetensors",
    ),),
    description="satsr's light RGTGAN (quarter width, shallow, standard shuffle, bicubic start, tile-exact), 0.34 M",
)
def rgtgan_s(faithful: bool = False) -> RGTGAN:
    """A light :class:`RGTGAN` for training from scratch on a CPU, reference texture transfer kept.

    ``ngf=16, n_blocks=8, groups=4`` with ``grad_nf=8, gtem_nf=8, gtem_blocks=4, dense_reps=(1, 1),
    ram_hidden=8, tt_blocks=(8, 2, 1)`` and without the authors' never-used blocks (``unused=False``): the same
    data flow (gradient-assisted encoders, three-level DCNv3 alignment of the reference, three-scale texture
    transfer) with most of the depth at LR size, where it is cheap. The last convolution starts at zero, so an
    untrained model returns exactly the MATLAB bicubic of the LR (the residual's base); ``faithful=False`` (the
    standard pixel shuffle in the GTEM) makes it translation-equivariant, so tiles reproduce the whole image.
    """
    model = RGTGAN(16, 8, 4, grad_nf=8, gtem_nf=8, gtem_blocks=4, dense_reps=(1, 1), ram_hidden=8,
                   tt_blocks=(8, 2, 1), unused=False, faithful=faithful)
    last = model.texture_transfer.tail_large[2]
    assert isinstance(last, nn.Conv2d) and last.bias is not None
    zero_conv_(last)
    set_dcn_impl(model, "grid_sample")  # the same output; faster on a CPU, forward and backward
    return model.to(memory_format=torch.channels_last)  # its narrow convolutions run faster so on a CPU
