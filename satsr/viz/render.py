"""Pixels: values to 8-bit images with a shared contrast stretch (nodata black), resizing, and PNG encoding.

The stretch itself lives in :mod:`satsr.radiometry` (shared with :func:`satsr.to_video`); this module adds the
nodata mask of a picture, the RGB layout and the PNG writers.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning

from satsr.errors import InputError
from satsr.io._atomic import atomic_output
from satsr.radiometry import STRETCH_PERCENTILES, stretch_to_uint8

__all__ = [
    "GAP", "STRETCH", "check_stretch", "enlarge", "invalid_mask", "png_base64", "render_rgb", "save_band_png",
    "save_png", "to_rgb",
]

#: Width in pixels of the white gap between the two panels.
GAP = 4
#: Lower and upper percentiles of the contrast stretch.
STRETCH = STRETCH_PERCENTILES


def check_stretch(stretch: Sequence[float]) -> tuple[float, float]:
    """``(low, high)`` percentiles of ``stretch``, refusing anything but ``0 <= low < high <= 100``."""
    try:
        lo, hi = (float(v) for v in stretch)
    except (TypeError, ValueError):
        raise InputError(f"stretch must be two percentiles (low, high), got {stretch!r}") from None
    if not 0 <= lo < hi <= 100:
        raise InputError(f"stretch percentiles must satisfy 0 <= low < high <= 100, got {lo:g} {hi:g}")
    return lo, hi


def invalid_mask(values: np.ndarray, nodata: float | None) -> np.ndarray:
    """Per-band mask of nodata, NaN and infinite values."""
    bad = ~np.isfinite(values) if values.dtype.kind == "f" else np.zeros(values.shape, dtype=bool)
    if nodata is None or np.isnan(nodata):
        return bad
    if values.dtype.kind in "ui":
        info = np.iinfo(values.dtype)
        if not (info.min <= nodata <= info.max and float(nodata).is_integer()):
            return bad  # a nodata value the dtype cannot hold matches no pixel
    bad |= values == np.asarray(nodata).astype(values.dtype)
    return bad


def to_rgb(img: np.ndarray) -> np.ndarray:
    """``(1 or 3, y, x)`` uint8 to ``(y, x, 3)``."""
    return np.repeat(img, 3, axis=0).transpose(1, 2, 0) if img.shape[0] == 1 else img.transpose(1, 2, 0)


def render_rgb(values: np.ndarray, nodata: float | None, limits: Sequence[tuple[float, float]]) -> np.ndarray:
    """``(band, y, x)`` values to a ``(y, x, 3)`` uint8 image: stretched by ``limits``, invalid pixels black."""
    return to_rgb(stretch_to_uint8(values, limits, invalid_mask(values, nodata)))


def enlarge(img: np.ndarray, side: int) -> np.ndarray:
    """Nearest-neighbour resize of ``(y, x, 3)`` to ``side x side``."""
    rows = (np.arange(side) * img.shape[0]) // side
    cols = (np.arange(side) * img.shape[1]) // side
    return img[rows][:, cols]


def save_png(img: np.ndarray, path: Path) -> None:
    """Write a ``(y, x, 3)`` uint8 image as an RGB PNG (Pillow), under a temporary name then renamed."""
    from PIL import Image

    with atomic_output(path) as tmp:
        Image.fromarray(img, mode="RGB").save(tmp, format="PNG", compress_level=6)


def save_band_png(img: np.ndarray, path: Path) -> None:
    """Write a ``(1 or 3, y, x)`` uint8 image as a grey or RGB PNG with GDAL, leaving no ``.aux.xml`` beside it."""
    with atomic_output(path) as tmp:
        with warnings.catch_warnings(), rasterio.Env(GDAL_PAM_ENABLED="NO"):
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(
                tmp, "w", driver="PNG", width=img.shape[2], height=img.shape[1], count=img.shape[0], dtype="uint8"
            ) as dst:
                dst.write(img)


def png_base64(img: np.ndarray) -> str:
    """A ``(y, x, 3)`` uint8 image as base64 PNG, for a ``data:`` URI."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img, mode="RGB").save(buf, format="PNG", compress_level=6)
    return base64.b64encode(buf.getvalue()).decode("ascii")
