"""What a picture shows: one time step, which bands (and the matching bands of the other array), the window.

Shared by :func:`~satsr.viz.compare_png`, :func:`~satsr.viz.quicklook` and :func:`~satsr.viz.compare_html`.
Band numbers given by users are 1-based (the ``band`` coordinate); the functions here answer with positions.
Only the selected frame, bands and window of a lazy array are ever computed (:func:`read_window`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from satsr.errors import InputError

__all__ = [
    "band_descriptions", "band_labels", "check_crop", "choose_bands", "match_bands", "one_frame",
    "pick_bands", "read_window", "scale_of", "source_name",
]


def one_frame(da: xr.DataArray, frame: int, what: str) -> xr.DataArray:
    """Select one time step of a ``(time, band, y, x)`` or ``(band, y, x)`` array, as a 1-step stack.

    Parameters
    ----------
    da : xarray.DataArray
        The stack.
    frame : int
        Time step (negative counts from the end); 0 or -1 for an array without time.
    what : str
        Name of the array in error messages.

    Returns
    -------
    xarray.DataArray
        ``(time, band, y, x)`` with one time step.
    """
    if da.dims == ("band", "y", "x"):
        if frame not in (0, -1):
            raise InputError(f"{what} has no time dimension; frame must be 0, got {frame}")
        return da.expand_dims("time")
    if da.dims != ("time", "band", "y", "x"):
        raise InputError(f"{what}: expected dims (time, band, y, x) or (band, y, x), got {da.dims}")
    n = int(da.sizes["time"])
    if not -n <= frame < n:
        raise InputError(f"{what}: frame {frame} is out of range (the stack has {n} frames)")
    t = frame % n
    return da.isel(time=slice(t, t + 1))


def choose_bands(n_bands: int, bands: Sequence[int] | None, names: Sequence[str] = ()) -> list[int]:
    """Positions (0-based) of the 1 or 3 bands to show of ``n_bands``.

    Parameters
    ----------
    n_bands : int
        Number of bands.
    bands : sequence of int, optional
        Positions asked for (negative count from the end). Default: the bands whose ``names`` say red, green
        and blue, else the first three, or the first one when there are fewer than three.
    names : sequence of str, default ()
        Band descriptions, e.g. ``"B4 red"``.

    Returns
    -------
    list of int
        One position (grey) or three (RGB).
    """
    if bands is None:
        # Natural colour when the band names say which band is red, green and blue (e.g. "B4 red").
        found = [next((i for i, n in enumerate(names) if colour in str(n).lower().split()), None)
                 for colour in ("red", "green", "blue")]
        if None not in found and len(set(found)) == 3:
            return [int(i) for i in found if i is not None]
        return [0, 1, 2] if n_bands >= 3 else [0]
    sel = [int(b) for b in bands]
    if len(sel) not in (1, 3):
        raise InputError(f"bands must name 1 band (grey) or 3 bands (RGB), got {len(sel)}: {list(bands)}")
    for b in sel:
        if not -n_bands <= b < n_bands:
            raise InputError(f"band index {b} is out of range: the stack has {n_bands} bands (0..{n_bands - 1})")
    return [b % n_bands for b in sel]


def source_name(da: xr.DataArray, default: str) -> str:
    """File name of a stack opened from disk (its ``source`` coordinate), else ``default``."""
    if "source" in da.coords:
        values = np.atleast_1d(da["source"].values)
        if values.size:
            return Path(str(values[0])).name
    return default


def band_labels(da: xr.DataArray) -> list[int]:
    """Band numbers of ``da``: its ``band`` coordinate, else 1..n."""
    n = int(da.sizes["band"])
    if "band" in da.coords:
        return [int(v) for v in np.atleast_1d(da["band"].values)]
    return list(range(1, n + 1))


def band_descriptions(da: xr.DataArray) -> list[str]:
    """Band descriptions of ``da`` (its ``description`` coordinate), or ``[]`` when it has none."""
    if "description" not in da.coords:
        return []
    return [str(v) if v is not None else "" for v in np.atleast_1d(da["description"].values)]


def match_bands(lo: xr.DataArray, picked: list[int], other: xr.DataArray, lo_name: str, what: str) -> list[int]:
    """Positions in ``other`` of the bands that show ``lo``'s bands at positions ``picked``.

    By band description when both have them (a file written by ``satsr upscale --bands 3,2,1`` numbers its
    bands 1..3 again but keeps their names), else by band number when both have the same bands, else in order
    when ``other`` has exactly the bands shown (it was made from them), else by band number.

    Parameters
    ----------
    lo : xarray.DataArray
        The input frame.
    picked : list of int
        Positions of the shown bands in ``lo``.
    other : xarray.DataArray
        The output (or baseline) frame.
    lo_name, what : str
        Names of ``lo`` and ``other`` in error messages.

    Returns
    -------
    list of int
        Positions in ``other``, one per entry of ``picked``.
    """
    lo_desc, ot_desc = band_descriptions(lo), band_descriptions(other)
    lo_lab, ot_lab = band_labels(lo), band_labels(other)
    wanted = [lo_desc[p] for p in picked] if lo_desc else []
    if wanted and ot_desc and all(d and ot_desc.count(d) == 1 for d in wanted):
        return [ot_desc.index(d) for d in wanted]
    if ot_lab == lo_lab:
        return list(picked)
    if len(ot_lab) == len(picked):
        return list(range(len(picked)))
    if all(lo_lab[p] in ot_lab for p in picked):
        return [ot_lab.index(lo_lab[p]) for p in picked]
    shown = [lo_lab[p] for p in picked]
    raise InputError(
        f"{what} has bands {ot_lab} and {lo_name} bands {lo_lab}: cannot tell which of {what}'s bands show "
        f"{lo_name}'s bands {shown}; give both the same bands, or band descriptions"
    )


def pick_bands(lo: xr.DataArray, hi: xr.DataArray | None, bands: Sequence[int] | None, lo_name: str) -> list[int]:
    """Positions in ``lo`` of the bands to show: ``bands`` are band numbers (1-based, the ``band`` coordinate).

    Parameters
    ----------
    lo : xarray.DataArray
        The input frame.
    hi : xarray.DataArray or None
        The output frame; when it was made from some of ``lo``'s bands, those are shown by default.
    bands : sequence of int, optional
        Band numbers, one (grey) or three (RGB). Default: as :func:`choose_bands`.
    lo_name : str
        Name of ``lo`` in error messages.

    Returns
    -------
    list of int
        Positions in ``lo``.
    """
    lab = band_labels(lo)
    if bands is None:
        cand = list(range(len(lab)))
        if hi is not None:
            # hi made from some of lo's bands, in memory (upscale(..., bands=[4, 3, 2])): show those.
            hl = band_labels(hi)
            if hl != lab and set(hl) <= set(lab) and len(hl) < len(lab):
                desc, hdesc = band_descriptions(lo), band_descriptions(hi)
                sub = [lab.index(b) for b in hl]
                if not desc or not hdesc or [desc[p] for p in sub] == hdesc:
                    cand = sub
        names = band_descriptions(lo)
        chosen = choose_bands(len(cand), None, [names[p] for p in cand] if names else [])
        return [cand[i] for i in chosen]
    sel = [int(b) for b in bands]
    if len(sel) not in (1, 3):
        raise InputError(f"bands must name 1 band (grey) or 3 bands (RGB), got {len(sel)}: {list(bands)}")
    for b in sel:
        if b not in lab:
            have = f"1..{len(lab)}" if lab == list(range(1, len(lab) + 1)) else str(lab)
            raise InputError(f"{lo_name}: band {b} is out of range: it has bands {have} (band numbers are 1-based)")
    return [lab.index(b) for b in sel]


def scale_of(lo: xr.DataArray, hi: xr.DataArray, lo_name: str, hi_name: str) -> int:
    """Integer scale between the grids of ``lo`` and ``hi``; refuses sizes that are not one integer multiple."""
    h, w = int(lo.sizes["y"]), int(lo.sizes["x"])
    hs, ws = int(hi.sizes["y"]), int(hi.sizes["x"])
    if hs % h or ws % w or hs // h != ws // w:
        raise InputError(
            f"{hi_name} size {hs} x {ws} is not one integer multiple of {lo_name} size {h} x {w} (rows x cols): "
            "they do not show the same area on nested grids"
        )
    return hs // h


def check_crop(crop: Sequence[int] | None, h: int, w: int, what: str) -> tuple[int, int, int, int]:
    """``(row, col, height, width)`` of ``crop`` in an ``h x w`` frame (the whole frame for ``None``)."""
    if crop is None:
        return 0, 0, h, w
    if len(crop) != 4:
        raise InputError(f"crop must be (row, col, height, width), got {tuple(crop)}")
    r0, c0, ch, cw = (int(v) for v in crop)
    if ch < 1 or cw < 1 or r0 < 0 or c0 < 0 or r0 + ch > h or c0 + cw > w:
        raise InputError(f"crop {tuple(crop)} (row, col, height, width) does not fit in {what}'s {h} x {w} frame")
    return r0, c0, ch, cw


def read_window(da: xr.DataArray, pos: list[int], rows: slice | np.ndarray, cols: slice | np.ndarray) -> np.ndarray:
    """``(band, y, x)`` values of a one-step stack; only the selection is computed."""
    return np.asarray(da.isel(band=pos, y=rows, x=cols).values)[0]
