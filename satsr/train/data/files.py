"""Listing and reading raster frames for the data sets; raw values to ``[0, 1]``; the decoded-frame cache."""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError

from satsr.errors import InputError
from satsr.io.read import RASTER_SUFFIXES

__all__ = ["read_raster", "raster_header", "list_rasters", "FrameCache", "to_unit", "check_value_range",
           "select_bands", "PathLike"]

PathLike = str | os.PathLike[str]


def _open_error(path: str, err: BaseException) -> InputError:
    return InputError(f"{path}: not a readable raster ({err})")


def read_raster(path: str) -> np.ndarray:
    """All bands of a raster, native dtype ``(C, H, W)``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                return src.read()
    except RasterioError as err:
        raise _open_error(path, err) from err


def raster_header(path: str) -> tuple[int, int, int, str]:
    """``(bands, rows, cols, dtype)`` of a raster without reading its pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                return src.count, src.height, src.width, str(src.dtypes[0])
    except RasterioError as err:
        raise _open_error(path, err) from err


def list_rasters(folder: Path) -> list[str]:
    """The rasters in ``folder``, sorted by name (``InputError`` when it is missing or holds none)."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    paths = sorted(str(p) for p in folder.iterdir() if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)
    if not paths:
        raise InputError(f"{folder}: folder holds no frames ({', '.join(RASTER_SUFFIXES)})")
    return paths


class FrameCache:
    """Least-recently-used store of arrays, bounded in bytes (an array larger than the bound is not kept)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Any, np.ndarray] = OrderedDict()
        self._bytes = 0

    def get(self, key: Any, load: Callable[[], np.ndarray]) -> np.ndarray:
        """The array stored under ``key``, else ``load()``, stored while it fits."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = load()
        if value.nbytes <= self.max_bytes:
            self._items[key] = value
            self._bytes += value.nbytes
            while self._bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes
        return value


def to_unit(a: np.ndarray, value_range: tuple[float, float] | None) -> np.ndarray:
    """Map raw values to float32 ``[0, 1]``: ``value_range``, else an integer dtype's full range, else identity."""
    if value_range is None and np.issubdtype(a.dtype, np.integer):
        info = np.iinfo(a.dtype)
        value_range = (float(info.min), float(info.max))
    x = a.astype(np.float32)
    if value_range is not None:
        lo, hi = value_range
        x = (x - np.float32(lo)) / np.float32(hi - lo)
    return np.clip(x, 0.0, 1.0, out=x)


def check_value_range(value_range: Sequence[float] | None) -> tuple[float, float] | None:
    """``(low, high)`` as floats, or ``None``; ``InputError`` unless ``high > low``."""
    if value_range is None:
        return None
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise InputError(f"value_range must be (low, high) with high > low, got {tuple(value_range)!r}")
    return lo, hi


def select_bands(bands: Sequence[int] | None, count: int, what: str) -> list[int] | None:
    """0-based band indices from 1-based ``bands``; InputError naming ``what`` when out of range."""
    if bands is None:
        return None
    out = [int(b) - 1 for b in bands]
    if not out or any(b < 0 or b >= count for b in out):
        raise InputError(f"{what}: bands {list(bands)} are not all within 1..{count} (1-based band numbers)")
    return out
