"""Reference-based training samples from real imagery: satellite video and bi-temporal pairs.

Reference models (``model(lr, ref)``, e.g. ``rgtgan-s``) learn to take texture from a sharper image of the same
place taken at another time. Beside the Ref-SR triplets (:class:`satsr.train.data.RefSRTriplets`), two real
sources make such samples, with the LR made on the fly exactly as :class:`satsr.train.video_clips.VideoClips`
makes it (prescaled JPEG frames, varied resamplers, optional blur, noise and JPEG; same config keys):

* :class:`VideoRefPairs` (config type ``video_ref``): frame ``t`` of a real satellite video is the HR (its LR
  degraded from it) and the HR of frame ``t +- d``, ``d`` drawn in ``ref_gap`` (10 to 40 frames), cut at the same
  window, is the reference: the same place minutes to seconds apart, with the platform's drift, moving objects and
  changing light. The split is :class:`VideoClips`' own: ``split="train"`` takes targets *and* references from the
  first ``1 - holdout`` of each clip only; ``split="val"`` takes targets from the last ``holdout`` (never trained
  on) and, as a user would, a reference from earlier in the clip.
* :class:`BitemporalPairs` (config type ``bitemporal``): co-registered images of one place at two dates
  (``<set>/A/<name>``, ``<set>/B/<name>``, as change-detection data sets store them). Each pair gives two samples:
  LR from A with B as the reference, and LR from B with A. The last ``holdout`` of each set's pairs (by name) are
  held aside; both directions of a pair fall on the same side.

Samples are ``{"lr": (3, h, w), "ref": (3, H, W), "hr": (3, H, W), "lr_ux4": (3, H, W), "key": str, "ref_key":
str}``, float32 tensors in ``[0, 1]`` (``ref_key`` names the reference's frame or date); ``lr_ux4`` is the MATLAB
bicubic of the LR (:func:`satsr.models.rgtgan.matlab_resize`), the base a bicubic-skip model adds its residual to
and the bicubic baseline of validation. Draws are pure functions of
``(seed, epoch, index)`` (``set_epoch``), as :class:`satsr.train.refsr.RefSRSteps` needs for exact resume.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from satsr.errors import InputError
from satsr.train.video_clips import VideoClips, VideoDegradation

__all__ = ["VideoRefPairs", "BitemporalPairs", "REF_PAIR_TYPES", "build_ref_pairs"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


class _RefSamples(VideoClips):
    """One target frame per window and a reference frame (``_ref_frame``); see the module docstring.

    Parameters as :class:`VideoClips` (``frames`` is 1), plus ``repeat``: each window counts that many times per
    epoch (with other crops), to weigh a small source up in a mix.
    """

    def __init__(self, root: str | Path | Sequence[str | Path], *, split: str = "train", holdout: float = 0.2,
                 scale: int = 4, crop: int | None = 128, prescale: int = 2,
                 degradation: VideoDegradation | None = None, augment: bool = True, limit: int | None = None,
                 seed: int = 0, cache_mb: float = 512, repeat: int = 1) -> None:
        if int(repeat) < 1:
            raise InputError(f"{type(self).__name__}: repeat must be >= 1, got {repeat!r}")
        self.split, self.holdout, self.repeat, self.epoch = split, float(holdout), int(repeat), 0
        super().__init__(root, split=split, holdout=holdout, scale=scale, frames=1, crop=crop, prescale=prescale,
                         degradation=degradation, augment=augment, limit=limit, seed=seed, cache_mb=cache_mb)

    def _ref_frame(self, ci: int, t: int, rng: np.random.Generator) -> int:
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Draw new crops, references, degradations and flips for ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.windows) * self.repeat

    def __getitem__(self, index: int) -> dict[str, Any]:
        i = operator.index(index)
        return self.sample(i, np.random.default_rng([self.seed, self.epoch, i]))

    def sample(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        """Sample ``index``: LR and HR of the target, the reference, ``lr_ux4``, ``key``, ``ref_key``; ``rng`` draws.

        Validation sets (``augment=False``, one resampler, no blur, noise or JPEG) are deterministic.
        """
        ci, t = self.windows[index % len(self.windows)]
        r = self._ref_frame(ci, t, rng)
        big, ref = self._hr_frame(ci, t), self._hr_frame(ci, r)
        h, w = min(big.shape[1], ref.shape[1]), min(big.shape[2], ref.shape[2])  # pairs may differ by a pixel
        big, ref = big[:, :h, :w], ref[:, :h, :w]
        y0, x0, ch, cw = self._crop_box(h, w, rng)
        lr = self._make_lr([big], (y0, x0, ch, cw), self.degradation.draw_lr(rng), rng)[0]
        hr, ref = big[:, y0 : y0 + ch, x0 : x0 + cw], ref[:, y0 : y0 + ch, x0 : x0 + cw]
        if self.augment:
            hflip, vflip, transpose = rng.random(3) < 0.5
            axes = tuple(ax for ax, on in ((-1, hflip), (-2, vflip)) if on)
            lr, hr, ref = (np.flip(np.asarray(a), axes) if axes else a for a in (lr, hr, ref))
            if transpose and ch == cw:
                lr, hr, ref = (a.swapaxes(-1, -2) for a in (lr, hr, ref))
        out = _as_ref_sample(lr, ref, hr, self.scale, self._key(ci, t))
        out["ref_key"] = self._key(ci, r)
        return out

    def _key(self, ci: int, t: int) -> str:
        """``<clip>/<frame name>``."""
        return f"{self.clips[ci][0]}/{self.clips[ci][1][t].stem}"

    def _crop_box(self, h: int, w: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
        if self.crop and self.crop > min(h, w):
            raise InputError(f"{type(self).__name__}: crop {self.crop} is larger than a {w} x {h} HR image")
        return super()._crop_box(h, w, rng)


def _as_ref_sample(lr: np.ndarray, ref: np.ndarray, hr: np.ndarray, scale: int, key: str) -> dict[str, Any]:
    """Contiguous float32 tensors, and the LR's MATLAB bicubic (the same computation as the model's skip)."""
    from satsr.models.rgtgan import matlab_resize

    out: dict[str, Any] = {k: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
                           for k, a in (("lr", lr), ("ref", ref), ("hr", hr))}
    out["lr_ux4"] = matlab_resize(out["lr"], scale)
    out["key"] = key
    return out


class VideoRefPairs(_RefSamples):
    """Satellite video as reference training data: frame ``t`` as target, frame ``t +- d`` as reference.

    Parameters
    ----------
    root : str, path or sequence of them
        Folders of clips (``<clip>/GT/*.jpg`` as in ``../shared/data/satvideo``), as :class:`VideoClips`.
    split : {"train", "val", "all"}, default "train"
        ``"train"``: targets and references within the first ``1 - holdout`` of each clip; ``"val"``: targets
        within the last ``holdout``, references anywhere in the clip (earlier frames first).
    holdout : float, default 0.2
    ref_gap : (int, int), default (10, 40)
        Frames between target and reference: drawn uniformly (either side) when augmenting, else the frame
        ``(low + high) // 2`` earlier (later when there is no such frame).
    scale, crop, prescale, degradation, augment, limit, seed, cache_mb, repeat
        As :class:`VideoClips` (``crop`` default 128; the reference is cut at the target's window); ``repeat``
        counts every window that many times per epoch.

    Raises
    ------
    InputError
        Missing folders, a clip whose split has a frame without a reference ``ref_gap`` away, bad settings.
    """

    def __init__(self, root: str | Path | Sequence[str | Path], *, ref_gap: Sequence[int] = (10, 40),
                 **options: Any) -> None:
        lo, hi = (int(g) for g in ref_gap)
        if not 1 <= lo <= hi:
            raise InputError(f"VideoRefPairs: ref_gap must be (low, high) with 1 <= low <= high, got {ref_gap!r}")
        self.ref_gap = (lo, hi)
        super().__init__(root, **options)

    def _ref_span(self, ci: int) -> tuple[int, int]:
        """Frames a reference may come from: the training part when training, else the whole clip."""
        n = len(self.clips[ci][1])
        return (0, int(math.floor(n * (1 - self.holdout)))) if self.split == "train" else (0, n)

    def _candidates(self, ci: int, t: int) -> list[int]:
        a, b = self._ref_span(ci)
        lo, hi = self.ref_gap
        return [t - d for d in range(lo, hi + 1) if t - d >= a] + [t + d for d in range(lo, hi + 1) if t + d < b]

    def _windows(self, split: str, holdout: float) -> list[tuple[int, int]]:
        windows = super()._windows(split, holdout)
        for ci, t in windows:
            if not self._candidates(ci, t):
                raise InputError(f"{self.clips[ci][0]}: frame {t} has no reference {self.ref_gap[0]} to "
                                 f"{self.ref_gap[1]} frames away within the {split} part (clip too short)")
        return windows

    def _ref_frame(self, ci: int, t: int, rng: np.random.Generator) -> int:
        cands = self._candidates(ci, t)
        if self.augment:
            return cands[int(rng.integers(len(cands)))]
        mid = sum(self.ref_gap) // 2
        return min(cands, key=lambda r: (abs(abs(t - r) - mid), r > t))


class BitemporalPairs(_RefSamples):
    """Co-registered images of one place at two dates as reference training data (both directions).

    Parameters
    ----------
    root : str, path or sequence of them
        Set folders holding ``A/`` and ``B/`` with the same file names (``refsr/bitemporal/levircd``), or folders
        of such sets (``refsr/bitemporal``). Images of a pair that differ by a few pixels are cut to the common
        size.
    split : {"train", "val", "all"}, default "train"
        Pairs before, within or regardless of the last ``holdout`` of each set (sorted by name).
    holdout : float, default 0.2
    prescale : int, default 1
        Area reduction of the images that makes the HR (1: the images are the HR).
    scale, crop, degradation, augment, limit, seed, cache_mb, repeat
        As :class:`VideoRefPairs`.

    Raises
    ------
    InputError
        Missing folders, sets without pairs, a split without pairs, bad settings.
    """

    def __init__(self, root: str | Path | Sequence[str | Path], *, prescale: int = 1, **options: Any) -> None:
        super().__init__(root, prescale=prescale, **options)

    @staticmethod
    def _find_clips(root: Path) -> list[tuple[str, list[Path]]]:
        if not root.is_dir():
            raise InputError(f"{root}: no such folder")
        sets = [root] if (root / "A").is_dir() else sorted(d for d in root.iterdir() if (d / "A").is_dir())
        clips: list[tuple[str, list[Path]]] = []
        for s in sets:
            if not (s / "B").is_dir():
                raise InputError(f"{s}: has A/ but no B/ (a bi-temporal set holds A/ and B/ with the same names)")
            names = sorted(p.name for p in (s / "A").iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES
                           and (s / "B" / p.name).is_file())
            for name in names:  # consecutive: the two directions of a pair
                a, b = s / "A" / name, s / "B" / name
                clips += [(f"{s.name}/A", [a, b]), (f"{s.name}/B", [b, a])]
        if not clips:
            raise InputError(f"{root}: no pairs (sets with A/ and B/ holding images of the same names)")
        return clips

    def _windows(self, split: str, holdout: float) -> list[tuple[int, int]]:
        by_set: dict[str, list[int]] = {}
        for ci, (name, _) in enumerate(self.clips):
            by_set.setdefault(name.rsplit("/", 1)[0], []).append(ci)
        windows: list[tuple[int, int]] = []
        for name, cis in by_set.items():
            pairs = len(cis) // 2
            cut = pairs - int(math.ceil(pairs * holdout)) if holdout > 0 else pairs
            lo, hi = {"train": (0, cut), "val": (cut, pairs), "all": (0, pairs)}[split]
            windows += [(ci, 0) for ci in cis[2 * lo : 2 * hi]]
            if lo == hi:
                raise InputError(f"{name}: no pairs in the {split} part ({pairs} pairs, holdout {holdout})")
        return windows

    def _ref_frame(self, ci: int, t: int, rng: np.random.Generator) -> int:
        return 1

    def _key(self, ci: int, t: int) -> str:
        """``<set>/<A or B>/<name>``: the image's own date folder."""
        path = self.clips[ci][1][t]
        return f"{path.parent.parent.name}/{path.parent.name}/{path.stem}"


#: Config ``type`` of each data set here (:func:`satsr.train.refsr.build_refsr_dataset` reads them).
REF_PAIR_TYPES: Mapping[str, type[_RefSamples]] = {"video_ref": VideoRefPairs, "bitemporal": BitemporalPairs}


def build_ref_pairs(kind: str, options: dict[str, Any], *, scale: int, seed: int, train: bool) -> _RefSamples:
    """A data set of :data:`REF_PAIR_TYPES` from a config entry's options (flat degradation keys).

    ``augment`` defaults to ``train``; ``scale`` and ``seed`` to the run's.

    Raises
    ------
    InputError
        An unknown type, unknown options, or what the data set raises.
    """
    if kind not in REF_PAIR_TYPES:
        raise InputError(f"dataset type {kind!r} is not one of {', '.join(REF_PAIR_TYPES)}")
    if "root" not in options:
        raise InputError(f"dataset {kind}: give root")
    options = {"augment": train, "scale": scale, "seed": seed, **options}
    try:
        return REF_PAIR_TYPES[kind].from_options(options.pop("root"), **options)
    except TypeError as err:
        raise InputError(f"dataset {kind}: {err}") from None
