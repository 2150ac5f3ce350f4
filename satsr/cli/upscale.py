"""``satsr upscale``: super-resolve INPUTS into COGs, GeoTIFFs or a zarr store (plus a preview PNG or a video).

The command runs named steps: check the outputs, open the inputs, plan (``--dry-run``) or super-resolve, write,
report, then the extras. Every check that can fail runs before any pixel is computed, so a bad input never
leaves an output behind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import xarray as xr

from satsr._defaults import DEFAULT_MODEL
from satsr._folders import check_parent
from satsr.cli.app import main
from satsr.cli.params import (
    LIST_LIMIT,
    RANDOM_WEIGHTS_HELP,
    CRSType,
    TransformType,
    load_inputs,
    parse_bands,
    parse_options,
    pick_weights,
    precision_option,
    self_ensemble_option,
)
from satsr.errors import InputError, OutputError

__all__ = ["upscale"]

_TIFF_SUFFIXES = (".tif", ".tiff")


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
@click.option("--random-weights", is_flag=True, help=RANDOM_WEIGHTS_HELP)
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
@precision_option
@click.option(
    "--compile/--no-compile", "compile_", default=None,
    help="torch.compile the model (checked against eager on the first batch; falls back to eager with a "
    "warning). Default: auto, only where the job's eager time is well above a compile's (SATSR_COMPILE=0/1 "
    "overrides auto).",
)
@self_ensemble_option
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
    "--crs", type=CRSType(), default=None,
    help="CRS of inputs that have none (PNG frames...), e.g. EPSG:32633; use with --transform.",
)
@click.option(
    "--transform", type=TransformType(), default=None,
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
    inputs: tuple[str, ...], output: Path, model: str, scale: int | None, bands: str | None, pretrained: str | None,
    random_weights: bool, options: tuple[str, ...], tile: int | None, halo: int | None, blend: str | None,
    reference: str | None, reference_bands: str | None, reference_matching: str, uncovered: str, fallback: str,
    feather: int | None, batch_size: int | None, device: str, precision: str, compile_: bool | None,
    self_ensemble: bool, threads: int | None, fmt: str | None, compress: str, level: int | None,
    value_range: tuple[float, float] | None, crs: str | None,
    transform: tuple[float, ...] | None, allow_ungeoreferenced: bool, orthorectify: bool, dem: str | None,
    preview: Path | None, video: Path | None, video_side_by_side: bool, video_fps: float | None, dry_run: bool,
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
    if threads is not None:  # read by satsr's thread rule (torch intra-op and dask threads) in this process
        os.environ["SATSR_THREADS"] = str(threads)
    # Everything that can fail is checked before a single pixel is computed.
    target = _check_target(output, fmt, compress=compress, level=level, preview=preview, video=video,
                           video_side_by_side=video_side_by_side, video_fps=video_fps)
    stack = _open_inputs(inputs, target, crs=crs, transform=transform, allow_ungeoreferenced=allow_ungeoreferenced,
                         orthorectify=orthorectify, dem=dem)
    band_list = parse_bands(bands)
    weights = pick_weights(pretrained, random_weights)
    job: dict[str, Any] = dict(
        scale=scale, tile=tile, halo=halo, blend=blend, feather=feather, batch_size=batch_size, device=device,
        value_range=value_range, pretrained=weights, bands=band_list, model_options=parse_options(options),
        precision=precision, compile="auto" if compile_ is None else compile_, self_ensemble=self_ensemble,
    )
    ref = _Reference(reference, reference_bands, reference_matching, uncovered, fallback)
    if dry_run:
        _print_plan(stack, model, job, ref)
        return
    sr = _super_resolve(stack, model, job, ref)
    progress = not no_progress
    written, elapsed = _write(sr, target, progress=progress)
    _report(stack, sr, written, elapsed)
    if target.preview is not None:
        _write_preview(target.preview, stack, sr, written, target.fmt, bands=band_list)
    if target.video is not None:
        _write_video(target.video, stack, sr, written, target, bands=band_list, progress=progress)


# -- the steps, in order -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Target:
    """Where and how ``upscale`` writes: the output proper, and the optional preview PNG and video."""

    path: Path
    fmt: str  # cog, gtiff or zarr
    single: bool  # one GeoTIFF file (else a folder of one file per frame, or a zarr store)
    compress: str
    level: int | None
    preview: Path | None
    video: Path | None
    video_side_by_side: bool
    video_fps: float | None


@dataclass(frozen=True)
class _Reference:
    """The ``--reference*`` options, as typed (bands parsed only when the reference is used)."""

    path: str | None
    bands: str | None
    matching: str
    uncovered: str
    fallback: str


def _check_target(output: Path, fmt: str | None, *, compress: str, level: int | None, preview: Path | None,
                  video: Path | None, video_side_by_side: bool, video_fps: float | None) -> _Target:
    """Pick the format (zarr for ``.zarr`` names, else COG) and check that every output can be written."""
    fmt = fmt or ("zarr" if output.suffix.lower() == ".zarr" else "cog")
    single = _check_output(output, fmt)
    for extra in (preview, video):
        if extra is not None:
            check_parent(extra)
    return _Target(output, fmt, single, compress, level, preview, video, video_side_by_side, video_fps)


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


def _open_inputs(inputs: Sequence[str], target: _Target, **georef: Any) -> xr.DataArray:
    """Open INPUTS as one stack, and check that it fits the output and that the output spares the inputs."""
    stack = load_inputs(inputs, **georef)
    n = int(stack.sizes["time"])
    if target.single and n != 1:
        raise OutputError(f"{target.path}: {n} input frames cannot go into one .tif; pass an output folder instead")
    _check_not_inputs(target.path, target.single, [str(s) for s in stack["source"].values.tolist()])
    return stack


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


def _print_plan(stack: xr.DataArray, model: str, job: dict[str, Any], ref: _Reference) -> None:
    """``--dry-run``: print the plan table and compute nothing."""
    from satsr.plan import plan_upscale

    if ref.path is not None:
        raise InputError("--dry-run does not plan reference-based jobs yet; time a small crop instead")
    click.echo(plan_upscale(stack, model, **job).table())


def _super_resolve(stack: xr.DataArray, model: str, job: dict[str, Any], ref: _Reference) -> xr.DataArray:
    """The lazy super-resolved stack; with a reference, say how much of the scene it covers."""
    import satsr

    sr = satsr.upscale(
        stack, model, reference=ref.path, reference_bands=parse_bands(ref.bands),
        reference_matching=ref.matching, uncovered=ref.uncovered, fallback=ref.fallback,  # type: ignore[arg-type]
        **job,
    )
    if ref.path is not None:
        dy, dx = sr.attrs["satsr_reference_shift"].split()
        fb = (f"; {sr.attrs['satsr_fallback_tiles']} tiles per frame through {sr.attrs['satsr_fallback']}"
              if sr.attrs["satsr_fallback_tiles"] else "")
        click.echo(f"reference {ref.path}: covers {100 * sr.attrs['satsr_reference_coverage']:.1f}% of the "
                   f"scene, shift dy {dy} dx {dx} LR px{fb}", err=True)
    return sr


def _write(sr: xr.DataArray, target: _Target, *, progress: bool) -> tuple[list[Path], float]:
    """Compute and write ``sr`` in the target's format; the files (or store) written and the seconds taken."""
    start = time.perf_counter()
    if target.fmt == "zarr":
        from satsr.io.zarr_cube import to_zarr

        written = [Path(to_zarr(sr, target.path, progress=progress))]
    elif target.fmt == "gtiff":
        from satsr.io.write import to_geotiff

        written = to_geotiff(sr, target.path, compress=target.compress, level=target.level, progress=progress)
    else:
        from satsr.io.write import to_cog

        written = to_cog(sr, target.path, compress=target.compress, level=target.level, progress=progress)
    return written, time.perf_counter() - start


