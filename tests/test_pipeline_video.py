"""The video models through the spine: a real 7-frame Jilin-1 clip, georeferenced, upscaled by LGTD on the CPU.

The Jilin-1 frames carry no georeferencing; the UTM grid given here (EPSG:32650, 3.68 m LR pixels, i.e. the
0.92 m of Jilin-1 video after x4) is illustrative only.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from affine import Affine

import satsr
from satsr import models
from satsr.errors import InputError
from satsr.testing import JILIN1_CRS, JILIN1_TRANSFORM

LR_GRID = JILIN1_TRANSFORM


@pytest.fixture(scope="module")
def clip(shared_data):
    """All 7 LR frames (uint8 RGB), a 32 x 48 crop whose size is not a multiple of 16."""
    frames = sorted((shared_data / "jilin1_airport" / "LR4x").glob("*.png"))
    assert len(frames) == 7
    stack = satsr.open_stack(frames, crs=JILIN1_CRS, transform=LR_GRID)
    return stack.isel(y=slice(60, 92), x=slice(50, 98))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Random LGTD weights (the authors' initialisation), saved as a user would hold a checkpoint."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "lgtd_random.safetensors"
    models.save(models.create("lgtd", pretrained=False), path)
    return path


@pytest.mark.slow
def test_lgtd_slides_over_a_georeferenced_clip(clip, weights):
    sr = satsr.upscale(clip, model="lgtd", pretrained=weights, device="cpu", halo=0, blend="crop",
                       precision="fp32")  # compared with the bare model's fp32 forward below
    assert sr.dims == ("time", "band", "y", "x") and sr.shape == (7, 3, 128, 192) and sr.dtype == np.uint8
    assert sr.rio.crs.to_epsg() == 32650
    lr_origin = LR_GRID @ Affine.translation(50, 60)
    assert sr.rio.transform() == lr_origin @ Affine.scale(1 / 4)
    assert sr.rio.bounds() == clip.rio.bounds()
    np.testing.assert_array_equal(sr.time.values, clip.time.values)
    out = sr.values
    np.testing.assert_array_equal(out, satsr.upscale(clip, model="lgtd", pretrained=weights, device="cpu",
                                                    halo=0, blend="crop", precision="fp32").values)  # deterministic

    # The 5-frame window slides over time and is clamped at the ends: frame 0 sees frames [0, 0, 0, 1, 2].
    model = models.create("lgtd", pretrained=weights)
    lr = clip.values.astype(np.float32) / 255
    for t, window in ((0, [0, 0, 0, 1, 2]), (4, [2, 3, 4, 5, 6])):
        x = torch.from_numpy(lr[window])[None]  # 32 x 48 is already a multiple of 16
        with torch.inference_mode():
            ref = model(x)[0].clamp(0, 1).mul(255).round().numpy().astype(np.uint8)
        assert np.abs(out[t].astype(int) - ref.astype(int)).max() <= 1


def test_other_band_counts_are_refused_with_a_way_out(shared_data):
    stack = satsr.open_stack(shared_data / "geotiff" / "rgbn_5m_uint8.tif").isel(y=slice(0, 16), x=slice(0, 16))
    with pytest.raises(InputError, match=r"lgtd takes 3 bands, the stack has 4; choose them with bands="):
        satsr.upscale(stack, model="lgtd", pretrained=False)
    sr = satsr.upscale(stack, model="lgtd", bands=[3, 2, 1], pretrained=False)
    assert sr.shape == (1, 3, 64, 64)
