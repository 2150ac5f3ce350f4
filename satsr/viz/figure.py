"""The quick-look PNG of ``satsr quicklook``: :func:`quicklook`.

Built in steps, each computing values before anything is drawn: select what to show (:func:`_select`), read
and stretch the panels (:func:`_panels`), lay out the picture and find the zoom boxes (:func:`_lay_out`), put
panels and enlarged crops on a canvas (:func:`_compose`), then draw outlines, captions, the scale bar and the
note with Pillow (:func:`_annotate`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from satsr.errors import InputError
from satsr.io.coords import nodata_of
from satsr.radiometry import stretch_limits, stretch_to_uint8
from satsr.viz.annotate import BOX_COLOURS, FOOTER, Georef, draw_label, draw_note, draw_scale_bar, load_font
from satsr.viz.render import GAP, STRETCH, check_stretch, enlarge, invalid_mask, render_rgb, save_png, to_rgb
from satsr.viz.selection import check_crop, match_bands, one_frame, pick_bands, read_window, scale_of, source_name
from satsr.viz.zoom import ZoomBox, ZoomSpec, resolve_zoom, zoom_items

__all__ = ["LAYOUTS", "quicklook"]

#: Layouts of :func:`quicklook`.
LAYOUTS = ("side-by-side", "swipe")
_Limits = list[tuple[float, float]]


@dataclass(frozen=True)
class _Shown:
    """One array in the picture: its selected frame, the positions of the shown bands, and its nodata."""

    frame: xr.DataArray
    pos: list[int]
    nodata: float | None

    def read(self, rows: slice | np.ndarray, cols: slice | np.ndarray) -> np.ndarray:
        return read_window(self.frame, self.pos, rows, cols)

    def render(self, rows: slice, cols: slice, limits: _Limits) -> np.ndarray:
        return render_rgb(self.read(rows, cols), self.nodata, limits)


@dataclass(frozen=True)
class _View:
    """What the picture shows: input, output and baseline, the scale, the input window and the display stride."""

    lo: _Shown
    hi: _Shown | None
    base: _Shown | None
    scale: int
    window: tuple[int, int, int, int]  # (row, col, height, width) in input pixels
    stride: int  # every stride-th output pixel is shown

    @property
    def out_slices(self) -> tuple[slice, slice]:
        """Rows and columns of the shown output pixels."""
        (r0, c0, ch, cw), s, k = self.window, self.scale, self.stride
        return slice(r0 * s, (r0 + ch) * s, k), slice(c0 * s, (c0 + cw) * s, k)


@dataclass(frozen=True)
class _Layout:
    """Where things go: panel size, picture size, the crops' side and the zoom boxes."""

    panel: tuple[int, int]  # (height, width) of one panel
    width: int
    height: int
    side: int  # side of one enlarged crop; 0 without zoom boxes
    boxes: list[ZoomBox]
    swipe: bool
    pair: bool

    @property
    def offsets(self) -> list[int]:
        """Left edge of each panel drawn side by side."""
        return [0, self.panel[1] + GAP] if self.pair and not self.swipe else [0]


def _check_options(
    layout: str, max_size: int, stretch: Sequence[float], sr: xr.DataArray | None, baseline: xr.DataArray | None
) -> tuple[float, float]:
    """Refuse bad options before reading anything; return the stretch percentiles."""
    if max_size < 1:
        raise InputError(f"max_size must be a positive number of pixels, got {max_size}")
    if layout not in LAYOUTS:
        raise InputError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
    pct = check_stretch(stretch)
    if sr is None and (layout == "swipe" or baseline is not None):
        raise InputError(f"{'layout swipe' if layout == 'swipe' else 'a baseline'} needs the super-resolved image")
    return pct


