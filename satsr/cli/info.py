"""``satsr models`` and ``satsr info``: what satsr can run, and what a raster or video file holds."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from satsr._defaults import DEFAULT_MODEL
from satsr.cli.app import main

__all__ = ["info", "models"]


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



@main.command()
def models() -> None:
    """List the registered models: name, scale(s), frames in, bands, halo, weights and description.

    weights: "shipped" (trained weights come with satsr), "none needed" (an interpolator), or "--pretrained"
    (a network satsr ships no weights for: give the authors' checkpoint with --pretrained, or --random-weights to
    run its random initialisation on purpose; with neither, upscale stops with an error).
    """
    from satsr.models import get_spec, list_models
    from satsr.models.registry import needs_weights

    rows = [["name", "scale", "frames_in", "bands", "halo", "weights", "description"]]
    for name in list_models():
        spec = get_spec(name)
        if any(w.file for w in spec.weights):
            weights = "shipped"
        else:  # the rule satsr.models.create applies: a network with parameters needs weights
            weights = "--pretrained" if needs_weights(spec) else "none needed"
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

