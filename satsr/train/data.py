"""Training data sets: a window of LR frames and the HR centre frame, from video, frame folders, stacks and stills.

Every data set yields ``{"lr": (T, C, h, w), "hr": (C, h * scale, w * scale), "key": str}``: float32 torch
tensors in ``[0, 1]``, ``T = frames`` LR frames centred on the frame whose HR is ``"hr"`` (at clip ends the
window repeats the first or last frame). torch's default collate batches them (``"key"`` becomes a list).

LR frames come from disk where the layout has them (Jilin-189's ``LR4x/``), otherwise from
:func:`satsr.degrade.degrade` (MATLAB bicubic, optional blur and noise), as the papers made theirs. With
``crop``, the HR crop sits at ``scale`` times the LR crop's offset, so the two correspond exactly; LR made on
the fly is computed from the crop plus a margin of real neighbouring pixels and then trimmed, so it equals the
matching window of the whole frame's LR (the crop's border is not padded with made-up pixels).

Randomness (crop position, flips, rotation, blur and noise draws, pseudo-video motion) comes from one
generator per call, ``numpy.random.default_rng([seed, epoch, index, n])`` where ``n`` counts earlier calls
for ``index`` since the last :meth:`set_epoch` in this process. A fresh data set with one seed and one call
order therefore gives the same samples, in any process. With a ``DataLoader`` whose workers are not persistent
(the default), each epoch's workers start from a copy of the data set, so call ``set_epoch(epoch)`` before each
epoch, or every epoch repeats the first one's draws; every sample is then a function of ``(seed, epoch, index)``
alone, whatever the number of workers. Persistent workers keep their own copies: ``set_epoch`` does not reach
them, but their call counts still give new draws each epoch (reproducible for one sampler order and number of
workers).

Decoded frames are kept in memory (least recently used first out, ``cache_mb`` per data set object and per
worker), since decoding PNGs costs more than everything else a sample needs.
"""

from __future__ import annotations

import math
import operator
import os
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import torch
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from torch.utils.data import Dataset

from satsr.degrade import degrade
from satsr.errors import InputError
from satsr.io import open_stack
from satsr.io.read import RASTER_SUFFIXES, resolve_paths
from satsr.train.pseudo import make_clip

__all__ = ["Jilin189", "VimeoSeptuplet", "FrameFolders", "GeoStacks", "PseudoVideo", "RefSRTriplets", "find_refsr_sets",
           "list_rasters", "read_raster", "flip_sample", "as_sample"]

Sigma = float | tuple[float, float] | None
PathLike = str | os.PathLike[str]


# -- reading ------------------------------------------------------------------------------------------------------
def _open_error(path: str, err: BaseException) -> InputError:
    return InputError(f"{path}: not a readable raster ({err})")


def read_raster(path: str) -> np.ndarray:
    """All bands of a raster, native dtype ``(C, H, W)``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                return src.read()
    except RasterioError as err:
        raise _open_error(path, err) from err


def _raster_header(path: str) -> tuple[int, int, int, str]:
    """``(bands, rows, cols, dtype)`` of a raster without reading its pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                return src.count, src.height, src.width, str(src.dtypes[0])
    except RasterioError as err:
        raise _open_error(path, err) from err


def list_rasters(folder: Path) -> list[str]:
    """The rasters in ``folder``, sorted by name (``InputError`` when it is missing or holds none)."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    paths = sorted(str(p) for p in folder.iterdir() if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)
    if not paths:
        raise InputError(f"{folder}: folder holds no frames ({', '.join(RASTER_SUFFIXES)})")
    return paths


class _LRU:
    """Least-recently-used store of arrays, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Any, np.ndarray] = OrderedDict()
        self._bytes = 0

    def get(self, key: Any, load: Callable[[], np.ndarray]) -> np.ndarray:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = load()
        if value.nbytes <= self.max_bytes:
            self._items[key] = value
            self._bytes += value.nbytes
            while self._bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes
        return value


def _to_unit(a: np.ndarray, value_range: tuple[float, float] | None) -> np.ndarray:
    """Map raw values to float32 ``[0, 1]``: ``value_range``, else an integer dtype's full range, else identity."""
    if value_range is None and np.issubdtype(a.dtype, np.integer):
        info = np.iinfo(a.dtype)
        value_range = (float(info.min), float(info.max))
    x = a.astype(np.float32)
    if value_range is not None:
        lo, hi = value_range
        x = (x - np.float32(lo)) / np.float32(hi - lo)
    return np.clip(x, 0.0, 1.0, out=x)


def _check_value_range(value_range: Sequence[float] | None) -> tuple[float, float] | None:
    if value_range is None:
        return None
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise InputError(f"value_range must be (low, high) with high > low, got {tuple(value_range)!r}")
    return lo, hi


