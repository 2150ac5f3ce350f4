"""Ce Liu's coarse-to-fine optical flow, vectorised in NumPy (no compiled build step).

MSTT-STVSR's authors compute the flow between neighbouring LR frames with Ce Liu's C++ implementation
(``OpticalFlow::Coarse2FineFlow``, through the pyflow wrapper), with alpha 0.012, ratio 0.75, minimum width 20,
7 outer and 1 inner fixed-point iterations and 30 SOR iterations on RGB images. This module computes the same
thing, step by step, in float64:

* a Gaussian pyramid (the "fast" construction: levels up to a quarter size are smoothed from the full image,
  coarser ones from the level that is four times larger), bilinear resampling with the C++ sample positions;
* per level, features ``[grey, d/dx, d/dy, G - R, G - B]``; the flow from the level above, upsampled and scaled;
* per outer iteration: derivatives of the smoothed images, robust (L1-like) data and smoothness weights, and
  ``30 + 3k`` successive over-relaxation sweeps (omega 1.8) at level ``k``.

The SOR sweeps of the C++ code are Gauss-Seidel in raster order, which looks sequential. Each pixel of sweep
``s`` depends only on its left and upper neighbours of the same sweep and its right and lower neighbours of the
previous one, so all pixels with the same ``row + col + 2 s`` can be updated at once: the sweeps run as
wavefronts and the arithmetic is the C++ code's, in the same order.
"""

from __future__ import annotations

import math

import numpy as np

from satsr.errors import InputError

__all__ = ["coarse_to_fine_flow", "LIU_DEFAULTS"]

#: The settings MSTT-STVSR's authors use (``models/base_networks.get_flow``).
LIU_DEFAULTS = {"alpha": 0.012, "ratio": 0.75, "min_width": 20, "outer": 7, "inner": 1, "sor": 30}

_DERIV = np.array([1.0, -8.0, 0.0, 8.0, -1.0]) / 12  # the C++ divides each tap by 12: same values
_SMOOTH = np.array([0.02, 0.11, 0.74, 0.11, 0.02])


