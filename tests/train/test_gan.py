"""RGTGAN's training parts: discriminator, VGG features from a user file, generator and discriminator losses."""

import pytest
import torch
from torchvision.models import vgg19

from satsr.errors import CheckpointError
from satsr.train.gan import GeneratorLoss, VGGDiscriminator, VGGFeatures, discriminator_loss, loss_gradient_map


def test_discriminator_names_shapes_and_inputs():
    d = VGGDiscriminator()
    keys = set(d.state_dict())
    assert {"conv0_0.weight", "conv0_0.bias", "conv0_1.weight", "conv4_1.weight", "linear1.weight",
            "linear2.bias"} <= keys
    assert "conv0_1.bias" not in keys and tuple(d.linear1.weight.shape) == (100, 512 * 8 * 8)
    assert d(torch.rand(2, 3, 256, 256)).shape == (2, 1)
    assert d(loss_gradient_map(torch.rand(1, 3, 256, 256))).shape == (1, 1)  # 258 x 258 maps end at 8 x 8 too
    with pytest.raises(ValueError, match="8 x 8"):
        d(torch.rand(1, 3, 128, 128))


def test_gradient_map_for_the_losses():
    x = torch.zeros(1, 1, 4, 4)
    x[..., 2:] = 1.0  # a vertical edge
    g = loss_gradient_map(x)
    assert g.shape == (1, 1, 6, 6)
    assert float(g[0, 0, 3, 3]) == pytest.approx(1.0, abs=1e-3)  # |h| = 1 across the edge, padding 2 shifts by 1


def test_vgg_features_read_a_user_file_and_refuse_others(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "vgg19.pth"
    torch.save(vgg19(weights=None).state_dict(), path)
    vgg = VGGFeatures(path)
    assert vgg(torch.rand(1, 3, 32, 32)).shape == (1, 512, 2, 2)  # conv5_4 at 1/16
    assert not any(p.requires_grad for p in vgg.parameters())
    with pytest.raises(CheckpointError, match="no such VGG19 weights file"):
        VGGFeatures(tmp_path / "missing.pth")
    torch.save({"x": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not a torchvision VGG19 state_dict"):
        VGGFeatures(tmp_path / "other.pth")


def test_generator_loss_terms_and_warmup(tmp_path):
    torch.manual_seed(0)
    hr = torch.rand(1, 3, 256, 256)
    sr = (hr + 0.05 * torch.randn_like(hr)).requires_grad_()
    d_img, d_grad = VGGDiscriminator(), VGGDiscriminator()
    warm, terms = GeneratorLoss(perceptual_weight=0)(sr, hr, warmup=True, d_image=d_img, d_gradient=d_grad)
    assert set(terms) == {"pixel", "gradient"}
    total, terms = GeneratorLoss(perceptual_weight=0)(sr, hr, d_image=d_img, d_gradient=d_grad)
    assert set(terms) == {"pixel", "gradient", "gan", "gradient_gan"}
    assert float(total) == pytest.approx(sum(terms.values()), rel=1e-5)
    total.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    with pytest.raises(CheckpointError, match="needs VGG19 weights"):
        GeneratorLoss()(sr.detach(), hr)
    assert float(GeneratorLoss(perceptual_weight=0)(hr, hr, warmup=True)[0]) < 1e-6


def test_discriminator_loss():
    sure = discriminator_loss(torch.full((4, 1), 20.0), torch.full((4, 1), -20.0))
    fooled = discriminator_loss(torch.full((4, 1), -20.0), torch.full((4, 1), 20.0))
    assert float(sure) < 1e-6 and float(fooled) > 10
