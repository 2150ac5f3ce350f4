"""``da.satsr``: thin aliases of the satsr functions on xarray DataArrays. Holds nothing but the array."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import xarray as xr

from satsr._defaults import DEFAULT_MODEL
from satsr.geo import Grid
from satsr.io import to_cog, to_zarr
from satsr.tiling import Blend

if TYPE_CHECKING:
    from torch import nn

    from satsr.engine import Compile, Device, Precision
    from satsr.io.reference import Matching

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

    def upscale(
        self,
        model: str | nn.Module = DEFAULT_MODEL,
        *,
        scale: int | None = None,
        tile: int | None = None,
        halo: int | None = None,
        blend: Blend | None = None,
        feather: int | None = None,
        batch_size: int | None = None,
        device: Device = "auto",
        value_range: tuple[float, float] | None = None,
        model_options: Mapping[str, Any] | None = None,
        pretrained: str | PathLike[str] | None = None,
        bands: Sequence[int] | None = None,
        reference: xr.DataArray | str | PathLike[str] | None = None,
        reference_bands: Sequence[int] | None = None,
        reference_matching: Matching = "meanstd",
        uncovered: Literal["error", "fallback"] = "error",
        fallback: str | nn.Module = "bicubic",
        max_shift: float = 0.5,
        precision: Precision = "auto",
        compile: Compile = "auto",  # noqa: A002
        channels_last: bool | None = None,
    ) -> xr.DataArray:
        """Alias of :func:`satsr.upscale` with this array bound."""
        from satsr.pipeline import upscale  # torch loads here, not when satsr is imported

        return upscale(
            self._da, model, scale=scale, tile=tile, halo=halo, blend=blend, feather=feather,
            batch_size=batch_size, device=device, value_range=value_range, model_options=model_options,
            pretrained=pretrained, bands=bands, reference=reference, reference_bands=reference_bands,
            reference_matching=reference_matching, uncovered=uncovered, fallback=fallback, max_shift=max_shift,
            precision=precision, compile=compile, channels_last=channels_last,
        )

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
