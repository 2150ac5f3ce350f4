"""Clips of frames and their samples: a window of LR frames around a centre frame, its HR, crops aligned to the pixel.

At clip ends the window repeats the first or last frame. With ``crop``, the HR crop sits at ``scale`` times the
LR crop's offset, so the two correspond exactly; LR made on the fly is computed from the crop plus a margin of
real neighbouring pixels and then trimmed, so it equals the matching window of the whole frame's LR (the crop's
border is not padded with made-up pixels).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from satsr.errors import InputError
from satsr.train.data.files import raster_header, read_raster, select_bands, to_unit
from satsr.train.data.samples import SampledDataset

__all__ = ["Clip", "FrameDataset", "clip_keys"]


@dataclass
class Clip:
    """One clip of a :class:`FrameDataset`: its frames, and what its first read learnt about them."""

    name: str
    frames: list[Any]  # paths, or time indices of a stack
    lr: list[str] | None = None  # LR frames on disk, one per HR frame
    shape: tuple[int, int] | None = None  # HR (rows, cols), trimmed to multiples of scale; set on first read
    raw_shape: tuple[int, int, int] | None = None  # (bands, rows, cols) every frame must have
    stack: Any = None  # GeoStacks: the DataArray
    bands: list[int] | None = None  # 0-based band selection, set with shape
    index: int = -1  # position in the data set's clip list (the cache key)


def clip_keys(name: str, paths: Sequence[str]) -> list[str]:
    """Sample keys ``<clip>/<frame stem>``."""
    return [f"{name}/{Path(p).stem}" for p in paths]


class FrameDataset(SampledDataset):
    """Clips of frames; one sample per (clip, centre frame). Subclasses add their clips, then ``_finish_init``."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._clips: list[Clip] = []
        self._samples: list[tuple[int, int, str]] = []

    def __len__(self) -> int:
        return len(self._samples)

    def _add_clip(self, clip: Clip, centres: Iterable[int] | None, keys: Sequence[str]) -> None:
        n = len(clip.frames)
        picked = range(n) if centres is None else [int(c) for c in centres if 0 <= int(c) < n]
        ci = clip.index = len(self._clips)
        self._clips.append(clip)
        self._samples.extend((ci, c, keys[c]) for c in picked)

    def _finish_init(self, where: str) -> None:
        if not self._samples:
            raise InputError(f"{where}: no samples (no clips, or no centre frame within them)")
        self._clip_shape(self._clips[self._samples[0][0]])  # fail early on the first clip's size, bands and LR

    # Reading: every frame of a clip must have the first frame's bands and size.
    def _header(self, clip: Clip, i: int) -> tuple[int, int, int]:
        count, h, w, _ = raster_header(clip.frames[i])
        return count, h, w

    def _load(self, clip: Clip, i: int) -> np.ndarray:
        return read_raster(clip.frames[i])

    def _where(self, clip: Clip, i: int) -> str:
        return str(clip.frames[i])

    def _clip_shape(self, clip: Clip) -> tuple[int, int]:
        if clip.shape is None:
            raw = self._header(clip, 0)
            sel = select_bands(self.bands, raw[0], self._where(clip, 0))
            h, w = raw[1] - raw[1] % self.scale, raw[2] - raw[2] % self.scale
            need = self.crop or self.scale
            if h < need or w < need:
                raise InputError(
                    f"{self._where(clip, 0)}: frame {raw[1]}x{raw[2]} is smaller than the crop {need}x{need}"
                )
            if clip.lr is not None:
                self._check_lr_header(clip, raw)
            clip.raw_shape, clip.shape = raw, (h, w)
            clip.bands = sel
        return clip.shape

    def _check_lr_header(self, clip: Clip, raw: tuple[int, int, int]) -> None:
        first = clip.lr[0]  # type: ignore[index]
        lr_raw = raster_header(first)
        if lr_raw[0] != raw[0] or lr_raw[1] * self.scale != raw[1] or lr_raw[2] * self.scale != raw[2]:
            raise InputError(
                f"{first}: LR frame {lr_raw[0]}x{lr_raw[1]}x{lr_raw[2]} (bands x rows x cols) is not "
                f"the HR frame {self._where(clip, 0)} ({raw[0]}x{raw[1]}x{raw[2]}) divided by scale={self.scale}"
            )

    def _frame(self, clip: Clip, i: int) -> np.ndarray:
        """Frame ``i`` of ``clip``, bands selected, native dtype, full size (cached)."""

        def load() -> np.ndarray:
            a = self._load(clip, i)
            if a.shape != clip.raw_shape:
                raise InputError(
                    f"{self._where(clip, i)}: frame is {'x'.join(map(str, a.shape))} (bands x rows x cols) but "
                    f"{self._where(clip, 0)} is {'x'.join(map(str, clip.raw_shape))}; every frame of a clip "  # type: ignore[arg-type]  # set by then
                    "must have one size and band count"
                )
            sel = clip.bands
            return a if sel is None else np.ascontiguousarray(a[sel])

        self._clip_shape(clip)
        return self._cache.get((clip.index, i), load)

    def _window(self, clip: Clip, i: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """HR window of frame ``i``, float32 in ``[0, 1]``."""
        return to_unit(self._frame(clip, i)[:, y0:y1, x0:x1], self.value_range)

    def _lr_window(self, clip: Clip, i: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        def load() -> np.ndarray:
            a = read_raster(clip.lr[i])  # type: ignore[index]
            want = (clip.raw_shape[0], clip.raw_shape[1] // self.scale, clip.raw_shape[2] // self.scale)  # type: ignore[index]
            if a.shape != want:
                raise InputError(f"{clip.lr[i]}: LR frame is {a.shape}, expected {want} (bands, rows, cols)")  # type: ignore[index]
            sel = clip.bands
            return a if sel is None else np.ascontiguousarray(a[sel])

        return to_unit(self._cache.get((clip.index, i, "lr"), load)[:, y0:y1, x0:x1], self.value_range)

    def sample(self, index: int, rng: np.random.Generator) -> dict[str, Any]:  # noqa: D102 (see SampledDataset)
        index = self._index(index)
        ci, centre, key = self._samples[index]
        clip = self._clips[ci]
        s, half = self.scale, self.frames // 2
        ids = np.clip(np.arange(centre - half, centre + half + 1), 0, len(clip.frames) - 1)
        big_h, big_w = self._clip_shape(clip)
        lh, lw = big_h // s, big_w // s
        if self.crop:
            ch = cw = self.crop // s
            ly, lx = int(rng.integers(0, lh - ch + 1)), int(rng.integers(0, lw - cw + 1))
        else:
            ly = lx = 0
            ch, cw = lh, lw
        blur, noise = self.degradation.draw(rng)
        hr = self._window(clip, centre, s * ly, s * (ly + ch), s * lx, s * (lx + cw))
        if clip.lr is not None:
            lr = np.stack([self._lr_window(clip, int(t), ly, ly + ch, lx, lx + cw) for t in ids])
        else:
            # Degrade the crop with real context around it, then trim: equals the whole frame's LR there.
            m = self._margin
            y0, y1 = max(0, s * ly - m), min(big_h, s * (ly + ch) + m)
            x0, x1 = max(0, s * lx - m), min(big_w, s * (lx + cw) + m)
            uniq, inverse = np.unique(ids, return_inverse=True)
            block = np.stack([self._window(clip, int(t), y0, y1, x0, x1) for t in uniq])
            oy, ox = (s * ly - y0) // s, (s * lx - x0) // s
            lr = self._degrade(block, blur)[inverse, :, oy : oy + ch, ox : ox + cw]
        return self._finish(lr, hr, key, noise, rng)
