"""Pseudo-video as training data: clips made from still images (:func:`satsr.train.pseudo.make_clip`) and degraded."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from satsr.errors import InputError
from satsr.io.read import resolve_paths
from satsr.train.data.files import raster_header, read_raster, select_bands, to_unit
from satsr.train.data.options import Degradation
from satsr.train.data.samples import SampledDataset, with_flows
from satsr.train.pseudo import Motion, make_clip

__all__ = ["PseudoVideo"]


class PseudoVideo(SampledDataset):
    """Synthetic staring-satellite clips cut from still images (:func:`satsr.train.pseudo.make_clip`).

    Each call picks a random region of the still, makes a fresh clip of ``frames`` frames with random drift,
    jitter, rotation (and movers), and degrades it; the HR target is the centre frame, which is the still
    itself (not resampled). Real satellite video is scarce; this is the main source for training.

    For space-time models (``time_scale > 1``) a clip spans ``(frames - 1) * time_scale + 1`` frames: the LR are
    every ``time_scale``-th of them and ``hr`` holds all of them, as :class:`satsr.train.video_clips.VideoClips`
    gives them (the still is the centre frame of the span, an in-between frame for an even ``frames``).

    Parameters
    ----------
    images : array, DataArray, str, path, or a sequence of them
        ``(C, H, W)`` arrays (floats in ``[0, 1]``, or integers scaled by ``value_range``), DataArrays
        ``(time, band, y, x)`` or ``(band, y, x)`` (each time step is a still), raster files (PNG, JPEG,
        GeoTIFF, ...), folders of them or glob patterns.
    crop : int
        HR crop size (a multiple of ``scale``); every still must be at least this large.
    samples_per_image : int, default 1
        Samples per still per epoch; the length is ``n_images * samples_per_image``.
    scale, frames, augment, degradation, seed, cache_mb
        As for :class:`satsr.train.data.Jilin189`.
    value_range, bands
        As for :class:`satsr.train.data.GeoStacks`.
    motion : Motion, optional
        The clips' drift, jitter, rotation and movers (:class:`satsr.train.pseudo.Motion`; config keys ``drift``,
        ``jitter``, ``rotation``, ``movers``); default ``Motion()``.
    time_scale : int, default 1
        ``r > 1``: space-time samples (above); ``frames`` is then the number of LR frames, 2 or more.
    flows : mapping, optional
        Also yield ``f_flow`` and ``b_flow``, Ce Liu's flows between neighbouring LR frames, with these options
        (as :class:`satsr.train.video_clips.VideoClips`; the space-time training of MSTT asks for them).

    Raises
    ------
    InputError
        No images, an unreadable file, a still smaller than ``crop`` or not ``(C, H, W)``.
    """

    option_groups = MappingProxyType({"degradation": Degradation, "motion": Motion})

    def __init__(
        self,
        images: Any,
        *,
        crop: int,
        samples_per_image: int = 1,
        scale: int = 4,
        frames: int = 5,
        augment: bool = False,
        degradation: Degradation | None = None,
        seed: int = 0,
        value_range: Sequence[float] | None = None,
        bands: Sequence[int] | None = None,
        motion: Motion | None = None,
        cache_mb: float = 256,
        time_scale: int = 1,
        flows: Mapping[str, Any] | None = None,
    ) -> None:
        if crop is None:
            raise InputError("PseudoVideo: crop is required (HR pixels, a multiple of scale)")
        if isinstance(time_scale, bool) or not isinstance(time_scale, (int, np.integer)) or time_scale < 1:
            raise InputError(f"PseudoVideo: time_scale must be a positive integer, got {time_scale!r}")
        if time_scale > 1 and (isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 2):
            raise InputError(f"PseudoVideo: a space-time sample (time_scale={time_scale}) needs frames >= 2 LR "
                             f"frames, got {frames!r}")
        # The base checks the frames a clip spans: odd, the still in the middle (with time_scale > 1 always so).
        span = (int(frames) - 1) * int(time_scale) + 1 if time_scale > 1 else frames
        super().__init__(
            scale=scale, frames=span, crop=crop, augment=augment, degradation=degradation, seed=seed,
            value_range=value_range, bands=bands, cache_mb=cache_mb,
        )
        self.span, self.frames, self.time_scale = self.frames, int(frames), int(time_scale)
        self.flows = None if flows is None else dict(flows)
        if int(samples_per_image) < 1:
            raise InputError(f"PseudoVideo: samples_per_image must be >= 1, got {samples_per_image!r}")
        self.samples_per_image = int(samples_per_image)
        self.motion = motion or Motion()
        single = hasattr(images, "dims") or isinstance(images, (str, os.PathLike, np.ndarray))
        # Each still: (name, array or path); files are read when first needed.
        self._stills: list[tuple[str, Any]] = []
        for k, item in enumerate([images] if single else list(images)):
            self._stills.extend(self._still_sources(k, item))
        if not self._stills:
            raise InputError("PseudoVideo: no images given")

    def _still_sources(self, k: int, item: Any) -> list[tuple[str, Any]]:
        """``(name, array or path)`` of each still in one item of ``images``, checked."""
        if isinstance(item, np.ndarray):
            return [(f"image{k}", self._checked(item, f"image {k}"))]
        if hasattr(item, "dims"):
            da = item if "time" in item.dims else item.expand_dims("time")
            name = str(da.name or f"image{k}")
            return [(f"{name}/{t}", self._checked(np.asarray(da.isel(time=t).values), name))
                    for t in range(int(da.sizes["time"]))]
        out = []
        for path in resolve_paths(item):
            count, h, w, _ = raster_header(path)
            select_bands(self.bands, count, path)
            self._check_size(h, w, path)
            out.append((Path(path).stem, path))
        return out

    def _check_size(self, h: int, w: int, what: str) -> None:
        if min(h, w) < self.crop:  # type: ignore[operator]
            raise InputError(f"{what}: still is {h}x{w}, smaller than crop={self.crop}")

    def _checked(self, a: np.ndarray, what: str) -> np.ndarray:
        if a.ndim == 2:
            a = a[None]
        if a.ndim != 3:
            raise InputError(f"PseudoVideo: {what} must be (C, H, W), got shape {a.shape}")
        sel = select_bands(self.bands, a.shape[0], what)
        self._check_size(a.shape[1], a.shape[2], what)
        return a if sel is None else a[sel]

    def __len__(self) -> int:
        return len(self._stills) * self.samples_per_image

    def _still(self, k: int) -> np.ndarray:
        name, src = self._stills[k]
        if isinstance(src, np.ndarray):
            return src
        return self._cache.get(k, lambda: self._checked(read_raster(src), src))

    def sample(self, index: int, rng: np.random.Generator) -> dict[str, Any]:  # noqa: D102 (see SampledDataset)
        index = self._index(index)
        k, j = divmod(index, self.samples_per_image)
        still = self._still(k)
        big_h, big_w = still.shape[-2:]
        s, crop = self.scale, int(self.crop)  # type: ignore[arg-type]
        # Frames are made with a margin of real context for the LR's borders (as far as the still allows), cut
        # from a region with room for the motion; make_clip mirrors the still where the motion leaves it.
        m = min(self._margin, (min(big_h, big_w) - crop) // 2 // s * s)
        size = crop + 2 * m
        mo = self.motion  # mo.drift is a pair (Motion.__post_init__)
        reach = (self.span // 2) * max(mo.drift) + 4 * mo.jitter + math.radians(mo.rotation) * size + 12  # type: ignore[arg-type]
        need = size + 2 * math.ceil(reach)
        rh, rw = min(need, big_h), min(need, big_w)
        y0, x0 = int(rng.integers(0, big_h - rh + 1)), int(rng.integers(0, big_w - rw + 1))
        blur, noise = self.degradation.draw(rng)
        region = to_unit(still[:, y0 : y0 + rh, x0 : x0 + rw], self.value_range)
        clip = make_clip(region, self.span, size=size, rng=rng, drift=mo.drift, jitter=mo.jitter,
                         rotation=mo.rotation, movers=mo.movers)
        lr = self._degrade(clip[:: self.time_scale], blur)[..., m // s : (m + crop) // s, m // s : (m + crop) // s]
        if self.time_scale == 1:
            hr = clip[self.span // 2, :, m : m + crop, m : m + crop]
        else:  # every frame of the span is a target: the key frames and the ones in between
            hr = clip[:, :, m : m + crop, m : m + crop]
        return with_flows(self._finish(lr, hr, f"{self._stills[k][0]}/{j}", noise, rng), self.flows)