def _report(stack: xr.DataArray, sr: xr.DataArray, written: Sequence[Path], elapsed: float) -> None:
    """Print the files written (a summary beyond a few) and one line: frames, sizes, model, bytes, time."""
    shown = written if len(written) <= LIST_LIMIT else [*written[:3], None, written[-1]]
    for p in shown:
        click.echo(str(p) if p is not None else f"... ({len(written) - 4} more)")
    n = int(stack.sizes["time"])
    h, w = int(stack.sizes["y"]), int(stack.sizes["x"])
    hs, ws = int(sr.sizes["y"]), int(sr.sizes["x"])
    files = "1 file" if len(written) == 1 else f"{len(written)} files"
    n_out = int(sr.sizes["time"]) if "time" in sr.dims else 1
    more = f" ({n_out} frames: time x{sr.attrs['satsr_time_scale']})" if n_out != n else ""
    se = f", self-ensemble x{sr.attrs['satsr_self_ensemble']}" if sr.attrs.get("satsr_self_ensemble") else ""
    click.echo(
        f"{n} frame{'s' if n != 1 else ''} {w} x {h} -> {ws} x {hs} px{more} ({sr.attrs.get('satsr_model')}, "
        f"x{sr.attrs.get('satsr_scale')}{se}): {files}, {_human(_size(written))} in {elapsed:.2f} s"
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


def _read_back(written: Sequence[Path], fmt: str, *, first: bool = False) -> xr.DataArray:
    """The written output (its ``first`` file only) as a stack: cheaper than running the model again."""
    import satsr

    if fmt == "zarr":
        from satsr.io.zarr_cube import open_zarr

        return open_zarr(written[0])
    return satsr.open_stack(written[0] if first else [str(p) for p in written])


def _write_preview(path: Path, stack: xr.DataArray, sr: xr.DataArray, written: Sequence[Path], fmt: str, *,
                   bands: list[int] | None) -> None:
    """``--preview``: a side-by-side PNG of the first frame, input left and output right."""
    from satsr.viz import compare_png

    result = _read_back(written, fmt, first=True)
    # A centre crop shown at full output resolution: a decimated whole frame would hide the new detail.
    h, w = int(stack.sizes["y"]), int(stack.sizes["x"])
    side = max(1, 1024 // int(sr.attrs.get("satsr_scale", 1)))
    ch, cw = min(side, h), min(side, w)
    crop = ((h - ch) // 2, (w - cw) // 2, ch, cw)
    shown_lr = stack
    if bands:  # the bands the model was given; the file read back numbers them 1..n again
        shown_lr = stack.sel(band=list(bands))
        result = result.assign_coords(band=shown_lr["band"].values)
    click.echo(f"preview: {compare_png(shown_lr, result, path, crop=crop)} (centre {cw} x {ch} px of the input)")


def _write_video(path: Path, stack: xr.DataArray, sr: xr.DataArray, written: Sequence[Path], target: _Target, *,
                 bands: list[int] | None, progress: bool) -> None:
    """``--video``: encode the written output, optionally beside a bicubic upscale."""
    import satsr
    from satsr.io.video import to_video

    result = _read_back(written, target.fmt)
    result = result.assign_coords(time=sr["time"].values)  # the files keep times to the second at best
    baseline = None
    if target.video_side_by_side:
        baseline = satsr.upscale(stack, "bicubic", scale=int(sr.attrs.get("satsr_scale", 1)), bands=bands)
    out = to_video(result, path, fps=target.video_fps, baseline=baseline, progress=progress)
    sides = f" (bicubic left, {sr.attrs.get('satsr_model')} right)" if target.video_side_by_side else ""
    click.echo(f"video: {out}{sides}")
