"""Raster I/O: open frames or a video as a ``(time, band, y, x)`` stack; write COGs, GeoTIFFs, zarr and video."""

from satsr.io.read import open_stack as open_stack
from satsr.io.read import raster_info as raster_info
from satsr.io.video import open_video as open_video
from satsr.io.video import to_video as to_video
from satsr.io.video import video_info as video_info
from satsr.io.write import to_cog as to_cog
from satsr.io.write import to_geotiff as to_geotiff
from satsr.io.zarr_cube import open_zarr as open_zarr
from satsr.io.zarr_cube import to_zarr as to_zarr

__all__ = [
    "open_stack", "open_video", "open_zarr", "raster_info", "to_cog", "to_geotiff", "to_video", "to_zarr", "video_info",
]
