import numpy as np
import torch
import torch.nn.functional as F

from satsr.models.ops import DCNSep


def _reference(x, offset, mask, weight, bias, groups):
    """Modulated deformable conv (3x3, pad 1) written out with grid_sample: the DCNv2 definition."""
    n, c, h, w = x.shape
    cg = c // groups
    ys, xs = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    cols = []
    for g in range(groups):
        xg = x[:, g * cg : (g + 1) * cg]
        for k in range(9):
            ky, kx = divmod(k, 3)
            dy = offset[:, g * 18 + 2 * k]
            dx = offset[:, g * 18 + 2 * k + 1]
            py, px = ys + ky - 1 + dy, xs + kx - 1 + dx
            grid = torch.stack((2 * px / (w - 1) - 1, 2 * py / (h - 1) - 1), dim=-1)
            s = F.grid_sample(xg, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
            cols.append((g, k, s * mask[:, g * 9 + k : g * 9 + k + 1]))
    out = torch.zeros(n, weight.shape[0], h, w, dtype=x.dtype)
    for g, k, s in cols:
        ky, kx = divmod(k, 3)
        wk = weight[:, g * cg : (g + 1) * cg, ky, kx]
        out += torch.einsum("oc,nchw->nohw", wk, s)
    return out + bias[None, :, None, None]


def test_parameter_names_and_shapes_match_dcn_sep():
    m = DCNSep(64, 64, deformable_groups=8)
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes == {
        "weight": (64, 64, 3, 3), "bias": (64,),
        "conv_offset_mask.weight": (216, 64, 3, 3), "conv_offset_mask.bias": (216,),
    }


def test_zero_offsets_give_half_masked_conv():
    torch.manual_seed(0)
    m = DCNSep(16, 8, deformable_groups=4)
    x, fea = torch.rand(1, 16, 12, 10), torch.rand(1, 16, 12, 10)
    want = 0.5 * F.conv2d(x, m.weight, None, padding=1) + m.bias[None, :, None, None]
    torch.testing.assert_close(m(x, fea), want, atol=1e-5, rtol=1e-5)


def test_random_offsets_match_the_definition():
    torch.manual_seed(1)
    m = DCNSep(16, 8, deformable_groups=2).double()
    torch.nn.init.normal_(m.conv_offset_mask.weight, std=0.3)
    torch.nn.init.normal_(m.bias)
    x, fea = torch.rand(2, 16, 9, 11, dtype=torch.float64), torch.rand(2, 16, 9, 11, dtype=torch.float64)
    o1, o2, mk = torch.chunk(m.conv_offset_mask(fea), 3, dim=1)
    offset, mask = torch.cat((o1, o2), 1), torch.sigmoid(mk)
    assert offset.abs().max() > 1.0  # offsets large enough to reach outside the image
    want = _reference(x, offset, mask, m.weight, m.bias, groups=2)
    torch.testing.assert_close(m(x, fea), want, atol=1e-9, rtol=1e-9)


def _shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_blocks_match_the_authors_keys(seed_keys):
    from torch import nn

    from satsr.models.ops import MSD, ConvBlock, ResnetBlock, TSAFusion

    assert _shapes(ConvBlock(3, 64)) == seed_keys("LGTD_model_final", "fea0")
    assert _shapes(nn.Sequential(*[ResnetBlock(64) for _ in range(5)])) == seed_keys("LGTD_model_final", "res_feat_ext")
    for model in ("LGTD_model_final", "MTDO"):
        assert _shapes(MSD(64, 8)) == seed_keys(model, "msd")
        assert _shapes(TSAFusion(64, 5)) == seed_keys(model, "TSA_Fusion")


def test_block_forwards():
    from satsr.models.ops import MSD, ResnetBlock, TSAFusion

    torch.manual_seed(0)
    x = torch.rand(2, 64, 16, 20)
    assert ResnetBlock(64)(x).shape == x.shape
    msd = MSD(64, 8)
    assert msd(x, x.flip(-1)).shape == x.shape
    tsa = TSAFusion(64, 5)
    out = tsa(torch.rand(2, 5, 64, 16, 20))
    assert out.shape == (2, 64, 16, 20) and torch.isfinite(out).all()
    # temporal attention: frames are weighted, so swapping two neighbours changes the output
    a = torch.rand(1, 5, 64, 16, 16)
    assert not torch.allclose(tsa(a), tsa(a[:, [1, 0, 2, 3, 4]]))


def test_grid_sample_implementation_matches_torchvision():
    """The fast-backward path gives torchvision's forward, and its input/mask/weight gradients."""
    from torchvision.ops import deform_conv2d

    from satsr.models.ops import deform_conv2d_sampled

    g = torch.Generator().manual_seed(3)
    for groups, dil in ((8, 1), (4, 2)):
        x = torch.rand(2, 16, 13, 17, generator=g, requires_grad=True)
        off = (torch.randn(2, 2 * groups * 9, 13, 17, generator=g) * 3).requires_grad_()  # some land outside
        mask = torch.rand(2, groups * 9, 13, 17, generator=g, requires_grad=True)
        w = (torch.randn(8, 16, 3, 3, generator=g) * 0.2).requires_grad_()
        b = torch.randn(8, generator=g)
        ref = deform_conv2d(x, off, w, b, padding=dil, dilation=dil, mask=mask)
        got = deform_conv2d_sampled(x, off, w, b, mask, padding=dil, dilation=dil)
        assert (ref - got).abs().max() < 1e-5
        gr = torch.autograd.grad(ref.square().sum(), [x, mask, w])
        gg = torch.autograd.grad(got.square().sum(), [x, mask, w])
        for a, c in zip(gr, gg):
            assert (a - c).abs().max() <= 1e-4 * a.abs().max()


def test_grid_sample_implementation_samples_in_float32_under_bf16_autocast():
    """Under CPU bf16 autocast, sample positions stay float32: in bf16, indices above 256 are not exact and a
    normalised position is off by up to 0.4% of the side (lgfn-s lost 0.43 dB on whole frames)."""
    from torchvision.ops import deform_conv2d

    from satsr.models.ops import deform_conv2d_sampled

    g = torch.Generator().manual_seed(5)
    h, w = 300, 300  # a whole window, beyond bf16's exact integers
    x = torch.rand(1, 8, h, w, generator=g).bfloat16().float()  # values bf16 holds exactly: the positions differ
    off = torch.randn(1, 2 * 9, h, w, generator=g) * 2
    mask = torch.rand(1, 9, h, w, generator=g)
    wt = torch.randn(8, 8, 3, 3, generator=g) * 0.1
    ref = deform_conv2d(x, off, wt, None, padding=1, mask=mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = deform_conv2d_sampled(x.bfloat16(), off.bfloat16().float(), wt, None, mask, padding=1).float()
    ref_b = deform_conv2d(x, off.bfloat16().float(), wt, None, padding=1, mask=mask)  # the same (bf16) offsets
    err = (got - ref_b).abs()
    # bf16 rounding of the sampled values and of the matmul only: far below a sample taken a pixel off (~0.3)
    assert err.max() < 0.05 and err.mean() < 5e-3, (err.max(), err.mean())
    assert (got - ref).abs().mean() < 0.05  # and close to the float32 offsets too


def test_set_dcn_impl_switches_a_whole_model():
    import pytest

    from satsr.errors import ModelError
    from satsr.models.lgtd import LGTDArc
    from satsr.models.ops import set_dcn_impl

    torch.manual_seed(0)
    m = LGTDArc(5, nf=16, n_res=1, tdm_base=16, groups=4, embed=16, n_recon=1, unused_hat=False).eval()
    x = torch.rand(1, 5, 3, 16, 16)
    with torch.no_grad():
        a = m(x)
        b = set_dcn_impl(m, "grid_sample")(x)
    assert all(d.impl == "grid_sample" for d in m.modules() if isinstance(d, DCNSep))
    assert (a - b).abs().max() <= 1e-4 * a.abs().max()
    with pytest.raises(ModelError, match="impl must be"):
        set_dcn_impl(m, "cuda")


def test_dcnv3_reproduces_rgtgans_block(vectors):
    """InternImage's DCNv3 as RGTGAN uses it, emulated with torchvision (tests/data/README.md)."""
    from satsr.models.ops import DCNv3

    m = DCNv3(80, 3, group=8).eval()
    assert sorted(k for k in m.state_dict()) == sorted([
        "dw_conv.0.weight", "dw_conv.0.bias", "dw_conv.1.1.weight", "dw_conv.1.1.bias", "offset.weight",
        "offset.bias", "mask.weight", "mask.bias", "input_proj.weight", "input_proj.bias", "output_proj.weight",
        "output_proj.bias"])
    assert sum(p.numel() for p in m.parameters()) == 31_416
    vectors.fill(m, 1.0)
    with torch.no_grad():
        m.offset.weight.mul_(10)
        y = m(vectors.tensor((1, 12, 14, 80), 0), vectors.tensor((1, 12, 14, 80), 1)).numpy()
    assert np.abs(y - np.load(vectors.data / "dcnv3_official_formula.npz")["expected"]).max() <= 1e-5


def test_dcnv3_core_is_a_sum_over_points_at_zero_offset():
    """Zero offsets and a mask on the centre point only: the input comes back unchanged."""
    from satsr.models.ops import dcnv3_core

    x = torch.rand(2, 5, 6, 16)
    mask = torch.zeros(2, 5, 6, 4, 9)
    mask[..., 4] = 1  # p = kx * 3 + ky = 4 is the centre in either order
    assert torch.allclose(dcnv3_core(x, torch.zeros(2, 5, 6, 4 * 9 * 2), mask, 4), x, atol=1e-6)
    mask = torch.zeros(2, 5, 6, 4, 9)
    mask[..., 7] = 1  # kx = 2, ky = 1: the right neighbour
    y = dcnv3_core(x, torch.zeros(2, 5, 6, 4 * 9 * 2), mask, 4)
    assert torch.allclose(y[:, :, :-1], x[:, :, 1:], atol=1e-6) and not y[:, :, -1].any()
