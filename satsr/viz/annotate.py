"""Map furniture drawn with Pillow: captions, a scale bar of round length, and the note strip with CRS and resolution.

:class:`Georef` reads what the scale bar and the note need (CRS name, ground unit, pixel size) from an input
frame; the drawing functions take a ``PIL.ImageDraw.Draw``.
"""

from __future__ import annotations

import math
from typing import Any

import xarray as xr

from satsr.errors import GeoreferenceError, InputError
from satsr.geo import Grid

__all__ = ["BOX_COLOURS", "FOOTER", "Georef", "draw_label", "draw_note", "draw_scale_bar", "load_font",
           "scale_bar_length"]

#: Height in pixels of the note strip under a quick-look.
FOOTER = 24
#: Outline colours of the zoom boxes, in order (RGB); repeated when there are more boxes.
BOX_COLOURS = ((255, 214, 0), (0, 224, 255), (255, 70, 200), (130, 255, 90))


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


class Georef:
    """CRS name, ground unit and pixel size of an input, for the scale bar and the note.

    Parameters
    ----------
    da : xarray.DataArray
        The input; without georeferencing, lengths are in pixels.
    """

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
        """A resolution, e.g. ``30 m`` or ``0.0003°``."""
        return f"{value:.4g}°" if self.unit == "°" else f"{value:.4g} {self.unit}"

    def length(self, value: float) -> str:
        """A scale bar's length, in km from 1000 m."""
        if self.unit == "m" and value >= 1000:
            return f"{value / 1000:g} km"
        return f"{value:g}°" if self.unit == "°" else f"{value:g} {self.unit}"

    def note(self, scale: int | None) -> str:
        """CRS and resolution, and the output's resolution for a ``scale`` (e.g. ``30 m -> 7.5 m (x4)``)."""
        if scale is None:
            return f"{self.crs_name}  {self.fmt(self.res)}"
        return f"{self.crs_name}  {self.fmt(self.res)} -> {self.fmt(self.res / scale)} (x{scale})"


def load_font(size: int = 13) -> Any:
    """Pillow's default font at ``size`` pixels (the fixed bitmap font on Pillow < 10.1)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def draw_label(draw: Any, xy: tuple[int, int], text: str, font: Any, *, anchor_right: bool = False) -> None:
    """White text on a dark box at ``xy`` (its top-left, or top-right with ``anchor_right``)."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left + 8, bottom - top + 6
    x, y = (xy[0] - w, xy[1]) if anchor_right else xy
    draw.rectangle([x, y, x + w - 1, y + h - 1], fill=(0, 0, 0))
    draw.text((x + 4 - left, y + 3 - top), text, font=font, fill=(255, 255, 255))


def draw_scale_bar(draw: Any, geo: Georef, unit_per_px: float, panel: tuple[int, int], font: Any) -> None:
    """A bar of round length, about a quarter of the panel wide, and its length, in the panel's bottom-left corner.

    Parameters
    ----------
    draw : PIL.ImageDraw.ImageDraw
        Where to draw.
    geo : Georef
        Unit and formatting of lengths.
    unit_per_px : float
        Ground length of one displayed pixel.
    panel : (int, int)
        Height and width of the panel in pixels.
    font : PIL.ImageFont.ImageFont
        Font of the length.
    """
    ph, pw = panel
    length = scale_bar_length(0.25 * pw * unit_per_px)
    bar = max(1, round(length / unit_per_px))
    text = geo.length(length)
    left_b, top_b, right_b, bottom_b = draw.textbbox((0, 0), text, font=font)
    bx, by = 8, ph - 10
    draw.rectangle([bx - 4, by - (bottom_b - top_b) - 10, bx + max(bar, right_b - left_b) + 4, by + 6],
                   fill=(0, 0, 0))
    draw.rectangle([bx, by, bx + bar - 1, by + 3], fill=(255, 255, 255))
    draw.text((bx - left_b, by - (bottom_b - top_b) - 5 - top_b), text, font=font, fill=(255, 255, 255))


def draw_note(draw: Any, note: str, width: int, height: int) -> None:
    """Dark ``note`` text in the :data:`FOOTER` strip at the bottom of a ``height x width`` picture."""
    note_font = load_font(max(10, min(16, width // 60)))
    nb = draw.textbbox((0, 0), note, font=note_font)
    draw.text((6 - nb[0], height - FOOTER + (FOOTER - (nb[3] - nb[1])) // 2 - nb[1]), note, font=note_font,
              fill=(40, 40, 40))
