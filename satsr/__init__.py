"""satsr: super-resolution of georeferenced satellite video and imagery, georeferencing kept intact.

>>> import satsr
>>> stack = satsr.open_stack("frames/*.tif")          # doctest: +SKIP
>>> sr = satsr.upscale(stack, model="bicubic", scale=4)  # doctest: +SKIP
>>> satsr.to_cog(sr, "out/")                           # doctest: +SKIP
"""

from satsr import accessor as _accessor  # noqa: F401  (registers da.satsr)
from satsr import errors as errors
from satsr import models as models
from satsr.geo import Grid as Grid
from satsr.io.read import open_stack as open_stack
from satsr.io.read import raster_info as raster_info
from satsr.pipeline import satsr_version as _satsr_version
from satsr.pipeline import upscale as upscale

__version__ = _satsr_version()

__all__ = ["Grid", "errors", "models", "open_stack", "raster_info", "upscale", "__version__"]