def _hfilter(img: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Horizontal 1D filter, edge pixels repeated; accumulated tap by tap as the C++ does."""
    r = len(taps) // 2
    w = img.shape[1]
    out = np.zeros_like(img)
    for k, t in enumerate(taps):
        out += img[:, np.clip(np.arange(w) + k - r, 0, w - 1)] * t
    return out


def _vfilter(img: np.ndarray, taps: np.ndarray) -> np.ndarray:
    r = len(taps) // 2
    h = img.shape[0]
    out = np.zeros_like(img)
    for k, t in enumerate(taps):
        out += img[np.clip(np.arange(h) + k - r, 0, h - 1)] * t
    return out


def _filter_hv(img: np.ndarray, taps: np.ndarray) -> np.ndarray:
    return _vfilter(_hfilter(img, taps), taps)


def _gauss_smooth(img: np.ndarray, sigma: float, size: float) -> np.ndarray:
    fsize = int(size)  # the C++ passes sigma * 3 to an int parameter: truncated
    s2 = sigma * sigma * 2
    taps = np.array([math.exp(-float(i * i) / s2) for i in range(-fsize, fsize + 1)])
    total = 0.0
    for t in taps:
        total += t
    return _filter_hv(img, taps / total)


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Ce Liu's ``BilinearInterpolate`` at positions ``x``, ``y`` (any shape), edge pixels repeated."""
    h, w = img.shape[:2]
    xx = np.trunc(x).astype(np.int64)
    yy = np.trunc(y).astype(np.int64)
    dx = np.clip(x - xx, 0, 1)
    dy = np.clip(y - yy, 0, 1)
    out = np.zeros(x.shape + img.shape[2:])
    for m in (0, 1):
        for n in (0, 1):
            u = np.clip(xx + m, 0, w - 1)
            v = np.clip(yy + n, 0, h - 1)
            s = np.abs(1 - m - dx) * np.abs(1 - n - dy)
            out += img[v, u] * (s[..., None] if img.ndim == 3 else s)
    return out


def _resize_ratio(img: np.ndarray, ratio: float) -> np.ndarray:
    h, w = img.shape[:2]
    dh, dw = int(h * ratio), int(w * ratio)
    x = (np.arange(dw) + 1) / ratio - 1
    y = (np.arange(dh) + 1) / ratio - 1
    return _bilinear(img, *np.meshgrid(x, y))


def _resize_to(img: np.ndarray, dh: int, dw: int) -> np.ndarray:
    h, w = img.shape[:2]
    xr, yr = dw / w, dh / h
    x = (np.arange(dw) + 1) / xr - 1
    y = (np.arange(dh) + 1) / yr - 1
    return _bilinear(img, *np.meshgrid(x, y))


def _pyramid(img: np.ndarray, ratio: float, min_width: int) -> list[np.ndarray]:
    levels = int(math.log(min_width / img.shape[1]) / math.log(ratio))
    out = [img]
    base = 1 / ratio - 1
    n = int(math.log(0.25) / math.log(ratio))
    n_sigma = base * n
    for i in range(1, levels):
        if i <= n:
            sigma = base * i
            out.append(_resize_ratio(_gauss_smooth(img, sigma, sigma * 3), ratio**i))
        else:
            foo = _gauss_smooth(out[i - n], n_sigma, n_sigma * 3)
            out.append(_resize_ratio(foo, ratio**i * img.shape[1] / foo.shape[1]))
    return out


def _features(img: np.ndarray) -> np.ndarray:
    """``[grey, dx, dy, G - R, G - B]`` for RGB, ``[grey, dx, dy]`` for one band (Ce Liu's ``im2feature``)."""
    if img.ndim == 2:
        grey = img
        extra: list[np.ndarray] = []
    else:
        grey = img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114
        extra = [img[..., 1] - img[..., 0], img[..., 1] - img[..., 2]]
    return np.stack([grey, _hfilter(grey, _DERIV), _vfilter(grey, _DERIV), *extra], axis=-1)


def _warp(im1: np.ndarray, im2: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``im2`` sampled at ``pixel + (u, v)``; where that falls outside the image, ``im1``."""
    h, w = u.shape
    x = np.arange(w)[None, :] + u
    y = np.arange(h)[:, None] + v
    out = _bilinear(im2, x, y)
    outside = (x < 0) | (x > w - 1) | (y < 0) | (y > h - 1)
    out[outside] = im1[outside]
    return out


def _wavefronts(h: int, w: int, sweeps: int) -> list[np.ndarray]:
    """Flat pixel indices updated together: step ``t`` holds the pixels with ``row + col + 2 sweep == t``."""
    diag = np.add.outer(np.arange(h), np.arange(w)).ravel()
    order = np.argsort(diag, kind="stable")
    bounds = np.searchsorted(diag[order], np.arange(h + w))
    per_diag = [order[bounds[d]:bounds[d + 1]] for d in range(h + w - 1)]
    steps = []
    for t in range(h + w - 1 + 2 * (sweeps - 1)):
        parts = [per_diag[t - 2 * s] for s in range(sweeps) if 0 <= t - 2 * s < h + w - 1]
        steps.append(np.concatenate(parts))
    return steps


def _laplacian(u: np.ndarray, phi: np.ndarray) -> np.ndarray:
    out = np.zeros_like(u)
    foo = np.zeros_like(u)
    foo[:, :-1] = (u[:, 1:] - u[:, :-1]) * phi[:, :-1]
    out[:, :-1] -= foo[:, :-1]
    out[:, 1:] += foo[:, :-1]
    foo = np.zeros_like(u)
    foo[:-1] = (u[1:] - u[:-1]) * phi[:-1]
    out[:-1] -= foo[:-1]
    out[1:] += foo[:-1]
    return out


def _smooth_flow_sor(im1: np.ndarray, im2: np.ndarray, warp2: np.ndarray, u: np.ndarray, v: np.ndarray,
                     alpha: float, outer: int, inner: int, sor: int) -> tuple[np.ndarray, np.ndarray]:
    h, w = u.shape
    n = h * w
    eps = 0.001**2
    omega = 1.8
    steps = _wavefronts(h, w, sor)
    idx = np.arange(n).reshape(h, w)
    dummy = n  # a zero slot for neighbours outside the image
    left = np.where(idx % w > 0, idx - 1, dummy).ravel()
    right = np.where(idx % w < w - 1, idx + 1, dummy).ravel()
    up = np.where(idx >= w, idx - w, dummy).ravel()
    down = np.where(idx < n - w, idx + w, dummy).ravel()
    for _ in range(outer):
        i1 = _filter_hv(im1, _SMOOTH)
        i2 = _filter_hv(warp2, _SMOOTH)
        im = i1 * 0.4
        im += i2 * 0.6
        imdx, imdy, imdt = _hfilter(im, _DERIV), _vfilter(im, _DERIV), i2 - i1
        du = np.zeros(n + 1)
        dv = np.zeros(n + 1)
        for _ in range(inner):
            uu, vv = u + du[:n].reshape(h, w), v + dv[:n].reshape(h, w)
            ux, uy, vx, vy = (np.zeros((h, w)) for _ in range(4))
            ux[:, :-1] = uu[:, 1:] - uu[:, :-1]
            uy[:-1] = uu[1:] - uu[:-1]
            vx[:, :-1] = vv[:, 1:] - vv[:, :-1]
            vy[:-1] = vv[1:] - vv[:-1]
            phi = 0.5 / np.sqrt(ux * ux + uy * uy + vx * vx + vy * vy + eps)
            temp = imdt + imdx * du[:n].reshape(h, w, 1) + imdy * dv[:n].reshape(h, w, 1)
            psi = 1 / (2 * np.sqrt(temp * temp + eps))
            c = imdx.shape[-1]
            imdxy = _collapse(psi * imdx * imdy, c)
            imdx2 = _collapse(psi * imdx * imdx, c)
            imdy2 = _collapse(psi * imdy * imdy, c)
            imdtdx = _collapse(psi * imdx * imdt, c)
            imdtdy = _collapse(psi * imdy * imdt, c)
            foo1, foo2 = _laplacian(u, phi), _laplacian(v, phi)
            imdtdx = (-imdtdx - alpha * foo1).ravel()
            imdtdy = (-imdtdy - alpha * foo2).ravel()
            imdxy, imdx2, imdy2 = imdxy.ravel(), imdx2.ravel(), imdy2.ravel()
            phif = np.append(phi.ravel(), 0.0)
            wl = np.where(left < n, phif[left], 0.0)
            wr = np.where(right < n, phif[:n], 0.0)
            wu = np.where(up < n, phif[up], 0.0)
            wd = np.where(down < n, phif[:n], 0.0)
            coeff = ((wl + wr) + wu) + wd  # the C++ adds the weights in this order (0 for missing neighbours)
            coeff = coeff * alpha
            den_u = imdx2 + alpha * 0.05 + coeff
            den_v = imdy2 + alpha * 0.05 + coeff
            du[:] = 0.0
            dv[:] = 0.0
            for p in steps:
                l_, r_, u_, d_ = left[p], right[p], up[p], down[p]
                s1 = wl[p] * du[l_]
                s1 = s1 + wr[p] * du[r_]
                s1 = s1 + wu[p] * du[u_]
                s1 = s1 + wd[p] * du[d_]
                s2 = wl[p] * dv[l_]
                s2 = s2 + wr[p] * dv[r_]
                s2 = s2 + wu[p] * dv[u_]
                s2 = s2 + wd[p] * dv[d_]
                s1 = s1 * -alpha + imdxy[p] * dv[p]
                du[p] = (1 - omega) * du[p] + omega / den_u[p] * (imdtdx[p] - s1)
                s2 = s2 * -alpha + imdxy[p] * du[p]
                dv[p] = (1 - omega) * dv[p] + omega / den_v[p] * (imdtdy[p] - s2)
        u = u + du[:n].reshape(h, w)
        v = v + dv[:n].reshape(h, w)
        warp2 = _warp(im1, im2, u, v)
    return u, v


def _collapse(x: np.ndarray, c: int) -> np.ndarray:
    total = np.zeros(x.shape[:2])
    for k in range(c):
        total = total + x[..., k]
    return total / c


def coarse_to_fine_flow(
    im1: np.ndarray, im2: np.ndarray, *, alpha: float = 0.012, ratio: float = 0.75, min_width: int = 20,
    outer: int = 7, inner: int = 1, sor: int = 30,
) -> np.ndarray:
    """Optical flow from ``im1`` to ``im2``: ``im2(x + u, y + v) ~ im1(x, y)``.

    Parameters
    ----------
    im1, im2 : numpy.ndarray
        ``(H, W, 3)`` RGB or ``(H, W)`` grey, values in [0, 1].
    alpha, ratio, min_width, outer, inner, sor
        Ce Liu's parameters; the defaults are MSTT-STVSR's (:data:`LIU_DEFAULTS`).

    Returns
    -------
    numpy.ndarray
        ``(H, W, 2)`` float64: x (column) then y (row) displacement in pixels.
    """
    a = np.asarray(im1, dtype=np.float64)
    b = np.asarray(im2, dtype=np.float64)
    if a.shape != b.shape or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise InputError(f"flow needs two (H, W, 3) or (H, W) images of one shape, got {a.shape} and {b.shape}")
    if not 0.4 <= ratio <= 0.98:
        ratio = 0.75  # as the C++ code
    if min(a.shape[:2]) < 2 or int(math.log(min_width / a.shape[1]) / math.log(ratio)) < 1:
        raise InputError(f"images of {a.shape[1]} x {a.shape[0]} px are too small for a flow pyramid "
                         f"down to {min_width} px")
    p1, p2 = _pyramid(a, ratio, min_width), _pyramid(b, ratio, min_width)
    u: np.ndarray | None = None
    v: np.ndarray | None = None
    for k in range(len(p1) - 1, -1, -1):
        f1, f2 = _features(p1[k]), _features(p2[k])
        h, w = f1.shape[:2]
        if u is None or v is None:  # the coarsest level (both are None there)
            u, v, warp2 = np.zeros((h, w)), np.zeros((h, w)), f2.copy()
        else:
            u = _resize_to(u, h, w) * (1 / ratio)
            v = _resize_to(v, h, w) * (1 / ratio)
            warp2 = _warp(f1, f2, u, v)
        u, v = _smooth_flow_sor(f1, f2, warp2, u, v, alpha, outer + k, inner, sor + 3 * k)
    assert u is not None and v is not None  # the pyramid has a level at least
    return np.stack([u, v], axis=-1)
