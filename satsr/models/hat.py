"""HAT (hybrid attention transformer, Chen et al., CVPR 2023) as LGTD and MTDO use it for reconstruction.

Written for satsr from the architecture description; parameter and buffer names follow the authors' state_dict
(``conv_first``, ``patch_embed.norm``, ``layers.i.residual_group.blocks.j.*``, ``overlap_attn.*``, ``layers.i.conv``,
``norm``, ``conv_after_body``, ``conv_before_upsample.0``, ``upsample.0/2``, ``conv_last`` and the persistent
buffers ``relative_position_index_SA`` / ``relative_position_index_OCA``) so that their checkpoints load.

In LGTD/MTDO the input is a 64-channel feature map (not RGB), there is no mean subtraction or value scaling,
and the height and width must be multiples of the window size (16): there is no internal padding.
"""

from __future__ import annotations

import torch
from torch import nn

from satsr.errors import InputError

__all__ = ["HAT"]


def _partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """``(b, h, w, c) -> (b * windows, ws * ws, c)``, windows in row-major order."""
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def _merge(windows: torch.Tensor, ws: int, b: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`_partition`: ``(b * windows, ws * ws, c) -> (b, h, w, c)``."""
    x = windows.view(b, h // ws, w // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, -1)


def _grid(n: int) -> torch.Tensor:
    """``(2, n * n)`` row and column coordinates of an ``n x n`` window, row-major."""
    r = torch.arange(n)
    return torch.stack(torch.meshgrid(r, r, indexing="ij")).flatten(1)


def relative_index_sa(ws: int) -> torch.Tensor:
    """Index into the ``(2ws-1)^2`` bias table for every (query, key) pair of one window."""
    c = _grid(ws)
    rel = (c[:, :, None] - c[:, None, :]).permute(1, 2, 0) + (ws - 1)
    return rel[..., 0] * (2 * ws - 1) + rel[..., 1]


def relative_index_oca(ws: int, ows: int) -> torch.Tensor:
    """Index for (query in a ``ws`` window, key in its ``ows`` overlapping window), as the authors compute it.

    Their shift is ``ws - ows + 1`` rather than ``ws - 1``, so some indices are negative and wrap around the
    ``(ws + ows - 1)^2`` table (Python indexing). Kept as is: trained weights depend on it, and the buffer is
    part of their checkpoints anyway.
    """
    q, k = _grid(ws), _grid(ows)
    rel = (k[:, None, :] - q[:, :, None]).permute(1, 2, 0) + (ws - ows + 1)
    return rel[..., 0] * (ws + ows - 1) + rel[..., 1]


def shift_mask(h: int, w: int, ws: int, shift: int, device: torch.device) -> torch.Tensor:
    """``(windows, ws*ws, ws*ws)`` additive mask (0 or -100) that keeps shifted windows from mixing regions."""
    img = torch.zeros((1, h, w, 1), device=device)
    cuts = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
    label = 0
    for hs in cuts:
        for wc in cuts:
            img[:, hs, wc, :] = label
            label += 1
    win = _partition(img, ws).squeeze(-1)
    diff = win.unsqueeze(1) - win.unsqueeze(2)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _ChannelAttention(nn.Module):
    def __init__(self, dim: int, squeeze: int) -> None:
        super().__init__()
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, dim // squeeze, 1), nn.ReLU(inplace=True),
            nn.Conv2d(dim // squeeze, dim, 1), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.attention(x)


class _CAB(nn.Module):
    """Channel attention block: conv, GELU, conv, channel attention (keys ``cab.0``, ``cab.2``, ``cab.3``)."""

    def __init__(self, dim: int, compress: int, squeeze: int) -> None:
        super().__init__()
        self.cab = nn.Sequential(
            nn.Conv2d(dim, dim // compress, 3, 1, 1), nn.GELU(), nn.Conv2d(dim // compress, dim, 3, 1, 1),
            _ChannelAttention(dim, squeeze),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cab(x)


class _WindowAttention(nn.Module):
    def __init__(self, dim: int, ws: int, heads: int) -> None:
        super().__init__()
        self.heads, self.ws = heads, ws
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, rpi: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        bw, n, c = x.shape
        q, k, v = self.qkv(x).reshape(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[rpi.view(-1)].view(n, n, -1).permute(2, 0, 1)
        attn = attn + bias.unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(bw // nw, nw, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.heads, n, n)
        return self.proj((attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(bw, n, c))


class _HAB(nn.Module):
    """Hybrid attention block: (shifted) window attention + 0.01 x channel attention, then an MLP."""

    def __init__(self, dim: int, heads: int, ws: int, shift: int, compress: int, squeeze: int, conv_scale: float,
                 mlp_ratio: float) -> None:
        super().__init__()
        self.ws, self.shift, self.conv_scale = ws, shift, conv_scale
        self.norm1 = nn.LayerNorm(dim)
        self.conv_block = _CAB(dim, compress, squeeze)
        self.attn = _WindowAttention(dim, ws, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, size: tuple[int, int], rpi: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        (h, w), (b, _, c) = size, x.shape
        y = self.norm1(x).view(b, h, w, c)
        conv = self.conv_block(y.permute(0, 3, 1, 2)).permute(0, 2, 3, 1).reshape(b, h * w, c)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        out = self.attn(_partition(y, self.ws), rpi, mask if self.shift else None)
        out = _merge(out, self.ws, b, h, w)
        if self.shift:
            out = torch.roll(out, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + out.reshape(b, h * w, c) + conv * self.conv_scale
        return x + self.mlp(self.norm2(x))


class _OCAB(nn.Module):
    """Overlapping cross-attention: queries from ``ws`` windows, keys/values from ``ows`` windows around them."""

    def __init__(self, dim: int, heads: int, ws: int, overlap_ratio: float, mlp_ratio: float) -> None:
        super().__init__()
        self.dim, self.heads, self.ws = dim, heads, ws
        self.ows = int(ws * overlap_ratio) + ws
        self.scale = (dim // heads) ** -0.5
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.unfold = nn.Unfold(kernel_size=self.ows, stride=ws, padding=(self.ows - ws) // 2)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((ws + self.ows - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, size: tuple[int, int], rpi: torch.Tensor) -> torch.Tensor:
        (h, w), (b, _, c) = size, x.shape
        qkv = self.qkv(self.norm1(x).view(b, h, w, c)).reshape(b, h, w, 3, c).permute(3, 0, 4, 1, 2)  # 3,b,c,h,w
        q = _partition(qkv[0].permute(0, 2, 3, 1), self.ws)  # (b*nw, ws*ws, c)
        kv = self.unfold(torch.cat((qkv[1], qkv[2]), dim=1))  # (b, 2*c*ows*ows, nw): channel-major, then kernel
        nw, n = kv.shape[-1], self.ows * self.ows
        kv = kv.view(b, 2, c, n, nw).permute(1, 0, 4, 3, 2).reshape(2, b * nw, n, c)
        d = c // self.heads
        q = q.reshape(-1, self.ws * self.ws, self.heads, d).transpose(1, 2)
        k = kv[0].reshape(-1, n, self.heads, d).transpose(1, 2)
        v = kv[1].reshape(-1, n, self.heads, d).transpose(1, 2)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[rpi.view(-1)].view(self.ws * self.ws, n, -1).permute(2, 0, 1)
        out = (attn + bias.unsqueeze(0)).softmax(dim=-1) @ v  # (b*nw, heads, ws*ws, d)
        out = _merge(out.transpose(1, 2).reshape(-1, self.ws * self.ws, c), self.ws, b, h, w)
        x = self.proj(out.reshape(b, h * w, c)) + x
        return x + self.mlp(self.norm2(x))


class _ResidualGroup(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, ws: int, **kw: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            _HAB(dim, heads, ws, 0 if i % 2 == 0 else ws // 2, int(kw["compress"]), int(kw["squeeze"]),
                 kw["conv_scale"], kw["mlp_ratio"])
            for i in range(depth)
        )
        self.overlap_attn = _OCAB(dim, heads, ws, kw["overlap_ratio"], kw["mlp_ratio"])

    def forward(self, x: torch.Tensor, size: tuple[int, int], rpi_sa: torch.Tensor, rpi_oca: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x, size, rpi_sa, mask)
        return self.overlap_attn(x, size, rpi_oca)


class _RHAG(nn.Module):
    """Residual hybrid attention group: blocks, then a 3x3 conv on the image-shaped tokens, plus the input."""

    def __init__(self, dim: int, depth: int, heads: int, ws: int, **kw: float) -> None:
        super().__init__()
        self.residual_group = _ResidualGroup(dim, depth, heads, ws, **kw)
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1)

    def forward(self, x: torch.Tensor, size: tuple[int, int], rpi_sa: torch.Tensor, rpi_oca: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        (h, w), (b, _, c) = size, x.shape
        y = self.residual_group(x, size, rpi_sa, rpi_oca, mask)
        y = self.conv(y.transpose(1, 2).reshape(b, c, h, w))
        return y.flatten(2).transpose(1, 2) + x


class _PatchNorm(nn.Module):
    """Flatten to tokens and LayerNorm them (``patch_embed.norm``; patch size 1)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.flatten(2).transpose(1, 2))


