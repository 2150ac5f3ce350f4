"""Quick-look pictures: PNGs of a low-resolution frame beside its super-resolved version, and an HTML swipe page.

* :func:`compare_png`: the plain side-by-side of ``satsr upscale --preview`` (NumPy and GDAL's PNG driver only).
* :func:`quicklook`: side-by-side or swipe PNG (or the input alone) with zoom boxes and their enlarged crops,
  a scale bar and a note with the CRS and resolutions (``satsr quicklook``). Pillow draws the text and lines.
* :func:`compare_html`: one self-contained HTML page with a before/after slider between the bicubic upsampling
  of the input and the super-resolved image (``satsr compare``).

The super-resolved array may be lazy and huge: only the chosen frame, bands and window are computed, and only
every ``k``-th pixel when a panel has to be shrunk to fit ``max_size``.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import string
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import xarray as xr
from rasterio.errors import NotGeoreferencedWarning

from satsr.errors import GeoreferenceError, InputError
from satsr.geo import Grid
from satsr.io._atomic import atomic_output

__all__ = ["compare_html", "compare_png", "quicklook", "scale_bar_length"]

#: Width in pixels of the white gap between the two panels.
GAP = 4
#: Lower and upper percentiles of the contrast stretch.
STRETCH = (2.0, 98.0)


def _frame(da: xr.DataArray, frame: int, what: str) -> xr.DataArray:
    """Select one time step of a ``(time, band, y, x)`` or ``(band, y, x)`` array, as a 1-step stack."""
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


def _choose_bands(n_bands: int, bands: Sequence[int] | None, names: Sequence[str] = ()) -> list[int]:
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


def _invalid(values: np.ndarray, nodata: float | None) -> np.ndarray:
    """Per-band mask of nodata, NaN and infinite values."""
    bad = ~np.isfinite(values) if values.dtype.kind == "f" else np.zeros(values.shape, dtype=bool)
    if nodata is None or np.isnan(nodata):
        return bad
    if values.dtype.kind in "ui":
        info = np.iinfo(values.dtype)
        if not (info.min <= nodata <= info.max and float(nodata).is_integer()):
            return bad  # a nodata value the dtype cannot hold matches no pixel
    bad |= values == np.asarray(nodata).astype(values.dtype)
    return bad


def _stretch_limits(
    values: np.ndarray, bad: np.ndarray, percentiles: tuple[float, float] = STRETCH
) -> list[tuple[float, float]]:
    """``(low, high)`` per band: the ``percentiles`` (default 2 and 98) of the band's valid pixels."""
    limits = []
    for band, mask in zip(values, bad):
        valid = band[~mask]
        if valid.size == 0:
            limits.append((0.0, 1.0))
            continue
        lo, hi = (float(v) for v in np.percentile(valid.astype(np.float64), percentiles))
        if not hi > lo:
            hi = lo + 1.0
        limits.append((lo, hi))
    return limits


def _to_uint8(values: np.ndarray, bad: np.ndarray, limits: list[tuple[float, float]]) -> np.ndarray:
    """Stretch ``(band, y, x)`` values to 0..255; a pixel with nodata in any band is black."""
    out = np.empty(values.shape, dtype=np.uint8)
    for i, (lo, hi) in enumerate(limits):
        with np.errstate(invalid="ignore"):
            scaled = (values[i].astype(np.float64) - lo) * (255.0 / (hi - lo))
        out[i] = np.clip(np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0), 0, 255).round().astype(np.uint8)
    out[:, bad.any(axis=0)] = 0
    return out


