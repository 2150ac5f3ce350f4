"""The ``satsr`` command line: ``satsr upscale``, ``satsr models``, ``satsr info``.

Commands are thin: they parse options, call the functional API (:func:`satsr.open_stack`,
:func:`satsr.upscale`, the writers) and print. Every check that can fail runs before any pixel is computed,
so a bad input never leaves an output behind. Errors print as one line, ``error: <message>``, with exit
code 1; ``satsr --debug ...`` shows the traceback instead.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import xarray as xr
from pyproj import CRS
from pyproj.exceptions import CRSError
from rasterio.errors import RasterioError

from satsr._defaults import DEFAULT_MODEL
from satsr._folders import check_parent
from satsr._version import package_version
from satsr.errors import InputError, OutputError, SatsrError, SatsrWarning

__all__ = ["main"]

_DEBUG_KEY = "satsr.debug"
_TIFF_SUFFIXES = (".tif", ".tiff")
#: Output files listed one per line up to this many; beyond it, a summary.
_LIST_LIMIT = 10


def _one_line(err: BaseException) -> str:
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return text or type(err).__name__


class _SatsrGroup(click.Group):
    """Click group that turns satsr, rasterio and OS errors into ``error: <message>`` and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (SatsrError, RasterioError, OSError) as err:
            if ctx.meta.get(_DEBUG_KEY):
                raise
            click.echo(f"error: {_one_line(err)}", err=True)
            ctx.exit(1)


