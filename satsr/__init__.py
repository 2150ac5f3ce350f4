"""satsr: super-resolution of georeferenced satellite video and imagery, georeferencing kept intact.

>>> import satsr
>>> stack = satsr.open_stack("frames/*.tif")             # doctest: +SKIP
>>> sr = satsr.upscale(stack)                             # doctest: +SKIP  (default model: lgtd-s, RGB x4)
>>> satsr.to_cog(sr, "out/")                             # doctest: +SKIP

``satsr.upscale``, ``satsr.ReferenceOptions`` and ``satsr.models`` load PyTorch on first use (PEP 562), so that
``import satsr`` and the command line's ``--help`` stay fast (importing this CUDA build of torch took 2-6 s here).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from satsr import accessor as _accessor  # noqa: F401  (registers da.satsr; light: torch loads on first call)
from satsr import errors as errors
from satsr._version import package_version as _package_version
from satsr.geo import Grid as Grid
from satsr.io import open_stack as open_stack
from satsr.io import open_video as open_video
from satsr.io import open_zarr as open_zarr
from satsr.io import raster_info as raster_info
from satsr.io import to_cog as to_cog
from satsr.io import to_geotiff as to_geotiff
from satsr.io import to_video as to_video
from satsr.io import to_zarr as to_zarr

if TYPE_CHECKING:
    from satsr import models as models
    from satsr.pipeline import ReferenceOptions as ReferenceOptions
    from satsr.pipeline import upscale as upscale

__version__ = _package_version()

__all__ = [
    "Grid", "ReferenceOptions", "errors", "models", "open_stack", "open_video", "open_zarr", "raster_info", "to_cog",
    "to_geotiff", "to_video", "to_zarr",
    "upscale", "__version__",
]

_LAZY = {
    "upscale": ("satsr.pipeline", "upscale"),
    "ReferenceOptions": ("satsr.pipeline", "ReferenceOptions"),
    "models": ("satsr.models", None),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = importlib.import_module(module)
        value = getattr(value, attr) if attr else value
        globals()[name] = value
        return value
    raise AttributeError(f"module 'satsr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