def _select_bands(bands: Sequence[int] | None, count: int, what: str) -> list[int] | None:
    """0-based band indices from 1-based ``bands``; InputError naming ``what`` when out of range."""
    if bands is None:
        return None
    out = [int(b) - 1 for b in bands]
    if not out or any(b < 0 or b >= count for b in out):
        raise InputError(f"{what}: bands {list(bands)} are not all within 1..{count} (1-based band numbers)")
    return out


# -- base classes ---------------------------------------------------------------------------------------------------
class _Sampled(Dataset):
    """Options, per-call generators, augmentation and noise shared by every data set."""

    def __init__(
        self, *, scale: int, frames: int, crop: int | None, augment: bool, blur_sigma: Sigma, noise_sigma: Sigma,
        seed: int, value_range: Sequence[float] | None = None, bands: Sequence[int] | None = None,
        cache_mb: float = 256,
    ) -> None:
        name = type(self).__name__
        if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
            raise InputError(f"{name}: scale must be a positive integer, got {scale!r}")
        if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 1 or frames % 2 == 0:
            raise InputError(f"{name}: frames must be a positive odd integer (the window is centred), got {frames!r}")
        if crop is not None and (int(crop) < scale or int(crop) % scale):
            raise InputError(f"{name}: crop must be a positive multiple of scale={scale} (HR pixels), got {crop!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InputError(f"{name}: seed must be a non-negative integer, got {seed!r}")
        for what, sig in (("blur_sigma", blur_sigma), ("noise_sigma", noise_sigma)):
            if sig is not None and not all(float(v) >= 0 for v in np.atleast_1d(sig)):
                raise InputError(f"{name}: {what} must be >= 0 or a (low, high) range, got {sig!r}")
        self.scale = int(scale)
        self.frames = int(frames)
        self.crop = None if crop is None else int(crop)
        self.augment = bool(augment)
        self.blur_sigma = blur_sigma
        self.noise_sigma = noise_sigma
        self.seed = int(seed)
        self.value_range = _check_value_range(value_range)
        self.bands = None if bands is None else [int(b) for b in bands]
        self._cache = _LRU(int(cache_mb * 2**20))
        self._epoch = 0
        self._calls: dict[int, int] = {}
        # HR pixels of context around a crop for on-the-fly LR: the antialiased bicubic reaches 2 * scale HR
        # pixels out, the blur 3 sigma (degrade truncates there); rounded up to whole LR pixels.
        reach = 2 * self.scale + 3 * float(np.max(blur_sigma or 0.0)) + 1
        self._margin = self.scale * math.ceil(reach / self.scale)

    def __getstate__(self) -> dict[str, Any]:
        # Workers started by pickling (spawn) get an empty cache rather than a copy of the parent's frames.
        state = self.__dict__.copy()
        state["_cache"] = _LRU(self._cache.max_bytes)
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
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"{type(self).__name__}: index {index} out of range for {n} samples")
        return i

    @staticmethod
    def _draw(sig: Sigma, rng: np.random.Generator) -> float | None:
        """A fixed sigma, or one drawn uniformly from a ``(low, high)`` range."""
        if sig is None:
            return None
        if np.ndim(sig) == 0:
            return float(sig) or None  # type: ignore[arg-type]
        lo, hi = sig  # type: ignore[misc]
        return float(rng.uniform(lo, hi)) or None

    def _degrade(self, hr: np.ndarray, blur: float | None) -> np.ndarray:
        return degrade(hr, self.scale, blur_sigma=blur)

    def _finish(
        self, lr: np.ndarray, hr: np.ndarray, key: str, noise: float | None, rng: np.random.Generator
    ) -> dict[str, Any]:
        if noise:
            lr = np.clip(lr + rng.normal(0.0, noise, lr.shape), 0.0, 1.0)
        if self.augment:
            lr, hr = flip_sample(lr, hr, rng)
        return as_sample(lr, hr, key)


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


@dataclass
class _Clip:
    name: str
    frames: list[Any]  # paths, or time indices of a stack
    lr: list[str] | None = None  # LR frames on disk, one per HR frame
    shape: tuple[int, int] | None = None  # HR (rows, cols), trimmed to multiples of scale; set on first read
    raw_shape: tuple[int, int, int] | None = None  # (bands, rows, cols) every frame must have
    stack: Any = None  # GeoStacks: the DataArray
    bands: list[int] | None = None  # 0-based band selection, set with shape
    index: int = -1  # position in the data set's clip list (the cache key)


