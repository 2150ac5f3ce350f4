"""Geometric self-ensemble: a network's output averaged over the eight flips and transposes of its input.

Super-resolution networks are not exactly equivariant to flips and 90-degree rotations, so running one on the eight
dihedral copies of its input, undoing each transform on the output and averaging cancels part of its error (EDSR's
"+" models; BasicSR's ``test_selfensemble``). It costs eight forwards and needs no training. Measured on satsr's
shipped models: see the README, "Self-ensemble".

Every input tensor of the forward (the frames, and a reference-based model's reference) gets the same transform
of its last two (``y``, ``x``) axes; every output is transformed back on its last two axes. Tiles stay exact:
each transform maps a tile's window onto a window of the transformed image, so a halo that covers the network's
receptive field covers the ensemble's.
"""

from __future__ import annotations

import torch
from torch import nn

from satsr.errors import ModelError

__all__ = ["TRANSFORMS", "SelfEnsemble", "dihedral", "undo_dihedral"]

#: The eight transforms, as ``(transpose, flip y, flip x)``; the first is the identity.
TRANSFORMS: tuple[tuple[bool, bool, bool], ...] = tuple(
    (t, fy, fx) for t in (False, True) for fy in (False, True) for fx in (False, True)
)


def dihedral(x: torch.Tensor, transform: tuple[bool, bool, bool]) -> torch.Tensor:
    """``x`` transposed, then flipped, on its last two axes, as ``transform = (transpose, flip_y, flip_x)`` says."""
    t, fy, fx = transform
    if t:
        x = x.transpose(-1, -2)
    dims = [d for d, f in ((-2, fy), (-1, fx)) if f]
    return x.flip(dims) if dims else x


def undo_dihedral(x: torch.Tensor, transform: tuple[bool, bool, bool]) -> torch.Tensor:
    """The inverse of :func:`dihedral`: flips undone first, then the transpose."""
    t, fy, fx = transform
    dims = [d for d, f in ((-2, fy), (-1, fx)) if f]
    if dims:
        x = x.flip(dims)
    return x.transpose(-1, -2) if t else x


class SelfEnsemble(nn.Module):
    """``net``'s output averaged over the eight flips and transposes of its input (x8 geometric self-ensemble).

    Parameters
    ----------
    net : torch.nn.Module
        A network described by a ``spec`` (a registered model from :func:`satsr.models.create`, or one described
        by :func:`satsr.models.wrap`); the ensemble keeps the same ``spec``: scale, frames, halo and tile rules
        do not change. Its ``multiple_of`` applies to both axes, so transposed windows stay valid.

    Notes
    -----
    The outputs are summed in float32 (also under bf16/fp16 autocast) and returned in float32.
    The network runs on one transform at a time, so memory is about one forward's, time about eight.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        if isinstance(net, SelfEnsemble):
            raise ModelError("the model is already a self-ensemble; wrap the network once")
        spec = getattr(net, "spec", None)
        if spec is None:
            raise ModelError("SelfEnsemble needs a network with a spec: build it with satsr.models.create or "
                             "describe it with satsr.models.wrap")
        self.net = net
        self.spec = spec

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        """The mean over :data:`TRANSFORMS` of ``undo(net(*transformed inputs))``.

        Only image tensors are taken (no keywords): anything else the network could be given, such as
        precomputed flows, would belong to the untransformed frames.
        """
        total: torch.Tensor | None = None
        for tr in TRANSFORMS:
            out = undo_dihedral(self.net(*(dihedral(x, tr) for x in xs)), tr).float()
            total = out if total is None else total.add_(out)
        assert total is not None  # TRANSFORMS is not empty
        return total.div_(len(TRANSFORMS))