def _select(
    lr: xr.DataArray, sr: xr.DataArray | None, baseline: xr.DataArray | None, *, frame: int,
    bands: Sequence[int] | None, crop: Sequence[int] | None, max_size: int,
) -> _View:
    """Frames, bands, scale, window and stride, checked against each other."""
    lo_name, hi_name = source_name(lr, "lr"), source_name(sr, "sr") if sr is not None else "sr"
    lo_f = one_frame(lr, frame, lo_name)
    hi_f = one_frame(sr, frame, hi_name) if sr is not None else None
    base_f = one_frame(baseline, frame, source_name(baseline, "baseline")) if baseline is not None else None
    h, w = int(lo_f.sizes["y"]), int(lo_f.sizes["x"])
    s = scale_of(lo_f, hi_f, lo_name, hi_name) if hi_f is not None else 1
    if baseline is not None and base_f is not None and hi_f is not None and (base_f.sizes["y"], base_f.sizes["x"]) != (
            hi_f.sizes["y"], hi_f.sizes["x"]):
        raise InputError(
            f"baseline {source_name(baseline, 'baseline')} is {base_f.sizes['y']} x {base_f.sizes['x']} but "
            f"{hi_name} is {hi_f.sizes['y']} x {hi_f.sizes['x']} (rows x cols); both must be on the output grid"
        )
    pos = pick_bands(lo_f, hi_f, bands, lo_name)
    nodata = nodata_of(lr)
    hi = base = None
    if sr is not None and hi_f is not None:
        hi = _Shown(hi_f, match_bands(lo_f, pos, hi_f, lo_name, hi_name), nodata_of(sr, nodata))
    if baseline is not None and base_f is not None:
        base = _Shown(base_f, match_bands(lo_f, pos, base_f, lo_name, "baseline"), nodata_of(baseline, nodata))
    r0, c0, ch, cw = check_crop(crop, h, w, lo_name)
    k = max(1, math.ceil(max(ch * s, cw * s) / max_size))
    return _View(_Shown(lo_f, pos, nodata), hi, base, s, (r0, c0, ch, cw), k)


