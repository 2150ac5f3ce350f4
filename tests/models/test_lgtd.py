from pathlib import Path

import numpy as np
import pytest
import torch

from satsr.errors import InputError
from satsr.models.lgtd import LGTD, TDML

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


@pytest.fixture(scope="module")
def lgtd():
    return LGTD(5).eval()


def test_state_dict_matches_the_authors_key_list(lgtd, seed_keys):
    assert {k: tuple(v.shape) for k, v in lgtd.state_dict().items()} == seed_keys("LGTD_model_final")
    assert sum(p.numel() for p in lgtd.parameters()) == 24_400_399


@pytest.mark.slow
def test_reproduces_the_authors_network(lgtd):
    """Same output as the authors' myNet (formula weights, 5 frames of 32 x 32); see tests/data/README.md."""
    _fill(lgtd, 0.5)
    x = torch.from_numpy(np.cos(np.arange(5 * 3 * 32 * 32) * 0.37).reshape(1, 5, 3, 32, 32).astype(np.float32))
    with torch.no_grad():
        y = lgtd(x * 0.5 + 0.5).numpy()
    assert y.shape == (1, 3, 128, 128)
    assert np.abs(y - np.load(DATA / "lgtd_official_formula.npz")["expected"]).max() <= 1e-5


@pytest.mark.parametrize("faithful", [True, False])
def test_long_term_module_quirk(faithful):
    """faithful=True reproduces the authors' zero forward/backward difference; False is measurably different."""
    m = TDML(5, faithful=faithful).eval()
    _fill(m, 1.0)
    feats = [torch.from_numpy(np.cos(np.arange(64 * 8 * 8) * (0.37 + 0.11 * f)).reshape(1, 64, 8, 8).astype(np.float32))
             for f in range(5)]
    with torch.no_grad():
        y = m(feats).numpy()
    err = np.abs(y - np.load(DATA / "lgtd_tdml_official_formula.npz")["expected"]).max()
    assert err <= 1e-5 if faithful else err > 1e-2


def test_input_checks(lgtd):
    with pytest.raises(InputError, match="takes 5 frames"):
        lgtd(torch.rand(1, 3, 3, 32, 32))
    with pytest.raises(InputError, match="multiple of 16"):
        lgtd(torch.rand(1, 5, 3, 24, 32))


def test_lgtd_arc_keys_and_authors_output(seed_keys):
    """The repo's LGTD_arc class: key list, parameter count, and the authors' output on a 20 x 28 input."""
    from satsr.models.lgtd import LGTDArc

    arc = LGTDArc(5).eval()
    assert {k: tuple(v.shape) for k, v in arc.state_dict().items()} == seed_keys("LGTD_arc")
    assert sum(p.numel() for p in arc.parameters()) == 27_749_171
    _fill(arc, 0.5)
    x = torch.from_numpy(np.cos(np.arange(5 * 3 * 20 * 28) * 0.37).reshape(1, 5, 3, 20, 28).astype(np.float32))
    with torch.no_grad():
        y = arc(x * 0.5 + 0.5).numpy()
    assert np.abs(y - np.load(DATA / "lgtd_arc_official_formula.npz")["expected"]).max() <= 1e-5
