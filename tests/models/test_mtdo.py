import numpy as np
import pytest
import torch

from satsr.errors import InputError
from satsr.models.mtdo import CTDM, MTDO, TDROM


@pytest.fixture(scope="module")
def mtdo():
    return MTDO(5).eval()


def test_state_dict_matches_the_authors_key_list(mtdo, seed_keys):
    assert {k: tuple(v.shape) for k, v in mtdo.state_dict().items()} == seed_keys("MTDO")
    assert sum(p.numel() for p in mtdo.parameters()) == 25_995_674


@pytest.mark.slow
def test_reproduces_the_authors_network(mtdo, vectors):
    """Same output as the authors' MTDO myNet (formula weights, 5 frames of 32 x 32); see tests/data/README.md."""
    vectors.fill(mtdo, 0.5)
    with torch.no_grad():
        y = mtdo(vectors.frames(32, 32)).numpy()
    assert np.abs(y - np.load(vectors.data / "mtdo_official_formula.npz")["expected"]).max() <= 1e-5


@pytest.mark.parametrize("faithful", [True, False])
def test_cross_difference_quirk(faithful, vectors):
    """faithful=True: zero C-TDM differences and reversed route-3 features, as the authors' code computes."""
    c, r = CTDM(5, faithful=faithful).eval(), TDROM(5).eval()
    vectors.fill(c, 1.0)
    vectors.fill(r, 1.0)
    feats = [vectors.tensor((1, 64, 8, 8), f) for f in range(5)]
    with torch.no_grad():
        cf, cb = c(feats)
        route3 = torch.cat(feats[::-1] if faithful else feats, dim=1)
        t = vectors.tensor
        r12, r3 = r(t((1, 3, 8, 8), 7), t((1, 64, 8, 8), 8), t((1, 64, 8, 8), 9), cf, cb, route3)
    want = np.load(vectors.data / "mtdo_routes_official_formula.npz")
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
