import functools

import numpy as np
import pytest
import torch
from torch import nn

from satsr import models
from satsr.errors import ModelError, RegistryError, UnknownModelError


def test_list_and_spec():
    assert {"nearest", "bilinear", "bicubic"} <= set(models.list_models())
    assert models.list_models("bi*") == ["bicubic", "bilinear"]
    spec = models.get_spec("bicubic")
    assert spec.halo == 2 and spec.frames_in == 1 and spec.bands is None and 4 in spec.scales


def test_unknown_and_typos():
    with pytest.raises(UnknownModelError, match="did you mean bilinear"):
        models.create("bilinar")
    with pytest.raises(ModelError, match="unknown argument 'scael'"):
        models.create("bicubic", scael=2)
    with pytest.raises(ModelError, match="scale 0 is not supported"):
        models.create("nearest", scale=0)
    with pytest.raises(UnknownModelError, match="has no satsr spec"):
        models.get_spec(nn.Identity())


def test_duplicate_registration():
    with pytest.raises(RegistryError, match="already registered"):
        models.register("bicubic", scale=4)(lambda: nn.Identity())


def test_wrap_attaches_spec():
    net = models.wrap(nn.Conv2d(3, 3, 1), scale=1, halo=0, name="mine")
    assert models.get_spec(net).name == "mine" and not net.training
    with pytest.raises(ModelError, match="expects a torch.nn.Module"):
        models.wrap(lambda x: x, scale=2)


@pytest.mark.parametrize("name", models.list_models())
def test_zoo(name):
    """Every registered model: shape, scale, no NaN, deterministic; a small halo is checked here too.

    The large halos of the video models are measured in their own test modules (``test_lgtd``, ``test_mtdo``).
    """
    model = models.create(name, pretrained=None if models.get_spec(name).weights else False)  # random but lgtd-s
    spec = model.spec
    bands = spec.bands or 3
    n = 32 if 32 % spec.multiple_of == 0 else spec.multiple_of  # MSTT: 80
    assert n % spec.multiple_of == 0
    g = torch.Generator().manual_seed(0)
    shape = (1, spec.frames_in, bands, n, n) if spec.frames_in > 1 else (1, bands, n, n)
    x = torch.rand(shape, generator=g)
    if spec.needs_reference:  # a reference-based model also takes a sharper image on the output grid
        ref = torch.rand((1, bands, n * spec.scale, n * spec.scale), generator=g)
        model = functools.partial(model, ref=ref)
    with torch.inference_mode():
        y = model(x)
        frames = (spec.frames_out,) if spec.time_scale > 1 else ()  # a space-time model returns its frames
        assert y.shape == (1, *frames, bands, n * spec.scale, n * spec.scale)
        assert torch.isfinite(y).all() and torch.equal(y, model(x))
        h, s, c = spec.halo, spec.scale, n // 2
        if h >= c - 1:
            return
        # halo claim: changing pixels farther than `halo` from a region leaves the region's output unchanged
        x2 = x.clone()
        x2[..., : c - h - 1, :] = torch.rand(x2[..., : c - h - 1, :].shape, generator=g)
        y2 = model(x2)
    np.testing.assert_allclose(y[..., c * s :, :].numpy(), y2[..., c * s :, :].numpy(), atol=1e-6)


def test_video_model_specs():
    """The metadata the pipeline relies on: 5 RGB frames in, x4, input-size rule, measured halo."""
    for name, mult in (("lgtd", 16), ("lgtd-arc", 4), ("mtdo", 16), ("lgtd-s", 4)):
        spec = models.get_spec(name)
        assert (spec.frames_in, spec.scale, spec.bands, spec.multiple_of) == (5, 4, 3, mult)
        assert spec.halo % mult == 0
        # the authors' configurations cannot tile exactly (align_corners=True): they feather; ours is exact
        assert (spec.feather > 0) == (name != "lgtd-s")


def test_shipped_weights_switches():
    with pytest.raises(ModelError, match="ships no weights"):
        models.create("bicubic", pretrained=True)
    assert models.registry.bundled_weights(models.get_spec("bicubic")) is None
    torch.manual_seed(0)
    a = models.create("lgtd-s", pretrained=False)
    torch.manual_seed(0)
    b = models.create("lgtd-s", pretrained=False, faithful=False)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
