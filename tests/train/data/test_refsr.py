"""RefSRTriplets: the Ref-SR folder layout, aligned crops, flips alike, MATLAB-bicubic derived inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from satsr.degrade import imresize
from satsr.errors import InputError
from satsr.models.rgtgan import derive_inputs
from satsr.train.data import RefSRTriplets


def test_refsr_triplets_crops_are_aligned_and_augmented_alike(shared_data):
    root = shared_data / "refsr" / "rrssrd" / "val_1st"
    whole = RefSRTriplets(root)
    assert len(whole) == 40 and whole.items[0]["ref"].endswith(".jpg") and "google_Ref" in whole.items[0]["ref"]
    full = whole.load(0)
    assert full["lr"].shape == (3, 120, 120) and full["ref_dux4"].shape == (3, 480, 480)
    crops = RefSRTriplets(root, crop=96, seed=3)
    s = crops[0]
    assert s["lr"].shape == (3, 24, 24) and all(s[k].shape == (3, 96, 96) for k in ("hr", "lr_ux4", "ref", "ref_dux4"))
    # find the LR crop in the whole LR; every HR-size image is cut at 4 times that place
    lr, want = full["lr"], s["lr"].numpy()
    hits = [(y, x) for y in range(97) for x in range(97) if np.array_equal(lr[:, y : y + 24, x : x + 24], want)]
    assert len(hits) == 1
    y, x = hits[0]
    for k in ("hr", "lr_ux4", "ref", "ref_dux4"):
        np.testing.assert_array_equal(s[k].numpy(), full[k][:, 4 * y : 4 * y + 96, 4 * x : 4 * x + 96])
    # flips and the transpose are the same for all five images
    aug = RefSRTriplets(root, crop=96, seed=3, augment=True)
    for i in range(6):
        a, b = aug[i], crops[i]
        for k in ("hr", "ref"):
            cands = [b[k], b[k].flip(-1), b[k].flip(-2), b[k].flip(-1).flip(-2)]
            cands += [c.transpose(-1, -2) for c in cands]
            match = [j for j, c in enumerate(cands) if torch.equal(c, a[k])]
            assert match, (i, k)
            if k == "hr":
                first = match
            else:
                assert set(match) & set(first)
    with pytest.raises(InputError, match="multiple of the scale"):
        RefSRTriplets(root, crop=90)


def test_refsr_derived_inputs_match_matlab_bicubic():
    rng = np.random.default_rng(0)
    lr = rng.random((1, 3, 12, 20), dtype=np.float32)
    ref = rng.random((1, 3, 48, 80), dtype=np.float32)
    ux, dux = derive_inputs(torch.from_numpy(lr).double(), torch.from_numpy(ref).double(), 4)
    np.testing.assert_allclose(ux.numpy(), imresize(lr.astype(np.float64), 4), atol=1e-12)
    np.testing.assert_allclose(dux.numpy(), imresize(imresize(ref.astype(np.float64), 0.25), 4), atol=1e-12)


def test_refsr_triplets_repeat_weighs_a_set_up_with_fresh_crops(shared_data):
    root = shared_data / "refsr" / "rrssrd" / "val_1st"
    once, thrice = RefSRTriplets(root, crop=96, seed=3), RefSRTriplets(root, crop=96, seed=3, repeat=3)
    assert len(thrice) == 3 * len(once) == 120
    first, again = thrice[0], thrice[40]  # the same triplet, counted a second time ...
    assert first["key"] == again["key"] == once[0]["key"]
    assert torch.equal(first["hr"], once[0]["hr"])
    assert not torch.equal(first["hr"], again["hr"])  # ... with its own crop
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InputError, match="repeat must be a whole number >= 1"):
            RefSRTriplets(root, repeat=bad)
