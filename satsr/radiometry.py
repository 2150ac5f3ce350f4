"""Radiometry: map stored values to a model's range and back, and carry nodata through.

* Integer data are mapped linearly from ``value_range`` (default: the dtype's full range, e.g. 0..65535) to the
  model's range, and back after inference, rounded and clipped to the dtype: an identity model returns 8- and
  16-bit input bit for bit (32-bit integers are limited by the float32 models to a 24-bit mantissa).
* Float data pass through unchanged unless a ``value_range`` is given.
* Nodata (the declared value, and NaN in floats) is masked per band: before inference the holes are filled with
  the nearest valid pixel (so the fill value never bleeds into valid pixels as dark or bright halos), after
  inference the mask, upsampled by nearest neighbour, is written back as nodata.
* A reference image from another date or sensor is matched to the LR's values band by band
  (:func:`fit_radiometry`: mean and standard deviation, or the whole histogram) before reference-based SR.
* For display (quick-look pictures, video), values are stretched per band to 8 bit between two percentiles of
  the valid pixels: :func:`stretch_limits`, then :func:`stretch_to_uint8`.

No torch here: pure NumPy and SciPy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

from satsr.errors import InputError

__all__ = [
    "Radiometry", "nodata_mask", "fill_nearest", "upsample_mask", "Matching", "RadiometryMatch", "fit_radiometry",
    "match_radiometry",
    "STRETCH_PERCENTILES", "stretch_limits", "stretch_to_uint8",
]

#: Default lower and upper percentiles of the display stretch to 8 bit.
STRETCH_PERCENTILES = (2.0, 98.0)


@dataclass(frozen=True, slots=True)
class Radiometry:
    """How stored values map to model values, and what nodata is.

    Parameters
    ----------
    dtype : numpy.dtype
        Stored data type (input and output).
    nodata : float or None
        Declared nodata value; NaN counts as nodata for float data in any case.
    value_range : tuple of float or None
        Stored values that map to the model's ``model_range``; default the full integer range, or the identity
        for floats.
    model_range : tuple of float
        Range the model works in.
    """

    dtype: np.dtype
    nodata: float | None = None
    value_range: tuple[float, float] | None = None
    model_range: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        dt = np.dtype(self.dtype)
        object.__setattr__(self, "dtype", dt)
        if dt.kind not in "uif":
            raise InputError(f"data type {dt} is not supported (integer or float rasters only)")
        if self.value_range is not None:
            lo, hi = (float(v) for v in self.value_range)
            if not hi > lo:
                raise InputError(f"value_range must be (low, high) with high > low, got {self.value_range}")
        if self.nodata is not None and dt.kind in "ui" and not np.isnan(self.nodata):
            info = np.iinfo(dt)
            if not info.min <= self.nodata <= info.max:
                raise InputError(f"nodata {self.nodata} does not fit data type {dt}")

    @property
    def stored_range(self) -> tuple[float, float] | None:
        """Stored values mapped to ``model_range``; ``None`` when values pass through unchanged."""
        if self.value_range is not None:
            return float(self.value_range[0]), float(self.value_range[1])
        if self.dtype.kind in "ui":
            info = np.iinfo(self.dtype)
            return float(info.min), float(info.max)
        return None

    def to_model(self, arr: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Stored values to float32 model values (nodata untouched: mask and fill separately).

        ``out``, a float32 array of ``arr``'s shape (``arr`` itself allowed), receives the result instead of a new
        array: the same values, computed in place.
        """
        if out is None:
            out = arr.astype(np.float32)
        elif out is not arr:
            np.copyto(out, arr, casting="unsafe")
        rng = self.stored_range
        if rng is not None:
            (lo, hi), (mlo, mhi) = rng, self.model_range
            out -= np.float32(lo)
            out *= np.float32((mhi - mlo) / (hi - lo))
            out += np.float32(mlo)
        return out

    def from_model(self, arr: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Float model values back to the stored dtype: inverse map, then round and clip for integers.

        ``arr`` (float32) may be overwritten: blocks are large, so the arithmetic is done in place. ``out``, an
        array of the stored dtype and ``arr``'s shape (a view into a larger block, say), receives the result
        instead of a new array.
        """
        # float32 holds 8/16-bit values with room to round correctly; 32-bit integers need float64.
        work = arr.astype(np.float64) if self.dtype.itemsize >= 4 and self.dtype.kind in "ui" else arr
        rng = self.stored_range
        if rng is not None:
            (lo, hi), (mlo, mhi) = rng, self.model_range
            # Multiply by the span (exact for integer ranges): dividing by a rounded gain misrounds halves.
            # Passes that change nothing are skipped (blocks are large): x - 0 is x, and x + 0 differs from x only
            # in the sign of a zero, which an integer output does not keep.
            if mlo:
                work -= work.dtype.type(mlo)
            work *= work.dtype.type((hi - lo) / (mhi - mlo))
            if lo or self.dtype.kind == "f":
                work += work.dtype.type(lo)
        if self.dtype.kind in "ui":
            info = np.iinfo(self.dtype)
            np.rint(work, out=work)
            np.clip(work, info.min, info.max, out=work)
        if out is not None:
            np.copyto(out, work, casting="unsafe")  # the cast astype makes: exact after rint and clip
            return out
        return work.astype(self.dtype, copy=False)

    def fill_value(self) -> float:
        """Value written where the output is nodata (``nodata``, or NaN for float data without one)."""
        if self.nodata is not None:
            return float(self.nodata)
        if self.dtype.kind == "f":
            return float("nan")
        raise InputError("integer data without a nodata value have no fill value")


def nodata_mask(arr: np.ndarray, nodata: float | None) -> np.ndarray | None:
    """Boolean mask of nodata pixels (the declared value, and NaN for floats), or ``None`` when there are none."""
    mask = None
    if arr.dtype.kind == "f":
        nan = np.isnan(arr)
        mask = nan if nan.any() else None
    if nodata is not None and not np.isnan(nodata):
        eq = arr == np.asarray(nodata).astype(arr.dtype)
        if eq.any():
            mask = eq if mask is None else mask | eq
    return mask


def fill_nearest(arr: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Replace masked pixels with the nearest valid pixel of the same 2-D plane (in place, returned).

    Planes that are entirely masked are set to zero.
    """
    planes = arr.reshape(-1, *arr.shape[-2:])
    masks = mask.reshape(-1, *mask.shape[-2:])
    for plane, m in zip(planes, masks):
        if not m.any():
            continue
        if m.all():
            plane[...] = 0
            continue
        idx = ndimage.distance_transform_edt(m, return_distances=False, return_indices=True)
        plane[...] = plane[tuple(idx)]
    return arr


def upsample_mask(mask: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upsampling of the last two axes of a mask by an integer ``scale``."""
    return np.repeat(np.repeat(mask, scale, axis=-2), scale, axis=-1)


# -- matching a reference's radiometry to the LR's ------------------------------------------------------------------
#: How a reference's values are mapped onto the LR's: per band mean and standard deviation, quantiles, or not at all.
Matching = Literal["meanstd", "histogram", "none"]


@dataclass(frozen=True, eq=False)
class RadiometryMatch:
    """A per-band mapping of reference values onto LR values (see :func:`fit_radiometry`)."""

    method: Matching
    gain: tuple[float, ...] = ()
    offset: tuple[float, ...] = ()
    ref_quantiles: tuple[np.ndarray, ...] = ()
    lr_quantiles: tuple[np.ndarray, ...] = ()

    def apply(self, ref: np.ndarray) -> np.ndarray:
        """Map ``(band, ...)`` reference values; NaN stays NaN. Returns float32."""
        out = np.array(ref, dtype=np.float32, copy=True)
        if self.method == "none":
            return out
        for b in range(out.shape[0]):
            v = out[b]
            ok = np.isfinite(v)
            if self.method == "meanstd":
                v[ok] = v[ok] * self.gain[b] + self.offset[b]
            else:
                v[ok] = np.interp(v[ok], self.ref_quantiles[b], self.lr_quantiles[b])
        return out


def fit_radiometry(ref: Sequence[np.ndarray], lr: Sequence[np.ndarray], method: Matching = "meanstd"
                   ) -> RadiometryMatch:
    """Fit the mapping of reference values onto LR values, band by band, from the pixels of each they share.

    Parameters
    ----------
    ref, lr : sequence of numpy.ndarray
        Per band, the valid values of the reference and of the LR over the same area (any lengths).
    method : {"meanstd", "histogram", "none"}
        Match each band's mean and standard deviation (default), its whole histogram (quantile mapping, 257
        quantiles), or nothing.

    Raises
    ------
    InputError
        An unknown method, or a band with no valid pixel on either side.
    """
    if method not in ("meanstd", "histogram", "none"):
        raise InputError(f"radiometry matching must be 'meanstd', 'histogram' or 'none', got {method!r}")
    if method == "none":
        return RadiometryMatch("none")
    gains, offsets, qr, ql = [], [], [], []
    q = np.linspace(0, 1, 257)
    for r, t in zip(ref, lr):
        r = np.asarray(r, np.float64)
        t = np.asarray(t, np.float64)
        r, t = r[np.isfinite(r)], t[np.isfinite(t)]
        if r.size == 0 or t.size == 0:
            raise InputError("the reference and the LR share no valid pixel to match their radiometry on")
        rs = float(r.std())
        g = float(t.std()) / rs if rs > 0 else 1.0
        gains.append(g)
        offsets.append(float(t.mean()) - g * float(r.mean()))
        qr.append(np.quantile(r, q))
        ql.append(np.quantile(t, q))
    if method == "meanstd":
        return RadiometryMatch("meanstd", tuple(gains), tuple(offsets))
    return RadiometryMatch("histogram", ref_quantiles=tuple(qr), lr_quantiles=tuple(ql))


def match_radiometry(ref: np.ndarray, lr: np.ndarray, covered: np.ndarray, scale: int,
                     method: Matching = "meanstd") -> np.ndarray:
    """Map the reference's values to the LR's, band by band, over the area the reference covers.

    Parameters
    ----------
    ref : numpy.ndarray
        ``(band, H*scale, W*scale)`` reference on the output grid (NaN outside its coverage).
    lr : numpy.ndarray
        ``(band, H, W)`` LR values (NaN for nodata).
    covered : numpy.ndarray
        ``(H*scale, W*scale)`` bool coverage of the reference.
    scale : int
    method : {"meanstd", "histogram", "none"}
        See :func:`fit_radiometry`.

    Returns
    -------
    numpy.ndarray
        The matched reference, float32, NaN where it was NaN.
    """
    h, w = lr.shape[-2:]
    # The LR pixels under the reference's coverage (a block of scale x scale output pixels each).
    under = covered[: h * scale, : w * scale].reshape(h, scale, w, scale).all(axis=(1, 3))
    fit = fit_radiometry([ref[b][covered] for b in range(ref.shape[0])], [lr[b][under] for b in range(lr.shape[0])],
                         method)
    return fit.apply(ref)


def stretch_limits(
    values: np.ndarray, bad: np.ndarray | None = None, percentiles: tuple[float, float] = STRETCH_PERCENTILES
) -> list[tuple[float, float]]:
    """Per-band ``(low, high)`` of a display stretch: two percentiles of each band's valid pixels.

    Parameters
    ----------
    values : numpy.ndarray
        ``(band, y, x)`` values, any real dtype.
    bad : numpy.ndarray, optional
        Boolean mask of the same shape, true where a pixel is invalid (e.g. nodata). NaN and infinite values
        never count, masked or not.
    percentiles : (float, float), default (2, 98)
        Lower and upper percentiles, 0..100.

    Returns
    -------
    list of (float, float)
        One ``(low, high)`` per band, with ``high > low``: ``(0, 1)`` for a band without a valid pixel, and
        ``high = low + 1`` for a flat band.

    Examples
    --------
    >>> stretch_limits(np.arange(101.0).reshape(1, 1, 101))
    [(2.0, 98.0)]
    """
    limits = []
    for i, band in enumerate(values):
        valid = (band if bad is None else band[~bad[i]]).astype(np.float64)
        valid = valid[np.isfinite(valid)]
        if valid.size == 0:
            limits.append((0.0, 1.0))
            continue
        lo, hi = (float(v) for v in np.percentile(valid, percentiles))
        if not hi > lo:
            hi = lo + 1.0
        limits.append((lo, hi))
    return limits


def stretch_to_uint8(
    values: np.ndarray, limits: Sequence[tuple[float, float]], bad: np.ndarray | None = None
) -> np.ndarray:
    """Stretch ``(band, y, x)`` values linearly to 0..255, band by band: ``low`` to 0 and ``high`` to 255.

    Parameters
    ----------
    values : numpy.ndarray
        ``(band, y, x)`` values, any real dtype (scaled in float64).
    limits : sequence of (float, float)
        One ``(low, high)`` per band, ``high > low``, e.g. from :func:`stretch_limits`.
    bad : numpy.ndarray, optional
        Boolean mask of the same shape; a pixel invalid in any band is black in all bands.

    Returns
    -------
    numpy.ndarray
        uint8, the shape of ``values``: rounded and clipped; NaN is 0, +inf 255 and -inf 0.

    Examples
    --------
    >>> stretch_to_uint8(np.array([[[0.0, 5.0, 10.0, np.nan]]]), [(0.0, 10.0)]).tolist()
    [[[0, 128, 255, 0]]]
    """
    out = np.empty(values.shape, dtype=np.uint8)
    for i, (lo, hi) in enumerate(limits):
        with np.errstate(invalid="ignore"):  # inf - inf is NaN, and NaN shows black
            scaled = (values[i].astype(np.float64) - lo) * (255.0 / (hi - lo))
        out[i] = np.clip(np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0), 0, 255).round().astype(np.uint8)
    if bad is not None:
        out[:, bad.any(axis=0)] = 0
    return out
