"""``da.satsr``: thin aliases of the satsr functions on xarray DataArrays. Holds nothing but the array."""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xarray as xr

from satsr._defaults import DEFAULT_MODEL
from satsr.geo import Grid
from satsr.io import to_cog, to_zarr

if TYPE_CHECKING:
    from torch import nn

__all__ = ["SatsrAccessor"]


@xr.register_dataarray_accessor("satsr")
class SatsrAccessor:
    """``da.satsr.*``: each method calls the satsr function of the same name with ``da`` bound."""

    def __init__(self, da: xr.DataArray) -> None:
        self._da = da

    @property
    def grid(self) -> Grid:
        """The array's :class:`~satsr.geo.Grid` (shape, transform, CRS).

        Read from any convention :func:`satsr.geo.read_georef` reads (satsr, rioxarray, odc-geo, stackstac, CF).
        """
        return Grid.from_xarray(self._da)

    def upscale(self, model: str | nn.Module = DEFAULT_MODEL, **options: Any) -> xr.DataArray:
        """Alias of :func:`satsr.upscale` with this array bound.

        Parameters
        ----------
        model : str or torch.nn.Module, default "lgtd-s"
            As :func:`satsr.upscale`'s ``model``.
        **options
            :func:`satsr.upscale`'s keyword arguments (``scale``, ``tile``, ``bands``, ``device``, ``reference``...),
            passed on unchanged; a reference model's options travel in one :class:`satsr.pipeline.ReferenceOptions`.

        Returns
        -------
        xarray.DataArray
            As :func:`satsr.upscale`.
        """
        from satsr.pipeline import upscale  # torch loads here, not when satsr is imported

        return upscale(self._da, model, **options)

    def to_cog(
        self,
        path: str | PathLike[str],
        *,
        compress: str = "deflate",
        level: int | None = None,
        overviews: bool = True,
        blocksize: int = 512,
        tags: dict[str, str] | None = None,
        progress: bool = False,
    ) -> list[Path]:
        """Alias of :func:`satsr.to_cog` with this array bound."""
        return to_cog(
            self._da, path, compress=compress, level=level, overviews=overviews, blocksize=blocksize, tags=tags,
            progress=progress,
        )

    def to_zarr(self, path: str | PathLike[str], *, progress: bool = False) -> Path:
        """Alias of :func:`satsr.to_zarr` with this array bound."""
        return to_zarr(self._da, path, progress=progress)
