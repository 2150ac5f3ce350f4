import numpy as np
import pytest
import torch

from satsr.errors import InputError
from satsr.models.mstt import MSTT, flow_warp


@pytest.mark.parametrize(("back_rbs", "keys", "count"),
                         [(20, "MSTT_back20", 5_664_283), (40, "MSTT_back40", 7_141_403)])
def test_state_dict_matches_the_authors_key_lists(back_rbs, keys, count, seed_keys):
    net = MSTT(back_rbs=back_rbs)
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == seed_keys(keys)
    assert sum(p.numel() for p in net.parameters()) == count


@pytest.mark.slow
def test_reproduces_the_authors_network(vectors):
    """Same 7 frames as the authors' MSTTr (formula weights and flows, 4 frames of 80 x 80); tests/data/README.md."""
    net = MSTT().eval()
    vectors.fill(net, 0.5)
    x = vectors.tensor((1, 4, 3, 80, 80), 0) * 0.5 + 0.5
    ff = [vectors.tensor((1, 80, 80, 2), 1 + i) * 1.5 for i in range(3)]
    bf = [vectors.tensor((1, 80, 80, 2), 4 + i) * 1.5 for i in range(3)]
    with torch.no_grad():
        y = net(x, ff, bf).numpy()
    assert y.shape == (1, 7, 3, 320, 320)
    ref = np.load(vectors.data / "mstt_official_formula.npz")
    assert np.abs(y[..., ::8, ::8] - ref["strided"]).max() <= 1e-4
    assert np.abs(y[0, :, :, 144:176, 144:176] - ref["crop"]).max() <= 1e-4
    # stacked flows work the same as the authors' lists
    with torch.no_grad():
        y2 = net(x, torch.stack(ff, dim=1), torch.stack(bf, dim=1)).numpy()
    assert np.array_equal(y, y2)


def test_flow_warp_follows_the_authors_normalisation():
    x = torch.arange(20.0).view(1, 1, 4, 5)
    # zero flow: positions normalised by W - 1 but sampled with align_corners=False, a shrink towards the centre
    y = flow_warp(x, torch.zeros(1, 4, 5, 2))
    # row 1, column 2: x lands on column 2 exactly; y on row 5/6 (between rows 0 and 1)
    assert float(y[0, 0, 1, 2]) == pytest.approx(2 / 6 + 7 * 5 / 6, abs=1e-5)
    assert not torch.equal(y, x)
    with pytest.raises(InputError, match=r"flow must be \(B, H, W, 2\)"):
        flow_warp(x, torch.zeros(1, 5, 4, 2))


def test_size_and_frame_rules():
    net = MSTT()
    f = [torch.zeros(1, 80, 80, 2)] * 3
    with pytest.raises(InputError, match="takes 4 frames"):
        net(torch.zeros(1, 3, 3, 80, 80), f, f)
    with pytest.raises(InputError, match="multiples of 80"):
        net(torch.zeros(1, 4, 3, 64, 80), f, f)
