"""MATLAB's bicubic ``imresize`` weights along one axis: the one home of the kernel.

:func:`satsr.degrade.imresize` applies them with NumPy (the papers' LR frames, the metrics, training data) and
:func:`satsr.models.rgtgan.matlab_resize` as matrix products in torch (RGTGAN's ``lr_ux4`` and ``ref_dux4``), so
both resize exactly alike. NumPy only, so that both layers may import it.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import numpy as np

__all__ = ["cubic", "resize_weights", "resize_matrix"]

Edge = Literal["replicate", "symmetric"]


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with ``a = -0.5`` (MATLAB's).

    Parameters
    ----------
    x : numpy.ndarray
        Distances from the output pixel centre, in kernel units.

    Returns
    -------
    numpy.ndarray
        The kernel's weights, zero beyond a distance of 2.
    """
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


# Small arrays (n_out x taps), keyed by size and scale: a few hundred cover any tiling or training run.
@functools.lru_cache(maxsize=256)
def resize_weights(n_in: int, scale: float, antialias: bool = True, edge: Edge = "replicate"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Weights and source indices of ``imresize(..., scale, "bicubic")`` along an axis of ``n_in`` pixels.

    Output pixel ``o`` is ``sum_k weights[o, k] * x[src[o, k]]``, for ``ceil(n_in * scale)`` outputs.

    Parameters
    ----------
    n_in : int
        Input length.
    scale : float
        Factor (``0.25`` shrinks x4).
    antialias : bool, default True
        Widen the kernel by ``1 / scale`` when shrinking (MATLAB's default).
    edge : {"replicate", "symmetric"}, default "replicate"
        Padding beyond the edge: the edge pixel repeated, or mirrored with the edge pixel repeated (MATLAB's
        documented rule).

    Returns
    -------
    weights : numpy.ndarray
        ``(n_out, taps)`` float64, each row summing to 1; read-only (cached).
    src : numpy.ndarray
        ``(n_out, taps)`` int64 0-based input indices, padding applied; read-only.
    """
    n_out = int(math.ceil(n_in * scale))
    shrink = scale < 1 and antialias
    width = 4.0 / scale if shrink else 4.0
    x = np.arange(1, n_out + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # output pixel centre in input coordinates (1-based, MATLAB's)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # 1-based
    dist = u[:, None] - idx
    w = scale * cubic(scale * dist) if shrink else cubic(dist)
    w /= w.sum(axis=1, keepdims=True)
    i0 = idx - 1  # 0-based
    if edge == "replicate":
        src = np.clip(i0, 0, n_in - 1).astype(np.int64)
    elif edge == "symmetric":
        period = 2 * n_in
        m = np.mod(i0, period)
        src = np.where(m < n_in, m, period - 1 - m).astype(np.int64)
    else:
        raise ValueError(f"edge must be 'replicate' or 'symmetric', got {edge!r}")
    keep = np.any(w != 0, axis=0)  # drop all-zero tap columns
    weights, src = np.ascontiguousarray(w[:, keep]), np.ascontiguousarray(src[:, keep])
    weights.setflags(write=False)
    src.setflags(write=False)
    return weights, src


# Dense matrices grow as n_out x n_in (tens of MB for a whole 4K frame): keep fewer of them.
@functools.lru_cache(maxsize=32)
def resize_matrix(n_in: int, scale: float, antialias: bool = True, edge: Edge = "replicate") -> np.ndarray:
    """The ``(n_out, n_in)`` float64 matrix of :func:`resize_weights` (padded taps add onto the pixel they repeat).

    ``matrix @ x`` resizes the first axis of ``x``; read-only (cached).
    """
    weights, src = resize_weights(n_in, scale, antialias, edge)
    m = np.zeros((weights.shape[0], n_in), dtype=np.float64)
    np.add.at(m, (np.arange(weights.shape[0])[:, None], src), weights)
    m.setflags(write=False)
    return m
