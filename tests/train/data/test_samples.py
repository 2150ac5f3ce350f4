"""What every data set shares: per-call generators, epochs, DataLoader workers."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from satsr.train.data import Degradation, Jilin189, PseudoVideo


def test_determinism_and_epochs(stills):
    def sample(ds, i):
        s = ds[i]
        return torch.cat([s["lr"].flatten(), s["hr"].flatten()])

    opts = {"crop": 64, "seed": 9, "degradation": Degradation(noise_sigma=0.01)}
    a, b = PseudoVideo(stills, **opts), PseudoVideo(stills, **opts)
    first = sample(a, 1)
    assert torch.equal(first, sample(b, 1))  # a fresh data set, one seed: the same sample
    assert not torch.equal(first, sample(a, 1))  # a second call draws anew
    assert not torch.equal(first, sample(PseudoVideo(stills, **{**opts, "seed": 10}), 1))
    a.set_epoch(1)
    b.set_epoch(1)
    assert torch.equal(sample(a, 1), sample(b, 1)) and not torch.equal(sample(a, 0), first)
    a.set_epoch(0)
    assert torch.equal(sample(a, 1), first)


def test_dataloader_batches(shared_data, stills):
    ds = Jilin189(shared_data, crop=64, augment=True)
    batch = next(iter(DataLoader(ds, batch_size=2, shuffle=False)))
    assert batch["lr"].shape == (2, 5, 3, 16, 16) and batch["hr"].shape == (2, 3, 64, 64)
    assert batch["key"] == ["jilin1_airport/00000000", "jilin1_airport/00000001"]
    pseudo = PseudoVideo(stills, crop=32, samples_per_image=2, frames=3, seed=2)
    serial = [b["lr"] for b in DataLoader(pseudo, batch_size=2)]
    fresh = PseudoVideo(stills, crop=32, samples_per_image=2, frames=3, seed=2)
    parallel = [b["lr"] for b in DataLoader(fresh, batch_size=2, num_workers=2)]
    assert all(torch.equal(x, y) for x, y in zip(serial, parallel, strict=True))
