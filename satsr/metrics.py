"""Image-quality metrics for super-resolution: PSNR, SSIM, LR consistency and the seed papers' evaluation protocols.

Images are NumPy arrays ``(C, H, W)`` (bands first, as everywhere in satsr) or ``(H, W)``, of any real dtype, with
their values on a scale given by ``data_range`` (``1.0`` for ``[0, 1]`` floats, ``255`` for 8-bit, ...). Everything
is computed in float64.

* :func:`psnr` and :func:`ssim` are the usual full-reference metrics. SSIM is Wang et al. (2004): an 11x11 Gaussian
  window (sigma 1.5), ``K1 = 0.01``, ``K2 = 0.03``, evaluated where the window fits inside the image (the "valid"
  region, ``(H - 10) x (W - 10)``), averaged over the map and then over bands. This is MATLAB's ``ssim_index`` and
  the SR literature's ``calculate_ssim``; it equals scikit-image's ``structural_similarity(gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False)``, which crops the same 5-pixel border from its padded map (tested).
* :func:`to_y` is BT.601 studio-range luma as MATLAB's ``rgb2ycbcr``: the "Y channel" of the SR papers.
* :func:`lr_consistency` needs no ground truth: it shrinks the SR output back to the input grid and compares.
* :func:`evaluate` / :func:`evaluate_clip` reproduce how each seed paper's code scores its outputs
  (:data:`PROTOCOLS`), so numbers can be set beside the published tables. The protocols differ (colour space,
  rounding, border crop, even what "SSIM" means): numbers from different protocols are not comparable.

Notes
-----
MSTT-STVSR's code logs both RGB and Y PSNR; which one its paper tabulates is not stated in the repository.
``"mstt"`` reports the Y value as "psnr" (and both as "psnr_rgb" / "psnr_y") on two pieces of evidence: the
x4 outputs the authors committed for their bundled example clip (training epoch 10) score 33.3 dB Y-PSNR but
31.9 dB RGB-PSNR against the clip's ground truth, where the paper lists 33.36 dB for its clip 001; and bicubic
upsampling of that clip's frames scores about 30.4 dB in Y and 29.0 dB in RGB, where the paper's "FI+Bicubic"
average is 30.27 dB. Neither is conclusive (other epoch, and the table's clip numbering is not stated).

NumPy and SciPy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

from satsr.degrade import imresize
from satsr.errors import InputError

__all__ = [
    "lr_consistency_map",
    "Channel",
    "Protocol",
    "PROTOCOLS",
    "to_y",
    "psnr",
    "ssim",
    "lr_consistency",
    "evaluate",
    "evaluate_clip",
]

Channel = Literal["rgb", "y"]

# BT.601 studio-range luma (MATLAB rgb2ycbcr): weights per unit of input, offset as a fraction of the data range
_BT601 = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)
_BT601_OFFSET = 16.0 / 255.0
# MTDO: OpenCV's float BGR->YCrCb (Y = 0.299 R + 0.587 G + 0.114 B, no offset) run on RGB arrays, so OpenCV's
# "B" (weight 0.114) is really R and its "R" (weight 0.299) is really B
_MTDO_SWAPPED = (0.114, 0.587, 0.299)
# LGFN (EDSR-style calc_psnr): luma of 8-bit RGB with the /256 coefficients
_LGFN = (65.738 / 256.0, 129.057 / 256.0, 25.064 / 256.0)

_K1, _K2 = 0.01, 0.03
_GAUSS_SIGMA, _GAUSS_RADIUS = 1.5, 5  # 11x11 window
_ROW_WIN = 7  # scikit-image's default uniform window, used by MTDO's row-wise SSIM


# --------------------------------------------------------------------------------------------------- validation


def _as_image(x: object, name: str, ndims: tuple[int, ...] = (2, 3)) -> np.ndarray:
    """``x`` as a finite float64 array with one of ``ndims`` dimensions, or an InputError naming ``name``."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:  # ragged lists and the like
        raise InputError(f"{name} is not an array of numbers ({exc})") from None
    if arr.dtype.kind not in "buif":
        raise InputError(f"{name} has data type {arr.dtype}; metrics need real numbers (integer, float or bool)")
    if arr.ndim not in ndims:
        want = " or ".join(_AXES[n] for n in ndims)
        raise InputError(f"{name} has shape {arr.shape}; expected {want}")
    if 0 in arr.shape:
        raise InputError(f"{name} is empty (shape {arr.shape})")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or infinite values; mask or fill nodata before scoring")
    return arr


