"""``satsr quicklook`` and ``satsr compare``: pictures of an input beside its super-resolved version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rasterio.errors import RasterioError

from satsr._folders import check_parent
from satsr.cli.app import main
from satsr.cli.params import load_inputs, parse_bands, parse_ints
from satsr.errors import OutputError, SatsrError

__all__ = ["compare", "quicklook"]


def _caption(path: str) -> str:
    """The model that made a raster (satsr's metadata tag), else its file name."""
    from satsr.io import raster_info

    try:
        tag = raster_info(path).get("satsr")
        model = json.loads(tag).get("model") if tag else None
    except (SatsrError, RasterioError, OSError, ValueError, AttributeError):
        model = None
    return str(model) if model else Path(path).name


def _check_picture_output(output: Path) -> None:
    check_parent(output)
    if output.is_dir():
        raise OutputError(f"{output}: is a folder; give a file name")


@main.command()
@click.argument("input_path", metavar="IN")
@click.argument("sr_path", metavar="[SR]", required=False)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False), help="PNG to write.")
@click.option("--layout", type=click.Choice(["side-by-side", "swipe"]), default="side-by-side", show_default=True,
              help="Two panels (IN left, SR right), or one image: left half IN, right half SR.")
@click.option("--baseline", default=None, metavar="FILE",
              help="Show this raster (on SR's grid, e.g. 'satsr upscale -m bicubic' output) instead of IN upsampled "
              "by nearest neighbour.")
@click.option("--bands", default=None, metavar="B,B,B",
              help="Band numbers (1-based) of IN: three for RGB or one for grey. Default red, green, blue by band "
              "name, else the first three.")
@click.option("--frame", type=int, default=0, show_default=True, help="Time step of a stack (negative from the end).")
@click.option("--stretch", type=(float, float), default=(2.0, 98.0), show_default=True, metavar="LOW HIGH",
              help="Percentiles of IN's valid pixels that map to black and white.")
@click.option("--zoom", "zooms", multiple=True, metavar="ROW,COL,SIZE|auto",
              help="Zoom box in IN pixels (repeatable), or 'auto' (the most textured spot): outlined on the panels, "
              "enlarged below.")
@click.option("--crop", default=None, metavar="ROW,COL,H,W", help="Show only this window (IN pixels).")
@click.option("--max-size", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Largest panel side in pixels; bigger panels show every k-th pixel.")
def quicklook(input_path: str, sr_path: str | None, output: Path, layout: str, baseline: str | None,
              bands: str | None, frame: int, stretch: tuple[float, float], zooms: tuple[str, ...], crop: str | None,
              max_size: int) -> None:
    """Write a quick-look PNG of IN beside its super-resolved version SR (or IN alone).

    \b
    A scale bar (1, 2 or 5 x 10^k m; degrees or pixels without a projected CRS) and a note with the CRS and
    resolutions are drawn in. Examples:
      satsr quicklook scene.tif scene_x4.tif -o look.png --bands 3,2,1 --zoom auto
      satsr quicklook scene.tif scene_x4.tif -o look.png --layout swipe --zoom 200,150,32 --stretch 1 99
      satsr quicklook scene.tif scene_x4.tif --baseline scene_bicubic.tif -o bicubic_vs_sr.png
    """  # noqa: D301
    from satsr.viz import quicklook as make_quicklook

    _check_picture_output(output)
    zoom: list[Any] = []
    for z in zooms:
        zoom.append("auto" if z.strip().lower() == "auto" else parse_ints(z, 3, "--zoom", "120,80,32 or auto"))
    lr = load_inputs([input_path], allow_ungeoreferenced=True)
    sr = load_inputs([sr_path], allow_ungeoreferenced=True) if sr_path else None
    base = load_inputs([baseline], allow_ungeoreferenced=True) if baseline else None
    labels = (_caption(baseline) if baseline else None, _caption(sr_path) if sr_path else None)
    path = make_quicklook(
        lr, sr, output, layout=layout, baseline=base, frame=frame, bands=parse_bands(bands), stretch=stretch,
        zoom=zoom, crop=parse_ints(crop, 4, "--crop", "100,100,256,256"), max_size=max_size, labels=labels,
    )
    click.echo(str(path))


@main.command()
@click.argument("lr_path", metavar="LR")
@click.argument("sr_path", metavar="SR")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="HTML page to write (self-contained: images embedded, no network).")
@click.option("--crop", default=None, metavar="ROW,COL,H,W",
              help="Window in LR pixels. Default the whole frame when it fits --max-size, else its centre.")
@click.option("--max-size", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Largest image side in pixels; a bigger window shows every k-th pixel.")
@click.option("--bands", default=None, metavar="B,B,B", help="Band numbers (1-based) of LR: three (RGB) or one.")
@click.option("--frame", type=int, default=0, show_default=True, help="Time step of a stack (negative from the end).")
@click.option("--stretch", type=(float, float), default=(2.0, 98.0), show_default=True, metavar="LOW HIGH",
              help="Percentiles of LR's valid pixels that map to black and white (both images).")
def compare(lr_path: str, sr_path: str, output: Path, crop: str | None, max_size: int, bands: str | None,
            frame: int, stretch: tuple[float, float]) -> None:
    """Write an HTML page with a before/after swipe slider: LR upsampled by bicubic vs SR.

    \b
    Examples:
      satsr compare scene.tif scene_x4.tif -o compare.html --bands 3,2,1
      satsr compare scene.tif scene_x4.tif -o compare.html --crop 100,200,128,128 --stretch 1 99
    """  # noqa: D301
    from satsr.viz import compare_html

    _check_picture_output(output)
    lr = load_inputs([lr_path], allow_ungeoreferenced=True)
    sr = load_inputs([sr_path], allow_ungeoreferenced=True)
    path = compare_html(
        lr, sr, output, frame=frame, bands=parse_bands(bands), stretch=stretch,
        crop=parse_ints(crop, 4, "--crop", "100,100,256,256"), max_size=max_size,
        labels=("bicubic", _caption(sr_path)),
    )
    click.echo(str(path))

