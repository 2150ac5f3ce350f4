"""Reference-based SR samples: HR / LR / Ref triplets in the RGTGAN/RRSGAN folder layout."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from satsr.errors import InputError
from satsr.train.data.files import PathLike, list_rasters, read_raster, to_unit

__all__ = ["REFSR_FOLDERS", "find_refsr_sets", "RefSRTriplets"]

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
    repeat : int, default 1
        Each triplet counts that many times per epoch, each time with its own crop and flips: weighs a small set
        up beside larger ones in a mixed training set.

    Raises
    ------
    InputError
        A missing folder, a file missing from one of the sub-folders, or sizes that do not agree.
    """

    def __init__(self, roots: PathLike | Sequence[PathLike], *, crop: int | None = None, augment: bool = False,
                 scale: int = 4, seed: int = 0, repeat: int = 1) -> None:
        if isinstance(roots, (str, os.PathLike)):
            roots = [roots]
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise InputError(f"repeat must be a whole number >= 1, got {repeat!r}")
        self.repeat = repeat
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
        return len(self.items) * self.repeat

    def load(self, index: int) -> dict[str, np.ndarray]:
        """The whole images of one sample, float32 ``(C, H, W)`` in ``[0, 1]``, derived helpers completed."""
        from satsr.models.rgtgan import derive_inputs

        item = self.items[index % len(self.items)]
        imgs = {r: to_unit(read_raster(p), None) for r, p in item.items() if r != "key" and p is not None}
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
        item = self.items[index % len(self.items)]  # each repeat: the same triplet, its own draws (rng below)
        imgs = self.load(index)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        s = self.scale
        if self.crop is not None:
            h, w = imgs["lr"].shape[-2:]
            c = self.crop // s
            if c > min(h, w):
                raise InputError(f"{item['lr']}: {w} x {h} LR pixels, smaller than the crop ({c})")
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
        out["key"] = str(item["key"])
        return out
