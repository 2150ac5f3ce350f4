import pytest
import torch

from satsr.errors import InputError
from satsr.models.hat import HAT, relative_index_oca, relative_index_sa


def _shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_hat_matches_the_authors_keys(seed_keys):
    hat = HAT()
    for model in ("LGTD_model_final", "MTDO"):
        assert _shapes(hat) == seed_keys(model, "hat")
    assert sum(p.numel() for p in hat.parameters()) == 20_871_327  # SPEC 1.4


def test_relative_indices():
    sa = relative_index_sa(16)
    assert sa.shape == (256, 256) and sa.min() == 0 and sa.max() == 960
    assert (sa.diagonal() == 15 * 31 + 15).all()  # zero offset sits in the middle of the table
    oca = relative_index_oca(16, 24)
    assert oca.shape == (256, 576) and oca.max() < 39 * 39
    assert oca.min() < 0  # the authors' shift leaves negative indices that wrap around the table


def test_small_hat_forward_and_size_check():
    torch.manual_seed(0)
    hat = HAT(in_chans=8, embed_dim=24, depths=(2,), num_heads=(3,), window_size=8, squeeze_factor=6,
              upscale=2, num_feat=8).eval()
    x = torch.rand(1, 8, 16, 24)
    with torch.no_grad():
        y = hat(x)
    assert y.shape == (1, 3, 32, 48) and torch.isfinite(y).all()
    with pytest.raises(InputError, match="multiple of the window size"):
        hat(torch.rand(1, 8, 12, 16))


def test_matches_the_authors_hat_on_a_committed_vector():
    """Reproduces the output of the authors' HAT class (reduced config) within 1e-5; see tests/data/README.md."""
    import json
    from pathlib import Path

    import numpy as np

    data = np.load(Path(__file__).parents[1] / "data" / "hat_official_small.npz")
    hat = HAT(**json.loads(str(data["config"]))).eval()
    with torch.no_grad():
        for i, (name, p) in enumerate(sorted(hat.state_dict().items())):
            if name.startswith("relative_position_index"):
                continue
            vals = 0.1 * np.sin(np.arange(p.numel()) * 0.7 + i * 1.3)
            p.copy_(torch.from_numpy(vals.reshape(p.shape)).to(p.dtype))
        x = torch.from_numpy(np.cos(np.arange(8 * 16 * 24) * 0.37).reshape(1, 8, 16, 24).astype(np.float32))
        y = hat(x).numpy()
    assert np.abs(y - data["expected"]).max() <= 1e-5