def _parse_bands(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise InputError(f"--bands {text!r}: give band numbers separated by commas, e.g. 4,3,2") from None


def _parse_options(items: tuple[str, ...]) -> dict[str, Any] | None:
    """``KEY=VALUE`` pairs; values read as JSON where they parse (true, 3, 0.5), else kept as text."""
    if not items:
        return None
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--option {item!r}: write KEY=VALUE, e.g. --option faithful=false")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


# -- parameter types -----------------------------------------------------------------------------------------
class _CRSType(click.ParamType):
    """A CRS as pyproj accepts it (``EPSG:32633``, WKT, PROJ string); returned as the user's text."""

    name = "CRS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            CRS.from_user_input(value)
        except CRSError as err:
            self.fail(f"{value!r} is not a CRS pyproj understands ({_one_line(err)}); try EPSG:xxxx", param, ctx)
        return value


class _TransformType(click.ParamType):
    """Six comma-separated numbers ``a,b,c,d,e,f`` (affine order, as rasterio's ``Affine``)."""

    name = "A,B,C,D,E,F"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        parts = [p for p in str(value).replace(",", " ").split() if p]
        try:
            numbers = tuple(float(p) for p in parts)
        except ValueError:
            numbers = ()
        if len(numbers) != 6:
            self.fail(
                f"{value!r} is not six comma-separated numbers a,b,c,d,e,f (pixel width, row rotation, x of the "
                "upper-left corner, column rotation, pixel height (negative for north-up), y of the upper-left "
                "corner)",
                param,
                ctx,
            )
        return numbers


# -- helpers -------------------------------------------------------------------------------------------------
def _load_inputs(
    inputs: Sequence[str],
    *,
    crs: str | None = None,
    transform: tuple[float, ...] | None = None,
    allow_ungeoreferenced: bool = False,
    orthorectify: bool = False,
    dem: str | None = None,
) -> xr.DataArray:
    """Open the command's INPUTS (files, glob patterns, folders) as one lazy ``(time, band, y, x)`` stack.

    Parameters
    ----------
    inputs : sequence of str
        As typed: one or more files, quoted glob patterns or folders; expanded in order.
    crs, transform : optional
        Georeferencing for frames without it (``--crs``, ``--transform``).
    allow_ungeoreferenced : bool, default False
        Work in pixel coordinates when frames have no georeferencing.
    orthorectify : bool, default False
        Warp RPC frames onto one map grid (``--orthorectify``), optionally with a DEM (``--dem``).

    Returns
    -------
    xarray.DataArray
        The stack from :func:`satsr.open_stack`.

    Raises
    ------
    InputError, GeoreferenceError, GridMismatchError
        As :func:`satsr.open_stack`.
    """
    from satsr.io.read import open_stack, resolve_paths

    if not inputs:
        raise InputError("no inputs given")
    source: str | list[str]
    if len(inputs) == 1:
        source = inputs[0]
    else:
        source = [p for item in inputs for p in resolve_paths(item)]
    return open_stack(source, crs=crs, transform=transform, allow_ungeoreferenced=allow_ungeoreferenced,
                      orthorectify=orthorectify, dem=dem)


def _check_output(output: Path, fmt: str) -> bool:
    """Check that ``output`` can be written; return True when it names a single GeoTIFF file."""
    single = fmt != "zarr" and output.suffix.lower() in _TIFF_SUFFIXES
    if fmt == "zarr" and output.suffix.lower() in _TIFF_SUFFIXES:
        raise OutputError(f"{output}: --format zarr writes a store (a folder), not a .tif; use e.g. out.zarr")
    check_parent(output)  # missing folders are created by the writer (and removed again if it fails)
    if single and output.is_dir():
        raise OutputError(f"{output}: is a folder; remove it or choose another file name")
    if not single and fmt != "zarr" and output.exists() and not output.is_dir():
        raise OutputError(f"{output}: exists and is not a folder; pass a folder (one file per frame) or a .tif name")
    return single


def _check_not_inputs(output: Path, single: bool, sources: Sequence[str]) -> None:
    """Refuse outputs that would replace the input files (output files are named after the inputs)."""
    resolved = {Path(s).resolve() for s in sources}
    out = output.resolve()
    if single and out in resolved:
        raise OutputError(f"{output}: is also an input; choose another output name")
    if not single and any(p.parent == out for p in resolved):
        raise OutputError(
            f"{output}: holds input files, which the outputs (named after them) would replace; "
            "choose another output folder"
        )


def _size(paths: Sequence[Path]) -> int:
    total = 0
    for p in paths:
        if p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        elif p.exists():
            total += p.stat().st_size
    return total


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def _fmt_scales(scale: int, scales: Sequence[int]) -> str:
    s = sorted(scales)
    if len(s) == 1:
        return str(s[0])
    if len(s) > 2 and s == list(range(s[0], s[-1] + 1)):
        span = f"{s[0]}..{s[-1]}"
    else:
        span = ",".join(str(v) for v in s)
    return f"{span} (default {scale})"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r, widths)] + [r[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _fmt_num(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _info_text(info: dict[str, Any]) -> str:
    """Readable multi-line rendering of :func:`satsr.raster_info`."""
    rows: list[tuple[str, str]] = [
        ("file", str(info["path"])),
        ("driver", str(info.get("driver"))),
        ("size", str(info["size"])),
        ("bands", str(info["bands"])),
        ("dtype", str(info["dtype"])),
        ("nodata", "none" if info.get("nodata") is None else _fmt_num(info["nodata"])),
    ]
    if info.get("georeferenced"):
        rows.append(("crs", str(info["crs"])))
    elif info.get("rpcs"):
        rows.append(("crs", "none: sensor geometry, placed by its RPC model"))
    else:
        rows.append(("crs", f"{info['crs']} (not georeferenced: pixel coordinates)"))
    if info.get("rpcs"):
        rows.append(("rpcs", "yes (carried to the output, rescaled; --orthorectify warps onto a map grid instead)"))
    res = info.get("resolution")
    if res:
        rows.append(("resolution", f"{_fmt_num(res[0])} x {_fmt_num(res[1])} (x, y)"))
    if info.get("bounds"):
        rows.append(("bounds", ", ".join(_fmt_num(v) for v in info["bounds"]) + " (left, bottom, right, top)"))
    rows.append(("transform", "(" + ", ".join(_fmt_num(v) for v in info["transform"]) + ")"))
    block = info.get("block")
    if block:
        rows.append(("block", f"{block[1]} x {block[0]} (cols x rows)"))
    rows.append(("compression", str(info.get("compression") or "none")))
    ovr = info.get("overviews") or []
    rows.append(("overviews", ", ".join(f"1/{f}" for f in ovr) if ovr else "none"))
    rows.append(("time", str(info.get("time") or "none")))
    if info.get("satsr"):
        rows.append(("satsr", str(info["satsr"])))
    width = max(len(k) for k, _ in rows) + 1
    lines = [f"{(k + ':').ljust(width)} {v}" for k, v in rows]
    descriptions = info.get("band_descriptions") or []
    if any(descriptions):
        lines.append("band descriptions:")
        lines += [f"  {i}: {d or '-'}" for i, d in enumerate(descriptions, 1)]
    return "\n".join(lines)


def _video_info_text(info: dict[str, Any]) -> str:
    """Readable rendering of :func:`satsr.io.video_info`."""
    fps = "unknown" if info.get("fps") is None else f"{info['fps']:.6g}"
    vfr = " (variable frame rate)" if info.get("variable_frame_rate") else ""
    rate = "unknown" if not info.get("bit_rate") else f"{info['bit_rate'] / 1000:.0f} kb/s"
    rows = [
        ("file", str(info["path"])), ("container", str(info["container"])),
        ("codec", f"{info['codec']} ({info['pix_fmt']}), {rate}"), ("size", str(info["size"])),
        ("frames", f"{info['frames']} ({info['keyframes']} keyframes)"), ("fps", fps + vfr),
        ("duration", f"{info['duration_s']:.3f} s"),
    ]
    if info.get("georeferenced"):
        t = "(" + ", ".join(_fmt_num(v) for v in info["transform"]) + ")"
        rows += [("crs", str(info["crs"])), ("transform", t), ("sidecar", str(info["sidecar"]))]
    else:
        rows.append(("crs", "none (videos carry none: use --crs/--transform or a .wld/.prj sidecar)"))
    width = max(len(k) for k, _ in rows) + 1
    return "\n".join(f"{(k + ':').ljust(width)} {v}" for k, v in rows)


# -- commands ------------------------------------------------------------------------------------------------
@click.group(cls=_SatsrGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_version(), "--version", "-V", prog_name="satsr", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line error messages.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or log lines; warnings and errors only.")
@click.option("-v", "--verbose", is_flag=True, help="Log more (DEBUG level).")
@click.pass_context
def main(ctx: click.Context, debug: bool, quiet: bool, verbose: bool) -> None:
    """Super-resolve georeferenced satellite imagery and video frames, keeping the georeferencing exact.

    Run 'satsr COMMAND --help' for the options of each command. Long commands show a progress bar on a terminal
    and plain 'satsr: ...' log lines otherwise (SATSR_PROGRESS=bar|log|off overrides).
    """
    from satsr.progress import configure

    ctx.meta[_DEBUG_KEY] = debug
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    configure("off" if quiet else "auto", verbose=verbose)


@main.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUTS...")
@click.option(
    "-o", "--output", required=True, type=click.Path(path_type=Path),
    help="Output: a .tif file (one input frame only) or a folder that receives one file per frame, named after "
    "the input files (created if missing; its parent must exist). For --format zarr, the store path.",
)
@click.option(
    "-m", "--model", default=DEFAULT_MODEL, show_default=True,
    help="Registered model name (see 'satsr models'); the default is satsr's trained RGB x4 model.",
)
@click.option(
    "-s", "--scale", type=click.IntRange(min=1), default=None,
    help="Upscaling factor; default the model's (must be one the model supports).",
)
@click.option(
    "--bands", default=None, metavar="B,B,B",
    help="Band numbers (1-based) to feed the model, in its order, e.g. 4,3,2 for Landsat 8 RGB. Default all.",
)
@click.option(
    "--pretrained", type=click.Path(dir_okay=False), default=None,
    help="Checkpoint for the model: .pth/.pt/.safetensors (bare state_dict or wrapped, module. prefixes ok).",
)
@click.option(
    "-O", "--option", "options", multiple=True, metavar="KEY=VALUE",
    help="A model option, repeatable, e.g. -O faithful=false (see the model's docs; values read as JSON).",
)
@click.option(
    "--tile", type=click.IntRange(min=1), default=None,
    help="Tile size in input pixels; default sized to the model's halo (window at most 1.3x the pixels kept, "
    "e.g. 572 for lgtd-s), within a quarter of the available memory, at least the model's declared tile.",
)
@click.option(
    "--halo", type=click.IntRange(min=0), default=None,
    help="Context pixels added on each side of a tile; default the model's declared halo (seamless tiles).",
)
@click.option(
    "--blend", type=click.Choice(["crop", "feather"]), default=None,
    help="How tiles join: 'crop' keeps each tile's core (exact when the halo covers the model's receptive "
    "field); 'feather' cross-fades overlapping tiles (hides seams of models with a wider field). Default: "
    "the model's choice (feather for LGTD/MTDO, crop otherwise).",
)
@click.option(
    "--reference", type=click.Path(dir_okay=False), default=None,
    help="For reference-based models (rgtgan): a sharper raster of the same place, any CRS and resolution; it "
    "is warped onto the output grid.",
)
@click.option(
    "--reference-bands", default=None, metavar="B,B,B",
    help="Band numbers (1-based) of the reference, in the order of the input's chosen bands. Default all.",
)
@click.option(
    "--reference-matching", type=click.Choice(["meanstd", "histogram", "none"]), default="meanstd",
    show_default=True, help="How the reference's values are matched to the input's before inference.",
)
@click.option(
    "--uncovered", type=click.Choice(["error", "fallback"]), default="error", show_default=True,
    help="Where the reference does not cover the scene: stop, or run those tiles through --fallback.",
)
@click.option(
    "--fallback", default="bicubic", show_default=True,
    help="Single-image model for the tiles the reference does not cover (with --uncovered fallback).",
)
@click.option(
    "--feather", type=click.IntRange(min=1), default=None,
    help="Overlap width in input pixels for --blend feather; default the model's, else max(halo, 1).",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=None,
    help="Tiles per forward pass; default 4 on CPU, chosen from free memory on CUDA.",
)
@click.option(
    "--device", default="auto", show_default=True,
    help="Where the model runs: auto (CUDA when available), cpu, cuda or cuda:N.",
)
@click.option(
    "--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default="auto", show_default=True,
    help="Autocast dtype of the forward: auto is bf16 on a CUDA GPU (fp16 where it lacks bf16), and on a CPU "
    "with native bf16 (AVX512-BF16 or AMX; SATSR_CPU_BF16=0/1 overrides), fp32 on other CPUs.",
)
@click.option(
    "--compile/--no-compile", "compile_", default=None,
    help="torch.compile the model (checked against eager on the first batch, falls back quietly). Default: on "
    "CUDA only.",
)
@click.option(
    "--threads", type=click.IntRange(min=1), default=None,
    help="CPU cores to use, for torch's threads and dask's together (same as SATSR_THREADS). Default: all "
    "usable cores.",
)
@click.option(
    "-f", "--format", "fmt", type=click.Choice(["cog", "gtiff", "zarr"]), default=None,
    help="Output format: cog (Cloud-Optimized GeoTIFF with overviews), gtiff (tiled GeoTIFF, no overviews) or "
    "zarr (one store for all frames). Default zarr when OUTPUT ends in .zarr, else cog.",
)
@click.option(
    "--compress", default="deflate", show_default=True,
    help="GeoTIFF codec for cog/gtiff: deflate, lzw, zstd, lzma, none, ...",
)
@click.option(
    "--level", type=int, default=None,
    help="Compression level for deflate (1-12) or zstd (1-22). Default 1, the fastest; higher levels gain "
    "little on imagery.",
)
@click.option(
    "--value-range", type=(float, float), default=None, metavar="LOW HIGH",
    help="Stored values that map to the model's 0..1; default the full range of the integer type (floats: as "
    "is). E.g. --value-range 0 10000 for Sentinel-2 reflectance.",
)
@click.option(
    "--crs", type=_CRSType(), default=None,
    help="CRS of inputs that have none (PNG frames...), e.g. EPSG:32633; use with --transform.",
)
@click.option(
    "--transform", type=_TransformType(), default=None,
    help="Affine transform of inputs that have none: six comma-separated numbers a,b,c,d,e,f, e.g. "
    "10,0,500000,0,-10,4200000 (10 m pixels, upper-left corner at 500000, 4200000).",
)
@click.option(
    "--allow-ungeoreferenced", is_flag=True,
    help="Accept inputs without georeferencing and write outputs in pixel coordinates.",
)
@click.option(
    "--orthorectify", is_flag=True,
    help="Warp RPC frames onto one map grid (UTM, native resolution) before super-resolution, so that a video's "
    "frames are aligned. Default: keep each frame's sensor geometry and carry its RPCs, rescaled, to the output.",
)
@click.option(
    "--dem", type=click.Path(exists=True, dir_okay=False), default=None,
    help="With --orthorectify: DEM raster of heights for the RPC transformer (default: flat terrain at each "
    "frame's RPC height offset).",
)
@click.option(
    "--preview", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="Also write a side-by-side PNG of the first frame: input (left) and output (right).",
)
@click.option(
    "--video", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="Also write the result as a viewable video (.mp4: H.264, yuv420p), read back from the output.",
)
@click.option("--video-side-by-side", is_flag=True, help="In --video, show the bicubic upscale on the left.")
@click.option("--video-fps", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Frame rate of --video; default from the frames' times (needed for frames without times).")
@click.option("--dry-run", is_flag=True,
              help="Print the plan (blocks, tasks, forwards, bytes, memory per worker, estimated time from a short "
                   "calibration of the model on the input's own pixels) and write nothing.")
@click.option("--no-progress", is_flag=True, help="No progress bar (on a terminal) or progress lines (elsewhere).")
def upscale(
    inputs: tuple[str, ...],
    output: Path,
    model: str,
    scale: int | None,
    bands: str | None,
    pretrained: str | None,
    options: tuple[str, ...],
    tile: int | None,
    halo: int | None,
    blend: str | None,
    reference: str | None,
    reference_bands: str | None,
    reference_matching: str,
    uncovered: str,
    fallback: str,
    feather: int | None,
    batch_size: int | None,
    device: str,
    precision: str,
    compile_: bool | None,
    threads: int | None,
    fmt: str | None,
    compress: str,
    level: int | None,
    value_range: tuple[float, float] | None,
    crs: str | None,
    transform: tuple[float, ...] | None,
    allow_ungeoreferenced: bool,
    orthorectify: bool,
    dem: str | None,
    preview: Path | None,
    video: Path | None,
    video_side_by_side: bool,
    video_fps: float | None,
    dry_run: bool,
    no_progress: bool,
) -> None:
    """Super-resolve INPUTS and write the result.

    INPUTS are raster files, quoted glob patterns ("frames/*.tif") or a folder; several frames form a time
    stack (same grid, CRS and bands) and are written one file per frame into the OUTPUT folder.

    \b
    Examples:
      satsr upscale rgb.tif -o rgb_x4.tif                    (default model lgtd-s: 3 bands, x4)
      satsr upscale landsat.tif --bands 4,3,2 --value-range 0 30000 -o rgb_x4.tif
      satsr upscale "frames/*.tif" -o frames_x4/ --model bicubic --scale 2
      satsr upscale frame.png --crs EPSG:32633 --transform 10,0,500000,0,-10,4200000 -o out.tif
      satsr upscale lr.tif --model rgtgan --pretrained G.pth --reference google_2019.tif -o sr.tif
      satsr upscale clip.mp4 --crs EPSG:32633 --transform 1,0,500000,0,-1,4200000 -o sr/ --video sr.mp4
    """  # noqa: D301 (\b is click's "do not rewrap" marker)
    import satsr

    fmt = fmt or ("zarr" if output.suffix.lower() == ".zarr" else "cog")
    if threads is not None:  # read by satsr's thread rule (torch intra-op and dask threads) in this process
        os.environ["SATSR_THREADS"] = str(threads)
    # Everything that can fail is checked before a single pixel is computed.
    single = _check_output(output, fmt)
    for extra in (preview, video):
        if extra is not None:
            check_parent(extra)
    stack = _load_inputs(inputs, crs=crs, transform=transform, allow_ungeoreferenced=allow_ungeoreferenced,
                         orthorectify=orthorectify, dem=dem)
    n = int(stack.sizes["time"])
    if single and n != 1:
        raise OutputError(f"{output}: {n} input frames cannot go into one .tif; pass an output folder instead")
    sources = [str(s) for s in stack["source"].values.tolist()]
    _check_not_inputs(output, single, sources)
    band_list = _parse_bands(bands)
    job: dict[str, Any] = dict(
        scale=scale, tile=tile, halo=halo, blend=blend, feather=feather, batch_size=batch_size, device=device,
        value_range=value_range, pretrained=pretrained, bands=band_list, model_options=_parse_options(options),
        precision=precision, compile="auto" if compile_ is None else compile_,
    )
    if dry_run:
        from satsr.plan import plan_upscale

        if reference is not None:
            raise InputError("--dry-run does not plan reference-based jobs yet; time a small crop instead")
        click.echo(plan_upscale(stack, model, **job).table())
        return
    sr = satsr.upscale(
        stack, model, reference=reference, reference_bands=_parse_bands(reference_bands),
        reference_matching=reference_matching, uncovered=uncovered, fallback=fallback,  # type: ignore[arg-type]
        **job,
    )
    if reference is not None:
        dy, dx = sr.attrs["satsr_reference_shift"].split()
        fb = (f"; {sr.attrs['satsr_fallback_tiles']} tiles per frame through {sr.attrs['satsr_fallback']}"
              if sr.attrs["satsr_fallback_tiles"] else "")
        click.echo(f"reference {reference}: covers {100 * sr.attrs['satsr_reference_coverage']:.1f}% of the scene, "
                   f"shift dy {dy} dx {dx} LR px{fb}", err=True)

    progress = not no_progress
    start = time.perf_counter()
    if fmt == "zarr":
        from satsr.io.zarr_cube import to_zarr

        written = [Path(to_zarr(sr, output, progress=progress))]
    elif fmt == "gtiff":
        from satsr.io.write import to_geotiff

        written = to_geotiff(sr, output, compress=compress, level=level, progress=progress)
    else:
        from satsr.io.write import to_cog

        written = to_cog(sr, output, compress=compress, level=level, progress=progress)
    elapsed = time.perf_counter() - start

    shown = written if len(written) <= _LIST_LIMIT else [*written[:3], None, written[-1]]
    for p in shown:
        click.echo(str(p) if p is not None else f"... ({len(written) - 4} more)")
    h, w = int(stack.sizes["y"]), int(stack.sizes["x"])
    hs, ws = int(sr.sizes["y"]), int(sr.sizes["x"])
    files = "1 file" if len(written) == 1 else f"{len(written)} files"
    n_out = int(sr.sizes["time"]) if "time" in sr.dims else 1
    more = f" ({n_out} frames: time x{sr.attrs['satsr_time_scale']})" if n_out != n else ""
    click.echo(
        f"{n} frame{'s' if n != 1 else ''} {w} x {h} -> {ws} x {hs} px{more} ({sr.attrs.get('satsr_model')}, "
        f"x{sr.attrs.get('satsr_scale')}): {files}, {_human(_size(written))} in {elapsed:.2f} s"
    )

    if preview is not None:
        from satsr.viz import compare_png

        # Preview from what was written: reading it back is cheaper than running the model again.
        if fmt == "zarr":
            from satsr.io.zarr_cube import open_zarr

            result = open_zarr(written[0])
        else:
            result = satsr.open_stack(written[0])
        # A centre crop shown at full output resolution: a decimated whole frame would hide the new detail.
        side = max(1, 1024 // int(sr.attrs.get("satsr_scale", 1)))
        ch, cw = min(side, h), min(side, w)
        crop = ((h - ch) // 2, (w - cw) // 2, ch, cw)
        shown_lr = stack
        if band_list:  # the bands the model was given; the file read back numbers them 1..n again
            shown_lr = stack.sel(band=list(band_list))
            result = result.assign_coords(band=shown_lr["band"].values)
        click.echo(f"preview: {compare_png(shown_lr, result, preview, crop=crop)} (centre {cw} x {ch} px of the input)")
    if video is not None:
        out = _write_video(stack, sr, written, fmt, video, side_by_side=video_side_by_side, fps=video_fps,
                           bands=band_list, progress=progress)
        sides = f" (bicubic left, {sr.attrs.get('satsr_model')} right)" if video_side_by_side else ""
        click.echo(f"video: {out}{sides}")


def _write_video(stack: xr.DataArray, sr: xr.DataArray, written: Sequence[Path], fmt: str, path: Path, *,
                 side_by_side: bool, fps: float | None, bands: list[int] | None, progress: bool) -> Path:
    """``upscale --video``: encode the written output (read back: cheaper than running the model again)."""
    import satsr
    from satsr.io.video import to_video

    if fmt == "zarr":
        from satsr.io.zarr_cube import open_zarr

        result = open_zarr(written[0])
    else:
        result = satsr.open_stack([str(p) for p in written])
    result = result.assign_coords(time=sr["time"].values)  # the files keep times to the second at best
    baseline = None
    if side_by_side:
        baseline = satsr.upscale(stack, "bicubic", scale=int(sr.attrs.get("satsr_scale", 1)), bands=bands)
    return to_video(result, path, fps=fps, baseline=baseline, progress=progress)


@main.command()
def models() -> None:
    """List the registered models: name, scale(s), frames in, bands, halo, weights and description.

    weights: "shipped" (trained weights come with satsr), "none needed" (an interpolator), or "--pretrained"
    (a network satsr ships no weights for: give the authors' checkpoint, or it runs its random initialisation).
    """
    import torch

    from satsr.models import get_spec, list_models

    rows = [["name", "scale", "frames_in", "bands", "halo", "weights", "description"]]
    for name in list_models():
        spec = get_spec(name)
        if any(w.file for w in spec.weights):
            weights = "shipped"
        else:
            with torch.device("meta"):  # no memory: only whether the network has parameters
                learnt = any(True for _ in spec.build().parameters())
            weights = "--pretrained" if learnt else "none needed"
        rows.append(
            [
                name,
                _fmt_scales(spec.scale, spec.scales),
                f"{spec.frames_in}->{spec.frames_out}" if spec.time_scale > 1 else str(spec.frames_in),
                "any" if spec.bands is None else str(spec.bands),
                str(spec.halo),
                weights,
                spec.description,
            ]
        )
    click.echo(_table(rows))
    click.echo(f"\ndefault model: {DEFAULT_MODEL} (satsr upscale without --model, satsr.upscale without model=)")


@main.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(file: Path, as_json: bool) -> None:
    """Describe raster FILE: size, bands, dtype, nodata, CRS, resolution, bounds, blocks, overviews, tags.

    For a video file (.mp4, .mkv, .avi...): frames, fps, duration, size, codec, and the georeferencing of its
    sidecar world file if any.
    """
    from satsr.io.read import raster_info
    from satsr.io.video import is_video, video_info

    if is_video(file):
        vmeta = video_info(os.fspath(file))
        click.echo(json.dumps(vmeta, indent=2, default=str) if as_json else _video_info_text(vmeta))
        return
    meta = raster_info(os.fspath(file))
    if as_json:
        if isinstance(meta.get("satsr"), str):
            try:
                meta["satsr"] = json.loads(meta["satsr"])
            except ValueError:
                pass  # not JSON: keep the text
        click.echo(json.dumps(meta, indent=2, default=str))
    else:
        click.echo(_info_text(meta))


@main.command()
@click.argument("config", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--resume", is_flag=True, help="Continue exactly from OUT/last.pt (same step, optimiser, data order).")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Override the config's number of steps.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None, help="Override the run folder.")
@click.option("--data-root", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder the config's relative data paths start from (default: the config's data_root).")
@click.option("--until", type=click.IntRange(min=1), default=None,
              help="Stop after this step (checkpointed; continue later with --resume).")
@click.option("--device", default=None, help="Override the device: auto, cpu, cuda, cuda:N.")
@click.option("--no-progress", is_flag=True, help="Do not show the progress bar.")
def train(config: Path, resume: bool, steps: int | None, out: Path | None, data_root: Path | None,
          until: int | None, device: str | None, no_progress: bool) -> None:
    """Train a model from a YAML CONFIG (see satsr.train.loop); checkpoints, log.csv, final.safetensors in out."""
    from satsr.train.loop import load_config
    from satsr.train.loop import train as run

    cfg = load_config(config, steps=steps, out=str(out.resolve()) if out else None, device=device,
                      data_root=str(data_root.resolve()) if data_root else None)
    result = run(cfg, resume=resume, until=until, progress=not no_progress)
    click.echo(f"step {result['step']}: loss {result['loss']:.4f}"
               + (f", val PSNR {result['val']['psnr']:.3f} dB" if result["val"] else ""))
    if result["step"] >= cfg.steps:
        click.echo(str(Path(cfg.out) / "final.safetensors"))


@main.command()
@click.option("-m", "--model", "model_names", multiple=True, required=True,
              help="Registered model to score (repeatable). Bicubic is always scored too, as the baseline.")
@click.option("--pretrained", default=None, help="Checkpoint for the (first) model.")
@click.option("-O", "--option", "options", multiple=True, metavar="KEY=VALUE", help="A model option (repeatable).")
@click.option("--data", "data_roots", type=click.Path(path_type=Path, file_okay=False), required=True,
              multiple=True,
              help="Clips in the Jilin-189 layout: <data>/<clip>/GT/*.png (+ LR4x/), or one clip folder; with "
                   "--protocol rgtgan, Ref-SR sets (<set>/HR, LR, LR_UX4, Ref, Ref_DUX4) or a folder of them. "
                   "Repeatable.")
@click.option("--protocol", default="standard", show_default=True,
              help="Scoring protocol: standard, lgtd, mtdo, mstt, lgfn or rgtgan. rgtgan runs RGTGAN's val.py on "
                   "Ref-SR sets (on Jilin-189 clips it only scores with its metric).")
@click.option("--centres", default=None, metavar="I,J,K", help="Frame indices to score (default all).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Ref-SR sets: score only the first N images of each set (default all).")
@click.option("-s", "--scale", type=click.IntRange(min=1), default=4, show_default=True,
              help="Upscaling factor (GT frames are this many times the LR frames).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write the scores as JSON.")
@click.option("--lr-resampler", type=click.Choice(["bicubic", "bicubic_noaa", "area", "pil_bicubic"]), default=None,
              help="Make the LR from GT with this resampler (robustness: e.g. pil_bicubic) instead of the clip's LR "
                   "frames or MATLAB's bicubic.")
@click.option("--prescale", type=click.IntRange(min=1), default=1, show_default=True,
              help="Area-reduce GT first (2 for JPEG-published video such as satvideo).")
@click.option("--holdout", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Score only windows within the last HOLDOUT share of each clip (the frames kept out of training).")
@click.option("--no-temporal", is_flag=True,
              help="Skip the temporal_gain column (each model again on its centre frame alone).")
@click.option("--no-progress", is_flag=True, help="No progress bar or progress lines.")
def evaluate(model_names: tuple[str, ...], pretrained: str | None, options: tuple[str, ...],
             data_roots: tuple[Path, ...], protocol: str, centres: str | None, limit: int | None, scale: int,
             device: str, json_path: Path | None, lr_resampler: str | None, prescale: int, holdout: float | None,
             no_temporal: bool, no_progress: bool) -> None:
    """Score models on clips with ground truth: a table per clip and the mean, as the papers report.

    With --protocol rgtgan on Ref-SR sets (RGTGAN's val.py): a table per set, the baseline "bicubic" being each
    set's supplied LR_UX4 image; reference models get the set's Ref, single-image models the LR alone.
    """
    from satsr.train.evaluate import SUPPLIED_UX4, evaluate_clips, evaluate_refsr, format_gains, format_table

    def clip_root(p: Path) -> bool:
        return p.is_dir() and ((p / "GT").is_dir() or any((c / "GT").is_dir() for c in p.iterdir() if c.is_dir()))

    candidates = {name: name for name in dict.fromkeys((*model_names, "bicubic"))}
    first = model_names[0]
    trained = {"pretrained": {first: pretrained} if pretrained else None,
               "model_options": {first: _parse_options(options) or {}}}
    refsr = protocol == "rgtgan" and not all(clip_root(p) for p in data_roots)
    if refsr:
        if centres:
            raise InputError("--centres picks frames of clips; for Ref-SR sets use --limit")
        from satsr.progress import bar

        counter = bar(desc="images", unit="image", enabled=not no_progress)

        def progress(done: int, total: int) -> None:
            counter.total = total
            counter.update(done - counter.n)

        scores = evaluate_refsr(list(data_roots), {**candidates, "bicubic": SUPPLIED_UX4}, limit=limit, scale=scale,
                                device=device, progress=progress, **trained)
        counter.close()
    else:
        if limit is not None:
            raise InputError("--limit applies to Ref-SR sets (--protocol rgtgan); for clips use --centres")
        picked = [int(v) for v in centres.split(",") if v.strip()] if centres else None
        scores = [s for data in data_roots for s in evaluate_clips(
            data, candidates, protocol=protocol, scale=scale, centres=picked, device=device,
            progress=not no_progress, lr_method=lr_resampler, prescale=prescale, holdout=holdout,
            temporal=not no_temporal, **trained)]
    click.echo(format_table(scores, unit="set" if refsr else "clip"))
    if summary := format_gains(scores):
        click.echo(summary)
    if json_path is not None:
        where: str | list[str] = str(data_roots[0]) if len(data_roots) == 1 else [str(p) for p in data_roots]
        rows = ([{"set": s.clip, "model": s.model, "images": len(s.frames), **s.scores} for s in scores] if refsr
                else [{"clip": s.clip, "model": s.model, "frames": list(s.frames), **s.scores} for s in scores])
        payload = {"protocol": protocol, "data": where, "scale": scale, "lr_resampler": lr_resampler or "as stored",
                   "prescale": prescale, "holdout": holdout, "scores": rows}
        tmp = json_path.with_name(json_path.name + ".tmp")
        tmp.write_text(json.dumps(payload, indent=2))
        os.replace(tmp, json_path)


@main.group()
def catalog() -> None:
    """STAC catalogs of scenes: build one from a folder."""


@catalog.command("init")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The root catalog.json to write; items go to <its folder>/<item id>/<item id>.json.")
@click.option("--id", "catalog_id", default=None, help="Catalog id (default the folder name).")
@click.option("--description", default=None, help="Catalog description.")
@click.option("--crs", type=_CRSType(), default=None,
              help="CRS for scenes whose frames carry no georeferencing (PNG video frames).")
@click.option("--transform", type=_TransformType(), default=None,
              help="Affine transform a,b,c,d,e,f for scenes whose frames carry no georeferencing.")
def catalog_init(folder: Path, output: Path, catalog_id: str | None, description: str | None, crs: str | None,
                 transform: tuple[float, ...] | None) -> None:
    """Build a STAC catalog over FOLDER: one item per GeoTIFF and one per sub-folder of frames.

    \b
    Items get proj:code, proj:shape, proj:transform, gsd, raster:bands, a WGS 84 footprint and a datetime
    (TIFFTAG_DATETIME, else the file time). Example:
      satsr catalog init scenes/ -o scenes/catalog.json
      satsr batch scenes/catalog.json -o products/
    """  # noqa: D301
    import warnings

    from satsr.catalog import init_catalog

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SatsrWarning)
        cat = init_catalog(folder, output, catalog_id=catalog_id, description=description, crs=crs,
                           transform=transform)
    for w in caught:
        click.echo(f"warning: {_one_line(w.message)}", err=True)
    items = list(cat.get_items())
    click.echo(f"{output}: {len(items)} item{'s' if len(items) != 1 else ''}")
    for item in items[:_LIST_LIMIT]:
        click.echo(f"  {item.id}: {len(item.assets)} asset{'s' if len(item.assets) != 1 else ''}")
    if len(items) > _LIST_LIMIT:
        click.echo(f"  ... ({len(items) - _LIST_LIMIT} more)")


@main.command()
@click.argument("catalog_path", metavar="CATALOG", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Output folder: one folder per product (COGs + STAC item), catalog.json, run-report.json.")
@click.option("-m", "--model", default=DEFAULT_MODEL, show_default=True, help="Registered model name.")
@click.option("--pretrained", type=click.Path(dir_okay=False), default=None, help="Checkpoint for the model.")
@click.option("-O", "--option", "options", multiple=True, metavar="KEY=VALUE", help="A model option (repeatable).")
@click.option("-s", "--scale", type=click.IntRange(min=1), default=None, help="Upscaling factor; default the model's.")
@click.option("--bands", default=None, metavar="B,B,B", help="Band numbers (1-based) to feed the model, in order.")
@click.option("--value-range", type=(float, float), default=None, metavar="LOW HIGH",
              help="Stored values that map to the model's 0..1 (default the dtype's full range).")
@click.option("--assets", default=None, metavar="KEY,KEY",
              help="Asset keys forming each item's stack (shell patterns allowed: 'frame_*'); default the data "
              "assets.")
@click.option("--media-type", default=None, help="Pick assets by media type instead (a prefix, e.g. image/tiff).")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Worker processes of the local dask cluster (default min(items, max(2, cores / 4))); 0 runs the "
              "items in this process, one after the other.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Address of a running dask scheduler (tcp://host:8786) to use instead of a local cluster.")
@click.option("--resume", is_flag=True, help="Skip items whose products are complete (checksums verified).")
@click.option("--retries", type=click.IntRange(min=0), default=1, show_default=True,
              help="Further attempts for an item that fails.")
@click.option("--tile", type=click.IntRange(min=1), default=256, show_default=True, help="Tile size in input pixels.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N (cuda asks GPU=1).")
@click.option("--compress", default="deflate", show_default=True, help="COG codec.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def batch(catalog_path: Path, output: Path, model: str, pretrained: str | None, options: tuple[str, ...],
          scale: int | None, bands: str | None, value_range: tuple[float, float] | None, assets: str | None,
          media_type: str | None, workers: int | None, scheduler: str | None, resume: bool, retries: int,
          tile: int, device: str, compress: str, no_progress: bool) -> None:
    """Super-resolve every item of a STAC CATALOG (catalog, collection, ItemCollection or item) into OUTPUT.

    \b
    Items run in parallel on dask.distributed (a local cluster, or --scheduler). Each product is written
    atomically with a STAC item (derived_from, proj, processing, mlm, file:checksum); OUTPUT/catalog.json
    lists them and OUTPUT/run-report.json says how each item went. Failing items are retried, reported and
    do not stop the others; the exit status is 1 when any item failed. Examples:
      satsr batch catalogs/landsat8-sample/catalog.json -o products/ --bands 3,2,1 --value-range 6000 10000
      satsr batch scenes.json -o products/ --model bicubic --scale 2 --workers 4 --resume
    """  # noqa: D301
    from satsr.batch import JobConfig, run_batch

    band_list = _parse_bands(bands)
    cfg = JobConfig(model=model, scale=scale, pretrained=pretrained, model_options=_parse_options(options) or {},
                    bands=tuple(band_list) if band_list else None, value_range=value_range, tile=tile,
                    device=device, compress=compress)
    report = run_batch(catalog_path, output, cfg, workers=workers, scheduler=scheduler, resume=resume,
                       retries=retries, assets=[a for a in assets.split(",") if a] if assets else None,
                       media_type=media_type, progress=not no_progress)
    c = report.counts()
    click.echo(f"{len(report.results)} items: {c['done']} done, {c['skipped']} already complete, "
               f"{c['failed']} failed in {report.seconds:.1f} s")
    for r in report.failed:
        click.echo(f"  failed: {r.id} ({r.attempts} attempt{'s' if r.attempts != 1 else ''}): {r.error}")
    click.echo(f"catalog: {report.catalog}")
    click.echo(f"report: {Path(report.outdir) / 'run-report.json'}")
    if report.failed:
        sys.exit(1)


# -- quick-look pictures -------------------------------------------------------------------------------------
def _parse_ints(text: str | None, n: int, option: str, example: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(int(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        values = ()
    if len(values) != n:
        raise InputError(f"{option} {text!r}: give {n} whole numbers separated by commas, e.g. {example}")
    return values


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
        zoom.append("auto" if z.strip().lower() == "auto" else _parse_ints(z, 3, "--zoom", "120,80,32 or auto"))
    lr = _load_inputs([input_path], allow_ungeoreferenced=True)
    sr = _load_inputs([sr_path], allow_ungeoreferenced=True) if sr_path else None
    base = _load_inputs([baseline], allow_ungeoreferenced=True) if baseline else None
    labels = (_caption(baseline) if baseline else None, _caption(sr_path) if sr_path else None)
    path = make_quicklook(
        lr, sr, output, layout=layout, baseline=base, frame=frame, bands=_parse_bands(bands), stretch=stretch,
        zoom=zoom, crop=_parse_ints(crop, 4, "--crop", "100,100,256,256"), max_size=max_size, labels=labels,
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
    lr = _load_inputs([lr_path], allow_ungeoreferenced=True)
    sr = _load_inputs([sr_path], allow_ungeoreferenced=True)
    path = compare_html(
        lr, sr, output, frame=frame, bands=_parse_bands(bands), stretch=stretch,
        crop=_parse_ints(crop, 4, "--crop", "100,100,256,256"), max_size=max_size,
        labels=("bicubic", _caption(sr_path)),
    )
    click.echo(str(path))


if __name__ == "__main__":  # pragma: no cover
    main()
