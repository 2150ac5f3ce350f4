"""Degradations that make low-resolution images from high-resolution ones, as the SR papers make their data.

``imresize`` reproduces MATLAB's ``imresize(..., "bicubic")`` (Keys' cubic with ``a = -0.5``, the kernel widened
by ``1/scale`` when shrinking, which is MATLAB's antialiasing): the papers' LR frames
(Jilin-189, Vimeo-90K, the Ref-SR sets) were made with it; with ``edge="replicate"`` it reproduces the
Jilin-189 LR frames in ``../shared/data`` bit for bit. ``degrade`` adds the optional Gaussian blur and noise
of blind-SR training.

NumPy and SciPy only: the metrics (LR consistency) and the training data both use it. The weights come from
``satsr._bicubic``, which RGTGAN's torch resize (:func:`satsr.models.rgtgan.matlab_resize`) shares.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from satsr._bicubic import Edge, resize_weights
from satsr.errors import InputError

__all__ = ["imresize", "degrade", "Edge"]


def imresize(img: np.ndarray, scale: float, *, antialias: bool = True, edge: Edge = "replicate") -> np.ndarray:
    """Resize the last two axes by ``scale`` as MATLAB's ``imresize(img, scale, "bicubic")`` does.

    Parameters
    ----------
    img : numpy.ndarray
        ``(..., H, W)``; any leading axes (bands, frames) are resized alike. Integers are converted to float64.
    scale : float
        Factor (``0.25`` for the papers' x4 LR). The output is ``ceil(H * scale) x ceil(W * scale)``.
    antialias : bool, default True
        Widen the kernel when shrinking (MATLAB's default); ``False`` samples the plain cubic.
    edge : {"replicate", "symmetric"}, default "replicate"
        Padding beyond the image edge. ``"replicate"`` reproduces the Jilin-189 LR frames bit for bit (after
        rounding; tested); ``"symmetric"`` is MATLAB's documented rule. They differ in the outer 2 LR pixels.

    Returns
    -------
    numpy.ndarray
        Float (float32 for float32 input, else float64), not rounded or clipped: cubic weights overshoot.

    Raises
    ------
    InputError
        A non-positive scale, or fewer than two axes.
    """
    if edge not in ("replicate", "symmetric"):
        raise InputError(f"imresize: edge must be 'replicate' or 'symmetric', got {edge!r}")
    if not scale > 0:
        raise InputError(f"imresize: scale must be > 0, got {scale}")
    if img.ndim < 2:
        raise InputError(f"imresize: need at least 2 axes (H, W), got shape {img.shape}")
    out_dtype = np.float32 if img.dtype == np.float32 else np.float64
    x = img.astype(np.float64, copy=False)
    h, w = x.shape[-2:]
    # MATLAB resizes along the axis with the smaller scale first; with one scale for both, rows first.
    for axis, n in ((-2, h), (-1, w)):
        wts, src = resize_weights(n, scale, antialias, edge)
        x = np.moveaxis(_apply(np.moveaxis(x, axis, -1), wts, src), -1, axis)
    return x.astype(out_dtype, copy=False)


def _apply(x: np.ndarray, w: np.ndarray, src: np.ndarray) -> np.ndarray:
    """``out[..., o] = sum_k w[o, k] * x[..., src[o, k]]``."""
    return np.einsum("...ok,ok->...o", x[..., src], w)


def degrade(
    hr: np.ndarray,
    scale: int = 4,
    *,
    blur_sigma: float | None = None,
    noise_sigma: float | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Make an LR image from an HR one: optional Gaussian blur, MATLAB bicubic down by ``scale``, optional noise.

    Parameters
    ----------
    hr : numpy.ndarray
        ``(..., H, W)`` float in ``[0, 1]``.
    scale : int, default 4
        Downscaling factor.
    blur_sigma : float, optional
        Standard deviation (HR pixels) of an isotropic Gaussian applied before downscaling.
    noise_sigma : float, optional
        Standard deviation of additive Gaussian noise (same units as ``hr``) applied after downscaling.
    rng : numpy.random.Generator, optional
        Source of the noise; required for reproducible noise.

    Returns
    -------
    numpy.ndarray
        ``(..., ceil(H/scale), ceil(W/scale))`` float32, clipped to ``[0, 1]``.
    """
    x = np.asarray(hr, dtype=np.float64)
    if blur_sigma:
        sig = (0,) * (x.ndim - 2) + (blur_sigma, blur_sigma)
        x = ndimage.gaussian_filter(x, sig, mode="mirror", truncate=3.0)
    lr = imresize(x, 1 / scale)
    if noise_sigma:
        rng = rng or np.random.default_rng()
        lr = lr + rng.normal(0.0, noise_sigma, lr.shape)
    return np.clip(lr, 0.0, 1.0).astype(np.float32)
