import numpy as np
import pytest
import torch

from satsr.errors import InputError
from satsr.models.lgtd import LGTD, TDML


@pytest.fixture(scope="module")
def lgtd():
    return LGTD(5).eval()


def test_state_dict_matches_the_authors_key_list(lgtd, seed_keys):
    assert {k: tuple(v.shape) for k, v in lgtd.state_dict().items()} == seed_keys("LGTD_model_final")
    assert sum(p.numel() for p in lgtd.parameters()) == 24_400_399


@pytest.mark.slow
def test_reproduces_the_authors_network(lgtd, vectors):
    """Same output as the authors' myNet (formula weights, 5 frames of 32 x 32); see tests/data/README.md."""
    vectors.fill(lgtd, 0.5)
    with torch.no_grad():
        y = lgtd(vectors.frames(32, 32)).numpy()
    assert y.shape == (1, 3, 128, 128)
    assert np.abs(y - np.load(vectors.data / "lgtd_official_formula.npz")["expected"]).max() <= 1e-5


@pytest.mark.parametrize("faithful", [True, False])
def test_long_term_module_quirk(faithful, vectors):
    """faithful=True reproduces the authors' zero forward/backward difference; False is measurably different."""
    m = TDML(5, faithful=faithful).eval()
    vectors.fill(m, 1.0)
    feats = [vectors.tensor((1, 64, 8, 8), f) for f in range(5)]
    with torch.no_grad():
        y = m(feats).numpy()
    err = np.abs(y - np.load(vectors.data / "lgtd_tdml_official_formula.npz")["expected"]).max()
    assert err <= 1e-5 if faithful else err > 1e-2


def test_input_checks(lgtd):
    with pytest.raises(InputError, match="takes 5 frames"):
        lgtd(torch.rand(1, 3, 3, 32, 32))
    with pytest.raises(InputError, match="multiple of 16"):
        lgtd(torch.rand(1, 5, 3, 24, 32))


def test_lgtd_arc_keys_and_authors_output(seed_keys, vectors):
    """The repo's LGTD_arc class: key list, parameter count, and the authors' output on a 20 x 28 input."""
    from satsr.models.lgtd import LGTDArc

    arc = LGTDArc(5).eval()
    assert {k: tuple(v.shape) for k, v in arc.state_dict().items()} == seed_keys("LGTD_arc")
    assert sum(p.numel() for p in arc.parameters()) == 27_749_171
    vectors.fill(arc, 0.5)
    with torch.no_grad():
        y = arc(vectors.frames(20, 28)).numpy()
    assert np.abs(y - np.load(vectors.data / "lgtd_arc_official_formula.npz")["expected"]).max() <= 1e-5
