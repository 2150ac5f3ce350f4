"""Adversarial training parts for RGTGAN: the VGG-style discriminator, VGG19 features, and the generator's loss.

As RGTGAN's authors train (``RGTGAN_model.py``, SPEC section 5.6):

* two discriminators of the same architecture (:class:`VGGDiscriminator`, the authors' ``Discriminator_VGG_128``),
  one on images and one on gradient maps;
* after an L1-only warm-up, the generator loss is L1 pixel (1.0) + gradient-map MSE (1.0) + VGG19 feature L1
  (0.1, features up to ``conv5_4`` before its ReLU, ImageNet normalisation) + a vanilla GAN term on the image and on
  its gradient map (1e-3 each, BCE with logits). Gradient maps for the losses use padding 2.

VGG19's ImageNet weights cannot be shipped with satsr: :class:`VGGFeatures` reads them from a file the user gives
(torchvision's ``vgg19-dcbb9e9d.pth`` or any state_dict of ``torchvision.models.vgg19``). Without them, train
with ``perceptual_weight=0`` (:class:`GeneratorLoss` then needs no VGG at all).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from satsr.errors import CheckpointError

__all__ = ["VGGDiscriminator", "VGGFeatures", "GeneratorLoss", "loss_gradient_map", "discriminator_loss"]


class VGGDiscriminator(nn.Module):
    """VGG-style discriminator for 256 x 256 inputs (258 x 258 gradient maps also end at 8 x 8).

    A 3x3 convolution, then five pairs (3x3 stride 1, 4x4 stride 2, no bias) of 64, 128, 256, 512, 512 channels,
    LeakyReLU 0.2, and two linear layers (512 * 8 * 8 -> 100 -> 1). Names as the authors' ``Discriminator_VGG_128``.
    """

    def __init__(self, in_nc: int = 3, nf: int = 64) -> None:
        super().__init__()
        chans = [nf, nf, nf * 2, nf * 4, nf * 8, nf * 8]
        self.conv0_0 = nn.Conv2d(in_nc, nf, 3, 1, 1, bias=True)
        self.conv0_1 = nn.Conv2d(nf, nf, 4, 2, 1, bias=False)
        for i in range(1, 5):
            setattr(self, f"conv{i}_0", nn.Conv2d(chans[i], chans[i + 1], 3, 1, 1, bias=False))
            setattr(self, f"conv{i}_1", nn.Conv2d(chans[i + 1], chans[i + 1], 4, 2, 1, bias=False))
        self.linear1 = nn.Linear(512 * 8 * 8, 100)
        self.linear2 = nn.Linear(100, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One logit per image."""
        for i in range(5):
            x = F.leaky_relu(getattr(self, f"conv{i}_0")(x), 0.2)
            x = F.leaky_relu(getattr(self, f"conv{i}_1")(x), 0.2)
        if x.shape[-2:] != (8, 8):
            raise ValueError(f"the discriminator needs inputs that end at 8 x 8 (256 x 256), got {tuple(x.shape)}")
        return self.linear2(F.leaky_relu(self.linear1(x.flatten(1)), 0.2))


