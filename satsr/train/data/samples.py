"""What every data set shares: checked options, per-call random generators, augmentation and the sample's form.

Randomness (crop position, flips, rotation, blur and noise draws, pseudo-video motion) comes from one
generator per call, ``numpy.random.default_rng([seed, epoch, index, n])`` where ``n`` counts earlier calls
for ``index`` since the last :meth:`SampledDataset.set_epoch` in this process. A fresh data set with one seed and
one call order therefore gives the same samples, in any process. With a ``DataLoader`` whose workers are not
persistent (the default), each epoch's workers start from a copy of the data set, so call ``set_epoch(epoch)``
before each epoch, or every epoch repeats the first one's draws; every sample is then a function of
``(seed, epoch, index)`` alone, whatever the number of workers. Persistent workers keep their own copies:
``set_epoch`` does not reach them, but their call counts still give new draws each epoch (reproducible for one
sampler order and number of workers).

Decoded frames are kept in memory (least recently used first out, ``cache_mb`` per data set object and per
worker), since decoding PNGs costs more than everything else a sample needs.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from satsr.degrade import degrade
from satsr.errors import InputError
from satsr.train.data.files import FrameCache, check_value_range
from satsr.train.data.options import Degradation, FlatOptions

__all__ = ["SampledDataset", "flip_sample", "as_sample", "with_flows"]


def flip_sample(lr: np.ndarray, hr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random flips and a transpose, one draw for the whole sample: every frame, LR and HR, alike.

    A transpose (with the flips, any multiple of 90 degrees) only on square crops, so that a batch keeps one shape.
    """
    hflip, vflip, transpose = rng.random(3) < 0.5
    if hflip:
        lr, hr = lr[..., ::-1], hr[..., ::-1]
    if vflip:
        lr, hr = lr[..., ::-1, :], hr[..., ::-1, :]
    if transpose and hr.shape[-1] == hr.shape[-2]:
        lr, hr = lr.swapaxes(-1, -2), hr.swapaxes(-1, -2)
    return lr, hr


def as_sample(lr: np.ndarray, hr: np.ndarray, key: str) -> dict[str, Any]:
    """A training sample: contiguous float32 tensors ``lr``, ``hr`` and its ``key``."""
    return {
        "lr": torch.from_numpy(np.ascontiguousarray(lr, dtype=np.float32)),
        "hr": torch.from_numpy(np.ascontiguousarray(hr, dtype=np.float32)),
        "key": key,
    }


def with_flows(sample: dict[str, Any], options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``sample`` with Ce Liu's flows between its neighbouring LR frames (``f_flow``, ``b_flow``; MSTT takes them).

    ``options`` are :func:`satsr.models.mstt.neighbour_flows`'s; ``None`` leaves the sample as it is. Computed where
    the sample is made, so that a ``DataLoader``'s workers share that CPU work.
    """
    if options is None:
        return sample
    from satsr.models.mstt import neighbour_flows  # only space-time data need it

    fwd, bwd = neighbour_flows(sample["lr"].numpy(), **options)
    sample["f_flow"] = torch.from_numpy(fwd.astype(np.float32))
    sample["b_flow"] = torch.from_numpy(bwd.astype(np.float32))
    return sample


def _positive_int(value: Any) -> bool | np.bool_:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= 1


class SampledDataset(FlatOptions, Dataset):
    """Base of the data sets: options, per-call generators, degradation, noise and augmentation.

    Subclasses define ``__len__`` and :meth:`sample`. Config entries give ``degradation``'s fields flat
    (``blur_sigma``, ``noise_sigma``; see :meth:`~satsr.train.data.options.FlatOptions.from_options`).

    Parameters
    ----------
    scale, frames, crop, augment, degradation, seed, value_range, bands, cache_mb
        As for :class:`satsr.train.data.Jilin189` and :class:`satsr.train.data.FrameFolders`.
    """

    option_groups = MappingProxyType({"degradation": Degradation})

    def __init__(
        self, *, scale: int, frames: int, crop: int | None, augment: bool, degradation: Degradation | None,
        seed: int, value_range: Sequence[float] | None = None, bands: Sequence[int] | None = None,
        cache_mb: float = 256,
    ) -> None:
        name = type(self).__name__
        if not _positive_int(scale):
            raise InputError(f"{name}: scale must be a positive integer, got {scale!r}")
        if not _positive_int(frames) or frames % 2 == 0:
            raise InputError(f"{name}: frames must be a positive odd integer (the window is centred), got {frames!r}")
        if crop is not None and (int(crop) < scale or int(crop) % scale):
            raise InputError(f"{name}: crop must be a positive multiple of scale={scale} (HR pixels), got {crop!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InputError(f"{name}: seed must be a non-negative integer, got {seed!r}")
        self.scale = int(scale)
        self.frames = int(frames)
        self.crop = None if crop is None else int(crop)
        self.augment = bool(augment)
        self.degradation = degradation or Degradation()
        self.seed = int(seed)
        self.value_range = check_value_range(value_range)
        self.bands = None if bands is None else [int(b) for b in bands]
        self._cache = FrameCache(int(cache_mb * 2**20))
        self._epoch = 0
        self._calls: dict[int, int] = {}
        # HR pixels of context around a crop for on-the-fly LR: the antialiased bicubic reaches 2 * scale HR
        # pixels out, the blur 3 sigma (degrade truncates there); rounded up to whole LR pixels.
        reach = 2 * self.scale + 3 * self.degradation.max_blur + 1
        self._margin = self.scale * math.ceil(reach / self.scale)

    def __getstate__(self) -> dict[str, Any]:
        # Workers started by pickling (spawn) get an empty cache rather than a copy of the parent's frames.
        state = self.__dict__.copy()
        state["_cache"] = FrameCache(self._cache.max_bytes)
        return state

    def set_epoch(self, epoch: int) -> None:
        """Make the next draws depend on ``epoch`` (and restart the per-index call counts).

        Parameters
        ----------
        epoch : int
            Non-negative epoch number; call before each epoch, in the main process.
        """
        self._epoch = int(epoch)
        self._calls.clear()

    def __getitem__(self, index: int) -> dict[str, Any]:
        i = self._index(index)
        return self.sample(i, self._rng(i))

    def sample(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        """Sample ``index`` drawn with the caller's generator (crop, flips, pseudo-video, blur and noise).

        ``ds[i]`` is ``ds.sample(i, <the dataset's own generator>)``; a training loop that wants the data of step
        ``k`` to be a pure function of ``(seed, k)`` (exact resume) passes its own generator instead.
        """
        raise NotImplementedError

    def _rng(self, index: int) -> np.random.Generator:
        n = self._calls.get(index, 0)
        self._calls[index] = n + 1
        return np.random.default_rng([self.seed, self._epoch, index, n])

    def _index(self, index: int) -> int:
        i = operator.index(index)
        n = len(self)  # type: ignore[arg-type]  # subclasses define __len__
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"{type(self).__name__}: index {index} out of range for {n} samples")
        return i

    def _degrade(self, hr: np.ndarray, blur: float) -> np.ndarray:
        return degrade(hr, self.scale, blur_sigma=blur or None)

    def _finish(self, lr: np.ndarray, hr: np.ndarray, key: str, noise: float, rng: np.random.Generator
                ) -> dict[str, Any]:
        if noise:
            lr = np.clip(lr + rng.normal(0.0, noise, lr.shape), 0.0, 1.0)
        if self.augment:
            lr, hr = flip_sample(lr, hr, rng)
        return as_sample(lr, hr, key)
