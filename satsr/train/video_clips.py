"""Real satellite video as training data: consecutive frames, LR made on the fly with varied degradations.

:class:`VideoClips` reads clips stored as folders of consecutive frames (``<root>/<clip>/GT/*.jpg`` as in
``../shared/data/satvideo``, or ``<root>/<clip>/*.png``) and makes each sample's LR frames on the fly:

* **Held-aside frames.** ``split="train"`` draws 5-frame windows (``frames``) lying wholly within the first
  ``1 - holdout`` of each clip; ``split="val"`` only windows wholly within the last ``holdout``. No frame is in
  both. (Keep the Jilin-1 clip out of ``root`` altogether: it is the test clip.)
* **JPEG sources.** Published satellite video is JPEG-compressed in 8 px blocks. Each frame is first reduced by
  ``prescale`` (area average, 2 by default) to make the HR: the block edges fall every 4 HR pixels and are
  averaged down, so the model does not learn to draw them; crops start anywhere.
* **Varied degradations.** Per sample, one resampler for all its frames (MATLAB's antialiased bicubic, bicubic
  without antialiasing, area averaging, or Pillow's bicubic), then optional Gaussian blur, noise and JPEG
  compression of the LR frames. A model trained so keeps its gain on LR made by other tools than MATLAB.
* **Exact resume.** ``sample(i, rng)`` is a pure function of ``i`` and the generator, as
  :class:`satsr.train.loop.StepBatches` needs.
* **Space-time.** With ``time_scale=2`` and ``frames=4`` a window is 7 consecutive frames: the LR of frames 0, 2,
  4 and 6 in, all 7 HR frames as the target (``hr`` ``(7, 3, H, W)``), for space-time models such as ``mstt-s``;
  ``flows`` adds Ce Liu's flow between neighbouring LR frames, which MSTT takes.
"""

from __future__ import annotations

import io
import operator
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage
from torch.utils.data import Dataset

from satsr.degrade import imresize
from satsr.errors import InputError
from satsr.train.data.options import Degradation, FlatOptions
from satsr.train.data.samples import as_sample, flip_sample, with_flows

__all__ = ["VideoClips", "VideoDegradation", "RESAMPLERS", "downscale"]

#: Resamplers that make LR frames (``downscale``'s ``method``).
RESAMPLERS = ("bicubic", "bicubic_noaa", "area", "pil_bicubic")
_FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")


