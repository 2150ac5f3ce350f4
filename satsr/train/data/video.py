"""Data sets of real frame sequences: Jilin-189, Vimeo-90K septuplets, folders of frames, georeferenced stacks."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from satsr.errors import InputError
from satsr.io import open_stack
from satsr.io.read import RASTER_SUFFIXES
from satsr.train.data.files import PathLike, list_rasters, to_unit
from satsr.train.data.frames import Clip, FrameDataset, clip_keys
from satsr.train.data.options import Degradation

__all__ = ["Jilin189", "VimeoSeptuplet", "FrameFolders", "GeoStacks"]


class Jilin189(FrameDataset):
    """Jilin-189 satellite video: ``<root>/<clip>/GT/*.png`` and optionally ``<root>/<clip>/LR{scale}x/*.png``.

    Every frame of every clip (or those listed in ``centres``) is the centre of one sample. LR frames come from
    ``LR{scale}x/`` when it exists (same file names as ``GT/``), unless the degradation blurs or
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
    degradation : Degradation, optional
        Gaussian blur (HR pixels) before and noise after the bicubic downscaling, each fixed or a range drawn per
        sample (config keys ``blur_sigma``, ``noise_sigma``); default none. Noise is added to LR frames read from
        disk too.
    seed : int, default 0
        Seed of the per-sample generators (see :mod:`satsr.train.data.samples`).
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
        degradation: Degradation | None = None,
        seed: int = 0,
        use_disk_lr: bool = True,
        cache_mb: float = 256,
    ) -> None:
        super().__init__(
            scale=scale, frames=frames, crop=crop, augment=augment, degradation=degradation,
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
            if use_disk_lr and not self.degradation.blur_sigma and lr_dir.is_dir():
                lr = list_rasters(lr_dir)
                if [Path(p).name for p in lr] != [Path(p).name for p in gt]:
                    raise InputError(f"{lr_dir}: LR frames do not have the file names of {root / name / 'GT'}")
            self._add_clip(Clip(name, gt, lr), centres, clip_keys(name, gt))
        self._finish_init(str(root))


class VimeoSeptuplet(FrameDataset):
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
    scale, frames, crop, augment, degradation, seed, cache_mb
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
        degradation: Degradation | None = None,
        seed: int = 0,
        cache_mb: float = 256,
    ) -> None:
        super().__init__(
            scale=scale, frames=frames, crop=crop, augment=augment, degradation=degradation,
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
            self._add_clip(Clip(rel, paths), [3], clip_keys(rel, paths))
        self._finish_init(str(seqs))


class FrameFolders(FrameDataset):
    """Clips as folders of frames: ``<root>/<clip>/<frame>`` (any raster rasterio reads, in name order).

    When ``root`` has no subfolders holding rasters but holds rasters itself, it is one clip. LR frames are
    made on the fly.

    Parameters
    ----------
    root : str or path
        Folder of clip folders.
    scale, frames, crop, augment, degradation, seed, cache_mb
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
        degradation: Degradation | None = None,
        seed: int = 0,
        value_range: Sequence[float] | None = None,
        bands: Sequence[int] | None = None,
        cache_mb: float = 256,
    ) -> None:
        super().__init__(
            scale=scale, frames=frames, crop=crop, augment=augment, degradation=degradation,
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
            self._add_clip(Clip(name, paths), None, clip_keys(name, paths))
        self._finish_init(str(root))


class GeoStacks(FrameDataset):
    """Georeferenced stacks ``(time, band, y, x)`` as :func:`satsr.open_stack` returns them; each is a clip.

    Parameters
    ----------
    stacks : DataArray, str, path, or a sequence of them
        Stacks, or sources that :func:`satsr.open_stack` opens (a glob, a folder, a file; frames without
        georeferencing are accepted).
    scale, frames, crop, augment, degradation, seed, cache_mb
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
        :class:`satsr.train.data.PseudoVideo` for stills), bands out of range.

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
        degradation: Degradation | None = None,
        seed: int = 0,
        value_range: Sequence[float] | None = None,
        bands: Sequence[int] | None = None,
        cache_mb: float = 256,
    ) -> None:
        super().__init__(
            scale=scale, frames=frames, crop=crop, augment=augment, degradation=degradation,
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
            self._add_clip(Clip(name, list(range(n)), stack=da), None, [f"{name}/{t}" for t in range(n)])
        self._finish_init("GeoStacks")

    def _header(self, clip: Clip, i: int) -> tuple[int, int, int]:
        s = clip.stack.sizes
        return int(s["band"]), int(s["y"]), int(s["x"])

    def _where(self, clip: Clip, i: int) -> str:
        return f"{clip.name} (time {i})"

    def _big(self, clip: Clip) -> bool:
        b, h, w = clip.raw_shape  # type: ignore[misc]
        return b * h * w * clip.stack.dtype.itemsize > self._cache.max_bytes // 8

    def _load(self, clip: Clip, i: int) -> np.ndarray:
        return np.asarray(clip.stack.isel(time=i).values)

    def _window(self, clip: Clip, i: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        self._clip_shape(clip)
        if not self._big(clip):
            return super()._window(clip, i, y0, y1, x0, x1)
        # Frames too large to cache: read just the window (dask reads only the blocks it needs).
        sel = clip.bands
        da = clip.stack.isel(time=i, y=slice(y0, y1), x=slice(x0, x1))
        a = np.asarray((da if sel is None else da.isel(band=sel)).values)
        return to_unit(a, self.value_range)
