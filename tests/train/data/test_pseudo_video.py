"""PseudoVideo: clips made from stills, aligned LR and HR, arrays and files alike, errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.errors import NotGeoreferencedWarning

from satsr.degrade import imresize
from satsr.errors import InputError
from satsr.train.data import PseudoVideo
from satsr.train.pseudo import Motion


def _read(path: Path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            return src.read()


def test_pseudo_video_samples(stills):
    ds = PseudoVideo(stills, crop=64, samples_per_image=3, motion=Motion(movers=1), augment=True)
    assert len(ds) == 6 and ds[4]["key"] == f"{stills[1].stem}/1"
    for i in (0, 5):
        s = ds[i]
        assert s["lr"].shape == (5, 3, 16, 16) and s["hr"].shape == (3, 64, 64)
        assert 0 <= s["lr"].min() and s["lr"].max() <= 1
        down = np.clip(imresize(s["hr"].numpy(), 1 / 4), 0, 1)
        np.testing.assert_allclose(down[:, 2:-2, 2:-2], s["lr"][2, :, 2:-2, 2:-2].numpy(), atol=1e-5)
        assert (s["lr"][0] - s["lr"][2]).abs().max() > 0.01  # the frames differ: there is motion
    arr = _read(stills[0]).astype(np.float64) / 255
    from_array = PseudoVideo([arr], crop=64, seed=3)[0]
    from_path = PseudoVideo(stills[0], crop=64, seed=3)[0]
    assert torch.equal(from_array["lr"], from_path["lr"]) and from_array["key"] == "image0/0"
    with pytest.raises(InputError, match="smaller than crop"):
        PseudoVideo(stills, crop=512)
    with pytest.raises(InputError, match="crop is required"):
        PseudoVideo(stills, crop=None)


def test_space_time_samples_hold_every_frame_of_the_span(stills):
    """time_scale=2, 4 LR frames: a 7-frame clip, the LR of frames 0, 2, 4, 6 and all 7 HR frames (as VideoClips)."""
    from satsr.models.mstt import neighbour_flows

    ds = PseudoVideo(stills, crop=128, frames=4, time_scale=2, seed=1, flows={})
    assert (ds.frames, ds.span, ds.time_scale) == (4, 7, 2)
    s = ds[0]
    assert s["lr"].shape == (4, 3, 32, 32) and s["hr"].shape == (7, 3, 128, 128)
    for k in range(4):  # each LR frame is its key frame's HR, downscaled (no blur, no noise by default)
        down = np.clip(imresize(s["hr"][2 * k].numpy(), 1 / 4), 0, 1)
        np.testing.assert_allclose(down[:, 2:-2, 2:-2], s["lr"][k, :, 2:-2, 2:-2].numpy(), atol=1e-5)
    assert (s["hr"][1] - s["hr"][3]).abs().max() > 0.01  # the frames in between move too
    fwd, bwd = neighbour_flows(s["lr"].numpy())  # the flows the model would compute from these frames
    assert s["f_flow"].shape == (3, 32, 32, 2)
    np.testing.assert_allclose(s["f_flow"].numpy(), fwd, atol=1e-6)
    np.testing.assert_allclose(s["b_flow"].numpy(), bwd, atol=1e-6)
    # time_scale=1 is the spatial sample as before: the same draws, the still itself the target
    plain = PseudoVideo(stills, crop=64, seed=1)
    assert plain.span == plain.frames == 5 and plain[0]["hr"].shape == (3, 64, 64) and "f_flow" not in plain[0]
    with pytest.raises(InputError, match="time_scale must be a positive integer"):
        PseudoVideo(stills, crop=64, time_scale=0)
    with pytest.raises(InputError, match="needs frames >= 2"):
        PseudoVideo(stills, crop=64, frames=1, time_scale=2)
