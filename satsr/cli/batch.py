"""``satsr catalog init`` and ``satsr batch``: build a STAC catalog of scenes, super-resolve every item of one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from satsr._defaults import DEFAULT_MODEL
from satsr.cli.app import main, one_line
from satsr.cli.params import (
    LIST_LIMIT,
    RANDOM_WEIGHTS_HELP,
    CRSType,
    TransformType,
    parse_bands,
    parse_options,
    pick_weights,
    precision_option,
    self_ensemble_option,
)
from satsr.errors import SatsrWarning

if TYPE_CHECKING:
    from satsr.engine import Precision

__all__ = ["batch", "catalog", "catalog_init"]


@main.group()
def catalog() -> None:
    """STAC catalogs of scenes: build one from a folder."""


@catalog.command("init")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The root catalog.json to write; items go to <its folder>/<item id>/<item id>.json.")
@click.option("--id", "catalog_id", default=None, help="Catalog id (default the folder name).")
@click.option("--description", default=None, help="Catalog description.")
@click.option("--crs", type=CRSType(), default=None,
              help="CRS for scenes whose frames carry no georeferencing (PNG video frames).")
@click.option("--transform", type=TransformType(), default=None,
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
        click.echo(f"warning: {one_line(w.message)}", err=True)
    items = list(cat.get_items())
    click.echo(f"{output}: {len(items)} item{'s' if len(items) != 1 else ''}")
    for item in items[:LIST_LIMIT]:
        click.echo(f"  {item.id}: {len(item.assets)} asset{'s' if len(item.assets) != 1 else ''}")
    if len(items) > LIST_LIMIT:
        click.echo(f"  ... ({len(items) - LIST_LIMIT} more)")


@main.command()
@click.argument("catalog_path", metavar="CATALOG", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Output folder: one folder per product (COGs + STAC item), catalog.json, run-report.json.")
@click.option("-m", "--model", default=DEFAULT_MODEL, show_default=True, help="Registered model name.")
@click.option("--pretrained", type=click.Path(dir_okay=False), default=None, help="Checkpoint for the model.")
@click.option("--random-weights", is_flag=True, help=RANDOM_WEIGHTS_HELP)
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
@precision_option
@self_ensemble_option
@click.option("--compress", default="deflate", show_default=True, help="COG codec.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@click.option("--dry-run", is_flag=True,
              help="Print the plan (each scene's output, forwards and blocks; bytes; memory per worker; the time on "
              "1, 2, 4 workers from a short calibration on the first scene) and stop; nothing is written.")
def batch(catalog_path: Path, output: Path, model: str, pretrained: str | None, random_weights: bool,
          options: tuple[str, ...],
          scale: int | None, bands: str | None, value_range: tuple[float, float] | None, assets: str | None,
          media_type: str | None, workers: int | None, scheduler: str | None, resume: bool, retries: int,
          tile: int, device: str, precision: Precision, self_ensemble: bool, compress: str, no_progress: bool,
          dry_run: bool) -> None:
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

    band_list = parse_bands(bands)
    cfg = JobConfig(model=model, scale=scale, pretrained=pick_weights(pretrained, random_weights),
                    model_options=parse_options(options) or {},
                    bands=tuple(band_list) if band_list else None, value_range=value_range, tile=tile,
                    device=device, precision=precision, self_ensemble=self_ensemble, compress=compress)
    asset_keys = [a for a in assets.split(",") if a] if assets else None
    if dry_run:
        from satsr.batch import plan_batch

        plan = plan_batch(catalog_path, output, cfg, resume=resume, assets=asset_keys, media_type=media_type)
        click.echo(plan.table(workers=tuple(sorted({1, 2, 4, workers or 1}))))
        return
    report = run_batch(catalog_path, output, cfg, workers=workers, scheduler=scheduler, resume=resume,
                       retries=retries, assets=asset_keys, media_type=media_type, progress=not no_progress)
    c = report.counts()
    click.echo(f"{len(report.results)} items: {c['done']} done, {c['skipped']} already complete, "
               f"{c['failed']} failed in {report.seconds:.1f} s")
    for r in report.failed:
        click.echo(f"  failed: {r.id} ({r.attempts} attempt{'s' if r.attempts != 1 else ''}): {r.error}")
    click.echo(f"catalog: {report.catalog}")
    click.echo(f"report: {Path(report.outdir) / 'run-report.json'}")
    if report.failed:
        sys.exit(1)