_AXES = {2: "(H, W)", 3: "(C, H, W)", 4: "(T, C, H, W)"}


def _pair(
    sr: object, hr: object, ndims: tuple[int, ...] = (2, 3), names: tuple[str, str] = ("sr", "hr")
) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_image(sr, names[0], ndims), _as_image(hr, names[1], ndims)
    if a.shape != b.shape:
        raise InputError(f"{names[0]} and {names[1]} shapes differ: {names[0]} {a.shape}, {names[1]} {b.shape}")
    return a, b


def _data_range(value: object) -> float:
    try:
        dr = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"data_range must be a positive number, got {value!r}") from None
    if not (math.isfinite(dr) and dr > 0):
        raise InputError(f"data_range must be a positive finite number, got {value!r}")
    return dr


def _int_at_least(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _bands(arr: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` view: a single ``(H, W)`` image is one band."""
    return arr[None] if arr.ndim == 2 else arr


def _crop(arr: np.ndarray, crop: int) -> np.ndarray:
    if crop == 0:
        return arr
    h, w = arr.shape[-2:]
    if 2 * crop >= min(h, w):
        raise InputError(f"crop={crop} removes the whole {h}x{w} image ({crop} pixels on each border)")
    return arr[..., crop:-crop, crop:-crop]


def _rgb(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.ndim < 3 or arr.shape[-3] != 3:
        raise InputError(f"{what} needs 3 bands in RGB order (bands first), got shape {arr.shape}")
    return arr


# --------------------------------------------------------------------------------------------------- building blocks


def _luma(rgb: np.ndarray, weights: tuple[float, float, float], offset: float) -> np.ndarray:
    """``offset + sum_c weights[c] * band c`` over the bands axis (-3), which goes away."""
    return offset + weights[0] * rgb[..., 0, :, :] + weights[1] * rgb[..., 1, :, :] + weights[2] * rgb[..., 2, :, :]


def _to_8bit(arr: np.ndarray, data_range: float) -> np.ndarray:
    # Papers save/score 8-bit outputs: clip to the range, scale to 0..255, round (half to even, as torch/NumPy do)
    return np.rint(np.clip(arr * (255.0 / data_range), 0.0, 255.0))


def _psnr(a: np.ndarray, b: np.ndarray, data_range: float, identical: float = math.inf) -> float:
    mse = float(np.mean(np.square(a - b)))
    if mse == 0.0:
        return identical
    return 10.0 * math.log10(data_range * data_range / mse)


def _gauss_window() -> np.ndarray:
    x = np.arange(-_GAUSS_RADIUS, _GAUSS_RADIUS + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / _GAUSS_SIGMA) ** 2)
    return g / g.sum()  # separable: the 2-D window is the outer product, which also sums to one


def _ssim_from_moments(moments: np.ndarray, data_range: float, cov_norm: float = 1.0) -> np.ndarray:
    """SSIM map from the local means of ``a, b, a*a, b*b, a*b`` stacked on the first axis."""
    mu_a, mu_b, e_aa, e_bb, e_ab = moments
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    var_a = cov_norm * (e_aa - mu_a * mu_a)
    var_b = cov_norm * (e_bb - mu_b * mu_b)
    cov = cov_norm * (e_ab - mu_a * mu_b)
    num = (2.0 * mu_a * mu_b + c1) * (2.0 * cov + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    return num / den


def _ssim_gauss(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    """Gaussian SSIM of ``(C, H, W)`` arrays on the valid region, mean over the map then over bands."""
    h, w = a.shape[-2:]
    size = 2 * _GAUSS_RADIUS + 1
    if h < size or w < size:
        raise InputError(f"SSIM needs images of at least {size}x{size} pixels (after any crop), got {h}x{w}")
    win = _gauss_window()
    stack = np.stack([a, b, a * a, b * b, a * b])
    # Filter along W then H; outputs within RADIUS of the border saw the padding and are cut away, so the padding
    # mode is irrelevant and what remains is exactly the 'valid' correlation.
    for axis in (-1, -2):
        stack = ndimage.correlate1d(stack, win, axis=axis, mode="nearest")
    r = _GAUSS_RADIUS
    smap = _ssim_from_moments(stack[..., r:-r, r:-r], data_range)
    return float(smap.mean(axis=(-2, -1)).mean())


def _ssim_rows(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    """SSIM of ``(H, W)`` arrays taking each row as a 1-D signal, as ``skimage`` does with ``channel_axis=0``.

    That is scikit-image's default SSIM per row (7-sample uniform window, sample covariance ``N / (N - 1)``,
    the 3 samples at each end of the map discarded), averaged over positions and then over rows.
    """
    n = _ROW_WIN
    if a.shape[-1] < n:
        raise InputError(f"row-wise SSIM needs rows of at least {n} pixels, got width {a.shape[-1]}")
    r = (n - 1) // 2
    stack = ndimage.uniform_filter1d(np.stack([a, b, a * a, b * b, a * b]), n, axis=-1, mode="reflect")
    smap = _ssim_from_moments(stack[..., r:-r], data_range, cov_norm=n / (n - 1))
    return float(smap.mean(axis=-1).mean())


def _prepare(
    sr: object, hr: object, data_range: object, crop: object, channel: object, round_to_8bit: bool
) -> tuple[np.ndarray, np.ndarray, float]:
    """Shared front end of :func:`psnr` and :func:`ssim`: validate, round, take Y, crop; ``(C, H, W)`` out."""
    a, b = _pair(sr, hr)
    dr = _data_range(data_range)
    c = _int_at_least(crop, "crop", 0)
    if channel not in ("rgb", "y"):
        raise InputError(f"channel must be 'rgb' (all bands) or 'y' (BT.601 luma of RGB), got {channel!r}")
    if round_to_8bit:
        a, b, dr = _to_8bit(a, dr), _to_8bit(b, dr), 255.0
    if channel == "y":
        a = _luma(_rgb(a, "channel='y'"), _BT601, _BT601_OFFSET * dr)
        b = _luma(b, _BT601, _BT601_OFFSET * dr)
    return _bands(_crop(a, c)), _bands(_crop(b, c)), dr


# --------------------------------------------------------------------------------------------------- public metrics


def to_y(img: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """BT.601 studio-range luma of an RGB image, as MATLAB's ``rgb2ycbcr`` (the SR papers' "Y channel").

    For RGB in ``[0, 1]``: ``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255``, in ``[16/255, 235/255]``. Other
    data ranges are scaled alike: for 8-bit values (``data_range=255``) ``Y = 16 + (65.481 R + 128.553 G +
    24.966 B) / 255``, in ``[16, 235]``.

    Parameters
    ----------
    img : numpy.ndarray
        ``(3, H, W)`` (or ``(T, 3, H, W)``), bands in R, G, B order; any real dtype.
    data_range : float, default 1.0
        Value of full white (``1.0`` for ``[0, 1]`` floats, ``255`` for 8-bit).

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` (or ``(T, H, W)``) float64, not rounded.

    Raises
    ------
    InputError
        Not 3 bands, non-numeric or non-finite values, or a non-positive ``data_range``.
    """
    arr = _rgb(_as_image(img, "img", (2, 3, 4)), "to_y")
    dr = _data_range(data_range)
    return _luma(arr, _BT601, _BT601_OFFSET * dr)


def psnr(
    sr: np.ndarray,
    hr: np.ndarray,
    *,
    data_range: float = 1.0,
    crop: int = 0,
    channel: Channel = "rgb",
    round_to_8bit: bool = False,
) -> float:
    """Peak signal-to-noise ratio ``10 log10(data_range**2 / MSE)`` in dB; the MSE runs over all bands and pixels.

    Parameters
    ----------
    sr, hr : numpy.ndarray
        Super-resolved and reference images, same shape, ``(C, H, W)`` or ``(H, W)``; any real dtype.
    data_range : float, default 1.0
        Value range of the data (``1.0`` for ``[0, 1]``, ``255`` for 8-bit, ``65535`` for full-range 16-bit).
    crop : int, default 0
        Pixels removed on each border before scoring (the SR papers crop ``scale`` pixels).
    channel : {"rgb", "y"}, default "rgb"
        ``"rgb"`` scores all bands as given (any band count); ``"y"`` scores the BT.601 luma (:func:`to_y`) of
        3-band RGB images.
    round_to_8bit : bool, default False
        First map both images through ``round(clip(x / data_range * 255, 0, 255))`` and score on the 0..255
        scale, as the standard SR protocol does with saved 8-bit outputs.

    Returns
    -------
    float
        PSNR in dB; ``inf`` for identical images.

    Raises
    ------
    InputError
        Shapes differ, bad dimensions or values, ``channel="y"`` without 3 bands, a crop larger than the image.
    """
    a, b, dr = _prepare(sr, hr, data_range, crop, channel, round_to_8bit)
    return _psnr(a, b, dr)


def ssim(
    sr: np.ndarray,
    hr: np.ndarray,
    *,
    data_range: float = 1.0,
    crop: int = 0,
    channel: Channel = "rgb",
    round_to_8bit: bool = False,
) -> float:
    """Structural similarity (Wang et al. 2004) with the 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03.

    Computed per band on the region where the window fits (no padding: the SSIM map is ``(H - 10) x (W - 10)``),
    averaged over the map and then over bands. Same as MATLAB's reference code, the SR literature's
    ``calculate_ssim`` and scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)``.

    Parameters
    ----------
    sr, hr : numpy.ndarray
        Super-resolved and reference images, same shape, ``(C, H, W)`` or ``(H, W)``, at least 11x11 after
        ``crop``; any real dtype.
    data_range : float, default 1.0
        Value range of the data; sets the stabilising constants ``(K * data_range)**2``.
    crop : int, default 0
        Pixels removed on each border before scoring.
    channel : {"rgb", "y"}, default "rgb"
        ``"rgb"``: every band; ``"y"``: the BT.601 luma of 3-band RGB images.
    round_to_8bit : bool, default False
        First map both images to rounded 8-bit values, as :func:`psnr`.

    Returns
    -------
    float
        SSIM, 1.0 for identical images.

    Raises
    ------
    InputError
        As :func:`psnr`, or an image smaller than 11x11 after cropping.
    """
    a, b, dr = _prepare(sr, hr, data_range, crop, channel, round_to_8bit)
    return _ssim_gauss(a, b, dr)


def lr_consistency(sr: np.ndarray, lr: np.ndarray, scale: float, *, data_range: float = 1.0) -> float:
    """PSNR between the SR output shrunk back to the input grid and the LR input: a no-ground-truth check.

    The SR output is degraded with :func:`satsr.degrade.imresize` by ``1 / scale`` (MATLAB-style bicubic with
    antialiasing, the degradation the seed models were trained to invert) and compared with ``lr`` over all bands,
    without crop. A high value (typically above 40 dB for a faithful model on 8-bit data) means the output is
    consistent with the input: whatever detail the model added vanishes again when shrunk, so it did not change
    what the sensor saw. A low value means the output contradicts the input (shifted, recoloured or hallucinated
    structure larger than an LR pixel). It does not measure whether the added detail is right: an LR-consistent
    output can still be wrong at sub-pixel scale, so it complements, never replaces, scores against ground truth.

    Parameters
    ----------
    sr : numpy.ndarray
        Super-resolved image ``(C, H, W)`` or ``(H, W)``.
    lr : numpy.ndarray
        The low-resolution input, ``(C, ceil(H / scale), ceil(W / scale))`` (or 2-D alike).
    scale : float
        Upscaling factor of the SR output (4 for x4).
    data_range : float, default 1.0
        Value range of both images.

    Returns
    -------
    float
        PSNR in dB (``inf`` when the shrunk output equals the input exactly).

    Raises
    ------
    InputError
        Bad values or dimensions, a non-positive scale, or an ``lr`` whose shape is not the shrunk ``sr``'s.
    """
    down, b = _shrunk(sr, lr, scale)
    return _psnr(down, b, _data_range(data_range))


def lr_consistency_map(sr: np.ndarray, lr: np.ndarray, scale: float) -> np.ndarray:
    """Where the SR output contradicts its input: ``|shrink(sr) - lr|`` per input pixel, averaged over bands.

    The map behind :func:`lr_consistency` (same degradation): dark where the output, shrunk back, gives the input
    again; bright where it changed what the sensor saw.

    Parameters
    ----------
    sr : numpy.ndarray
        Super-resolved image ``(C, H, W)`` or ``(H, W)``.
    lr : numpy.ndarray
        The low-resolution input, ``(C, ceil(H / scale), ceil(W / scale))`` (or 2-D alike).
    scale : float
        Upscaling factor of the SR output.

    Returns
    -------
    numpy.ndarray
        ``(h, w)`` float64 absolute differences, in the images' units.

    Raises
    ------
    InputError
        As :func:`lr_consistency`.
    """
    down, b = _shrunk(sr, lr, scale)
    diff = np.abs(down - b)
    return diff.mean(axis=0) if diff.ndim == 3 else diff


def _shrunk(sr: np.ndarray, lr: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """``(sr shrunk by 1 / scale, lr)`` as float arrays of one shape (checked)."""
    a = _as_image(sr, "sr")
    b = _as_image(lr, "lr")
    try:
        s = float(scale)
    except (TypeError, ValueError):
        raise InputError(f"scale must be a positive number, got {scale!r}") from None
    if isinstance(scale, bool) or not (math.isfinite(s) and s > 0):
        raise InputError(f"scale must be a positive finite number, got {scale!r}")
    down = imresize(a, 1.0 / s)
    if down.shape != b.shape:
        raise InputError(
            f"sr {a.shape} shrunk by 1/{scale:g} has shape {down.shape}, which differs from lr {b.shape}; "
            "check the scale and that sr and lr cover the same area"
        )
    return down, b


# --------------------------------------------------------------------------------------------------- protocols


@dataclass(frozen=True, slots=True)
class Protocol:
    """How one paper's code scores its outputs (an entry of :data:`PROTOCOLS`).

    Attributes
    ----------
    name : str
        Key in :data:`PROTOCOLS` and value of ``evaluate(protocol=...)``.
    paper : str
        The paper (and repository) whose evaluation code this reproduces.
    psnr : str
        What the "psnr" value is.
    ssim : str
        What the "ssim" value is.
    ssim_in_code : bool
        Whether the authors' code computes SSIM at all; when not, satsr's SSIM is a stated stand-in and the
        paper's SSIM numbers may have been made otherwise.
    skip_ends : bool
        :func:`evaluate_clip` leaves out the first and last frame by default (the paper scores only inner frames).
    extra : tuple of str
        Further keys of the result besides "psnr" and "ssim".
    """

    name: str
    paper: str
    psnr: str
    ssim: str
    ssim_in_code: bool
    skip_ends: bool = False
    extra: tuple[str, ...] = ()


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            "standard",
            "Common SR practice (MATLAB / BasicSR): Set5, Vimeo-90K and most SR tables",
            "Y channel (BT.601 studio, float) of outputs rounded to 8 bit, border crop = scale, range 255",
            "Gaussian 11x11 SSIM on the same Y, same crop",
            ssim_in_code=True,
        ),
        Protocol(
            "lgtd",
            "LGTD, Xiao et al., TCSVT 2023 (XY-boy/LGTD eval.py)",
            "RGB, x255 floats, no clamp, no rounding, no crop (the shave_border argument is ignored), range 255; "
            "identical frames score 100 dB as the authors' PSNR returns",
            "not computed by the code; stand-in: Gaussian SSIM on the same RGB values",
            ssim_in_code=False,
        ),
        Protocol(
            "mtdo",
            "MTDO, IEEE JSTARS 2025 (zhaoqian469/MTDO eval.py)",
            "OpenCV BGR->YCrCb applied to RGB data: Y = 0.114 R + 0.587 G + 0.299 B (x255 floats, no offset, no "
            "clamp, no rounding), no crop, range 255; identical frames score 100 dB as the authors' PSNR returns",
            "skimage structural_similarity(Y_sr, Y_hr, channel_axis=0, data_range=Y_hr.max()-Y_hr.min()) on the 2-D "
            "Y: each row is a 1-D signal (7-sample uniform window, sample covariance), averaged; not standard SSIM",
            ssim_in_code=True,
        ),
        Protocol(
            "mstt",
            "MSTT-STVSR, Xiao et al., JAG 2022 (XY-boy/MSTT-STVSR test.py)",
            "Y channel (BT.601 studio) of outputs clamped, x255 and rounded to uint8, no crop, range 255; the code "
            "logs RGB and Y PSNR; 'psnr' is the Y value (see the module notes), both also as 'psnr_y' and 'psnr_rgb'",
            "not computed by the code; stand-in: Gaussian SSIM on the same Y",
            ssim_in_code=False,
            extra=("psnr_rgb", "psnr_y"),
        ),
        Protocol(
            "lgfn",
            "LGFN, IEEE Access 2020 (BIOINSu/LGFN, EDSR-style calc_psnr)",
            "luma (65.738 R + 129.057 G + 25.064 B) / 256 of outputs clamped to 0..255 and rounded, no crop, "
            "range 255; clips skip their first and last frame",
            "not computed by the code; stand-in: Gaussian SSIM on 16 + that luma",
            ssim_in_code=False,
            skip_ends=True,
        ),
        Protocol(
            "rgtgan",
            "RGTGAN, IEEE TGRS 2024 (stdinR/RGTGAN codes/example/RGTGAN/val.py)",
            "all 3 colour bands of outputs clamped, x255 and rounded to uint8, 4-pixel border crop, range 255",
            "Gaussian 11x11 SSIM on the same bands, valid region, mean over bands",
            ssim_in_code=True,
        ),
    )
}


def _eval_standard(a: np.ndarray, b: np.ndarray, dr: float, scale: int) -> dict[str, float]:
    ya = _luma(_rgb(_to_8bit(a, dr), "protocol 'standard'"), _BT601, 16.0)
    yb = _luma(_to_8bit(b, dr), _BT601, 16.0)
    ya, yb = _bands(_crop(ya, scale)), _bands(_crop(yb, scale))
    return {"psnr": _psnr(ya, yb, 255.0), "ssim": _ssim_gauss(ya, yb, 255.0)}


def _eval_lgtd(a: np.ndarray, b: np.ndarray, dr: float, scale: int) -> dict[str, float]:
    a, b = _bands(a * (255.0 / dr)), _bands(b * (255.0 / dr))
    return {"psnr": _psnr(a, b, 255.0, identical=100.0), "ssim": _ssim_gauss(a, b, 255.0)}


def _eval_mtdo(a: np.ndarray, b: np.ndarray, dr: float, scale: int) -> dict[str, float]:
    ya = _luma(_rgb(a, "protocol 'mtdo'") * (255.0 / dr), _MTDO_SWAPPED, 0.0)
    yb = _luma(b * (255.0 / dr), _MTDO_SWAPPED, 0.0)
    span = float(yb.max() - yb.min())  # skimage data_range taken from the reference frame, as in MTDO's eval.py
    if span == 0.0:
        raise InputError("protocol 'mtdo': the reference frame is constant, so its SSIM data range is 0")
    return {"psnr": _psnr(ya, yb, 255.0, identical=100.0), "ssim": _ssim_rows(ya, yb, span)}


def _eval_mstt(a: np.ndarray, b: np.ndarray, dr: float, scale: int) -> dict[str, float]:
    a8, b8 = _to_8bit(_rgb(a, "protocol 'mstt'"), dr), _to_8bit(b, dr)
    ya, yb = _luma(a8, _BT601, 16.0)[None], _luma(b8, _BT601, 16.0)[None]
    psnr_y = _psnr(ya, yb, 255.0)
    return {"psnr": psnr_y, "ssim": _ssim_gauss(ya, yb, 255.0), "psnr_rgb": _psnr(a8, b8, 255.0), "psnr_y": psnr_y}


def _eval_lgfn(a: np.ndarray, b: np.ndarray, dr: float, scale: int) -> dict[str, float]:
    # The code scores the luma of the difference, where the +16 cancels; SSIM (not in the code) needs the offset
    ya = _luma(_to_8bit(_rgb(a, "protocol 'lgfn'"), dr), _LGFN, 16.0)[None]
    yb = _luma(_to_8bit(b, dr), _LGFN, 16.0)[None]
    return {"psnr": _psnr(ya, yb, 255.0), "ssim": _ssim_gauss(ya, yb, 255.0)}


def _eval_rgtgan(a: np.ndarray, b: np.ndarray, dr: float, scale: int) -> dict[str, float]:
    a8, b8 = _bands(_crop(_to_8bit(a, dr), 4)), _bands(_crop(_to_8bit(b, dr), 4))  # val.py crops 4 px (its x4)
    return {"psnr": _psnr(a8, b8, 255.0), "ssim": _ssim_gauss(a8, b8, 255.0)}


_EVALUATORS: dict[str, Callable[[np.ndarray, np.ndarray, float, int], dict[str, float]]] = {
    "standard": _eval_standard,
    "lgtd": _eval_lgtd,
    "mtdo": _eval_mtdo,
    "mstt": _eval_mstt,
    "lgfn": _eval_lgfn,
    "rgtgan": _eval_rgtgan,
}


def _protocol(name: object) -> Protocol:
    if not isinstance(name, str) or name not in PROTOCOLS:
        raise InputError(f"unknown evaluation protocol {name!r}; known: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def evaluate(
    sr: np.ndarray, hr: np.ndarray, *, protocol: str = "standard", scale: int = 4, data_range: float = 1.0
) -> dict[str, float]:
    """Score one SR image (or video frame) against its reference as a paper's evaluation code does.

    Protocols (:data:`PROTOCOLS`; values below are on the 0..255 scale the papers use, whatever ``data_range``):

    ``"standard"``
        Common SR practice (MATLAB, BasicSR): both images clipped and rounded to 8 bit, BT.601 studio-range Y
        (:func:`to_y`, not rounded), ``scale`` pixels cropped on each border; PSNR and Gaussian SSIM on that Y.
    ``"lgtd"``
        LGTD (TCSVT 2023): PSNR over the RGB bands of the x255 floats, no clamping, no rounding, no crop (identical
        images score 100 dB, as in the code). The code computes no SSIM; "ssim" is the Gaussian SSIM on the same
        RGB values, a stand-in.
    ``"mtdo"``
        MTDO (JSTARS 2025): OpenCV's BGR->YCrCb on RGB data, so "Y" is ``0.114 R + 0.587 G + 0.299 B`` (no offset,
        floats, no clamp/rounding), PSNR on it without crop (100 dB for identical images). "ssim" is what
        ``skimage.metrics.structural_similarity(Y_sr, Y_hr, channel_axis=0, data_range=Y_hr.max() - Y_hr.min())``
        gives on those 2-D arrays: every image row is a channel, i.e. a 1-D SSIM along each row with a 7-sample
        uniform window and sample covariance, averaged. It is not comparable with standard SSIM.
    ``"mstt"``
        MSTT-STVSR (JAG 2022): outputs clamped, x255, rounded to uint8; PSNR on RGB ("psnr_rgb") and on BT.601
        studio Y ("psnr_y"), no crop. "psnr" is the Y value: the authors' code logs both, and the evidence
        (module notes) points to Y in the paper's table. The code computes no SSIM; "ssim" is the Gaussian SSIM
        on Y, a stand-in.
    ``"lgfn"``
        LGFN (IEEE Access 2020): outputs clamped to 0..255 and rounded; PSNR of the luma
        ``(65.738 R + 129.057 G + 25.064 B) / 256`` (the code takes it of the difference, where the offset cancels),
        no crop. No SSIM in the code; "ssim" is the Gaussian SSIM of ``16 +`` that luma. :func:`evaluate_clip`
        skips the first and last frame, as the paper.
    ``"rgtgan"``
        RGTGAN (TGRS 2024, ``val.py``): outputs clamped, x255, rounded to uint8, 4 pixels cropped on each border;
        PSNR over the 3 colour bands together and Gaussian SSIM per band (valid region), averaged. The paper's
        figures were made with another script (Y channel and a colour correction, per its README); this is the
        repository's ``val.py``.

    Parameters
    ----------
    sr, hr : numpy.ndarray
        Output and reference, same shape ``(3, H, W)`` RGB (``"lgtd"`` and ``"rgtgan"`` take any band count and
        ``(H, W)``); any real dtype.
    protocol : str, default "standard"
        A key of :data:`PROTOCOLS`.
    scale : int, default 4
        SR factor; only ``"standard"`` uses it (border crop).
    data_range : float, default 1.0
        Value of full white in ``sr`` and ``hr`` (``1.0`` for model outputs in ``[0, 1]``, ``255`` for 8-bit).

    Returns
    -------
    dict of str to float
        ``{"psnr": dB, "ssim": ...}``; ``"mstt"`` adds ``"psnr_rgb"`` and ``"psnr_y"``.

    Raises
    ------
    InputError
        Unknown protocol, shapes differ, wrong band count, bad values, images too small.
    """
    spec = _protocol(protocol)
    sc = _int_at_least(scale, "scale", 1)
    dr = _data_range(data_range)
    a, b = _pair(sr, hr)
    return _EVALUATORS[spec.name](a, b, dr, sc)


def evaluate_clip(
    frames_sr: np.ndarray,
    frames_hr: np.ndarray,
    *,
    protocol: str = "standard",
    scale: int = 4,
    data_range: float = 1.0,
    skip_ends: bool | None = None,
) -> dict[str, float]:
    """Score a clip frame by frame with :func:`evaluate` and average, as the papers report clip scores.

    Each value is the mean of the per-frame values (the papers average PSNR in dB over frames, not the MSE).
    For a data set, average these clip means over clips (MSTT-STVSR) or pool all frames (LGTD, MTDO); with
    equal-length clips the two agree.

    Parameters
    ----------
    frames_sr, frames_hr : numpy.ndarray
        ``(T, C, H, W)``, same shape.
    protocol, scale, data_range
        As :func:`evaluate`.
    skip_ends : bool, optional
        Leave out the first and last frame; default the protocol's rule (only ``"lgfn"`` does).

    Returns
    -------
    dict of str to float
        The keys of :func:`evaluate`, each averaged over the scored frames.

    Raises
    ------
    InputError
        As :func:`evaluate`, non-4-D input, or fewer than 3 frames when the ends are skipped.
    """
    spec = _protocol(protocol)
    sc = _int_at_least(scale, "scale", 1)
    dr = _data_range(data_range)
    a, b = _pair(frames_sr, frames_hr, ndims=(4,), names=("frames_sr", "frames_hr"))
    if spec.skip_ends if skip_ends is None else skip_ends:
        if a.shape[0] < 3:
            raise InputError(f"skipping the first and last frame leaves none of {a.shape[0]} frames")
        a, b = a[1:-1], b[1:-1]
    per_frame = [_EVALUATORS[spec.name](fa, fb, dr, sc) for fa, fb in zip(a, b)]
    return {key: float(np.mean([r[key] for r in per_frame])) for key in per_frame[0]}