def compare_png(
    lr: xr.DataArray,
    sr: xr.DataArray,
    path: str | os.PathLike[str],
    *,
    frame: int = 0,
    bands: Sequence[int] | None = None,
    max_size: int = 1024,
    crop: tuple[int, int, int, int] | None = None,
) -> Path:
    """Write a side-by-side PNG: the low-resolution frame (left) and its super-resolved version (right).

    The left panel is ``lr`` upsampled by nearest neighbour to the size of ``sr``, so both panels show the same
    area at the same size; a thin white gap separates them. Both panels share one contrast stretch per band
    (2--98 % percentiles of the valid pixels of ``lr``) to 8 bit; nodata, NaN and infinite values show black.

    Parameters
    ----------
    lr : xarray.DataArray
        Input stack, ``(time, band, y, x)`` or ``(band, y, x)``, as from :func:`satsr.open_stack`.
    sr : xarray.DataArray
        Its super-resolved version (same dims and bands, ``y``/``x`` an integer multiple of ``lr``'s), as
        from :func:`satsr.upscale`. May be lazy: only what the PNG shows is computed.
    path : str or path
        PNG file to write (its folder must exist). Written under a temporary name, then renamed.
    frame : int, default 0
        Time step to show (negative counts from the end).
    bands : sequence of int, optional
        Band numbers (1-based, the ``band`` coordinate, as ``upscale``'s ``bands=``): three for RGB or one for
        grey. Default: the bands whose descriptions name
        red, green and blue (natural colour), else the first three bands, or the first band (grey) when there
        are fewer than three.
    max_size : int, default 1024
        Largest height or width of one panel in pixels; bigger panels are shrunk by an integer stride
        (every ``k``-th super-resolved pixel, ``k`` as small as fits).
    crop : tuple of int, optional
        ``(row, col, height, width)`` window in ``lr`` pixels to show instead of the whole frame.

    Returns
    -------
    pathlib.Path
        The PNG written: ``(3 or 1) x H x (2 W + 4)`` uint8.

    Raises
    ------
    InputError
        Arrays that do not fit together, an out-of-range frame, band or crop, a bad ``max_size``.
    OutputError
        A file stands where the folder of ``path`` should be, or the file cannot be written.

    Examples
    --------
    >>> lr = satsr.open_stack("scene.tif")  # doctest: +SKIP
    >>> compare_png(lr, satsr.upscale(lr, "bicubic", scale=4), "scene_x4.png", crop=(0, 0, 128, 128))  # doctest: +SKIP
    """
    if max_size < 1:
        raise InputError(f"max_size must be a positive number of pixels, got {max_size}")
    lo_f = _frame(lr, frame, "lr")
    hi_f = _frame(sr, frame, "sr")
    if "band" in lo_f.coords and "band" in hi_f.coords:
        # sr made from some of lr's bands (upscale(..., bands=[3, 2, 1])): show lr's same bands, same order. A file
        # written and read back numbers its bands 1..n again; its band names (when there are) tell it apart.
        lo_bands, hi_bands = lo_f["band"].values.tolist(), hi_f["band"].values.tolist()
        if lo_bands != hi_bands and set(hi_bands) <= set(lo_bands):
            picked = lo_f.sel(band=hi_bands)
            if "description" not in picked.coords or "description" not in hi_f.coords or (
                picked["description"].values.tolist() == hi_f["description"].values.tolist()
            ):
                lo_f = picked
    n_b = int(lo_f.sizes["band"])
    if int(hi_f.sizes["band"]) != n_b:
        raise InputError(f"lr has {n_b} bands but sr has {int(hi_f.sizes['band'])}")
    h, w = int(lo_f.sizes["y"]), int(lo_f.sizes["x"])
    hs, ws = int(hi_f.sizes["y"]), int(hi_f.sizes["x"])
    if hs % h or ws % w or hs // h != ws // w:
        raise InputError(f"sr size {hs} x {ws} is not one integer multiple of lr size {h} x {w} (rows x cols)")
    s = hs // h
    names = [str(v) for v in lo_f["description"].values] if "description" in lo_f.coords else []
    if bands is not None:
        # Band numbers (1-based, the ``band`` coordinate, as everywhere in satsr) to positions in the frame.
        have = [int(v) for v in lo_f["band"].values] if "band" in lo_f.coords else list(range(1, n_b + 1))
        missing = [int(b) for b in bands if int(b) not in have]
        if missing:
            raise InputError(f"band {missing[0]} is out of range: lr has bands {have} (band numbers are 1-based)")
        bands = [have.index(int(b)) for b in bands]
    sel = _choose_bands(n_b, bands, names)

    r0, c0, ch, cw = (0, 0, h, w) if crop is None else (int(v) for v in crop)
    if ch < 1 or cw < 1 or r0 < 0 or c0 < 0 or r0 + ch > h or c0 + cw > w:
        raise InputError(f"crop {tuple(crop or ())} (row, col, height, width) does not fit in the {h} x {w} frame")

    # Stride k so that each panel fits max_size; rows/cols are SR pixel indices shown in both panels.
    k = max(1, math.ceil(max(ch * s, cw * s) / max_size))
    sr_rows = np.arange(r0 * s, (r0 + ch) * s, k)
    sr_cols = np.arange(c0 * s, (c0 + cw) * s, k)

    # Right panel: a strided view of the selected frame and bands, so the full array is never materialised.
    right = np.asarray(
        hi_f.isel(band=sel, y=slice(r0 * s, (r0 + ch) * s, k), x=slice(c0 * s, (c0 + cw) * s, k)).values
    )[0]
    # Left panel: read each LR pixel the SR samples fall in once, then replicate (nearest neighbour).
    lr_rows, inv_r = np.unique(sr_rows // s, return_inverse=True)
    lr_cols, inv_c = np.unique(sr_cols // s, return_inverse=True)
    lr_vals = np.asarray(lo_f.isel(band=sel, y=lr_rows, x=lr_cols).values)[0]

    nodata = lr.attrs.get("_FillValue", lr.attrs.get("nodata"))
    nodata = None if nodata is None else float(nodata)
    sr_nodata = sr.attrs.get("_FillValue", sr.attrs.get("nodata", nodata))
    sr_nodata = None if sr_nodata is None else float(sr_nodata)
    lr_bad = _invalid(lr_vals, nodata)
    limits = _stretch_limits(lr_vals, lr_bad)
    left = _to_uint8(lr_vals, lr_bad, limits)[:, inv_r][:, :, inv_c]
    right = _to_uint8(right, _invalid(right, sr_nodata), limits)

    ph, pw = left.shape[1:]
    img = np.full((len(sel), ph, 2 * pw + GAP), 255, dtype=np.uint8)
    img[:, :, :pw] = left
    img[:, :, pw + GAP :] = right

    out = Path(path)
    with atomic_output(out) as tmp:
        with warnings.catch_warnings(), rasterio.Env(GDAL_PAM_ENABLED="NO"):
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(
                tmp, "w", driver="PNG", width=img.shape[2], height=img.shape[1], count=img.shape[0], dtype="uint8"
            ) as dst:
                dst.write(img)
    return out


# -- quicklook and compare: shared pieces ---------------------------------------------------------------------
#: Height in pixels of the note strip under a quick-look.
FOOTER = 24
#: Outline colours of the zoom boxes, in order (RGB); repeated when there are more boxes.
BOX_COLOURS = ((255, 214, 0), (0, 224, 255), (255, 70, 200), (130, 255, 90))
#: Layouts of :func:`quicklook`.
LAYOUTS = ("side-by-side", "swipe")
_ZoomBox = tuple[int, int, int]


def scale_bar_length(max_length: float) -> float:
    """Return the longest round length, 1, 2 or 5 times a power of ten, that is at most ``max_length``.

    Parameters
    ----------
    max_length : float
        Longest length the bar may have, in ground units (metres, degrees or pixels).

    Returns
    -------
    float
        E.g. 500 for 730, 2 for 2, 0.05 for 0.07.

    Raises
    ------
    InputError
        When ``max_length`` is not a positive finite number.

    Examples
    --------
    >>> scale_bar_length(730.0), scale_bar_length(0.07), scale_bar_length(1.0)
    (500.0, 0.05, 1.0)
    """
    if not (math.isfinite(max_length) and max_length > 0):
        raise InputError(f"scale bar length must be a positive number, got {max_length!r}")
    exp = math.floor(math.log10(max_length))
    for e in (exp + 1, exp, exp - 1):  # log10 may round across a power of ten
        for m in (5, 2, 1):
            value = float(f"{m}e{e}")
            if value <= max_length * (1 + 1e-12):
                return value
    return float(f"1e{exp - 1}")


def _check_stretch(stretch: Sequence[float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in stretch)
    except (TypeError, ValueError):
        raise InputError(f"stretch must be two percentiles (low, high), got {stretch!r}") from None
    if not 0 <= lo < hi <= 100:
        raise InputError(f"stretch percentiles must satisfy 0 <= low < high <= 100, got {lo:g} {hi:g}")
    return lo, hi


def _name(da: xr.DataArray, default: str) -> str:
    """File name of a stack opened from disk (its ``source`` coordinate), else ``default``."""
    if "source" in da.coords:
        values = np.atleast_1d(da["source"].values)
        if values.size:
            return Path(str(values[0])).name
    return default


def _labels(da: xr.DataArray) -> list[int]:
    n = int(da.sizes["band"])
    if "band" in da.coords:
        return [int(v) for v in np.atleast_1d(da["band"].values)]
    return list(range(1, n + 1))


def _descriptions(da: xr.DataArray) -> list[str]:
    if "description" not in da.coords:
        return []
    return [str(v) if v is not None else "" for v in np.atleast_1d(da["description"].values)]


def _match_bands(lo: xr.DataArray, picked: list[int], other: xr.DataArray, lo_name: str, what: str) -> list[int]:
    """Positions in ``other`` of the bands that show ``lo``'s bands at positions ``picked``.

    By band description when both have them (a file written by ``satsr upscale --bands 3,2,1`` numbers its
    bands 1..3 again but keeps their names), else by band number when both have the same bands, else in order
    when ``other`` has exactly the bands shown (it was made from them), else by band number.
    """
    lo_desc, ot_desc = _descriptions(lo), _descriptions(other)
    lo_lab, ot_lab = _labels(lo), _labels(other)
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


def _pick_bands(
    lo: xr.DataArray, hi: xr.DataArray | None, bands: Sequence[int] | None, lo_name: str
) -> list[int]:
    """Positions in ``lo`` of the bands to show: ``bands`` are band numbers (1-based, the ``band`` coordinate)."""
    lab = _labels(lo)
    if bands is None:
        cand = list(range(len(lab)))
        if hi is not None:
            # hi made from some of lo's bands, in memory (upscale(..., bands=[4, 3, 2])): show those.
            hl = _labels(hi)
            if hl != lab and set(hl) <= set(lab) and len(hl) < len(lab):
                desc, hdesc = _descriptions(lo), _descriptions(hi)
                sub = [lab.index(b) for b in hl]
                if not desc or not hdesc or [desc[p] for p in sub] == hdesc:
                    cand = sub
        names = _descriptions(lo)
        chosen = _choose_bands(len(cand), None, [names[p] for p in cand] if names else [])
        return [cand[i] for i in chosen]
    sel = [int(b) for b in bands]
    if len(sel) not in (1, 3):
        raise InputError(f"bands must name 1 band (grey) or 3 bands (RGB), got {len(sel)}: {list(bands)}")
    for b in sel:
        if b not in lab:
            have = f"1..{len(lab)}" if lab == list(range(1, len(lab) + 1)) else str(lab)
            raise InputError(f"{lo_name}: band {b} is out of range: it has bands {have} (band numbers are 1-based)")
    return [lab.index(b) for b in sel]


def _scale_of(lo: xr.DataArray, hi: xr.DataArray, lo_name: str, hi_name: str) -> int:
    h, w = int(lo.sizes["y"]), int(lo.sizes["x"])
    hs, ws = int(hi.sizes["y"]), int(hi.sizes["x"])
    if hs % h or ws % w or hs // h != ws // w:
        raise InputError(
            f"{hi_name} size {hs} x {ws} is not one integer multiple of {lo_name} size {h} x {w} (rows x cols): "
            "they do not show the same area on nested grids"
        )
    return hs // h


def _check_crop(crop: Sequence[int] | None, h: int, w: int, what: str) -> tuple[int, int, int, int]:
    if crop is None:
        return 0, 0, h, w
    if len(crop) != 4:
        raise InputError(f"crop must be (row, col, height, width), got {tuple(crop)}")
    r0, c0, ch, cw = (int(v) for v in crop)
    if ch < 1 or cw < 1 or r0 < 0 or c0 < 0 or r0 + ch > h or c0 + cw > w:
        raise InputError(f"crop {tuple(crop)} (row, col, height, width) does not fit in {what}'s {h} x {w} frame")
    return r0, c0, ch, cw


def _nodata(da: xr.DataArray, default: float | None = None) -> float | None:
    v = da.attrs.get("_FillValue", da.attrs.get("nodata", default))
    return None if v is None else float(v)


def _read(da: xr.DataArray, pos: list[int], rows: slice | np.ndarray, cols: slice | np.ndarray) -> np.ndarray:
    """``(band, y, x)`` values of a one-step stack; only the selection is computed."""
    return np.asarray(da.isel(band=pos, y=rows, x=cols).values)[0]


def _rgb(img: np.ndarray) -> np.ndarray:
    """``(1 or 3, y, x)`` uint8 to ``(y, x, 3)``."""
    return np.repeat(img, 3, axis=0).transpose(1, 2, 0) if img.shape[0] == 1 else img.transpose(1, 2, 0)


class _Georef:
    """CRS name, ground unit and pixel size of an input, for the scale bar and the note."""

    def __init__(self, da: xr.DataArray) -> None:
        try:
            grid = Grid.from_xarray(da)
        except GeoreferenceError:
            self.crs = None
            self.res = 1.0
        else:
            self.crs = grid.crs
            t = grid.transform
            self.res = math.hypot(t.a, t.d)
        if self.crs is None:
            self.crs_name, self.unit = "no CRS (pixel coordinates)", "px"
            return
        code = self.crs.to_epsg()
        self.crs_name = f"EPSG:{code}" if code else (self.crs.name or "custom CRS")
        if self.crs.is_geographic:
            self.unit = "°"
        else:
            unit = self.crs.axis_info[0].unit_name if self.crs.axis_info else "metre"
            self.unit = {"metre": "m", "meter": "m", "foot": "ft", "US survey foot": "ft"}.get(unit, unit)

    def fmt(self, value: float) -> str:
        return f"{value:.4g}°" if self.unit == "°" else f"{value:.4g} {self.unit}"

    def length(self, value: float) -> str:
        if self.unit == "m" and value >= 1000:
            return f"{value / 1000:g} km"
        return f"{value:g}°" if self.unit == "°" else f"{value:g} {self.unit}"

    def note(self, scale: int | None) -> str:
        if scale is None:
            return f"{self.crs_name}  {self.fmt(self.res)}"
        return f"{self.crs_name}  {self.fmt(self.res)} -> {self.fmt(self.res / scale)} (x{scale})"


def _font(size: int = 13) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _label(draw: Any, xy: tuple[int, int], text: str, font: Any, *, anchor_right: bool = False) -> None:
    """White text on a dark box at ``xy`` (its top-left, or top-right with ``anchor_right``)."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left + 8, bottom - top + 6
    x, y = (xy[0] - w, xy[1]) if anchor_right else xy
    draw.rectangle([x, y, x + w - 1, y + h - 1], fill=(0, 0, 0))
    draw.text((x + 4 - left, y + 3 - top), text, font=font, fill=(255, 255, 255))


def _auto_zoom(values: np.ndarray, bad: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left ``(row, col)`` of the ``size x size`` window with the most texture (mean gradient magnitude).

    ``values`` is ``(band, y, x)``; windows touching an invalid pixel are skipped (unless all do).
    """
    v = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0).mean(axis=0)
    spread = float(np.ptp(v[~bad.any(axis=0)])) if (~bad.any(axis=0)).any() else 0.0
    v = v / spread if spread > 0 else v
    gy, gx = np.zeros_like(v), np.zeros_like(v)
    gy[1:], gx[:, 1:] = np.abs(np.diff(v, axis=0)), np.abs(np.diff(v, axis=1))
    grad = gy + gx
    invalid = bad.any(axis=0).astype(np.float64)

    def box_sum(a: np.ndarray) -> np.ndarray:
        ii = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
        ii[1:, 1:] = a.cumsum(axis=0).cumsum(axis=1)
        return ii[size:, size:] - ii[:-size, size:] - ii[size:, :-size] + ii[:-size, :-size]

    score = box_sum(grad)
    holes = box_sum(invalid) > 0.5
    if not holes.all():
        score[holes] = -np.inf
    r, c = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(r), int(c)


def _zoom_items(zoom: Sequence[Sequence[int] | str] | str | None) -> list[Sequence[int] | str]:
    if zoom is None:
        return []
    return [zoom] if isinstance(zoom, str) else list(zoom)


def _resolve_zoom(
    zoom: Sequence[Sequence[int] | str] | str | None,
    lo: xr.DataArray,
    pos: list[int],
    view: tuple[int, int, int, int],
    nodata: float | None,
    auto_size: int,
) -> list[_ZoomBox]:
    """Zoom boxes ``(row, col, size)`` in LR pixels; ``"auto"`` becomes the most textured ``auto_size`` box."""
    items = _zoom_items(zoom)
    r0, c0, ch, cw = view
    boxes: list[_ZoomBox] = []
    for item in items:
        if isinstance(item, str):
            if item.strip().lower() != "auto":
                raise InputError(f"zoom {item!r}: give (row, col, size) in input pixels, or 'auto'")
            size = max(1, min(auto_size, min(ch, cw)))
            # Texture on a decimated copy when the view is big: at most ~1024 px a side is read.
            k = max(1, math.ceil(max(ch, cw) / 1024))
            vals = _read(lo, pos, slice(r0, r0 + ch, k), slice(c0, c0 + cw, k))
            ks = max(1, size // k)
            if ks > min(vals.shape[1:]):
                ks = min(vals.shape[1:])
            r, c = _auto_zoom(vals, _invalid(vals, nodata), ks)
            r, c = min(r0 + r * k, r0 + ch - size), min(c0 + c * k, c0 + cw - size)
            boxes.append((r, c, size))
            continue
        if len(item) != 3:
            raise InputError(f"zoom box {tuple(item)}: give (row, col, size) in input pixels")
        r, c, size = (int(v) for v in item)
        if size < 1 or r < r0 or c < c0 or r + size > r0 + ch or c + size > c0 + cw:
            where = "frame" if (r0, c0) == (0, 0) and (ch, cw) == (int(lo.sizes["y"]), int(lo.sizes["x"])) else (
                f"shown window (rows {r0}..{r0 + ch - 1}, cols {c0}..{c0 + cw - 1})")
            raise InputError(
                f"zoom box (row {r}, col {c}, size {size}) lies outside the {where} of the {int(lo.sizes['y'])} x "
                f"{int(lo.sizes['x'])} input (rows x cols, input pixels)"
            )
        boxes.append((r, c, size))
    return boxes


def _enlarge(img: np.ndarray, side: int) -> np.ndarray:
    """Nearest-neighbour resize of ``(y, x, 3)`` to ``side x side``."""
    rows = (np.arange(side) * img.shape[0]) // side
    cols = (np.arange(side) * img.shape[1]) // side
    return img[rows][:, cols]


def _save_png(img: np.ndarray, path: Path) -> None:
    from PIL import Image

    with atomic_output(path) as tmp:
        Image.fromarray(img, mode="RGB").save(tmp, format="PNG", compress_level=6)


# -- quicklook ------------------------------------------------------------------------------------------------
def quicklook(
    lr: xr.DataArray,
    sr: xr.DataArray | None,
    path: str | os.PathLike[str],
    *,
    layout: str = "side-by-side",
    baseline: xr.DataArray | None = None,
    frame: int = 0,
    bands: Sequence[int] | None = None,
    stretch: Sequence[float] = STRETCH,
    zoom: Sequence[Sequence[int] | str] | str | None = None,
    crop: Sequence[int] | None = None,
    max_size: int = 1024,
    labels: Sequence[str | None] | None = None,
) -> Path:
    """Write a quick-look PNG of an input frame and its super-resolved version, with zoom boxes and a scale bar.

    The input is upsampled by nearest neighbour to the super-resolved size (or replaced by ``baseline``), and
    both share one contrast stretch per band (percentiles of the input's valid pixels, so 16-bit data show
    well); nodata, NaN and infinite values are black. A scale bar with a round length (1, 2 or 5 x 10^k metres,
    degrees for a geographic CRS, pixels without a CRS) sits in the bottom-left corner, and a strip at the
    bottom says the CRS and the resolutions, e.g. ``EPSG:32633  30 m -> 7.5 m (x4)``.

    Parameters
    ----------
    lr : xarray.DataArray
        Input stack, ``(time, band, y, x)`` or ``(band, y, x)``, as from :func:`satsr.open_stack`.
    sr : xarray.DataArray or None
        Its super-resolved version (same area, ``y``/``x`` an integer multiple of ``lr``'s), as from
        :func:`satsr.upscale`; may be lazy. ``None`` shows ``lr`` alone at its own resolution.
    path : str or path
        PNG file to write (its folder must exist); written under a temporary name, then renamed.
    layout : {"side-by-side", "swipe"}, default "side-by-side"
        Two panels (input left, output right, a 4-pixel white gap), or one image whose left half is the input
        and right half the output, split by a thin white line.
    baseline : xarray.DataArray, optional
        Shown instead of the nearest-upsampled input, e.g. the bicubic upsampling written by
        ``satsr upscale -m bicubic``; same size and bands as ``sr``.
    frame : int, default 0
        Time step to show (negative counts from the end).
    bands : sequence of int, optional
        Band numbers (1-based, the ``band`` coordinate, as ``satsr.upscale(bands=...)``) of ``lr``: three for RGB
        or one for grey. ``sr``'s matching bands are found by band description, else band number. Default: the
        bands named red, green and blue, else the first three (or the first one).
    stretch : (float, float), default (2, 98)
        Lower and upper percentiles mapped to black and white.
    zoom : sequence, optional
        Zoom boxes, each ``(row, col, size)`` in input pixels (of the whole frame) or ``"auto"`` (the most
        textured spot). Boxes are outlined on the panels in colour, and a row of enlarged crops is added
        below: input and output side by side for each box, at full output resolution.
    crop : (int, int, int, int), optional
        ``(row, col, height, width)`` window in input pixels to show instead of the whole frame.
    max_size : int, default 1024
        Largest height or width of a panel; bigger panels show every ``k``-th pixel (``k`` as small as fits).
    labels : (str or None, str or None), optional
        Panel captions; ``None`` or a ``None`` entry takes the default: ``"input (nearest xS)"`` (or the
        baseline's model) and the output's model (``satsr_model`` attribute), else ``"output"``.

    Returns
    -------
    pathlib.Path
        The RGB PNG written. Its size: panel ``H x W`` (the output size of the window, divided by ``k``),
        width ``2 W + 4`` side by side, ``W`` for swipe or the input alone; height ``H + 24``, plus ``4 + c``
        with zoom boxes (``c``: side of a crop, the width shared by the ``2 n`` crops, ``n`` alone).

    Raises
    ------
    InputError
        Arrays that do not fit together (sizes, bands), an out-of-range frame, band, crop or zoom box, a bad
        layout, stretch or ``max_size``.
    OutputError
        A file stands where the folder of ``path`` should be, or the file cannot be written.

    Examples
    --------
    >>> lr = satsr.open_stack("scene.tif")  # doctest: +SKIP
    >>> quicklook(lr, satsr.upscale(lr), "scene.png", zoom=["auto"], layout="swipe")  # doctest: +SKIP
    """
    from PIL import Image, ImageDraw

    if max_size < 1:
        raise InputError(f"max_size must be a positive number of pixels, got {max_size}")
    if layout not in LAYOUTS:
        raise InputError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
    pct = _check_stretch(stretch)
    lo_name, hi_name = _name(lr, "lr"), _name(sr, "sr") if sr is not None else "sr"
    if sr is None and (layout == "swipe" or baseline is not None):
        raise InputError(f"{'layout swipe' if layout == 'swipe' else 'a baseline'} needs the super-resolved image")
    lo_f = _frame(lr, frame, lo_name)
    hi_f = _frame(sr, frame, hi_name) if sr is not None else None
    base_f = _frame(baseline, frame, _name(baseline, "baseline")) if baseline is not None else None
    h, w = int(lo_f.sizes["y"]), int(lo_f.sizes["x"])
    s = _scale_of(lo_f, hi_f, lo_name, hi_name) if hi_f is not None else 1
    if base_f is not None and hi_f is not None and (base_f.sizes["y"], base_f.sizes["x"]) != (
            hi_f.sizes["y"], hi_f.sizes["x"]):
        raise InputError(
            f"baseline {_name(baseline, 'baseline')} is {base_f.sizes['y']} x {base_f.sizes['x']} but {hi_name} is "
            f"{hi_f.sizes['y']} x {hi_f.sizes['x']} (rows x cols); both must be on the output grid"
        )
    pos = _pick_bands(lo_f, hi_f, bands, lo_name)
    hi_pos = _match_bands(lo_f, pos, hi_f, lo_name, hi_name) if hi_f is not None else []
    base_pos = _match_bands(lo_f, pos, base_f, lo_name, "baseline") if base_f is not None else []
    r0, c0, ch, cw = _check_crop(crop, h, w, lo_name)

    # Panel: display rows/cols on the output grid (every k-th), the input read once per pixel and replicated.
    k = max(1, math.ceil(max(ch * s, cw * s) / max_size))
    rows, cols = np.arange(r0 * s, (r0 + ch) * s, k), np.arange(c0 * s, (c0 + cw) * s, k)
    lr_rows, inv_r = np.unique(rows // s, return_inverse=True)
    lr_cols, inv_c = np.unique(cols // s, return_inverse=True)
    lr_vals = _read(lo_f, pos, lr_rows, lr_cols)
    nodata = _nodata(lr)
    lr_bad = _invalid(lr_vals, nodata)
    limits = _stretch_limits(lr_vals, lr_bad, pct)
    hi_nodata = _nodata(sr, nodata) if sr is not None else None

    def shown(da: xr.DataArray, p: list[int], nd: float | None, r: slice, c: slice) -> np.ndarray:
        vals = _read(da, p, r, c)
        return _rgb(_to_uint8(vals, _invalid(vals, nd), limits))

    rs, cs_ = slice(r0 * s, (r0 + ch) * s, k), slice(c0 * s, (c0 + cw) * s, k)
    if base_f is not None:
        left = shown(base_f, base_pos, _nodata(baseline, nodata), rs, cs_)  # type: ignore[arg-type]
    else:
        left = _rgb(_to_uint8(lr_vals, lr_bad, limits)[:, inv_r][:, :, inv_c])
    right = shown(hi_f, hi_pos, hi_nodata, rs, cs_) if hi_f is not None else None
    ph, pw = left.shape[:2]

    pair = right is not None
    width = 2 * pw + GAP if pair and layout == "side-by-side" else pw
    n_boxes = len(_zoom_items(zoom))
    n_crops = n_boxes * (2 if pair else 1)
    side = (width - (n_crops - 1) * GAP) // n_crops if n_crops else 0
    if n_crops and side < 1:
        raise InputError(f"{n_boxes} zoom boxes do not fit under a {width}-pixel-wide picture; use fewer")
    # An automatic box spans a third of the window at most, and its crop enlarges the output about 2 times.
    auto_size = max(4, min(side // (2 * s), min(ch, cw) // 3))
    boxes = _resolve_zoom(zoom, lo_f, pos, (r0, c0, ch, cw), nodata, auto_size)
    height = ph + (GAP + side if n_crops else 0) + FOOTER

    img = np.full((height, width, 3), 255, dtype=np.uint8)
    if not pair:
        img[:ph, :pw] = left
    elif layout == "side-by-side":
        img[:ph, :pw] = left
        img[:ph, pw + GAP :] = right
    else:
        split = pw // 2
        img[:ph, :split] = left[:, :split]
        img[:ph, split:] = right[:, split:]  # type: ignore[index]

    # Enlarged crops of each zoom box, at full output resolution (input: nearest neighbour).
    y_crops = ph + GAP
    for i, (r, c, size) in enumerate(boxes):
        lo_crop = _read(lo_f, pos, slice(r, r + size), slice(c, c + size))
        lo_crop = np.repeat(np.repeat(_to_uint8(lo_crop, _invalid(lo_crop, nodata), limits), s, axis=1), s, axis=2)
        crops = [_rgb(lo_crop)]
        if pair:
            win = slice(r * s, (r + size) * s), slice(c * s, (c + size) * s)
            if base_f is not None:
                crops = [shown(base_f, base_pos, _nodata(baseline, nodata), *win)]  # type: ignore[arg-type]
            crops.append(shown(hi_f, hi_pos, hi_nodata, *win))  # type: ignore[arg-type]
        for j, crop_img in enumerate(crops):
            x = (i * len(crops) + j) * (side + GAP)
            img[y_crops : y_crops + side, x : x + side] = _enlarge(crop_img, side)

    canvas = Image.fromarray(img, mode="RGB")
    draw = ImageDraw.Draw(canvas)
    font = _font(max(10, min(22, pw // 40)))
    if pair and layout == "swipe":
        split = pw // 2
        draw.rectangle([split - 1, 0, split, ph - 1], fill=(255, 255, 255))
    panels = [0, pw + GAP] if pair and layout == "side-by-side" else [0]
    for i, (r, c, size) in enumerate(boxes):
        colour = BOX_COLOURS[i % len(BOX_COLOURS)]
        y0, x0 = ((r - r0) * s) / k, ((c - c0) * s) / k
        y1, x1 = ((r + size - r0) * s) / k, ((c + size - c0) * s) / k
        for off in panels:
            draw.rectangle([off + int(x0), int(y0), off + max(int(x0), math.ceil(x1) - 1),
                            max(int(y0), math.ceil(y1) - 1)], outline=colour, width=2)
        per = 2 if pair else 1
        for j in range(per):
            x = (i * per + j) * (side + GAP)
            draw.rectangle([x, y_crops, x + side - 1, y_crops + side - 1], outline=colour, width=2)

    # Captions.
    model = hi_f.attrs.get("satsr_model") if hi_f is not None else None
    base_model = base_f.attrs.get("satsr_model") if base_f is not None else None
    default = (
        str(base_model or "baseline") if base_f is not None else (f"input (nearest x{s})" if pair else "input"),
        str(model or "output"),
    )
    if labels is not None and len(labels) != 2:
        raise InputError(f"labels must be two captions (left, right), got {list(labels)}")
    labels = [d if given is None else given for given, d in zip(labels or (None, None), default)]
    if labels[0]:
        _label(draw, (4, 4), str(labels[0]), font)
    if pair and labels[1]:
        if layout == "side-by-side":
            _label(draw, (pw + GAP + 4, 4), str(labels[1]), font)
        else:
            _label(draw, (pw - 4, 4), str(labels[1]), font, anchor_right=True)

    # Scale bar: about a quarter of the panel width, a round length.
    geo = _Georef(lo_f)
    unit_per_px = geo.res / s * k
    length = scale_bar_length(0.25 * pw * unit_per_px)
    bar = max(1, round(length / unit_per_px))
    text = geo.length(length)
    left_b, top_b, right_b, bottom_b = draw.textbbox((0, 0), text, font=font)
    bx, by = 8, ph - 10
    draw.rectangle([bx - 4, by - (bottom_b - top_b) - 10, bx + max(bar, right_b - left_b) + 4, by + 6],
                   fill=(0, 0, 0))
    draw.rectangle([bx, by, bx + bar - 1, by + 3], fill=(255, 255, 255))
    draw.text((bx - left_b, by - (bottom_b - top_b) - 5 - top_b), text, font=font, fill=(255, 255, 255))

    # Note strip.
    note = geo.note(s if pair else None)
    if k > 1:
        note += f"  (every {k}th pixel)" if k > 3 else f"  (every {'2nd' if k == 2 else '3rd'} pixel)"
    note_font = _font(max(10, min(16, width // 60)))
    nb = draw.textbbox((0, 0), note, font=note_font)
    draw.text((6 - nb[0], height - FOOTER + (FOOTER - (nb[3] - nb[1])) // 2 - nb[1]), note, font=note_font,
              fill=(40, 40, 40))

    out = Path(path)
    _save_png(np.asarray(canvas), out)
    return out


# -- compare: one HTML page with a swipe slider ------------------------------------------------------------------
_HTML = string.Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; color: #222; background: #fafafa; }
  h1 { font-size: 18px; margin: 0 0 4px; }
  p.meta { margin: 0 0 12px; color: #555; }
  .swipe { position: relative; width: ${width}px; max-width: 100%; user-select: none; touch-action: none;
           cursor: ew-resize; line-height: 0; background: #000; }
  .swipe img { display: block; width: 100%; height: auto; image-rendering: pixelated; pointer-events: none; }
  .swipe img.top { position: absolute; left: 0; top: 0; clip-path: inset(0 0 0 50%); }
  .swipe .line { position: absolute; top: 0; bottom: 0; left: 50%; width: 2px; margin-left: -1px;
                 background: #fff; box-shadow: 0 0 3px rgba(0, 0, 0, .8); pointer-events: none; }
  .swipe .tag { position: absolute; top: 6px; padding: 2px 6px; font: 12px/1.4 system-ui, sans-serif;
                color: #fff; background: rgba(0, 0, 0, .65); pointer-events: none; }
  .swipe .tag.left { left: 6px; } .swipe .tag.right { right: 6px; }
  input[type=range] { display: block; width: ${width}px; max-width: 100%; margin: 10px 0 0; }
  p.help { color: #777; font-size: 12px; }
</style>
</head>
<body>
<h1>$heading</h1>
<p class="meta">$meta</p>
<div class="swipe" id="swipe">
  <img class="bottom" id="before" alt="$left_label" width="$width" height="$height" src="data:image/png;base64,$before">
  <img class="top" id="after" alt="$right_label" width="$width" height="$height" src="data:image/png;base64,$after">
  <div class="line" id="line"></div>
  <span class="tag left">$left_label</span><span class="tag right">$right_label</span>
</div>
<input type="range" id="split" min="0" max="100" step="0.1" value="50" aria-label="split position">
<p class="help">Drag on the image or move the slider: $left_label on the left, $right_label on the right.</p>
<script>
(function () {
  var box = document.getElementById("swipe"), top = document.getElementById("after");
  var line = document.getElementById("line"), range = document.getElementById("split"), dragging = false;
  function show() {
    var v = Number(range.value);
    top.style.clipPath = "inset(0 0 0 " + v + "%)";
    line.style.left = v + "%";
  }
  function follow(e) {
    var r = box.getBoundingClientRect();
    range.value = Math.min(100, Math.max(0, (e.clientX - r.left) / r.width * 100));
    show();
  }
  range.addEventListener("input", show);
  box.addEventListener("pointerdown", function (e) { dragging = true; box.setPointerCapture(e.pointerId); follow(e); });
  box.addEventListener("pointermove", function (e) { if (dragging) { follow(e); } });
  box.addEventListener("pointerup", function () { dragging = false; });
  box.addEventListener("pointercancel", function () { dragging = false; });
  show();
})();
</script>
</body>
</html>
""")


def _png_base64(img: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img, mode="RGB").save(buf, format="PNG", compress_level=6)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def compare_html(
    lr: xr.DataArray,
    sr: xr.DataArray,
    path: str | os.PathLike[str],
    *,
    frame: int = 0,
    bands: Sequence[int] | None = None,
    stretch: Sequence[float] = STRETCH,
    crop: Sequence[int] | None = None,
    max_size: int = 1024,
    labels: Sequence[str] | None = None,
) -> Path:
    """Write one self-contained HTML page with a before/after swipe slider: bicubic upsampling vs ``sr``.

    The "before" image is the bicubic upsampling of ``lr`` (``satsr.upscale(lr, "bicubic", scale=s)``, computed
    on the shown window with a few pixels of context), the "after" image is ``sr``; both get the same
    contrast stretch (percentiles of ``lr``'s valid pixels in the window). The page has no external resources:
    both images are embedded as base64 PNG data URIs, and the CSS and the script are inline. An
    ``<input type="range">`` moves the split (a ``clip-path`` on the top image); dragging on the image does too.

    Parameters
    ----------
    lr : xarray.DataArray
        Input stack, ``(time, band, y, x)`` or ``(band, y, x)``, as from :func:`satsr.open_stack`.
    sr : xarray.DataArray
        Its super-resolved version (``y``/``x`` an integer multiple of ``lr``'s); may be lazy.
    path : str or path
        HTML file to write (its folder must exist); written under a temporary name, then renamed.
    frame : int, default 0
        Time step to show (negative counts from the end).
    bands : sequence of int, optional
        Band numbers (1-based) of ``lr``, three (RGB) or one (grey); as :func:`quicklook`.
    stretch : (float, float), default (2, 98)
        Lower and upper percentiles mapped to black and white.
    crop : (int, int, int, int), optional
        ``(row, col, height, width)`` window in ``lr`` pixels. Default: the whole frame when its output fits
        ``max_size``, else the centre window whose output does.
    max_size : int, default 1024
        Largest height or width of the images in the page; a bigger window shows every ``k``-th output pixel.
    labels : (str, str), optional
        Captions of the two images; default ``"bicubic"`` and the output's model (or ``"super-resolved"``).

    Returns
    -------
    pathlib.Path
        The HTML page written.

    Raises
    ------
    InputError
        Arrays that do not fit together, an out-of-range frame, band or crop, a bad stretch or ``max_size``.
    OutputError
        A file stands where the folder of ``path`` should be, or the file cannot be written.

    Examples
    --------
    >>> lr = satsr.open_stack("scene.tif")  # doctest: +SKIP
    >>> compare_html(lr, satsr.open_stack("scene_x4.tif"), "scene.html", crop=(0, 0, 128, 128))  # doctest: +SKIP
    """
    if max_size < 1:
        raise InputError(f"max_size must be a positive number of pixels, got {max_size}")
    pct = _check_stretch(stretch)
    lo_name, hi_name = _name(lr, "lr"), _name(sr, "sr")
    lo_f, hi_f = _frame(lr, frame, lo_name), _frame(sr, frame, hi_name)
    h, w = int(lo_f.sizes["y"]), int(lo_f.sizes["x"])
    s = _scale_of(lo_f, hi_f, lo_name, hi_name)
    pos = _pick_bands(lo_f, hi_f, bands, lo_name)
    hi_pos = _match_bands(lo_f, pos, hi_f, lo_name, hi_name)
    if crop is None:
        side = max(1, max_size // s)
        ch, cw = min(h, side), min(w, side)
        r0, c0 = (h - ch) // 2, (w - cw) // 2
    else:
        r0, c0, ch, cw = _check_crop(crop, h, w, lo_name)
    k = max(1, math.ceil(max(ch * s, cw * s) / max_size))

    nodata = _nodata(lr)
    lr_vals = _read(lo_f, pos, slice(r0, r0 + ch), slice(c0, c0 + cw))
    limits = _stretch_limits(lr_vals, _invalid(lr_vals, nodata), pct)
    if s == 1:
        before = lr_vals[:, ::k, ::k]
    else:
        from satsr.pipeline import upscale

        m = 4  # context for the bicubic kernel (2 px) and then some, so the window's edges match the full image
        wr0, wc0 = max(0, r0 - m), max(0, c0 - m)
        wr1, wc1 = min(h, r0 + ch + m), min(w, c0 + cw + m)
        window = lo_f.isel(band=pos, y=slice(wr0, wr1), x=slice(wc0, wc1))
        bic = upscale(window, "bicubic", scale=s, device="cpu")
        dy, dx = (r0 - wr0) * s, (c0 - wc0) * s
        before = np.asarray(bic.isel(y=slice(dy, dy + ch * s, k), x=slice(dx, dx + cw * s, k)).values)[0]
    after = _read(hi_f, hi_pos, slice(r0 * s, (r0 + ch) * s, k), slice(c0 * s, (c0 + cw) * s, k))
    before_img = _rgb(_to_uint8(before, _invalid(before, nodata), limits))
    after_img = _rgb(_to_uint8(after, _invalid(after, _nodata(sr, nodata)), limits))

    if labels is None:
        labels = ("bicubic", str(hi_f.attrs.get("satsr_model") or "super-resolved"))
    if len(labels) != 2:
        raise InputError(f"labels must be two captions (left, right), got {list(labels)}")
    geo = _Georef(lo_f)
    lab = _labels(lo_f)
    shown = ",".join(str(lab[p]) for p in pos)
    whole = (r0, c0, ch, cw) == (0, 0, h, w)
    window_text = "whole frame" if whole else f"window rows {r0}-{r0 + ch - 1}, cols {c0}-{c0 + cw - 1} of {h} x {w}"
    note = geo.note(s).replace(" -> ", " → ")
    meta = (f"{note} &middot; {window_text} &middot; bands {shown} &middot; stretch {pct[0]:g}-{pct[1]:g} %"
            + (f" &middot; every {k}th output pixel" if k > 1 else ""))
    heading = f"{lo_name} vs {hi_name}"
    page = _HTML.substitute(
        title=html.escape(f"{heading} ({geo.crs_name}, x{s})"),
        heading=html.escape(heading),
        meta=html.escape(meta).replace("&amp;middot;", "&middot;"),
        left_label=html.escape(str(labels[0])),
        right_label=html.escape(str(labels[1])),
        width=after_img.shape[1],
        height=after_img.shape[0],
        before=_png_base64(before_img),
        after=_png_base64(after_img),
    )
    out = Path(path)
    with atomic_output(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
