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
