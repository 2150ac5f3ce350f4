"""Training data: LR/HR sample pairs from satellite video, Vimeo-90K, frame folders, geo stacks and stills.

``make_clip`` (pseudo-video from a still) needs NumPy and SciPy only; the data sets are torch ``Dataset``s and
load torch on first use (PEP 562), so ``import satsr.train`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from satsr.train.pseudo import Motion as Motion
from satsr.train.pseudo import make_clip as make_clip

if TYPE_CHECKING:
    from satsr.train.data import Degradation as Degradation
    from satsr.train.data import FrameFolders as FrameFolders
    from satsr.train.data import GeoStacks as GeoStacks
    from satsr.train.data import Jilin189 as Jilin189
    from satsr.train.data import PseudoVideo as PseudoVideo
    from satsr.train.data import VimeoSeptuplet as VimeoSeptuplet

__all__ = ["Degradation", "FrameFolders", "GeoStacks", "Jilin189", "Motion", "PseudoVideo", "VimeoSeptuplet",
           "make_clip"]

_DATA = {"Degradation", "FrameFolders", "GeoStacks", "Jilin189", "PseudoVideo", "VimeoSeptuplet"}


def __getattr__(name: str) -> Any:
    if name in _DATA:
        value = getattr(importlib.import_module("satsr.train.data"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'satsr.train' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _DATA)