def downscale(img: np.ndarray, scale: int, method: str) -> np.ndarray:
    """Shrink ``(..., rows, cols)`` float images in ``[0, 1]`` by the integer ``scale`` with one of :data:`RESAMPLERS`.

    Parameters
    ----------
    img : numpy.ndarray
        Float array, the last two axes are rows and columns (both multiples of ``scale``).
    scale : int
        Integer factor.
    method : str
        ``"bicubic"`` (MATLAB's ``imresize``, antialiased: the papers' LR), ``"bicubic_noaa"`` (the same kernel
        without widening: aliased, as naive resizers do), ``"area"`` (block means: a sensor's pixel integration)
        or ``"pil_bicubic"`` (Pillow's ``Image.resize`` bicubic, antialiased with its own support).

    Returns
    -------
    numpy.ndarray
        ``(..., rows // scale, cols // scale)``, float32.

    Raises
    ------
    InputError
        Unknown method, or sizes that are not multiples of ``scale``.
    """
    h, w = img.shape[-2:]
    if h % scale or w % scale:
        raise InputError(f"image {h}x{w} is not a multiple of scale {scale}")
    a = np.asarray(img, dtype=np.float32)
    if method == "bicubic":
        return imresize(a, 1 / scale).astype(np.float32)
    if method == "bicubic_noaa":
        return imresize(a, 1 / scale, antialias=False).astype(np.float32)
    if method == "area":
        return a.reshape(*a.shape[:-2], h // scale, scale, w // scale, scale).mean(axis=(-3, -1))
    if method == "pil_bicubic":
        flat = a.reshape(-1, h, w)
        bicubic = Image.Resampling.BICUBIC
        out = np.stack([np.asarray(Image.fromarray(p, mode="F").resize((w // scale, h // scale), bicubic))
                        for p in flat])
        return out.reshape(*a.shape[:-2], h // scale, w // scale).astype(np.float32)
    raise InputError(f"method {method!r} is not one of {', '.join(RESAMPLERS)}")


def _jpeg(frames: np.ndarray, quality: int) -> np.ndarray:
    """Each ``(3, h, w)`` frame through 8-bit JPEG at ``quality`` (4:2:0, as cameras and publishers store it)."""
    out = np.empty_like(frames)
    for i, f in enumerate(frames):
        rgb = np.clip(np.round(f.transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=int(quality))
        out[i] = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).transpose(2, 0, 1) / 255.0
    return out


@dataclass(frozen=True)
class VideoDegradation(Degradation):
    """How a :class:`VideoClips` sample's LR frames are made from its HR frames, drawn per sample.

    One resampler for all the sample's frames, Gaussian blur of the HR before it, noise and JPEG compression of
    the LR after it. In a config entry the fields are keys of their own (``resamplers``, ``blur_sigma``...).

    Parameters
    ----------
    blur_sigma, noise_sigma : (low, high) or float or None
        Gaussian blur of the HR before shrinking (HR pixels) and noise of the LR, drawn per sample; 0 or
        ``None``: none.
    resamplers : sequence of str, default all of :data:`RESAMPLERS`
        Drawn uniformly per sample.
    jpeg : (low, high) or None, default None
        Quality range of JPEG compression of the LR frames, applied with probability ``jpeg_p``.
    jpeg_p : float, default 0.5

    Raises
    ------
    InputError
        An unknown resampler, a negative sigma.
    """

    resamplers: tuple[str, ...] = RESAMPLERS
    jpeg: tuple[int, int] | None = None
    jpeg_p: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = [r for r in self.resamplers if r not in RESAMPLERS]
        if bad or not self.resamplers:
            raise InputError(f"VideoClips: resamplers must be among {', '.join(RESAMPLERS)}, got "
                             f"{list(self.resamplers)}")
        object.__setattr__(self, "resamplers", tuple(self.resamplers))
        object.__setattr__(self, "jpeg", None if self.jpeg is None else (int(self.jpeg[0]), int(self.jpeg[1])))
        object.__setattr__(self, "jpeg_p", float(self.jpeg_p))

    def draw_lr(self, rng: np.random.Generator) -> tuple[str, float, float, int | None]:
        """One sample's ``(resampler, blur, noise, JPEG quality or None)``, drawn in that order."""
        n = len(self.resamplers)
        method = self.resamplers[int(rng.integers(n))] if n > 1 else self.resamplers[0]
        blur, noise = self.draw(rng)
        quality = None
        if self.jpeg is not None and rng.random() < self.jpeg_p:
            quality = int(rng.integers(self.jpeg[0], self.jpeg[1] + 1))
        return method, blur, noise, quality


class _FrameCache:
    """Prescaled HR frames of this process, least recently used first out, at most ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit, self.nbytes = limit, 0
        self.items: OrderedDict[Any, np.ndarray] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any, load: Any) -> np.ndarray:
        with self.lock:
            hit = self.items.get(key)
            if hit is not None:
                self.items.move_to_end(key)
                return hit
        value = load()
        with self.lock:
            self.items[key] = value
            self.nbytes += value.nbytes
            while self.nbytes > self.limit and len(self.items) > 1:
                _, old = self.items.popitem(last=False)
                self.nbytes -= old.nbytes
        return value


class VideoClips(FlatOptions, Dataset):
    """Windows of consecutive real video frames; LR frames degraded on the fly (see the module docstring).

    Parameters
    ----------
    root : str, path or sequence of them
        Folders of clips: each clip is a folder of frames (``<clip>/GT/`` when it has one), in name order.
        A folder that holds frames itself is one clip.
    split : {"train", "val", "all"}, default "train"
        Which windows: within the first ``1 - holdout`` of each clip, within the last ``holdout``, or any.
    holdout : float, default 0.2
        Share of each clip's frames kept for validation.
    scale : int, default 4
    frames : int, default 5
        LR frames per sample: odd, the centre frame being the target; or, with ``time_scale > 1``, the input
        frames of a space-time model.
    time_scale : int, default 1
        ``r > 1``: a window spans ``(frames - 1) * r + 1`` consecutive frames; the LR are every ``r``-th of them
        (frames 0, 2, 4, 6 for 4 frames at ``r = 2``) and ``hr`` holds all of them, ``(span, 3, H, W)``.
    crop : int or None, default 96
        HR crop size (a multiple of ``scale``); ``None``: whole (prescaled) frames, for validation.
    prescale : int, default 2
        Area reduction of the source frames that makes the HR (1: none).
    degradation : VideoDegradation, optional
        How the LR frames are made (resamplers, blur, noise, JPEG; config keys ``resamplers``, ``blur_sigma``,
        ``noise_sigma``, ``jpeg``, ``jpeg_p``); default ``VideoDegradation()``: any resampler, nothing else.
    augment : bool, default True
        Random flips and transposes (the same for every frame).
    limit : int, optional
        Keep that many windows, evenly spaced (quick validation).
    seed : int, default 0
        Seed of ``ds[i]`` (the training loop passes its own generator to :meth:`sample`).
    cache_mb : float, default 512
        Prescaled frames kept in memory.
    flows : mapping, optional
        Also yield ``f_flow`` and ``b_flow``, ``(frames - 1, h, w, 2)``: Ce Liu's flow from each LR frame to the
        next and back, with these options of :func:`~satsr.models.flow.coarse_to_fine_flow` (``{}``: the MSTT
        authors' settings), computed on the sample's final LR frames, as MSTT's authors do in their loader
        (so that a ``DataLoader``'s workers compute them).

    Raises
    ------
    InputError
        Missing folders, clips without frames or too short for one window of the split, bad settings.
    """

    option_groups = MappingProxyType({"degradation": VideoDegradation})

    def __init__(
        self,
        root: str | Path | Sequence[str | Path],
        *,
        split: str = "train",
        holdout: float = 0.2,
        scale: int = 4,
        frames: int = 5,
        crop: int | None = 96,
        prescale: int = 2,
        degradation: VideoDegradation | None = None,
        augment: bool = True,
        limit: int | None = None,
        seed: int = 0,
        cache_mb: float = 512,
        time_scale: int = 1,
        flows: Mapping[str, Any] | None = None,
    ) -> None:
        if split not in ("train", "val", "all"):
            raise InputError(f"VideoClips: split must be 'train', 'val' or 'all', got {split!r}")
        if not 0 <= float(holdout) < 1:
            raise InputError(f"VideoClips: holdout must be in [0, 1), got {holdout!r}")
        if int(time_scale) < 1 or (int(time_scale) > 1 and int(frames) < 2):
            raise InputError(f"VideoClips: time_scale must be >= 1 (with frames >= 2 above 1), got {time_scale!r}")
        if int(time_scale) == 1 and (int(frames) < 1 or int(frames) % 2 == 0):
            raise InputError(f"VideoClips: frames must be a positive odd number, got {frames!r}")
        if crop is not None and (int(crop) < scale or int(crop) % scale):
            raise InputError(f"VideoClips: crop must be a positive multiple of scale={scale}, got {crop!r}")
        self.scale, self.frames, self.prescale = int(scale), int(frames), int(prescale)
        self.time_scale = int(time_scale)
        self.span = (self.frames - 1) * self.time_scale + 1  # consecutive frames of a window
        self.flows = None if flows is None else dict(flows)
        self.crop = None if crop is None else int(crop)
        self.degradation = degradation or VideoDegradation()
        self.augment, self.seed = bool(augment), int(seed)
        self._cache = _FrameCache(int(cache_mb * 2**20))
        roots = [root] if isinstance(root, (str, Path)) else list(root)
        self.clips: list[tuple[str, list[Path]]] = []
        for r in roots:
            self.clips.extend(self._find_clips(Path(r)))
        self.windows = self._windows(split, float(holdout))
        if limit is not None and int(limit) < len(self.windows):
            keep = np.unique(np.linspace(0, len(self.windows) - 1, int(limit)).round().astype(int))
            self.windows = [self.windows[i] for i in keep]

    def _windows(self, split: str, holdout: float) -> list[tuple[int, int]]:
        """``(clip, centre)`` of every window wholly within the split's part of each clip.

        A window is frames ``centre - span // 2`` to ``centre - span // 2 + span - 1``.
        """
        half = self.span // 2
        windows: list[tuple[int, int]] = []
        for ci, (name, paths) in enumerate(self.clips):
            n = len(paths)
            cut = int(np.floor(n * (1 - holdout)))
            lo, hi = {"train": (0, cut), "val": (cut, n), "all": (0, n)}[split]
            centres = range(lo + half, hi - (self.span - 1 - half))
            if not len(centres):
                raise InputError(f"{name}: {hi - lo} frames in the {split} part, fewer than one {self.span}-frame "
                                 "window")
            windows.extend((ci, c) for c in centres)
        return windows

    @staticmethod
    def _find_clips(root: Path) -> list[tuple[str, list[Path]]]:
        if not root.is_dir():
            raise InputError(f"{root}: no such folder")

        def frames_in(folder: Path) -> list[Path]:
            folder = folder / "GT" if (folder / "GT").is_dir() else folder
            return sorted(p for p in folder.iterdir() if p.suffix.lower() in _FRAME_SUFFIXES)

        own = frames_in(root)
        if own:
            return [(root.name, own)]
        clips = [(d.name, frames_in(d)) for d in sorted(root.iterdir()) if d.is_dir()]
        clips = [c for c in clips if c[1]]
        if not clips:
            raise InputError(f"{root}: no clip folders with frames ({', '.join(_FRAME_SUFFIXES)})")
        return clips

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = _FrameCache(self._cache.limit)  # a worker process starts with an empty cache
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __len__(self) -> int:
        return len(self.windows)

    def _hr_frame(self, ci: int, t: int) -> np.ndarray:
        """Frame ``t`` of clip ``ci``, ``(3, H, W)`` float32 in ``[0, 1]``, area-reduced by ``prescale``."""

        def load() -> np.ndarray:
            path = self.clips[ci][1][t]
            try:
                with Image.open(path) as im:
                    a = np.asarray(im.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255.0
            except OSError as err:
                raise InputError(f"{path}: not a readable image ({err})") from err
            p = self.prescale
            h, w = (a.shape[1] // p) * p, (a.shape[2] // p) * p
            if p > 1:
                a = a[:, :h, :w].reshape(3, h // p, p, w // p, p).mean(axis=(2, 4))
            s = self.scale
            return np.ascontiguousarray(a[:, : a.shape[1] // s * s, : a.shape[2] // s * s])

        return self._cache.get((ci, t), load)

    def __getitem__(self, index: int) -> dict[str, Any]:
        i = operator.index(index)
        return self.sample(i, np.random.default_rng([self.seed, i]))

    def sample(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        """Window ``index``: ``lr`` ``(frames, 3, h, w)``, ``hr`` ``(3, H, W)`` and ``key``, drawn with ``rng``.

        Space-time (``time_scale > 1``): ``hr`` is ``(span, 3, H, W)``, every frame of the window. With ``flows``,
        also ``f_flow`` and ``b_flow``. Validation sets (``augment=False``, one resampler, no blur, noise or JPEG)
        are deterministic.
        """
        ci, c = self.windows[index]
        half = self.span // 2
        big = [self._hr_frame(ci, t) for t in range(c - half, c - half + self.span)]
        big_h, big_w = big[0].shape[1:]
        y0, x0, ch, cw = self._crop_box(big_h, big_w, rng)
        lr = self._make_lr(big[:: self.time_scale], (y0, x0, ch, cw), self.degradation.draw_lr(rng), rng)
        if self.time_scale == 1:
            hr = big[half][:, y0 : y0 + ch, x0 : x0 + cw]
        else:
            hr = np.stack([f[:, y0 : y0 + ch, x0 : x0 + cw] for f in big])
        if self.augment:
            lr, hr = flip_sample(lr, hr, rng)
        return with_flows(as_sample(lr, hr, f"{self.clips[ci][0]}/{self.clips[ci][1][c].stem}"), self.flows)

    def _crop_box(self, h: int, w: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
        """HR ``(y0, x0, rows, cols)`` on whole LR pixels: random when augmenting, else centred; whole frames."""
        s = self.scale
        if not self.crop:
            return 0, 0, h, w
        ch = cw = self.crop
        if self.augment:
            return int(rng.integers(0, (h - ch) // s + 1)) * s, int(rng.integers(0, (w - cw) // s + 1)) * s, ch, cw
        return (h - ch) // (2 * s) * s, (w - cw) // (2 * s) * s, ch, cw

    def _make_lr(self, big: list[np.ndarray], box: tuple[int, int, int, int],
                 recipe: tuple[str, float, float, int | None], rng: np.random.Generator) -> np.ndarray:
        """The LR frames of the crop ``box`` of the HR frames ``big``, made by ``recipe`` (see ``draw_lr``)."""
        method, blur, noise, quality = recipe
        s = self.scale
        y0, x0, ch, cw = box
        h, w = big[0].shape[1:]
        # Degrade a window with context around the crop (whole LR pixels), then trim: no border effects.
        m = 4 * s + int(np.ceil(3 * blur)) // s * s + s
        wy0, wy1 = max(0, y0 - m), min(h, y0 + ch + m)
        wx0, wx1 = max(0, x0 - m), min(w, x0 + cw + m)
        window = np.stack([f[:, wy0:wy1, wx0:wx1] for f in big])
        if blur > 0:
            window = ndimage.gaussian_filter(window, sigma=(0, 0, blur, blur), mode="nearest", truncate=3.0)
        lr = downscale(window, s, method)
        oy, ox = (y0 - wy0) // s, (x0 - wx0) // s
        lr = lr[:, :, oy : oy + ch // s, ox : ox + cw // s]
        if noise > 0:
            lr = lr + rng.normal(0.0, noise, lr.shape).astype(np.float32)
        lr = np.clip(lr, 0.0, 1.0)
        return lr if quality is None else _jpeg(lr, quality)
