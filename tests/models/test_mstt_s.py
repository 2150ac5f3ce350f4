"""mstt-s: satsr's light MSTT-STVSR, registered, untrained exactly its baseline, the same mechanism as mstt."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from satsr import models
from satsr.errors import InputError, ModelError
from satsr.models.mstt import MSTT, PATCHES, in_between_baseline, neighbour_flows


def test_registered_as_a_space_time_variant_of_mstt():
    spec = models.get_spec("mstt-s")
    assert (spec.scale, spec.frames_in, spec.time_scale, spec.frames_out) == (4, 4, 2, 7)
    assert spec.family == "mstt" and spec.multiple_of == 32 and spec.bytes_per_pixel > 0
    net = models.create("mstt-s", pretrained=False)
    count = sum(p.numel() for p in net.parameters())
    assert 500_000 <= count <= 1_500_000
    assert spec.description.endswith(f"{count / 1e6:.2f} M")
    assert isinstance(net, MSTT) and net.multiple_of == spec.multiple_of


def test_shipped_weights_load_unless_the_baseline_is_asked_for():
    assert [w.file for w in models.get_spec("mstt-s").weights] == ["mstt-s.safetensors"]  # satsr/weights/mstt-s.md
    assert models.create("mstt-s").conv_last.weight.any()  # trained; the untrained last convolution is zero
    assert not models.create("mstt-s", pretrained=False).conv_last.weight.any()


def test_untrained_is_bicubic_and_bicubic_of_the_neighbours_mean():
    torch.manual_seed(0)
    net = models.create("mstt-s", pretrained=False)
    x = torch.rand(2, 4, 3, 32, 64)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, 7, 3, 128, 256)
    bicubic = models.create("bicubic")  # the registered baseline, built on its own
    for k in range(7):
        lr = x[:, k // 2] if k % 2 == 0 else (x[:, k // 2] + x[:, k // 2 + 1]) / 2
        torch.testing.assert_close(y[:, k], bicubic(lr), atol=1e-6, rtol=0)
    torch.testing.assert_close(in_between_baseline(x), y, atol=1e-6, rtol=0)


def test_the_network_has_a_voice_once_trained():
    """The skip is added to the network's output, not put in its place: a non-zero last layer changes frames."""
    torch.manual_seed(0)
    net = models.create("mstt-s", pretrained=False)
    torch.nn.init.normal_(net.conv_last.weight, std=0.01)
    x = torch.rand(1, 4, 3, 32, 32)
    with torch.no_grad():
        diff = (net(x) - in_between_baseline(x)).abs().amax(dim=(0, 2, 3, 4))
    assert bool((diff > 1e-4).all())  # every frame, key and in between


def test_flows_given_equal_flows_computed():
    """The flows a data set computes (neighbour_flows) are the ones the model computes itself."""
    torch.manual_seed(0)
    net = models.create("mstt-s", pretrained=False)
    torch.nn.init.normal_(net.conv_last.weight, std=0.01)
    x = torch.rand(1, 4, 3, 32, 32)
    fwd, bwd = neighbour_flows(x[0].numpy())
    assert fwd.shape == bwd.shape == (3, 32, 32, 2)
    ff, bf = (torch.from_numpy(f[None]).float() for f in (fwd, bwd))
    with torch.no_grad():
        y = net(x)
        torch.testing.assert_close(y, net(x, ff, bf), atol=1e-6, rtol=0)
        moved = net(x, ff + 1.0, bf)
    assert float((moved - y).abs().max()) > 1e-4  # the flow-guided warp is in use


def test_size_rule_follows_the_patches():
    net = models.create("mstt-s", pretrained=False)
    with pytest.raises(InputError, match="multiples of 32"):
        net(torch.zeros(1, 4, 3, 48, 32))
    assert MSTT().multiple_of == 80 and PATCHES == (40, 20, 10, 5)
    with pytest.raises(ModelError, match="one head per patch"):
        MSTT(hidden=100, patches=(16, 8, 4))


def test_options_keep_the_authors_defaults():
    """The keyword options default to the authors' network: same keys and shapes as mstt, 5,664,283 parameters."""
    a, b = MSTT(), models.create("mstt", pretrained=False)
    assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}
    assert sum(p.numel() for p in a.parameters()) == 5_664_283
    assert not a.residual and a.MSST_former.transformer[0].attention.patches == PATCHES


def test_trains_one_step_on_the_cpu():
    torch.manual_seed(0)
    net = models.create("mstt-s", pretrained=False).train()
    x, hr = torch.rand(1, 4, 3, 32, 32), torch.rand(1, 7, 3, 128, 128)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    before = F.l1_loss(net(x), hr)
    before.backward()
    opt.step()
    assert np.isfinite(before.item()) and bool(net.conv_last.weight.detach().abs().sum() > 0)


def test_halo_covers_the_network_reach():
    """With the flows held fixed, pixels farther than the halo move the output by less than 1e-5 of its size.

    What remains beyond is global (the attention spans every patch; with Ce Liu's flow, its pyramid too): tiles are
    feathered, and a larger halo does not reduce the tiled-vs-whole difference (measured; see the registration).
    """
    torch.manual_seed(0)
    net = models.create("mstt-s", pretrained=False)
    torch.nn.init.kaiming_normal_(net.conv_last.weight)
    h, n = net.spec.halo, 96
    zero = torch.zeros(1, 3, n, n, 2)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 4, 3, n, n, generator=g)
    far = x.clone()
    far[..., : n // 2 - h, :] = torch.rand(far[..., : n // 2 - h, :].shape, generator=g)
    with torch.no_grad():
        y, y_far = net(x, zero, zero), net(far, zero, zero)
    moved = (y - y_far)[..., n // 2 * 4 :, :].abs().max()
    assert float(moved) < 1e-5 * float(y.abs().max())
    assert float((y - y_far)[..., : n // 2 * 4 - 4 * h, :].abs().max()) > 1e-2  # the change itself is large