class VGGFeatures(nn.Module):
    """VGG19 features up to layer ``layer`` (34: ``conv5_4`` before its ReLU) from user-given ImageNet weights.

    Parameters
    ----------
    weights : str or path
        A state_dict of ``torchvision.models.vgg19`` (e.g. torchvision's ``vgg19-dcbb9e9d.pth``).
    layer : int, default 34

    Raises
    ------
    CheckpointError
        The file is missing or does not hold VGG19's feature weights.
    """

    mean: torch.Tensor  # buffers (register_buffer), ImageNet's per-channel statistics
    std: torch.Tensor

    def __init__(self, weights: str | os.PathLike[str], layer: int = 34) -> None:
        super().__init__()
        from torchvision.models import vgg19

        path = os.fspath(weights)
        if not os.path.isfile(path):
            raise CheckpointError(f"{path}: no such VGG19 weights file (perceptual loss); train with "
                                  "perceptual_weight=0 to do without")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises many kinds on a damaged or foreign file
            raise CheckpointError(f"{path}: cannot read VGG19 weights ({err})") from err
        net = vgg19(weights=None)
        try:
            net.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as err:
            raise CheckpointError(f"{path}: not a torchvision VGG19 state_dict ({str(err)[:200]})") from err
        self.features = nn.Sequential(*list(net.features.children())[: layer + 1]).eval()
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of ``x`` in [0, 1] (ImageNet-normalised first)."""
        return self.features((x - self.mean) / self.std)


def loss_gradient_map(x: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude per band with padding 2, as the authors' losses use it (2 px larger than ``x``)."""
    b, c, h, w = x.shape
    kv = x.new_tensor([[[[0.0, -1, 0], [0, 0, 0], [0, 1, 0]]]])
    kh = x.new_tensor([[[[0.0, 0, 0], [-1, 0, 1], [0, 0, 0]]]])
    flat = x.reshape(b * c, 1, h, w)
    g = torch.sqrt(F.conv2d(flat, kv, padding=2).pow(2) + F.conv2d(flat, kh, padding=2).pow(2) + 1e-6)
    return g.view(b, c, h + 2, w + 2)


def discriminator_loss(real_logit: torch.Tensor, fake_logit: torch.Tensor) -> torch.Tensor:
    """Vanilla GAN loss of a discriminator: BCE with logits, real -> 1, fake -> 0 (averaged)."""
    real = F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
    fake = F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
    return (real + fake) / 2


@dataclass
class GeneratorLoss:
    """RGTGAN's generator loss; ``__call__`` returns the total and its terms.

    Attributes
    ----------
    pixel_weight, gradient_weight, perceptual_weight, gan_weight, gradient_gan_weight : float
        1.0, 1.0, 0.1, 1e-3, 1e-3 as the authors. ``warmup=True`` keeps only the pixel and gradient terms (their
        first 30,000 iterations).
    vgg : VGGFeatures, optional
        Needed when ``perceptual_weight > 0``.
    """

    pixel_weight: float = 1.0
    gradient_weight: float = 1.0
    perceptual_weight: float = 0.1
    gan_weight: float = 1e-3
    gradient_gan_weight: float = 1e-3
    vgg: VGGFeatures | None = None

    def __call__(
        self, sr: torch.Tensor, hr: torch.Tensor, *, warmup: bool = False,
        d_image: nn.Module | None = None, d_gradient: nn.Module | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss of ``sr`` against ``hr``, and each term's value."""
        g_sr, g_hr = loss_gradient_map(sr), loss_gradient_map(hr)
        terms = {"pixel": self.pixel_weight * F.l1_loss(sr, hr),
                 "gradient": self.gradient_weight * F.mse_loss(g_sr, g_hr)}
        if not warmup:
            if self.perceptual_weight:
                if self.vgg is None:
                    raise CheckpointError("the perceptual loss needs VGG19 weights (GeneratorLoss(vgg=VGGFeatures("
                                          "'vgg19-dcbb9e9d.pth'))), or perceptual_weight=0")
                terms["perceptual"] = self.perceptual_weight * F.l1_loss(self.vgg(sr), self.vgg(hr).detach())
            if d_image is not None and self.gan_weight:
                logit = d_image(sr)
                terms["gan"] = self.gan_weight * F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))
            if d_gradient is not None and self.gradient_gan_weight:
                logit = d_gradient(g_sr)
                terms["gradient_gan"] = self.gradient_gan_weight * F.binary_cross_entropy_with_logits(
                    logit, torch.ones_like(logit))
        total = torch.stack(list(terms.values())).sum()
        return total, {k: float(v.detach()) for k, v in terms.items()}