class HAT(nn.Module):
    """HAT with pixel-shuffle upsampling, configured by default as in LGTD and MTDO.

    Parameters
    ----------
    in_chans : int, default 64
        Input channels (LGTD/MTDO feed 64-channel features).
    embed_dim, depths, num_heads, window_size, compress_ratio, squeeze_factor, conv_scale, overlap_ratio, mlp_ratio
        Architecture (defaults: 180, six groups of 6, 6 heads, 16, 3, 30, 0.01, 0.5, 2).
    upscale : int, default 4
        Power-of-two upscaling factor.
    out_chans : int, default 3
        Output channels.
    """

    def __init__(
        self,
        in_chans: int = 64,
        embed_dim: int = 180,
        depths: tuple[int, ...] = (6, 6, 6, 6, 6, 6),
        num_heads: tuple[int, ...] = (6, 6, 6, 6, 6, 6),
        window_size: int = 16,
        compress_ratio: int = 3,
        squeeze_factor: int = 30,
        conv_scale: float = 0.01,
        overlap_ratio: float = 0.5,
        mlp_ratio: float = 2.0,
        upscale: int = 4,
        out_chans: int = 3,
        num_feat: int = 64,
    ) -> None:
        super().__init__()
        self.window_size = window_size
        ows = int(window_size * overlap_ratio) + window_size
        self.register_buffer("relative_position_index_SA", relative_index_sa(window_size))
        self.register_buffer("relative_position_index_OCA", relative_index_oca(window_size, ows))
        self.conv_first = nn.Conv2d(in_chans, embed_dim, 3, 1, 1)
        self.patch_embed = _PatchNorm(embed_dim)
        kw = {"compress": compress_ratio, "squeeze": squeeze_factor, "conv_scale": conv_scale,
              "overlap_ratio": overlap_ratio, "mlp_ratio": mlp_ratio}
        self.layers = nn.ModuleList(
            _RHAG(embed_dim, d, h, window_size, **kw) for d, h in zip(depths, num_heads, strict=True)
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = nn.Conv2d(embed_dim, embed_dim, 3, 1, 1)
        self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, num_feat, 3, 1, 1), nn.LeakyReLU(0.01))
        ups: list[nn.Module] = []
        for _ in range(int(upscale).bit_length() - 1):
            ups += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
        self.upsample = nn.Sequential(*ups)
        self.conv_last = nn.Conv2d(num_feat, out_chans, 3, 1, 1)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_chans, H, W) -> (B, out_chans, H*upscale, W*upscale)``; ``H``, ``W`` multiples of the window."""
        h, w = x.shape[-2:]
        ws = self.window_size
        if h % ws or w % ws:
            raise InputError(f"HAT input {h} x {w} must be a multiple of the window size {ws}")
        x = self.conv_first(x)
        mask = shift_mask(h, w, ws, ws // 2, x.device)
        t = self.patch_embed(x)
        for layer in self.layers:
            t = layer(t, (h, w), self.relative_position_index_SA, self.relative_position_index_OCA, mask)
        t = self.norm(t).transpose(1, 2).reshape(x.shape)
        x = self.conv_after_body(t) + x
        return self.conv_last(self.upsample(self.conv_before_upsample(x)))

