"""Helpers for tests of satsr and of code built on it: write small real GeoTIFFs."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning

__all__ = ["write_geotiff", "UTM_30M", "JILIN1_CRS", "JILIN1_TRANSFORM"]

#: A 30 m north-up grid in UTM (the default transform of :func:`write_geotiff`).
UTM_30M = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0)

#: The illustrative grid that satsr's tests, benchmarks and docs give the Jilin-1 LR frames
#: (``shared/data/jilin1_airport``), PNGs without georeferencing: UTM zone 50N, 3.68 m LR pixels (0.92 m after
#: x4), upper-left corner at (500000, 4400000). ``satsr.open_stack(frames, crs=JILIN1_CRS,
#: transform=JILIN1_TRANSFORM)``.
JILIN1_CRS = "EPSG:32650"
#: Geotransform of the Jilin-1 LR frames on that grid (see :data:`JILIN1_CRS`).
JILIN1_TRANSFORM = Affine(3.68, 0.0, 500000.0, 0.0, -3.68, 4400000.0)


def write_geotiff(
    path: str | os.PathLike[str],
    data: np.ndarray,
    *,
    crs: str | None = "EPSG:32621",
    transform: Affine | None = UTM_30M,
    nodata: float | None = None,
    descriptions: Sequence[str] | None = None,
    datetime: str | None = None,
    tiled: bool = False,
) -> Path:
    """Write ``data`` (bands, rows, cols) as a real GeoTIFF and return its path (parent folders are created).

    Parameters
    ----------
    path : str or path
        File to write.
    data : numpy.ndarray
        Pixels, ``(bands, rows, cols)``.
    crs, transform : optional
        Georeferencing; ``None`` for both writes a file without any.
    nodata : float, optional
        Declared nodata value.
    descriptions : sequence of str, optional
        Band descriptions.
    datetime : str, optional
        ``TIFFTAG_DATETIME`` value, ``"YYYY:MM:DD HH:MM:SS"``.
    tiled : bool, default False
        Write 16 x 16 tiles instead of strips.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(
        driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0], dtype=data.dtype,
        crs=crs, transform=transform, nodata=nodata,
    )
    if tiled:
        profile.update(tiled=True, blockxsize=16, blockysize=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
            for i, name in enumerate(descriptions or (), start=1):
                dst.set_band_description(i, name)
            if datetime:
                dst.update_tags(TIFFTAG_DATETIME=datetime)
    return path
