"""Measure a model's reach: how far, in input pixels, a change to one input pixel moves the output.

The halo a model needs for seamless tiles is its reach: beyond it, input pixels no longer change the output (by
more than a tolerance). :func:`measure_reach` finds it empirically, for registered models (to check their
declared ``spec.halo``) and for a user's own module before ``satsr.models.wrap(module, halo=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["Reach", "measure_reach"]

#: Tolerances, relative to the largest output change, at which :func:`measure_reach` reports the reach.
TOLERANCES = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)


@dataclass(frozen=True)
class Reach:
    """Result of :func:`measure_reach`.

    Attributes
    ----------
    peak : float
        Largest absolute change of the output.
    reach : dict of float to float
        For each relative tolerance ``tol``, the largest Chebyshev distance (input pixels, from the perturbed
        pixel) of an output pixel that changed by more than ``tol * peak``.
    edge : float
        Distance from the perturbed pixel to the input's edge: a reach equal to it means "the whole input".
    output_scale : float
        Largest absolute output value (puts ``peak`` in proportion).
    """

    peak: float
    reach: dict[float, float]
    edge: float
    output_scale: float

    def at(self, tol: float) -> float:
        """Reach at relative tolerance ``tol`` (one of :data:`TOLERANCES`)."""
        return self.reach[tol]


def measure_reach(
    model: nn.Module,
    size: int = 64,
    *,
    frames_in: int = 1,
    bands: int = 3,
    scale: int = 4,
    delta: float = 0.25,
    seed: int = 0,
) -> Reach:
    """Perturb the centre pixel of a random input and see how far the output moves.

    Parameters
    ----------
    model : torch.nn.Module
        Takes ``(1, C, H, W)`` (``frames_in == 1``) or ``(1, T, C, H, W)`` and returns ``(1, C, H*s, W*s)``, or
        ``(1, T', C, H*s, W*s)`` for a model of several output frames (space-time): the change is then the
        largest over all output frames.
    size : int, default 64
        Input height and width; make it larger than twice the expected reach.
    frames_in, bands, scale : int
        Input frames, bands and the model's upscaling factor.
    delta : float, default 0.25
        Change added to the centre pixel (of every frame and band).
    seed : int, default 0
        Seed of the uniform random input.

    Returns
    -------
    Reach
    """
    g = torch.Generator().manual_seed(seed)
    shape = (1, bands, size, size) if frames_in == 1 else (1, frames_in, bands, size, size)
    x = torch.rand(shape, generator=g)
    moved = x.clone()
    c = size // 2
    moved[..., c, c] += delta
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    with torch.inference_mode():
        y = model(x.to(device)).float().cpu()
        diff = (y - model(moved.to(device)).float().cpu()).abs().amax(dim=tuple(range(y.ndim - 2))).numpy()
    peak = float(diff.max())
    centre = (c + 0.5) * scale - 0.5  # output-pixel position of the perturbed pixel's centre
    reach = {}
    for tol in TOLERANCES:
        ys, xs = np.nonzero(diff > tol * peak)
        dist = np.maximum(np.abs(ys - centre), np.abs(xs - centre)) / scale if ys.size else np.zeros(1)
        reach[tol] = float(np.ceil(dist.max()))
    return Reach(peak=peak, reach=reach, edge=float(size - c), output_scale=float(y.abs().max()))
