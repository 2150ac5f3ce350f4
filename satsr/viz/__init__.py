"""Quick-look pictures: PNGs of a low-resolution frame beside its super-resolved version, and an HTML swipe page.

* :func:`compare_png`: the plain side-by-side of ``satsr upscale --preview`` (NumPy and GDAL's PNG driver only).
* :func:`quicklook`: side-by-side or swipe PNG (or the input alone) with zoom boxes and their enlarged crops,
  a scale bar and a note with the CRS and resolutions (``satsr quicklook``). Pillow draws the text and lines.
* :func:`compare_html`: one self-contained HTML page with a before/after slider between the bicubic upsampling
  of the input and the super-resolved image (``satsr compare``).

The super-resolved array may be lazy and huge: only the chosen frame, bands and window are computed, and only
every ``k``-th pixel when a panel has to be shrunk to fit ``max_size``.

The modules, by concern: ``selection`` (frame, bands, window), ``render`` (8-bit stretch, PNG encoding; the
stretch itself is :func:`satsr.radiometry.stretch_to_uint8`), ``annotate`` (captions, scale bar, note),
``zoom`` (zoom boxes), and one module per picture: ``preview`` (:func:`compare_png`), ``figure``
(:func:`quicklook`) and ``page`` (:func:`compare_html`).
"""

from satsr.viz.annotate import BOX_COLOURS as BOX_COLOURS
from satsr.viz.annotate import FOOTER as FOOTER
from satsr.viz.annotate import Georef as _Georef  # noqa: F401 (its name in the single-module viz, used by tests)
from satsr.viz.annotate import scale_bar_length as scale_bar_length
from satsr.viz.figure import LAYOUTS as LAYOUTS
from satsr.viz.figure import quicklook as quicklook
from satsr.viz.page import compare_html as compare_html
from satsr.viz.preview import compare_png as compare_png
from satsr.viz.render import GAP as GAP
from satsr.viz.render import STRETCH as STRETCH
from satsr.viz.selection import choose_bands as _choose_bands  # noqa: F401 (as _Georef)
from satsr.viz.zoom import auto_zoom as _auto_zoom  # noqa: F401 (as _Georef)

__all__ = ["compare_html", "compare_png", "quicklook", "scale_bar_length"]
