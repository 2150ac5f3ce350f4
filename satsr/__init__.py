"""satsr: super-resolution of georeferenced satellite video and imagery, georeferencing kept intact.

>>> import satsr
>>> stack = satsr.open_stack("frames/*.tif")             # doctest: +SKIP
>>> sr = satsr.upscale(stack, model="bicubic", scale=4)  # doctest: +SKIP
>>> satsr.to_cog(sr, "out/")                             # doctest: +SKIP
"""

from satsr import accessor as _accessor  # noqa: F401  (registers da.satsr)
from satsr import errors as errors
from satsr import models as models
from satsr._version import package_version as _package_version
from satsr.geo import Grid as Grid
from satsr.io import open_stack as open_stack
from satsr.io import open_zarr as open_zarr
from satsr.io import raster_info as raster_info
from satsr.io import to_cog as to_cog
from satsr.io import to_geotiff as to_geotiff
from satsr.io import to_zarr as to_zarr
from satsr.pipeline import upscale as upscale

__version__ = _package_version()

__all__ = [
    "Grid", "errors", "models", "open_stack", "open_zarr", "raster_info", "to_cog", "to_geotiff", "to_zarr",
    "upscale", "__version__",
]
