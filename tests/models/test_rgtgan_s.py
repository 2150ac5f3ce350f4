"""rgtgan-s, satsr's light RGTGAN: its spec, bicubic at the start, a training step, tile exactness, and the
options of RGTNet it is built with (the authors' defaults unchanged: tests/models/test_rgtgan.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from satsr import models
from satsr.degrade import imresize
from satsr.errors import ModelError
from satsr.models.ops import DCNv3, dcnv3_core, set_dcn_impl
from satsr.models.rgtgan import GTEM, RGTNet, _StrideOneDeconv, derive_inputs


def _voiced(seed: int = 0, **options) -> torch.nn.Module:
    """An untrained rgtgan-s whose last convolution is not zero (so the network's own path shows)."""
    torch.manual_seed(seed)
    model = models.create("rgtgan-s", pretrained=False, **options).eval()
    torch.nn.init.normal_(model.texture_transfer.tail_large[2].weight, 0.0, 0.05)
    return model


def test_spec_and_size():
    spec = models.get_spec("rgtgan-s")
    assert (spec.scale, spec.bands, spec.frames_in, spec.needs_reference) == (4, 3, 1, True)
    assert spec.multiple_of == 4 and spec.halo % spec.multiple_of == 0 and spec.feather == 0
    assert spec.bytes_per_pixel > 0 and spec.family == "rgtgan"
    assert [w.file for w in spec.weights] == ["rgtgan-s.safetensors"]  # shipped (satsr/weights/rgtgan-s.md)
    model = models.create("rgtgan-s", pretrained=False)
    n = sum(p.numel() for p in model.parameters())
    assert n == 343_672
    assert spec.description.endswith(f"{n / 1e6:.2f} M")
    # no block the authors build but never use
    names = {k for k, _ in model.named_modules()}
    assert not any("offset_tail" in k or "offset_head" in k or "DenseRes" in k for k in names)
    assert "content_extractor.tail" not in names


@pytest.mark.parametrize("pretrained", [None, True])
def test_shipped_weights_load_unless_the_bicubic_start_is_asked_for(pretrained):
    trained = models.create("rgtgan-s", pretrained=pretrained)
    assert trained.texture_transfer.tail_large[2].weight.any()  # the untrained last convolution is zero
    assert not models.create("rgtgan-s", pretrained=False).texture_transfer.tail_large[2].weight.any()
    with pytest.raises(ModelError, match="faithful=True"):  # the weights belong to the tile-exact shuffle
        models.create("rgtgan-s", faithful=True)


def test_untrained_is_exactly_bicubic():
    model = models.create("rgtgan-s", pretrained=False).eval()
    g = torch.Generator().manual_seed(0)
    lr, ref = torch.rand(2, 3, 16, 20, generator=g), torch.rand(2, 3, 64, 80, generator=g)
    with torch.inference_mode():
        out = model(lr, ref)
    assert torch.equal(out, derive_inputs(lr, ref)[0])  # the skip the network adds its residual to
    matlab = np.stack([imresize(x.astype(np.float64), 4) for x in lr.numpy()])
    np.testing.assert_allclose(out.numpy(), matlab, atol=1e-6)  # satsr.degrade's MATLAB bicubic


def test_one_training_step_moves_it_off_bicubic():
    from satsr.train.gan import GeneratorLoss

    torch.manual_seed(0)
    model = models.create("rgtgan-s", pretrained=False).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = GeneratorLoss(perceptual_weight=0.0, gan_weight=0.0, gradient_gan_weight=0.0)
    g = torch.Generator().manual_seed(1)
    hr = torch.rand(2, 3, 64, 64, generator=g)
    lr = F.avg_pool2d(hr, 4)
    ref = torch.roll(hr, 3, dims=-1)  # the same place, shifted: what the alignment is for
    loss = loss_fn(model(lr, ref), hr, warmup=True)[0]
    assert torch.isfinite(loss) and loss > 0
    opt.zero_grad()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(gr is not None and torch.isfinite(gr).all() for gr in grads)
    opt.step()
    assert model.texture_transfer.tail_large[2].weight.abs().sum() > 0
    with torch.inference_mode():
        assert not torch.equal(model.eval()(lr, ref), derive_inputs(lr, ref)[0])


def test_translation_equivariant_so_tiles_match():
    """A window shifted by ``multiple_of`` LR pixels gives the same output far (``halo``) from its edges."""
    model = _voiced()
    halo = models.get_spec(model).halo
    g = torch.Generator().manual_seed(2)
    n, shift = 2 * halo + 16, 4
    lr, ref = torch.rand(1, 3, n, n, generator=g), torch.rand(1, 3, 4 * n, 4 * n, generator=g)
    with torch.inference_mode():
        whole = model(lr, ref)
        part = model(lr[..., shift:, shift:], ref[..., 4 * shift :, 4 * shift :])
    a, b = 4 * halo, 4 * (n - halo)  # output rows and columns at least `halo` LR pixels from every edge
    inner = whole[..., a:b, a:b]
    assert inner.abs().max() > 0.1
    assert (inner - part[..., a - 4 * shift : b - 4 * shift, a - 4 * shift : b - 4 * shift]).abs().max() < 1e-5


@pytest.mark.parametrize("faithful", [False, True])
def test_only_the_standard_shuffle_makes_the_gtem_equivariant(faithful):
    """The authors' GTEM shuffle moves pixels by an amount that depends on the image width; rgtgan-s avoids it."""
    torch.manual_seed(0)
    gtem = GTEM(3, 8, n_blocks=1, reps=(1, 1), faithful=faithful).eval()
    x = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        whole, part = gtem(x), gtem(x[..., 8:, 8:])  # shifted by 8 HR pixels (2 at the GTEM's coarsest level)
    err = (whole[..., 48:80, 48:80] - part[..., 40:72, 40:72]).abs().max()
    assert (err < 1e-6) if not faithful else (err > 1e-3), err


@pytest.mark.slow
def test_declared_halo_covers_the_reach_of_lr_and_reference():
    """Float64, so that rounding does not pass for reach: a changed LR pixel, or the reference pixels above it,
    move no output pixel farther than ``halo`` LR pixels by more than 1e-6 of the largest change."""
    model = _voiced().double()
    halo = models.get_spec(model).halo
    n = 2 * halo + 8
    c = n // 2
    g = torch.Generator().manual_seed(3)
    lr = torch.rand(1, 3, n, n, generator=g, dtype=torch.float64)
    ref = torch.rand(1, 3, 4 * n, 4 * n, generator=g, dtype=torch.float64)
    lr2, ref2 = lr.clone(), ref.clone()
    lr2[..., c, c] += 0.25
    ref2[..., 4 * c : 4 * c + 4, 4 * c : 4 * c + 4] += 0.25
    with torch.inference_mode():
        y = model(lr, ref)
        for moved in (model(lr2, ref), model(lr, ref2)):
            diff = (moved - y).abs().amax((0, 1))
            far = diff.clone()
            lo, hi = 4 * (c - halo), 4 * (c + halo + 1)
            far[lo:hi, lo:hi] = 0  # outputs within the halo of the changed pixel may move
            assert diff.max() > 0 and far.max() <= 1e-6 * diff.max(), (diff.max(), far.max())


def test_options_of_the_authors_network_change_only_what_they_say():
    torch.manual_seed(0)
    full = RGTNet(16, 1, 4, grad_nf=8, gtem_nf=8, gtem_blocks=1, dense_reps=(1, 2), ram_hidden=8)
    lean = RGTNet(16, 1, 4, grad_nf=8, gtem_nf=8, gtem_blocks=1, dense_reps=(1, 2), ram_hidden=8, unused=False)
    missing, unexpected = lean.load_state_dict(full.state_dict(), strict=False)
    assert not missing and unexpected and all("offset_" in k or "DenseRes" in k or "tail." in k for k in unexpected)
    g = torch.Generator().manual_seed(4)
    args = [torch.rand(1, 3, 8, 8, generator=g)] + [torch.rand(1, 3, 32, 32, generator=g) for _ in range(3)]
    with torch.no_grad():
        assert torch.equal(full.eval()(*args), lean.eval()(*args))
    with pytest.raises(ModelError, match="unused=True"):
        lean.compute_discarded = True
    with pytest.raises(ModelError, match="multiple of groups"):
        RGTNet(16, 1, 8, grad_nf=6)
    tt = RGTNet(16, 2, 4, tt_blocks=(3, 2, 1), unused=False).texture_transfer
    assert [len(getattr(tt, f"body_{s}")) for s in ("small", "medium", "large")] == [3, 2, 1]


def test_stride_one_deconv_is_the_transposed_convolution():
    torch.manual_seed(0)
    for cin, cout, k in ((5, 7, 3), (12, 4, 1)):
        layer = _StrideOneDeconv(cin, cout, k, 1, k // 2).double()
        x = torch.rand(2, cin, 9, 11, dtype=torch.float64)
        expected = F.conv_transpose2d(x, layer.weight, layer.bias, padding=k // 2)
        assert torch.allclose(layer(x), expected, atol=1e-12)


def test_dcnv3_grid_sample_matches_torchvision_with_gradients():
    torch.manual_seed(0)
    dcn = DCNv3(16, 3, group=4).double()
    with torch.no_grad():  # offsets of a few pixels and uneven masks, as trained weights give
        dcn.offset.weight.normal_(0, 0.5)
        dcn.offset.bias.normal_(0, 2)
        dcn.mask.weight.normal_(0, 0.5)
    x = torch.rand(2, 7, 9, 16, dtype=torch.float64, requires_grad=True)
    fea = torch.rand(2, 7, 9, 16, dtype=torch.float64)
    outs, grads = [], []
    for impl in ("torchvision", "grid_sample"):
        set_dcn_impl(dcn, impl)
        y = dcn(x, fea)
        outs.append(y)
        grads.append(torch.autograd.grad(y.square().sum(), [x, *dcn.parameters()]))
    assert torch.allclose(outs[0], outs[1], atol=1e-12)
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(*grads))
    # the functional form takes the same switch
    off, mask = torch.randn(1, 5, 6, 4 * 18, dtype=torch.float64), torch.rand(1, 5, 6, 4, 9, dtype=torch.float64)
    v = torch.rand(1, 5, 6, 16, dtype=torch.float64)
    assert torch.allclose(dcnv3_core(v, off, mask, 4), dcnv3_core(v, off, mask, 4, impl="grid_sample"), atol=1e-12)


@pytest.mark.slow
def test_tiles_through_the_pipeline_equal_one_window(make_geotiff, shared_data):
    """``satsr.upscale`` with a reference: 16-pixel tiles (with the declared halo) give the one-window result."""
    import rasterio
    from affine import Affine

    import satsr

    with rasterio.open(shared_data / "geotiff" / "landsat8_rgb_30m_uint16.tif") as src:
        truth = src.read(window=((600, 728), (600, 728))).astype(np.float32)
    truth = (truth - truth.min()) / (truth.max() - truth.min())
    lr = truth.reshape(3, 32, 4, 32, 4).mean(axis=(2, 4))
    origin = Affine(30, 0, 500000, 0, -30, 4200000)
    lr_path = make_geotiff("lr.tif", lr, dtype="float32", transform=origin)
    ref_path = make_geotiff("ref.tif", truth, dtype="float32", transform=origin @ Affine.scale(0.25))
    model = _voiced()
    stack = satsr.open_stack(lr_path)
    opts = {"reference": ref_path, "blend": "crop", "precision": "fp32", "value_range": (0.0, 1.0)}
    one = satsr.upscale(stack, model, tile=32, **opts).values
    tiled = satsr.upscale(stack, model, tile=16, batch_size=1, **opts).values
    assert one.shape == tiled.shape == (1, 3, 128, 128) and np.abs(one - lr.repeat(4, 1).repeat(4, 2)).max() > 0.01
    assert np.abs(tiled - one).max() <= 1e-4


def test_dcnv3_grid_sample_samples_in_float32_under_autocast():
    """Half-precision sample positions would be off by up to a pixel: sampling runs in float32 (as torchvision)."""
    g = torch.Generator().manual_seed(6)
    v = torch.rand(1, 8, 256, 8, generator=g)  # 256 columns: bf16 normalised positions there step by a pixel
    off = torch.randn(1, 8, 256, 2 * 18, generator=g) * 3
    mask = torch.rand(1, 8, 256, 2, 9, generator=g)
    exact = dcnv3_core(v, off, mask, 2, impl="grid_sample")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = dcnv3_core(v.bfloat16(), off.bfloat16(), mask.bfloat16(), 2, impl="grid_sample")
    assert half.dtype == torch.float32
    # only the inputs' own rounding to bf16 remains (about 2**-8 of each value), not misplaced samples
    assert (half - exact).abs().max() < 0.1 and (half - exact).abs().mean() < 0.02