def _panels(view: _View, pct: tuple[float, float]) -> tuple[np.ndarray, np.ndarray | None, _Limits]:
    """The left and right panels, ``(y, x, 3)`` uint8, and the stretch (percentiles ``pct`` of the input)."""
    rows, cols = view.out_slices
    s = view.scale
    # The input is read once per pixel and replicated (nearest neighbour) onto the shown output pixels.
    lr_rows, inv_r = np.unique(np.arange(rows.start, rows.stop, rows.step) // s, return_inverse=True)
    lr_cols, inv_c = np.unique(np.arange(cols.start, cols.stop, cols.step) // s, return_inverse=True)
    lr_vals = view.lo.read(lr_rows, lr_cols)
    lr_bad = invalid_mask(lr_vals, view.lo.nodata)
    limits = stretch_limits(lr_vals, lr_bad, pct)
    if view.base is not None:
        left = view.base.render(rows, cols, limits)
    else:
        left = to_rgb(stretch_to_uint8(lr_vals, limits, lr_bad)[:, inv_r][:, :, inv_c])
    right = view.hi.render(rows, cols, limits) if view.hi is not None else None
    return left, right, limits


def _lay_out(view: _View, panel: tuple[int, int], layout: str, zoom: ZoomSpec) -> _Layout:
    """Picture size and crop side for ``layout`` and the number of zoom boxes; then the boxes themselves."""
    ph, pw = panel
    pair = view.hi is not None
    width = 2 * pw + GAP if pair and layout == "side-by-side" else pw
    n_boxes = len(zoom_items(zoom))
    n_crops = n_boxes * (2 if pair else 1)
    side = (width - (n_crops - 1) * GAP) // n_crops if n_crops else 0
    if n_crops and side < 1:
        raise InputError(f"{n_boxes} zoom boxes do not fit under a {width}-pixel-wide picture; use fewer")
    # An automatic box spans a third of the window at most, and its crop enlarges the output about 2 times.
    _, _, ch, cw = view.window
    auto_size = max(4, min(side // (2 * view.scale), min(ch, cw) // 3))
    boxes = resolve_zoom(zoom, view.lo.frame, view.lo.pos, view.window, view.lo.nodata, auto_size)
    height = ph + (GAP + side if n_crops else 0) + FOOTER
    return _Layout(panel, width, height, side, boxes, layout == "swipe", pair)


def _captions(view: _View, labels: Sequence[str | None] | None) -> list[str | None]:
    """The two captions: ``labels``, with defaults for ``None`` entries."""
    model = view.hi.frame.attrs.get("satsr_model") if view.hi is not None else None
    default = (
        str(view.base.frame.attrs.get("satsr_model") or "baseline") if view.base is not None
        else (f"input (nearest x{view.scale})" if view.hi is not None else "input"),
        str(model or "output"),
    )
    if labels is not None and len(labels) != 2:
        raise InputError(f"labels must be two captions (left, right), got {list(labels)}")
    return [d if given is None else given for given, d in zip(labels or (None, None), default)]


def _zoom_crops(view: _View, box: ZoomBox, limits: _Limits) -> list[np.ndarray]:
    """The crops of one zoom box at full output resolution: input (nearest neighbour) or baseline, then output."""
    r, c, size = box
    s = view.scale
    win = slice(r * s, (r + size) * s), slice(c * s, (c + size) * s)
    if view.base is not None:
        crops = [view.base.render(*win, limits)]
    else:
        lo = view.lo.read(slice(r, r + size), slice(c, c + size))
        lo = stretch_to_uint8(lo, limits, invalid_mask(lo, view.lo.nodata))
        crops = [to_rgb(np.repeat(np.repeat(lo, s, axis=1), s, axis=2))]
    if view.hi is not None:
        crops.append(view.hi.render(*win, limits))
    return crops


def _compose(view: _View, lay: _Layout, left: np.ndarray, right: np.ndarray | None, limits: _Limits) -> np.ndarray:
    """The picture without drawings: panels on top, the enlarged crops of the zoom boxes below."""
    ph, pw = lay.panel
    img = np.full((lay.height, lay.width, 3), 255, dtype=np.uint8)
    if right is None:
        img[:ph, :pw] = left
    elif not lay.swipe:
        img[:ph, :pw] = left
        img[:ph, pw + GAP :] = right
    else:
        split = pw // 2
        img[:ph, :split] = left[:, :split]
        img[:ph, split:] = right[:, split:]
    for i, box in enumerate(lay.boxes):
        crops = _zoom_crops(view, box, limits)
        for j, crop_img in enumerate(crops):
            x = (i * len(crops) + j) * (lay.side + GAP)
            img[ph + GAP : ph + GAP + lay.side, x : x + lay.side] = enlarge(crop_img, lay.side)
    return img


def _outline_boxes(draw: Any, view: _View, lay: _Layout) -> None:
    """Each zoom box outlined in its colour on every panel, and around its crops."""
    (r0, c0, _, _), s, k = view.window, view.scale, view.stride
    y_crops = lay.panel[0] + GAP
    per = 2 if lay.pair else 1
    for i, (r, c, size) in enumerate(lay.boxes):
        colour = BOX_COLOURS[i % len(BOX_COLOURS)]
        y0, x0 = ((r - r0) * s) / k, ((c - c0) * s) / k
        y1, x1 = ((r + size - r0) * s) / k, ((c + size - c0) * s) / k
        for off in lay.offsets:
            draw.rectangle([off + int(x0), int(y0), off + max(int(x0), math.ceil(x1) - 1),
                            max(int(y0), math.ceil(y1) - 1)], outline=colour, width=2)
        for j in range(per):
            x = (i * per + j) * (lay.side + GAP)
            draw.rectangle([x, y_crops, x + lay.side - 1, y_crops + lay.side - 1], outline=colour, width=2)


def _annotate(img: np.ndarray, view: _View, lay: _Layout, captions: list[str | None]) -> np.ndarray:
    """Draw the swipe line, box outlines, captions, scale bar and note on ``img``."""
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(img, mode="RGB")
    draw = ImageDraw.Draw(canvas)
    ph, pw = lay.panel
    font = load_font(max(10, min(22, pw // 40)))
    if lay.pair and lay.swipe:
        draw.rectangle([pw // 2 - 1, 0, pw // 2, ph - 1], fill=(255, 255, 255))
    _outline_boxes(draw, view, lay)
    if captions[0]:
        draw_label(draw, (4, 4), str(captions[0]), font)
    if lay.pair and captions[1]:
        if lay.swipe:
            draw_label(draw, (pw - 4, 4), str(captions[1]), font, anchor_right=True)
        else:
            draw_label(draw, (pw + GAP + 4, 4), str(captions[1]), font)
    geo = Georef(view.lo.frame)
    draw_scale_bar(draw, geo, geo.res / view.scale * view.stride, lay.panel, font)
    k = view.stride
    note = geo.note(view.scale if lay.pair else None)
    if k > 1:
        note += f"  (every {k}th pixel)" if k > 3 else f"  (every {'2nd' if k == 2 else '3rd'} pixel)"
    draw_note(draw, note, lay.width, lay.height)
    return np.asarray(canvas)


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
    pct = _check_options(layout, max_size, stretch, sr, baseline)
    view = _select(lr, sr, baseline, frame=frame, bands=bands, crop=crop, max_size=max_size)
    left, right, limits = _panels(view, pct)
    lay = _lay_out(view, left.shape[:2], layout, zoom)
    captions = _captions(view, labels)
    picture = _annotate(_compose(view, lay, left, right, limits), view, lay, captions)
    out = Path(path)
    save_png(picture, out)
    return out
