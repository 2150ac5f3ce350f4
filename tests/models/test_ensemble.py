"""Geometric self-ensemble (:class:`satsr.models.SelfEnsemble`): the transforms, the mean, and its use by upscale."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from affine import Affine
from torch import nn

import satsr
from satsr import models
from satsr.errors import ModelError
from satsr.geo import Grid
from satsr.io.coords import assign_grid
from satsr.models.ensemble import TRANSFORMS, SelfEnsemble, dihedral, undo_dihedral


def _net(scale: int = 2, seed: int = 0) -> nn.Module:
    """A random conv net: not equivariant to flips or transposes, receptive-field radius 2 (LR pixels)."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3 * scale * scale, 3, padding=1),
                        nn.PixelShuffle(scale))
    return models.wrap(net, scale=scale, halo=2, bands=3)


def _stack(img: np.ndarray) -> xr.DataArray:
    da = xr.DataArray(img[None], dims=("time", "band", "y", "x"), coords={"time": [0], "band": [1, 2, 3]})
    return assign_grid(da, Grid(img.shape[1:], Affine(10, 0, 1000, 0, -10, 5000), "EPSG:32633"))


def test_the_eight_transforms_are_distinct_and_undone():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    seen = {tuple(dihedral(x, t).flatten().tolist()) for t in TRANSFORMS}
    assert len(TRANSFORMS) == 8 and len(seen) == 8 and TRANSFORMS[0] == (False, False, False)
    for t in TRANSFORMS:
        assert torch.equal(undo_dihedral(dihedral(x, t), t), x)
    # a transpose swaps the last two axes only (frames and bands stay where they are)
    assert dihedral(x[None], (True, False, False)).shape == (1, 2, 3, 5, 4)


def test_ensemble_is_the_mean_of_the_eight_outputs_and_differs_from_one():
    net = _net()
    se = SelfEnsemble(net)
    x = torch.rand(2, 3, 9, 11)
    with torch.no_grad():
        got = se(x)
        want = torch.stack([undo_dihedral(net(dihedral(x, t)), t) for t in TRANSFORMS]).mean(0)
        plain = net(x)
    assert got.shape == plain.shape == (2, 3, 18, 22) and got.dtype == torch.float32
    assert torch.allclose(got, want, atol=1e-6)
    assert (got - plain).abs().max() > 1e-3  # the random net is not equivariant: the ensemble is another output
    # ... and the ensemble is: a flipped / transposed input gives the flipped / transposed output
    for t in TRANSFORMS:
        with torch.no_grad():
            assert torch.allclose(se(dihedral(x, t)), dihedral(got, t), atol=1e-5)
    assert se.spec is net.spec


def test_an_equivariant_model_is_unchanged():
    # bicubic (align_corners=False) commutes with flips and transposes: its ensemble is itself
    bic = models.create("bicubic", scale=4)
    x = torch.rand(1, 3, 8, 13)
    with torch.no_grad():
        assert torch.allclose(SelfEnsemble(bic)(x), bic(x), atol=1e-6)


def test_every_input_gets_the_same_transform():
    class Pair(nn.Module):  # output = lr upsampled + the reference: a misaligned reference would show
        def forward(self, lr: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.interpolate(lr, scale_factor=2) * 0 + ref + lr.mean()

    pair = models.wrap(Pair(), scale=2, bands=3, needs_reference=True)
    lr, ref = torch.rand(1, 3, 4, 6), torch.rand(1, 3, 8, 12)
    with torch.no_grad():
        assert torch.allclose(SelfEnsemble(pair)(lr, ref), ref + lr.mean(), atol=1e-6)


def test_errors():
    with pytest.raises(ModelError, match="spec"):
        SelfEnsemble(nn.Conv2d(3, 3, 1))
    with pytest.raises(ModelError, match="already"):
        SelfEnsemble(SelfEnsemble(_net()))
    img = np.random.default_rng(0).random((3, 12, 12), dtype=np.float32)
    with pytest.raises(ModelError, match="self_ensemble"):
        satsr.upscale(_stack(img), "bicubic", device="cpu", self_ensemble="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("tile, batch", [(8, 1), (13, 3)])
def test_upscale_with_a_self_ensemble_is_tiled_exactly(tile, batch):
    net = _net()
    img = np.random.default_rng(3).random((3, 29, 35), dtype=np.float32)
    sr = satsr.upscale(_stack(img), net, tile=tile, batch_size=batch, device="cpu", precision="fp32",
                       self_ensemble=True)
    assert sr.attrs["satsr_self_ensemble"] == 8
    whole = satsr.upscale(_stack(img), SelfEnsemble(net), tile=64, device="cpu", precision="fp32")
    plain = satsr.upscale(_stack(img), net, tile=64, device="cpu", precision="fp32")
    assert "satsr_self_ensemble" not in plain.attrs
    assert np.abs(sr.values - whole.values).max() <= 1e-5  # seamless: tiles as the whole image
    assert np.abs(sr.values - plain.values).max() > 1e-3  # and not the plain model's output


def test_registered_model_and_its_ensemble_are_two_runners():
    from satsr.engine import make_runner

    plain = make_runner("bicubic", 4, None, torch.device("cpu"), None)
    se = make_runner("bicubic", 4, None, torch.device("cpu"), None, self_ensemble=True)
    assert plain is not se and isinstance(se.model, SelfEnsemble) and not isinstance(plain.model, SelfEnsemble)
    assert make_runner("bicubic", 4, None, torch.device("cpu"), None, self_ensemble=True) is se  # cached
