from pathlib import Path

import numpy as np
import pytest
import torch

from satsr.errors import InputError
from satsr.models.mtdo import CTDM, MTDO, TDROM

DATA = Path(__file__).parents[1] / "data"


def _fill(model, amp):
    """Formula weights shared with the scratch generator (tests/data/README.md)."""
    with torch.no_grad():
        for i, (name, p) in enumerate(sorted(model.state_dict().items())):
            if "relative_position_index" in name:
                continue
            fan = p[0].numel() if p.dim() > 1 else 1
            vals = np.sin(np.arange(p.numel()) * 0.7 + i * 1.3) * (amp / np.sqrt(fan) if p.dim() > 1 else 0.05)
            if name.endswith("act.weight"):
                vals = np.full(p.numel(), 0.25)
            if name.endswith(("norm.weight", "norm1.weight", "norm2.weight")):
                vals = 1 + 0.05 * np.sin(np.arange(p.numel()))
            p.copy_(torch.from_numpy(vals.reshape(p.shape)).to(p.dtype))


def _t(shape, k):
    vals = np.cos(np.arange(int(np.prod(shape))) * (0.37 + 0.11 * k))
    return torch.from_numpy(vals.reshape(shape).astype(np.float32))


@pytest.fixture(scope="module")
def mtdo():
    return MTDO(5).eval()


def test_state_dict_matches_the_authors_key_list(mtdo, seed_keys):
    assert {k: tuple(v.shape) for k, v in mtdo.state_dict().items()} == seed_keys("MTDO")
    assert sum(p.numel() for p in mtdo.parameters()) == 25_995_674


@pytest.mark.slow
def test_reproduces_the_authors_network(mtdo):
    """Same output as the authors' MTDO myNet (formula weights, 5 frames of 32 x 32); see tests/data/README.md."""
    _fill(mtdo, 0.5)
    x = torch.from_numpy(np.cos(np.arange(5 * 3 * 32 * 32) * 0.37).reshape(1, 5, 3, 32, 32).astype(np.float32))
    with torch.no_grad():
        y = mtdo(x * 0.5 + 0.5).numpy()
    assert np.abs(y - np.load(DATA / "mtdo_official_formula.npz")["expected"]).max() <= 1e-5


@pytest.mark.parametrize("faithful", [True, False])
def test_cross_difference_quirk(faithful):
    """faithful=True: zero C-TDM differences and reversed route-3 features, as the authors' code computes."""
    c, r = CTDM(5, faithful=faithful).eval(), TDROM(5).eval()
    _fill(c, 1.0)
    _fill(r, 1.0)
    feats = [_t((1, 64, 8, 8), f) for f in range(5)]
    with torch.no_grad():
        cf, cb = c(feats)
        route3 = torch.cat(feats[::-1] if faithful else feats, dim=1)
        r12, r3 = r(_t((1, 3, 8, 8), 7), _t((1, 64, 8, 8), 8), _t((1, 64, 8, 8), 9), cf, cb, route3)
    want = np.load(DATA / "mtdo_routes_official_formula.npz")
    assert np.abs(r12.numpy() - want["r12"]).max() <= 1e-5  # routes 1-2 do not depend on the quirk
    err = np.abs(r3.numpy() - want["r3"]).max()
    if faithful:
        assert err <= 1e-5 and cf.abs().max() == 0 and cb.abs().max() == 0
    else:
        assert err > 1e-2


def test_input_checks(mtdo):
    with pytest.raises(InputError, match="built for 5 frames"):
        MTDO(7)
    with pytest.raises(InputError, match="multiple of 16"):
        mtdo(torch.rand(1, 5, 3, 20, 32))
