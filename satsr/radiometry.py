"""Radiometry: map stored values to a model's range and back, and carry nodata through.

* Integer data are mapped linearly from ``value_range`` (default: the dtype's full range, e.g. 0..65535) to the
  model's range, and back after inference, rounded and clipped to the dtype: an identity model returns 8- and
  16-bit input bit for bit (32-bit integers are limited by the float32 models to a 24-bit mantissa).
* Float data pass through unchanged unless a ``value_range`` is given.
* Nodata (the declared value, and NaN in floats) is masked per band: before inference the holes are filled with
  the nearest valid pixel (so the fill value never bleeds into valid pixels as dark or bright halos), after
  inference the mask, upsampled by nearest neighbour, is written back as nodata.

No torch here: pure NumPy and SciPy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from satsr.errors import InputError

__all__ = ["Radiometry", "nodata_mask", "fill_nearest", "upsample_mask"]


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

    def to_model(self, arr: np.ndarray) -> np.ndarray:
        """Stored values to float32 model values (nodata untouched: mask and fill separately)."""
        out = arr.astype(np.float32)
        rng = self.stored_range
        if rng is not None:
            (lo, hi), (mlo, mhi) = rng, self.model_range
            out -= np.float32(lo)
            out *= np.float32((mhi - mlo) / (hi - lo))
            out += np.float32(mlo)
        return out

    def from_model(self, arr: np.ndarray) -> np.ndarray:
        """Float model values back to the stored dtype: inverse map, then round and clip for integers.

        ``arr`` (float32) may be overwritten: blocks are large, so the arithmetic is done in place.
        """
        # float32 holds 8/16-bit values with room to round correctly; 32-bit integers need float64.
        work = arr.astype(np.float64) if self.dtype.itemsize >= 4 and self.dtype.kind in "ui" else arr
        rng = self.stored_range
        if rng is not None:
            (lo, hi), (mlo, mhi) = rng, self.model_range
            # Multiply by the span (exact for integer ranges): dividing by a rounded gain misrounds halves.
            work -= work.dtype.type(mlo)
            work *= work.dtype.type((hi - lo) / (mhi - mlo))
            work += work.dtype.type(lo)
        if self.dtype.kind in "ui":
            info = np.iinfo(self.dtype)
            np.rint(work, out=work)
            np.clip(work, info.min, info.max, out=work)
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