class _FrameDataset(_Sampled):
    """Clips of frames; one sample per (clip, centre frame)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._clips: list[_Clip] = []
        self._samples: list[tuple[int, int, str]] = []

    def __len__(self) -> int:
        return len(self._samples)

    def _add_clip(self, clip: _Clip, centres: Iterable[int] | None, keys: Sequence[str]) -> None:
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
    def _header(self, clip: _Clip, i: int) -> tuple[int, int, int]:
        count, h, w, _ = _raster_header(clip.frames[i])
        return count, h, w

    def _load(self, clip: _Clip, i: int) -> np.ndarray:
        return read_raster(clip.frames[i])

    def _where(self, clip: _Clip, i: int) -> str:
        return str(clip.frames[i])

    def _clip_shape(self, clip: _Clip) -> tuple[int, int]:
        if clip.shape is None:
            raw = self._header(clip, 0)
            sel = _select_bands(self.bands, raw[0], self._where(clip, 0))
            h, w = raw[1] - raw[1] % self.scale, raw[2] - raw[2] % self.scale
            need = self.crop or self.scale
            if h < need or w < need:
                raise InputError(
                    f"{self._where(clip, 0)}: frame {raw[1]}x{raw[2]} is smaller than the crop {need}x{need}"
                )
            if clip.lr is not None:
                lr_raw = _raster_header(clip.lr[0])
                if lr_raw[0] != raw[0] or lr_raw[1] * self.scale != raw[1] or lr_raw[2] * self.scale != raw[2]:
                    raise InputError(
                        f"{clip.lr[0]}: LR frame {lr_raw[0]}x{lr_raw[1]}x{lr_raw[2]} (bands x rows x cols) is not "
                        f"the HR frame {self._where(clip, 0)} ({raw[0]}x{raw[1]}x{raw[2]}) divided by scale="
                        f"{self.scale}"
                    )
            clip.raw_shape, clip.shape = raw, (h, w)
            clip.bands = sel
        return clip.shape

    def _frame(self, clip: _Clip, i: int) -> np.ndarray:
        """Frame ``i`` of ``clip``, bands selected, native dtype, full size (cached)."""

        def load() -> np.ndarray:
            a = self._load(clip, i)
            if a.shape != clip.raw_shape:
                raise InputError(
                    f"{self._where(clip, i)}: frame is {'x'.join(map(str, a.shape))} (bands x rows x cols) but "
                    f"{self._where(clip, 0)} is {'x'.join(map(str, clip.raw_shape))}; every frame of a clip "
                    "must have one size and band count"
                )
            sel = clip.bands
            return a if sel is None else np.ascontiguousarray(a[sel])

        self._clip_shape(clip)
        return self._cache.get((clip.index, i), load)

    def _window(self, clip: _Clip, i: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """HR window of frame ``i``, float32 in ``[0, 1]``."""
        return _to_unit(self._frame(clip, i)[:, y0:y1, x0:x1], self.value_range)

    def _lr_window(self, clip: _Clip, i: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        def load() -> np.ndarray:
            a = read_raster(clip.lr[i])  # type: ignore[index]
            want = (clip.raw_shape[0], clip.raw_shape[1] // self.scale, clip.raw_shape[2] // self.scale)  # type: ignore[index]
            if a.shape != want:
                raise InputError(f"{clip.lr[i]}: LR frame is {a.shape}, expected {want} (bands, rows, cols)")  # type: ignore[index]
            sel = clip.bands
            return a if sel is None else np.ascontiguousarray(a[sel])

        return _to_unit(self._cache.get((clip.index, i, "lr"), load)[:, y0:y1, x0:x1], self.value_range)

    def sample(self, index: int, rng: np.random.Generator) -> dict[str, Any]:  # noqa: D102 (see _Sampled)
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
        blur, noise = self._draw(self.blur_sigma, rng), self._draw(self.noise_sigma, rng)
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


def _keys(name: str, paths: Sequence[str]) -> list[str]:
    return [f"{name}/{Path(p).stem}" for p in paths]


# -- public data sets -----------------------------------------------------------------------------------------------
class Jilin189(_FrameDataset):
    """Jilin-189 satellite video: ``<root>/<clip>/GT/*.png`` and optionally ``<root>/<clip>/LR{scale}x/*.png``.

    Every frame of every clip (or those listed in ``centres``) is the centre of one sample. LR frames come from
    ``LR{scale}x/`` when it exists (same file names as ``GT/``), unless ``blur_sigma`` is set or
    ``use_disk_lr=False``; then they are made on the fly.

    Parameters
    ----------
    root : str or path
        Folder holding the clip folders.
    clips : sequence of str, optional
        Clip folder names, in this order; default every subfolder of ``root`` with a ``GT/`` folder, by name.
    centres : iterable of int, optional
        Frame indices (0-based, within each clip) that may be centres; indices beyond a clip are skipped.
    scale : int, default 4
        Upscaling factor.
    frames : int, default 5
        Odd number of LR frames per sample.
    crop : int, optional
        HR crop size (a multiple of ``scale``); default the whole frame (trimmed to multiples of ``scale``).
    augment : bool, default False
        Random flips and 90-degree turns, one per sample.
    blur_sigma, noise_sigma : float or (float, float), optional
        Gaussian blur (HR pixels) before and noise after the bicubic downscaling; a range draws one per sample.
        Noise is added to LR frames read from disk too.
    seed : int, default 0
        Seed of the per-sample generators (see the module docstring).
    use_disk_lr : bool, default True
        Use ``LR{scale}x/`` when present.
    cache_mb : float, default 256
        Memory for decoded frames.

    Raises
    ------
    InputError
        A missing or empty folder, clips without ``GT/``, LR frames that do not match the GT frames.
    """

    def __init__(
        self,
        root: PathLike,
        clips: Sequence[str] | None = None,
        *,
        centres: Iterable[int] | None = None,
        scale: int = 4,
        frames: int = 5,
        crop: int | None = None,
        augment: bool = False,
        blur_sigma: Sigma = None,
        noise_sigma: Sigma = None,
        seed: int = 0,
        use_disk_lr: bool = True,
        cache_mb: float = 256,
    ) -> None:
        super().__init__(
            scale=scale, frames=frames, crop=crop, augment=augment, blur_sigma=blur_sigma, noise_sigma=noise_sigma,
            seed=seed, cache_mb=cache_mb,
        )
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"{root}: no such folder (a Jilin-189 root holds <clip>/GT/*.png)")
        if clips is None:
            clips = sorted(p.name for p in root.iterdir() if (p / "GT").is_dir())
            if not clips:
                raise InputError(f"{root}: no clip folders with a GT/ subfolder (Jilin-189 layout <clip>/GT/*.png)")
        centres = None if centres is None else list(centres)
        for name in clips:
            gt = list_rasters(root / name / "GT")
            lr_dir = root / name / f"LR{self.scale}x"
            lr = None
            if use_disk_lr and not blur_sigma and lr_dir.is_dir():
                lr = list_rasters(lr_dir)
                if [Path(p).name for p in lr] != [Path(p).name for p in gt]:
                    raise InputError(f"{lr_dir}: LR frames do not have the file names of {root / name / 'GT'}")
            self._add_clip(_Clip(name, gt, lr), centres, _keys(name, gt))
        self._finish_init(str(root))


class VimeoSeptuplet(_FrameDataset):
    """Vimeo-90K septuplets: folders holding ``im1.png`` .. ``im7.png``; the centre frame is ``im4``.

    The official layout is ``<root>/sequences/<a>/<b>/im1..im7.png`` with ``<root>/sep_trainlist.txt`` and
    ``sep_testlist.txt`` listing ``<a>/<b>``; any other tree of septuplet folders is found by searching for
    ``im4.png``. ``frames=5`` uses ``im2`` .. ``im6``; ``frames=7`` all seven. LR frames are made on the fly.

    Parameters
    ----------
    root : str or path
        The data set folder (with or without ``sequences/``).
    list_file : str or path, optional
        A list of septuplet folders relative to ``<root>/sequences`` (or ``root`` when it has none), one per
        line; a relative ``list_file`` that does not exist as given is looked for in ``root``. Default: every
        septuplet folder under it, by name.
    scale, frames, crop, augment, blur_sigma, noise_sigma, seed, cache_mb
        As for :class:`Jilin189`; ``frames`` at most 7.

    Raises
    ------
    InputError
        A missing folder or list file, no septuplets, or a septuplet missing a frame.
    """

    def __init__(
        self,
        root: PathLike,
        list_file: PathLike | None = None,
        *,
        scale: int = 4,
        frames: int = 5,
        crop: int | None = None,
        augment: bool = False,
        blur_sigma: Sigma = None,
        noise_sigma: Sigma = None,
        seed: int = 0,
        cache_mb: float = 256,
    ) -> None:
        super().__init__(
            scale=scale, frames=frames, crop=crop, augment=augment, blur_sigma=blur_sigma, noise_sigma=noise_sigma,
            seed=seed, cache_mb=cache_mb,
        )
        if self.frames > 7:
            raise InputError(f"VimeoSeptuplet: frames must be at most 7 (septuplets), got {frames}")
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"{root}: no such folder (a Vimeo-90K septuplet root)")
        seqs = root / "sequences" if (root / "sequences").is_dir() else root
        if list_file is not None:
            lf = Path(list_file)
            if not lf.is_absolute() and not lf.is_file():
                lf = root / lf
            if not lf.is_file():
                raise InputError(f"{lf}: no such list file")
            rels = [line.strip() for line in lf.read_text().splitlines() if line.strip()]
            if not rels:
                raise InputError(f"{lf}: lists no septuplets")
        else:
            rels = sorted(p.parent.relative_to(seqs).as_posix() for p in seqs.rglob("im4.png"))
            if not rels:
                raise InputError(f"{seqs}: no Vimeo-90K septuplets (folders holding im1.png .. im7.png)")
        for rel in rels:
            folder = seqs / rel
            paths = [str(folder / f"im{i}.png") for i in range(1, 8)]
            missing = [Path(p).name for p in paths if not os.path.isfile(p)]
            if missing:
                raise InputError(f"{folder}: septuplet lacks {', '.join(missing)} (needs im1.png .. im7.png)")
            self._add_clip(_Clip(rel, paths), [3], _keys(rel, paths))
        self._finish_init(str(seqs))


class FrameFolders(_FrameDataset):
    """Clips as folders of frames: ``<root>/<clip>/<frame>`` (any raster rasterio reads, in name order).

    When ``root`` has no subfolders holding rasters but holds rasters itself, it is one clip. LR frames are
    made on the fly.

    Parameters
    ----------
    root : str or path
        Folder of clip folders.
    scale, frames, crop, augment, blur_sigma, noise_sigma, seed, cache_mb
        As for :class:`Jilin189`.
    value_range : (float, float), optional
        Raw values mapped to 0 and 1 (then clipped); default an integer dtype's full range, floats as they are.
    bands : sequence of int, optional
        1-based bands to use, in this order (e.g. ``[3, 2, 1]``).

    Raises
    ------
    InputError
        A missing folder, no frames, frames of different sizes or band counts within a clip (on reading).
    """

    def __init__(
        self,
        root: PathLike,
        *,
        scale: int = 4,
        frames: int = 5,
        crop: int | None = None,
        augment: bool = False,
        blur_sigma: Sigma = None,
        noise_sigma: Sigma = None,
        seed: int = 0,
        value_range: Sequence[float] | None = None,
        bands: Sequence[int] | None = None,
        cache_mb: float = 256,
    ) -> None:
        super().__init__(
            scale=scale, frames=frames, crop=crop, augment=augment, blur_sigma=blur_sigma, noise_sigma=noise_sigma,
            seed=seed, value_range=value_range, bands=bands, cache_mb=cache_mb,
        )
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"{root}: no such folder")
        folders = sorted(
            p for p in root.iterdir()
            if p.is_dir() and any(q.suffix.lower() in RASTER_SUFFIXES for q in p.iterdir() if q.is_file())
        )
        if not folders:
            folders = [root]  # list_rasters says so if it holds no frames either
        for folder in folders:
            paths = list_rasters(folder)
            name = folder.name if folder != root else root.name
            self._add_clip(_Clip(name, paths), None, _keys(name, paths))
        self._finish_init(str(root))


class GeoStacks(_FrameDataset):
    """Georeferenced stacks ``(time, band, y, x)`` as :func:`satsr.open_stack` returns them; each is a clip.

    Parameters
    ----------
    stacks : DataArray, str, path, or a sequence of them
        Stacks, or sources that :func:`satsr.open_stack` opens (a glob, a folder, a file; frames without
        georeferencing are accepted).
    scale, frames, crop, augment, blur_sigma, noise_sigma, seed, cache_mb
        As for :class:`Jilin189`.
    value_range : (float, float), optional
        Raw values mapped to 0 and 1 (then clipped); default an integer dtype's full range, floats as they are.
        Satellite DNs rarely fill their dtype (12-bit data in uint16): set it, e.g. ``(0, 4095)``.
    bands : sequence of int, optional
        1-based bands to use, in this order (e.g. ``[3, 2, 1]``).

    Raises
    ------
    InputError
        A stack that is not ``(time, band, y, x)``, a single-frame stack with ``frames > 1`` (use
        :class:`PseudoVideo` for stills), bands out of range.

    Notes
    -----
    Nodata is not masked: crop away from nodata borders, or fill them first.
    """

    def __init__(
        self,
        stacks: Any,
        *,
        scale: int = 4,
        frames: int = 5,
        crop: int | None = None,
        augment: bool = False,
        blur_sigma: Sigma = None,
        noise_sigma: Sigma = None,
        seed: int = 0,
        value_range: Sequence[float] | None = None,
        bands: Sequence[int] | None = None,
        cache_mb: float = 256,
    ) -> None:
        super().__init__(
            scale=scale, frames=frames, crop=crop, augment=augment, blur_sigma=blur_sigma, noise_sigma=noise_sigma,
            seed=seed, value_range=value_range, bands=bands, cache_mb=cache_mb,
        )
        items = [stacks] if hasattr(stacks, "dims") or isinstance(stacks, (str, os.PathLike)) else list(stacks)
        if not items:
            raise InputError("GeoStacks: no stacks given")
        seen: set[str] = set()
        for k, item in enumerate(items):
            da = item if hasattr(item, "dims") else open_stack(item, allow_ungeoreferenced=True)
            name = str(item) if not hasattr(item, "dims") else str(da.name or "stack")
            name = f"{name}#{k}" if name in seen else name  # keys stay unique
            seen.add(name)
            if tuple(da.dims) != ("time", "band", "y", "x"):
                raise InputError(f"GeoStacks: {name} has dims {tuple(da.dims)}, expected ('time', 'band', 'y', 'x')")
            n = int(da.sizes["time"])
            if n == 1 and self.frames > 1:
                raise InputError(
                    f"GeoStacks: {name} has a single frame but frames={self.frames}; a still is not a video: "
                    "make pseudo-video from it with satsr.train.PseudoVideo"
                )
            self._add_clip(_Clip(name, list(range(n)), stack=da), None, [f"{name}/{t}" for t in range(n)])
        self._finish_init("GeoStacks")

    def _header(self, clip: _Clip, i: int) -> tuple[int, int, int]:
        s = clip.stack.sizes
        return int(s["band"]), int(s["y"]), int(s["x"])

    def _where(self, clip: _Clip, i: int) -> str:
        return f"{clip.name} (time {i})"

    def _big(self, clip: _Clip) -> bool:
        b, h, w = clip.raw_shape  # type: ignore[misc]
        return b * h * w * clip.stack.dtype.itemsize > self._cache.max_bytes // 8

    def _load(self, clip: _Clip, i: int) -> np.ndarray:
        return np.asarray(clip.stack.isel(time=i).values)

    def _window(self, clip: _Clip, i: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        self._clip_shape(clip)
        if not self._big(clip):
            return super()._window(clip, i, y0, y1, x0, x1)
        # Frames too large to cache: read just the window (dask reads only the blocks it needs).
        sel = clip.bands
        da = clip.stack.isel(time=i, y=slice(y0, y1), x=slice(x0, x1))
        a = np.asarray((da if sel is None else da.isel(band=sel)).values)
        return _to_unit(a, self.value_range)


class PseudoVideo(_Sampled):
    """Synthetic staring-satellite clips cut from still images (:func:`satsr.train.pseudo.make_clip`).

    Each call picks a random region of the still, makes a fresh clip of ``frames`` frames with random drift,
    jitter, rotation (and movers), and degrades it; the HR target is the centre frame, which is the still
    itself (not resampled). Real satellite video is scarce; this is the main source for training.

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
    scale, frames, augment, blur_sigma, noise_sigma, seed, cache_mb
        As for :class:`Jilin189`.
    value_range, bands
        As for :class:`GeoStacks`.
    drift, jitter, rotation, movers
        Passed to :func:`~satsr.train.pseudo.make_clip`.

    Raises
    ------
    InputError
        No images, an unreadable file, a still smaller than ``crop`` or not ``(C, H, W)``.
    """

    def __init__(
        self,
        images: Any,
        *,
        crop: int,
        samples_per_image: int = 1,
        scale: int = 4,
        frames: int = 5,
        augment: bool = False,
        blur_sigma: Sigma = None,
        noise_sigma: Sigma = None,
        seed: int = 0,
        value_range: Sequence[float] | None = None,
        bands: Sequence[int] | None = None,
        drift: float | tuple[float, float] = (0.3, 0.3),
        jitter: float = 0.15,
        rotation: float = 0.2,
        movers: int = 0,
        cache_mb: float = 256,
    ) -> None:
        if crop is None:
            raise InputError("PseudoVideo: crop is required (HR pixels, a multiple of scale)")
        super().__init__(
            scale=scale, frames=frames, crop=crop, augment=augment, blur_sigma=blur_sigma, noise_sigma=noise_sigma,
            seed=seed, value_range=value_range, bands=bands, cache_mb=cache_mb,
        )
        if int(samples_per_image) < 1:
            raise InputError(f"PseudoVideo: samples_per_image must be >= 1, got {samples_per_image!r}")
        self.samples_per_image = int(samples_per_image)
        self.clip_options = {"drift": drift, "jitter": jitter, "rotation": rotation, "movers": movers}
        make_clip(np.zeros((1, 8, 8)), 1, size=8, **self.clip_options)  # validate the options now
        single = hasattr(images, "dims") or isinstance(images, (str, os.PathLike, np.ndarray))
        items = [images] if single else list(images)
        # Each still: (name, loader or array); files are read when first needed.
        self._stills: list[tuple[str, Any]] = []
        for k, item in enumerate(items):
            if isinstance(item, np.ndarray):
                self._stills.append((f"image{k}", self._checked(item, f"image {k}")))
            elif hasattr(item, "dims"):
                da = item if "time" in item.dims else item.expand_dims("time")
                name = str(da.name or f"image{k}")
                for t in range(int(da.sizes["time"])):
                    self._stills.append((f"{name}/{t}", self._checked(np.asarray(da.isel(time=t).values), name)))
            else:
                for path in resolve_paths(item):
                    count, h, w, _ = _raster_header(path)
                    _select_bands(self.bands, count, path)
                    self._check_size(h, w, path)
                    self._stills.append((Path(path).stem, path))
        if not self._stills:
            raise InputError("PseudoVideo: no images given")

    def _check_size(self, h: int, w: int, what: str) -> None:
        if min(h, w) < self.crop:  # type: ignore[operator]
            raise InputError(f"{what}: still is {h}x{w}, smaller than crop={self.crop}")

    def _checked(self, a: np.ndarray, what: str) -> np.ndarray:
        if a.ndim == 2:
            a = a[None]
        if a.ndim != 3:
            raise InputError(f"PseudoVideo: {what} must be (C, H, W), got shape {a.shape}")
        sel = _select_bands(self.bands, a.shape[0], what)
        self._check_size(a.shape[1], a.shape[2], what)
        return a if sel is None else a[sel]

    def __len__(self) -> int:
        return len(self._stills) * self.samples_per_image

    def _still(self, k: int) -> np.ndarray:
        name, src = self._stills[k]
        if isinstance(src, np.ndarray):
            return src
        return self._cache.get(k, lambda: self._checked(read_raster(src), src))

    def sample(self, index: int, rng: np.random.Generator) -> dict[str, Any]:  # noqa: D102 (see _Sampled)
        index = self._index(index)
        k, j = divmod(index, self.samples_per_image)
        still = self._still(k)
        big_h, big_w = still.shape[-2:]
        s, crop = self.scale, int(self.crop)  # type: ignore[arg-type]
        # Frames are made with a margin of real context for the LR's borders (as far as the still allows), cut
        # from a region with room for the motion; make_clip mirrors the still where the motion leaves it.
        m = min(self._margin, (min(big_h, big_w) - crop) // 2 // s * s)
        size = crop + 2 * m
        opts = self.clip_options
        drift = float(np.max(opts["drift"]))
        reach = (self.frames // 2) * drift + 4 * opts["jitter"] + math.radians(opts["rotation"]) * size + 12
        need = size + 2 * math.ceil(reach)
        rh, rw = min(need, big_h), min(need, big_w)
        y0, x0 = int(rng.integers(0, big_h - rh + 1)), int(rng.integers(0, big_w - rw + 1))
        blur, noise = self._draw(self.blur_sigma, rng), self._draw(self.noise_sigma, rng)
        region = _to_unit(still[:, y0 : y0 + rh, x0 : x0 + rw], self.value_range)
        clip = make_clip(region, self.frames, size=size, rng=rng, **opts)
        lr = self._degrade(clip, blur)[..., m // s : (m + crop) // s, m // s : (m + crop) // s]
        hr = clip[self.frames // 2, :, m : m + crop, m : m + crop]
        return self._finish(lr, hr, f"{self._stills[k][0]}/{j}", noise, rng)


# -- reference-based SR -------------------------------------------------------------------------------------------
#: Sub-folder names of a Ref-SR set: the role, then the names it goes by (RRSSRD calls its reference google_Ref).
REFSR_FOLDERS: dict[str, tuple[str, ...]] = {
    "hr": ("HR",),
    "lr": ("LR",),
    "lr_ux4": ("LR_UX4",),
    "ref": ("Ref", "google_Ref"),
    "ref_dux4": ("Ref_DUX4", "google_Ref_DUX4"),
}


def find_refsr_sets(root: PathLike) -> list[Path]:
    """Ref-SR set folders under ``root`` (``root`` itself or its sub-folders): those holding ``HR`` and ``LR``.

    Raises
    ------
    InputError
        When ``root`` is missing or holds no such folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder")
    cands = [root] + sorted(p for p in root.iterdir() if p.is_dir())
    found = [p for p in cands if (p / "HR").is_dir() and (p / "LR").is_dir()]
    if not found:
        raise InputError(f"{root}: no Ref-SR set found (a folder with HR/, LR/ and Ref/ or google_Ref/ inside)")
    return found


class RefSRTriplets(Dataset):
    """Reference-based SR samples from the RGTGAN/RRSGAN folder layout.

    A set folder holds five sub-folders with the same file names: ``HR`` (ground truth), ``LR`` (its x4
    downsampling), ``LR_UX4`` (LR upsampled x4), ``Ref`` (a sharper image of the same place from another date or
    source, at HR size) and ``Ref_DUX4`` (Ref downsampled and upsampled x4). RRSSRD names the last two
    ``google_Ref`` and ``google_Ref_DUX4``. Folders missing ``LR_UX4`` or ``Ref_DUX4`` are completed with
    :func:`satsr.models.rgtgan.derive_inputs` (MATLAB bicubic), as the authors made theirs.

    Each sample is ``{"lr": (C, h, w), "lr_ux4", "ref", "ref_dux4", "hr": (C, 4h, 4w), "key": str}``, float32
    tensors in ``[0, 1]`` (8-bit images divided by 255, as the authors read them).

    Parameters
    ----------
    roots : path or sequence of paths
        Set folders, or folders of set folders (``val_1``, ``val_2``... are all taken).
    crop : int, optional
        HR patch size for training (a multiple of ``scale``); all HR-size images are cut at the same place and
        the LR at ``1/scale`` of it. Default: whole images.
    augment : bool, default False
        Random horizontal and vertical flips and a transpose, each with probability 0.5 (the authors' training).
    scale : int, default 4
    seed : int, default 0
        Seed of the crop and augmentation draws (``numpy.random.default_rng([seed, epoch, index])``).

    Raises
    ------
    InputError
        A missing folder, a file missing from one of the sub-folders, or sizes that do not agree.
    """

    def __init__(self, roots: PathLike | Sequence[PathLike], *, crop: int | None = None, augment: bool = False,
                 scale: int = 4, seed: int = 0) -> None:
        if isinstance(roots, (str, os.PathLike)):
            roots = [roots]
        if crop is not None and (crop <= 0 or crop % scale):
            raise InputError(f"crop must be a positive multiple of the scale ({scale}), got {crop}")
        self.crop, self.augment, self.scale, self.seed, self.epoch = crop, augment, scale, seed, 0
        self.items: list[dict[str, str | None]] = []
        for root in roots:
            for folder in find_refsr_sets(root):
                self.items.extend(self._set_items(folder))

    @staticmethod
    def _set_items(folder: Path) -> list[dict[str, str | None]]:
        dirs: dict[str, Path | None] = {}
        for role, names in REFSR_FOLDERS.items():
            dirs[role] = next((folder / n for n in names if (folder / n).is_dir()), None)
            if dirs[role] is None and role in ("hr", "lr", "ref"):
                raise InputError(f"{folder}: no {' or '.join(names)}/ folder (a Ref-SR set needs HR, LR and Ref)")
        items = []
        for hr in list_rasters(dirs["hr"]):  # type: ignore[arg-type]
            name = Path(hr).name
            item: dict[str, str | None] = {"key": f"{folder.name}/{Path(name).stem}"}
            for role, d in dirs.items():
                path = None if d is None else d / name
                if path is not None and not path.is_file():
                    raise InputError(f"{path}: missing (every Ref-SR sub-folder must hold {name})")
                item[role] = None if path is None else str(path)
            items.append(item)
        return items

    def set_epoch(self, epoch: int) -> None:
        """Draw new crops and flips for ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def load(self, index: int) -> dict[str, np.ndarray]:
        """The whole images of one sample, float32 ``(C, H, W)`` in ``[0, 1]``, derived helpers completed."""
        from satsr.models.rgtgan import derive_inputs

        item = self.items[index]
        imgs = {r: _to_unit(read_raster(p), None) for r, p in item.items() if r != "key" and p is not None}
        h, w = imgs["lr"].shape[-2:]
        s = self.scale
        for role in ("hr", "ref", "lr_ux4", "ref_dux4"):
            if role in imgs and imgs[role].shape[-2:] != (h * s, w * s):
                raise InputError(f"{item[role]}: {imgs[role].shape[-1]} x {imgs[role].shape[-2]} pixels, expected "
                                 f"{w * s} x {h * s} ({s} times the LR, {item['lr']})")
        if "lr_ux4" not in imgs or "ref_dux4" not in imgs:
            lr_ux4, ref_dux4 = derive_inputs(torch.from_numpy(imgs["lr"])[None], torch.from_numpy(imgs["ref"])[None],
                                             s)
            imgs.setdefault("lr_ux4", lr_ux4[0].numpy())
            imgs.setdefault("ref_dux4", ref_dux4[0].numpy())
        return imgs

    def __getitem__(self, index: int) -> dict[str, Any]:
        imgs = self.load(index)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        s = self.scale
        if self.crop is not None:
            h, w = imgs["lr"].shape[-2:]
            c = self.crop // s
            if c > min(h, w):
                raise InputError(f"{self.items[index]['lr']}: {w} x {h} LR pixels, smaller than the crop ({c})")
            y, x = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
            imgs = {r: (a[:, y : y + c, x : x + c] if r == "lr" else a[:, y * s : (y + c) * s, x * s : (x + c) * s])
                    for r, a in imgs.items()}
        if self.augment:
            flips = rng.random(3) < 0.5
            for r, a in imgs.items():
                if flips[0]:
                    a = a[:, :, ::-1]
                if flips[1]:
                    a = a[:, ::-1, :]
                if flips[2]:
                    a = a.transpose(0, 2, 1)
                imgs[r] = a
        out: dict[str, Any] = {r: torch.from_numpy(np.ascontiguousarray(a)) for r, a in imgs.items()}
        out["key"] = str(self.items[index]["key"])
        return out
