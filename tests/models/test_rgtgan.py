import numpy as np
import pytest
import torch

from satsr.errors import InputError
from satsr.models.rgtgan import RGTNet, gtem_shuffle


@pytest.fixture(scope="module")
def official_net(vectors):
    net = RGTNet().eval()
    vectors.fill(net, 0.5)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("dcnpack.offset.weight"):
                p.mul_(10)  # offsets of a few pixels, as in the vector
        net.get_g_nopadding.weight_h.copy_(torch.tensor([[[[0.0, 0, 0], [-1, 0, 1], [0, 0, 0]]]]))
        net.get_g_nopadding.weight_v.copy_(torch.tensor([[[[0.0, -1, 0], [0, 0, 0], [0, 1, 0]]]]))
    return net


def test_state_dict_matches_the_authors_key_list(seed_keys):
    net = RGTNet()
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == seed_keys("RGTNet")
    assert sum(p.numel() for p in net.parameters()) == 19_909_931


def test_reproduces_the_authors_generator(official_net, vectors):
    """Same output as the authors' RGTNet (formula weights, 8 x 8 LR, 32 x 32 reference); tests/data/README.md."""
    d = np.load(vectors.data / "rgtgan_official_formula.npz")
    args = [torch.from_numpy(d[k]) for k in ("lr", "lr_ux4", "ref", "ref_dux4")]
    with torch.no_grad():
        y = official_net(*args).numpy()
    assert y.shape == (1, 3, 32, 32)
    assert np.abs(y - d["expected"]).max() <= 1e-4


def test_discarded_blocks_are_skipped_without_changing_the_output(official_net, vectors):
    d = np.load(vectors.data / "rgtgan_official_formula.npz")
    args = [torch.from_numpy(d[k]) for k in ("lr", "lr_ux4", "ref", "ref_dux4")]
    calls = []
    hooks = [official_net.gpcd_align.DenseRes.register_forward_hook(lambda *a: calls.append("DenseRes")),
             official_net.content_extractor.tail.register_forward_hook(lambda *a: calls.append("tail"))]
    try:
        with torch.no_grad():
            fast = official_net(*args)
            assert calls == []  # skipped by default
            official_net.compute_discarded = True
            slow = official_net(*args)
            assert calls.count("DenseRes") == 4 and calls.count("tail") == 1  # as the authors' forward
    finally:
        official_net.compute_discarded = False
        for h in hooks:
            h.remove()
    assert torch.equal(fast, slow)


def test_gtem_shuffle_lays_each_pixel_out_as_a_1x4_run():
    x = torch.arange(2 * 8 * 2 * 3, dtype=torch.float32).view(2, 8, 2, 3)
    y = gtem_shuffle(x)
    assert y.shape == (2, 2, 4, 6)
    # output channel 0 of image 0: pixel (0, 0)'s channels 0..3 reordered (0, 2, 1, 3) fill the first 4 values
    flat = y[0, 0].reshape(-1)
    assert flat[:4].tolist() == [x[0, 0, 0, 0].item(), x[0, 2, 0, 0].item(), x[0, 1, 0, 0].item(),
                                 x[0, 3, 0, 0].item()]
    assert flat[4:8].tolist() == [x[0, 0, 0, 1].item(), x[0, 2, 0, 1].item(), x[0, 1, 0, 1].item(),
                                  x[0, 3, 0, 1].item()]


def test_input_checks():
    net = RGTNet()
    with pytest.raises(InputError, match="multiples of 4"):
        net(torch.zeros(1, 3, 6, 8), torch.zeros(1, 3, 24, 32), torch.zeros(1, 3, 24, 32), torch.zeros(1, 3, 24, 32))
    with pytest.raises(InputError, match="ref must be 4x the LR"):
        net(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 32, 32))
