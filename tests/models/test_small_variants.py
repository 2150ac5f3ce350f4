"""satsr's light MTDO and LGFN (``mtdo-s``, ``lgfn-s``, issue 16): spec, size, bicubic start, tiling, training.

They keep their architecture's mechanism at reduced width and depth, start as exactly bicubic (a zero last
convolution over a bicubic skip of the centre frame), and are tile-exact. Until their weights ship, ``create``
asks for them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import satsr
from satsr import models
from satsr.models.ops import DCNSep, zero_dcn_offsets
from satsr.testing import JILIN1_CRS, JILIN1_TRANSFORM

CONFIGS = Path(satsr.__file__).parent / "train" / "configs"
#: name: (frames, multiple_of, halo, parameters, the builder's last convolution)
SMALL = {
    "mtdo-s": (5, 4, 40, 1_382_460, "conv_last"),
    "lgfn-s": (7, 1, 24, 656_631, "tail.1"),
}


def _last(model: torch.nn.Module, name: str) -> torch.nn.Conv2d:
    conv = model.get_submodule(name)
    assert isinstance(conv, torch.nn.Conv2d)
    return conv


@pytest.mark.parametrize("name", SMALL)
def test_registered_spec(name):
    frames, mult, halo, n, _ = SMALL[name]
    spec = models.get_spec(name)
    assert (spec.scale, spec.frames_in, spec.bands, spec.multiple_of, spec.halo) == (4, frames, 3, mult, halo)
    assert spec.feather == 0 and spec.time_padding == "clamp"  # tile-exact: cropped tiles, no feathering
    assert spec.family == name.split("-")[0] and spec.bytes_per_pixel > 0
    assert spec.description.endswith(f", {n / 1e6:.2f} M")
    assert [w.file for w in spec.weights] == [f"{name}.safetensors"]  # shipped (satsr/weights/<name>.md)


@pytest.mark.parametrize("name", SMALL)
def test_shipped_weights_load_by_default(name):
    """Trained weights by default; the bicubic start (zero last convolution) only with ``pretrained=False``."""
    trained, start = models.create(name), models.create(name, pretrained=False)
    last = [k for k, v in start.state_dict().items() if k.endswith("weight") and not v.any()]
    assert last and all(trained.state_dict()[k].any() for k in last)


@pytest.mark.parametrize("name", SMALL)
def test_size_and_mechanism(name):
    frames, _, _, n, last = SMALL[name]
    model = models.create(name, pretrained=False)
    count = sum(p.numel() for p in model.parameters())
    assert count == n and 500_000 <= count <= 1_500_000
    assert any(isinstance(m, DCNSep) for m in model.modules())  # deformable alignment kept
    if name == "mtdo-s":  # multi-temporal differences (adjacent, skipped, cross) and the dynamic optimisation
        assert {"A_tdm", "S_tdm", "C_tdm", "T_drom"} <= {k for k, _ in model.named_children()}
        assert not model.faithful and not hasattr(model, "hat")
    else:  # local and global fusion, no global pooling
        assert len(model.dual_fusion.lc_fusion_blocks) == len(model.dual_fusion.gl_fusion_blocks) == 2
        assert not any(type(m).__name__ == "_CALayer" for m in model.modules())
    assert not _last(model, last).weight.any() and not _last(model, last).bias.any()


@pytest.mark.parametrize("name", SMALL)
def test_untrained_is_bicubic_of_the_centre_frame(name):
    frames = SMALL[name][0]
    torch.manual_seed(0)
    model = models.create(name, pretrained=False).eval()
    x = torch.rand(2, frames, 3, 12, 16)
    with torch.inference_mode():
        y = model(x)
    bicubic = F.interpolate(x[:, frames // 2], scale_factor=4, mode="bicubic", align_corners=False)
    assert y.shape == (2, 3, 48, 64)
    torch.testing.assert_close(y, bicubic, rtol=0, atol=1e-6)


def tile_exact(name: str) -> torch.nn.Module:
    """Random weights with a voice: the last conv re-drawn and scaled to outputs of order one, DCN offsets at rest.

    ``mtdo-s`` keeps MTDO's Kaiming re-initialisation, whose random offsets sample pixels anywhere; trained
    offsets are local, and at rest (DCNv2's own initialisation, ``lgfn-s``'s) the network is translation-equivariant.
    """
    frames, _, _, _, last = SMALL[name]
    torch.manual_seed(0)
    model = zero_dcn_offsets(models.create(name, pretrained=False))
    conv = _last(model, last)
    torch.nn.init.kaiming_normal_(conv.weight)
    with torch.inference_mode():
        peak = (model(torch.rand(1, frames, 3, 32, 32)) - 0).abs().max()
        conv.weight /= peak
    return model


@pytest.fixture(scope="module")
def jilin(shared_data):
    """The seven real Jilin-1 LR frames, 32 x 32 crop, float32 in [0, 1], with an illustrative UTM grid."""
    stack = satsr.open_stack(
        sorted((shared_data / "jilin1_airport" / "LR4x").glob("*.png")),
        crs=JILIN1_CRS, transform=JILIN1_TRANSFORM,
    )
    return stack.isel(y=slice(40, 72), x=slice(32, 64)).astype("float32") / 255


@pytest.mark.parametrize("name", [pytest.param("mtdo-s", marks=pytest.mark.slow), "lgfn-s"])  # mtdo-s: ~10 s CPU
def test_tiled_equals_whole_image(name, jilin):
    """Four tiles of 16 px with the declared halo give the whole image's output (fp32), at the clip's start."""
    model = tile_exact(name)
    frames = [0]  # its window repeats the first frame (time_padding="clamp"), tiles and whole alike
    kw = {"blend": "crop", "precision": "fp32", "compile": False}
    tiled = satsr.upscale(jilin, model, tile=16, batch_size=1, **kw).isel(time=frames).values
    whole = satsr.upscale(jilin, model, tile=32, **kw).isel(time=frames).values
    assert tiled.shape == whole.shape == (1, 3, 128, 128)
    assert np.abs(whole).max() > 0.1
    bicubic = satsr.upscale(jilin, "bicubic", precision="fp32").isel(time=frames).values
    assert np.abs(whole - bicubic).max() > 0.05  # the network speaks, not only its bicubic skip
    assert np.abs(tiled - whole).max() <= 1e-4


@pytest.mark.parametrize("name", SMALL)
def test_one_training_step_of_the_shipped_config(name, shared_data, tmp_path):
    """The training config, on real satellite video: held-in frames only, from scratch, a finite loss."""
    from satsr.train.loop import load_config, train

    cfg = load_config(CONFIGS / f"{name}-video.yaml", data_root=str(shared_data), out=str(tmp_path / "run"),
                      device="cpu")
    (data,) = cfg.data
    assert cfg.model == name and cfg.frames == SMALL[name][0] and cfg.init is None
    assert data["split"] == "train" and data["holdout"] == 0.2 and cfg.val["split"] == "val"
    assert "jilin" not in str(cfg.to_dict()).lower()  # the Jilin-1 clip is the test
    cfg = replace(cfg, data=[{**data, "crop": 64, "cache_mb": 64}], val=None, steps=1, batch_size=2, warmup=0)
    result = train(cfg, progress=False)
    assert result["step"] == 1 and np.isfinite(result["loss"])
    assert _last(result["model"], SMALL[name][4]).weight.any()  # the zero last conv moved off bicubic
