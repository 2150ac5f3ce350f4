"""Grouped data set settings: checked and normalised, and built from a config entry's flat keys."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from satsr.errors import InputError
from satsr.train.data import Degradation, PseudoVideo
from satsr.train.loop import build_dataset
from satsr.train.pseudo import Motion


def test_degradation_is_checked_normalised_and_drawn():
    d = Degradation(blur_sigma=[0.0, 0.6], noise_sigma=0.01)  # a YAML list becomes a tuple
    assert d.blur_sigma == (0.0, 0.6) and d.noise_sigma == 0.01 and d.max_blur == 0.6 and hash(d)
    blur, noise = d.draw(np.random.default_rng(0))
    assert 0.0 <= blur <= 0.6 and noise == 0.01
    assert Degradation().draw(np.random.default_rng(0)) == (0.0, 0.0)
    with pytest.raises(InputError, match="blur_sigma must be >= 0"):
        Degradation(blur_sigma=-1)
    with pytest.raises(InputError, match="noise_sigma must be >= 0 or a \\(low, high\\) range"):
        Degradation(noise_sigma=(0.0, 0.1, 0.2))
    assert Motion(drift=0.5).drift == (0.5, 0.5)
    with pytest.raises(InputError, match=">= 0"):
        Motion(jitter=-1)


def test_flat_config_keys_become_groups(stills):
    spec = {"type": "pseudo_video", "images": [str(p) for p in stills], "crop": 32, "drift": [0.4, 0.4],
            "movers": 2, "noise_sigma": 0.01}
    ds = build_dataset(spec, scale=4, frames=3, seed=5)
    assert ds.motion == Motion(drift=(0.4, 0.4), movers=2) and ds.degradation == Degradation(noise_sigma=0.01)
    same = PseudoVideo(stills, crop=32, frames=3, seed=5, motion=Motion(drift=(0.4, 0.4), movers=2),
                       degradation=Degradation(noise_sigma=0.01))
    assert torch.equal(ds[1]["lr"], same[1]["lr"])
    with pytest.raises(InputError, match="give motion or jitter, not both"):
        PseudoVideo.from_options(stills, crop=32, motion=Motion(), jitter=0.1)
    with pytest.raises(InputError, match="dataset pseudo_video: .*unexpected keyword"):
        build_dataset({**spec, "wobble": 1}, scale=4, frames=3, seed=5)
