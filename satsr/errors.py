"""Exceptions and warnings raised by satsr.

Every exception derives from :class:`SatsrError` *and* from the built-in that fits it, so callers can catch
either ``satsr.errors.SatsrError`` or, say, ``ValueError``. Messages name the file or object, say what is
wrong and what to do.
"""

from __future__ import annotations

__all__ = [
    "SatsrError",
    "InputError",
    "GeoreferenceError",
    "GridMismatchError",
    "CatalogError",
    "UnknownModelError",
    "ModelError",
    "CheckpointError",
    "OutputError",
    "RegistryError",
    "SatsrWarning",
]


class SatsrError(Exception):
    """Root of every satsr exception."""


class InputError(SatsrError, ValueError):
    """Bad user input: a file that is not a raster, an unsupported scale, a band count a model cannot take."""


class GeoreferenceError(InputError):
    """Missing or unusable georeferencing: no CRS/transform, RPC-only, rotated or sheared grids."""


class GridMismatchError(InputError):
    """Frames of one stack disagree on CRS, grid, shape, band count or dtype."""


class CatalogError(InputError):
    """A STAC catalog, item or asset that cannot be read or used."""


class UnknownModelError(SatsrError, LookupError):
    """A model name that is not registered."""


class ModelError(SatsrError, ValueError):
    """A model that cannot be used as asked (unsupported scale, bad arguments, wrong bands)."""


class CheckpointError(SatsrError, ValueError):
    """A checkpoint whose keys or shapes do not fit the model."""


class OutputError(SatsrError, OSError):
    """An output that cannot be written: missing folder, clobbering, write failure."""


class RegistryError(SatsrError, ValueError):
    """A registration that conflicts with an existing one."""


class SatsrWarning(UserWarning):
    """Warnings issued by satsr (for example, output in pixel coordinates)."""
