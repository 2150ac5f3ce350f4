"""Training data sets: a window of LR frames and the HR centre frame, from video, frame folders, stacks and stills.

Every data set yields ``{"lr": (T, C, h, w), "hr": (C, h * scale, w * scale), "key": str}``: float32 torch
tensors in ``[0, 1]``, ``T = frames`` LR frames centred on the frame whose HR is ``"hr"`` (at clip ends the
window repeats the first or last frame). torch's default collate batches them (``"key"`` becomes a list).

LR frames come from disk where the layout has them (Jilin-189's ``LR4x/``), otherwise from
:func:`satsr.degrade.degrade` (MATLAB bicubic, optional blur and noise: a :class:`Degradation`), as the papers
made theirs. Crops of LR and HR correspond to the pixel (:mod:`satsr.train.data.frames`); the random draws and
the frame cache are described in :mod:`satsr.train.data.samples`.

The modules, by concern:

* :mod:`~satsr.train.data.files`: listing and reading rasters, raw values to ``[0, 1]``, the frame cache;
* :mod:`~satsr.train.data.options`: grouped settings (:class:`Degradation`) and their flat config keys;
* :mod:`~satsr.train.data.samples`: the base data set (options, generators, noise, flips, the sample's form);
* :mod:`~satsr.train.data.frames`: clips of frames and their windows;
* :mod:`~satsr.train.data.video`: :class:`Jilin189`, :class:`VimeoSeptuplet`, :class:`FrameFolders`,
  :class:`GeoStacks`;
* :mod:`~satsr.train.data.pseudo_video`: :class:`PseudoVideo`, clips made from stills;
* :mod:`~satsr.train.data.refsr`: :class:`RefSRTriplets`, reference-based SR samples.
"""

from satsr.train.data.files import list_rasters, read_raster
from satsr.train.data.options import Degradation
from satsr.train.data.pseudo_video import PseudoVideo
from satsr.train.data.refsr import REFSR_FOLDERS, RefSRTriplets, find_refsr_sets
from satsr.train.data.samples import as_sample, flip_sample
from satsr.train.data.video import FrameFolders, GeoStacks, Jilin189, VimeoSeptuplet

__all__ = ["Jilin189", "VimeoSeptuplet", "FrameFolders", "GeoStacks", "PseudoVideo", "RefSRTriplets", "find_refsr_sets",
           "list_rasters", "read_raster", "flip_sample", "as_sample", "Degradation", "REFSR_FOLDERS"]
