"""The before/after swipe page of ``satsr compare``: :func:`compare_html`.

One self-contained HTML file: both images as base64 PNG data URIs, and inline CSS and script (no network).
"""

from __future__ import annotations

import html
import math
import os
import string
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from satsr.errors import InputError
from satsr.io._atomic import atomic_output
from satsr.io.coords import nodata_of
from satsr.radiometry import stretch_limits
from satsr.viz.annotate import Georef
from satsr.viz.render import STRETCH, check_stretch, invalid_mask, png_base64, render_rgb
from satsr.viz.selection import (
    band_labels,
    check_crop,
    match_bands,
    one_frame,
    pick_bands,
    read_window,
    scale_of,
    source_name,
)

__all__ = ["compare_html"]

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


def _window(
    h: int, w: int, s: int, crop: Sequence[int] | None, max_size: int, name: str
) -> tuple[int, int, int, int]:
    """``(row, col, height, width)`` shown: ``crop``, else the whole frame or the centre window that fits."""
    if crop is not None:
        return check_crop(crop, h, w, name)
    side = max(1, max_size // s)
    ch, cw = min(h, side), min(w, side)
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def _bicubic(lo_f: xr.DataArray, pos: list[int], window: tuple[int, int, int, int], s: int, k: int) -> np.ndarray:
    """Bicubic upsampling by ``s`` of the window (every ``k``-th output pixel), as in the full image."""
    from satsr.pipeline import upscale

    r0, c0, ch, cw = window
    h, w = int(lo_f.sizes["y"]), int(lo_f.sizes["x"])
    m = 4  # context for the bicubic kernel (2 px) and then some, so the window's edges match the full image
    wr0, wc0 = max(0, r0 - m), max(0, c0 - m)
    wr1, wc1 = min(h, r0 + ch + m), min(w, c0 + cw + m)
    bic = upscale(lo_f.isel(band=pos, y=slice(wr0, wr1), x=slice(wc0, wc1)), "bicubic", scale=s, device="cpu")
    dy, dx = (r0 - wr0) * s, (c0 - wc0) * s
    return np.asarray(bic.isel(y=slice(dy, dy + ch * s, k), x=slice(dx, dx + cw * s, k)).values)[0]


def _meta(
    lo_f: xr.DataArray, pos: list[int], window: tuple[int, int, int, int], s: int, k: int, pct: tuple[float, float]
) -> str:
    """The line under the heading: CRS and resolutions, window, bands, stretch and stride (HTML escaped)."""
    r0, c0, ch, cw = window
    h, w = int(lo_f.sizes["y"]), int(lo_f.sizes["x"])
    lab = band_labels(lo_f)
    shown = ",".join(str(lab[p]) for p in pos)
    whole = (r0, c0, ch, cw) == (0, 0, h, w)
    window_text = "whole frame" if whole else f"window rows {r0}-{r0 + ch - 1}, cols {c0}-{c0 + cw - 1} of {h} x {w}"
    note = Georef(lo_f).note(s).replace(" -> ", " → ")
    meta = (f"{note} &middot; {window_text} &middot; bands {shown} &middot; stretch {pct[0]:g}-{pct[1]:g} %"
            + (f" &middot; every {k}th output pixel" if k > 1 else ""))
    return html.escape(meta).replace("&amp;middot;", "&middot;")


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
    pct = check_stretch(stretch)
    lo_name, hi_name = source_name(lr, "lr"), source_name(sr, "sr")
    lo_f, hi_f = one_frame(lr, frame, lo_name), one_frame(sr, frame, hi_name)
    h, w = int(lo_f.sizes["y"]), int(lo_f.sizes["x"])
    s = scale_of(lo_f, hi_f, lo_name, hi_name)
    pos = pick_bands(lo_f, hi_f, bands, lo_name)
    hi_pos = match_bands(lo_f, pos, hi_f, lo_name, hi_name)
    r0, c0, ch, cw = window = _window(h, w, s, crop, max_size, lo_name)
    k = max(1, math.ceil(max(ch * s, cw * s) / max_size))

    # Both images share the stretch of the input's valid pixels in the window.
    nodata = nodata_of(lr)
    lr_vals = read_window(lo_f, pos, slice(r0, r0 + ch), slice(c0, c0 + cw))
    limits = stretch_limits(lr_vals, invalid_mask(lr_vals, nodata), pct)
    before = lr_vals[:, ::k, ::k] if s == 1 else _bicubic(lo_f, pos, window, s, k)
    after = read_window(hi_f, hi_pos, slice(r0 * s, (r0 + ch) * s, k), slice(c0 * s, (c0 + cw) * s, k))
    before_img = render_rgb(before, nodata, limits)
    after_img = render_rgb(after, nodata_of(sr, nodata), limits)

    if labels is None:
        labels = ("bicubic", str(hi_f.attrs.get("satsr_model") or "super-resolved"))
    if len(labels) != 2:
        raise InputError(f"labels must be two captions (left, right), got {list(labels)}")
    heading = f"{lo_name} vs {hi_name}"
    page = _HTML.substitute(
        title=html.escape(f"{heading} ({Georef(lo_f).crs_name}, x{s})"),
        heading=html.escape(heading),
        meta=_meta(lo_f, pos, window, s, k, pct),
        left_label=html.escape(str(labels[0])),
        right_label=html.escape(str(labels[1])),
        width=after_img.shape[1],
        height=after_img.shape[0],
        before=png_base64(before_img),
        after=png_base64(after_img),
    )
    out = Path(path)
    with atomic_output(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
