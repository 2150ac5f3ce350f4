"""STAC in and out: scenes from a catalog, a catalog from a folder, and the STAC items of SR products.

* :func:`read_catalog` reads a static STAC catalog or collection (all items, recursively), an ItemCollection
  (what a STAC API search returns, saved to disk) or a single item, and turns each item into a :class:`Scene`:
  the hrefs of the assets that form its time stack (one asset: a still; several: video frames or a
  multi-date series), chosen by asset key or media type.
* :func:`init_catalog` builds a catalog from a folder: one item per GeoTIFF, one item per sub-folder of frames,
  with the ``proj`` and ``raster`` extension fields read from the files.
* :func:`product_item` describes a super-resolved product as a STAC item: the source's id plus a suffix, its
  datetime and geometry, a ``derived_from`` link, the new grid (``proj:*``, ``gsd``), ``processing`` fields,
  the model in the ML-Model (``mlm``) extension and a ``file:checksum`` per asset, which
  :func:`verify_product` checks (``satsr batch --resume``).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import json
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pystac
import xarray as xr
from affine import Affine
from pystac.extensions.file import FileExtension
from pystac.extensions.mlm import MLMExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import RasterExtension
from rasterio.crs import CRS
from rasterio.warp import transform_geom

from satsr._folders import check_parent
from satsr._version import package_version
from satsr.errors import CatalogError, InputError, SatsrWarning
from satsr.io import open_stack
from satsr.io.coords import nodata_of
from satsr.io.read import read_meta

if TYPE_CHECKING:
    from satsr.geo import Grid

__all__ = [
    "CatalogError", "Scene", "read_catalog", "init_catalog", "product_item", "verify_product", "file_checksum",
    "PROCESSING_SCHEMA", "SR_SUFFIX",
]

PROCESSING_SCHEMA = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
#: Output item id = source id + this, formatted with the scale: ``scene-1`` -> ``scene-1_sr_x4``.
SR_SUFFIX = "_sr_x{scale}"
# Media types of assets that are rasters satsr can read (checked by prefix, so "; profile=..." variants match).
_RASTER_MEDIA = ("image/tiff", "image/png", "image/jp2", "image/jpeg", "application/x-hdf")
_RASTER_SUFFIXES = {".tif", ".tiff", ".png", ".jp2", ".jpg", ".jpeg"}
_NOT_DATA_ROLES = {"thumbnail", "overview", "visual-preview", "metadata"}


@dataclass(frozen=True)
class Scene:
    """One unit of work: an item and the raster assets that form its time stack.

    Attributes
    ----------
    id : str
        The item's id.
    hrefs : tuple of str
        Absolute paths (or URLs) of the selected assets, in the item's asset order (the time order).
    asset_keys : tuple of str
        Their keys in the item.
    item : dict
        The source item as JSON (``pystac.Item.to_dict``).
    item_href : str or None
        Where the item was read from (the ``derived_from`` link of products).
    problem : str or None
        Why the scene cannot be processed (no matching asset...), or ``None``; :meth:`open` raises it.
    """

    id: str
    hrefs: tuple[str, ...]
    asset_keys: tuple[str, ...]
    item: dict[str, Any] = field(repr=False)
    item_href: str | None = None
    problem: str | None = None

    def georeferencing(self) -> tuple[CRS | None, Affine | None]:
        """CRS and transform from the item's ``proj:*`` fields, for frames that carry none (PNG video)."""
        props = self.item.get("properties", {})
        code, wkt = props.get("proj:code") or props.get("proj:epsg"), props.get("proj:wkt2")
        crs = None
        if isinstance(code, int) or (isinstance(code, str) and code.isdigit()):
            code = f"EPSG:{code}"
        try:
            crs = CRS.from_user_input(code or wkt) if (code or wkt) else None
        except Exception as err:  # rasterio raises CRSError; any failure is the item's fault
            raise CatalogError(f"item {self.id}: unusable proj:code/proj:wkt2 {code or wkt!r} ({err})") from err
        tr = props.get("proj:transform")
        transform = Affine(*tr[:6]) if isinstance(tr, list) and len(tr) in (6, 9) else None
        return crs, transform

    def open(self, chunks: int = 1024) -> xr.DataArray:
        """The scene as a ``(time, band, y, x)`` stack (:func:`satsr.open_stack`).

        Frames without georeferencing take the item's ``proj:code`` and ``proj:transform``.

        Raises
        ------
        CatalogError
            The scene has a ``problem`` (no matching asset) or unusable ``proj`` fields.
        InputError, GeoreferenceError, GridMismatchError
            As :func:`satsr.open_stack`, naming the asset file.
        """
        if self.problem:
            raise CatalogError(f"item {self.id}: {self.problem}")
        crs, transform = self.georeferencing()
        try:
            return open_stack(list(self.hrefs), crs=crs, transform=transform, chunks=chunks)
        except InputError as err:
            if crs is None and transform is None:
                raise
            # The item's proj fields disagree with georeferenced files: the files win.
            try:
                return open_stack(list(self.hrefs), chunks=chunks)
            except InputError:
                raise err from None


# -- reading ---------------------------------------------------------------------------------------------------
def _load_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise CatalogError(f"{path}: no such catalog file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CatalogError(f"{path}: not a readable JSON file ({err})") from err
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: not a STAC document (a JSON object is expected)")
    return data


def _is_raster(asset: Mapping[str, Any]) -> bool:
    media = str(asset.get("type") or "").lower()
    if media:
        return media.startswith(_RASTER_MEDIA)
    return Path(str(asset.get("href", "")).split("?")[0]).suffix.lower() in _RASTER_SUFFIXES


def _select(
    item: Mapping[str, Any], assets: Sequence[str] | None, media_type: str | None
) -> tuple[list[str], str | None]:
    """Keys of the assets forming the stack, in item order, and a problem when there are none."""
    all_assets: dict[str, Any] = item.get("assets") or {}
    if assets:
        keys = [k for k in all_assets if any(fnmatch.fnmatchcase(k, pat) for pat in assets)]
        why = f"no asset matches {list(assets)} (it has {list(all_assets)})"
    elif media_type:
        keys = [k for k, a in all_assets.items() if str(a.get("type") or "").lower().startswith(media_type.lower())]
        why = f"no asset of media type {media_type!r} (it has {list(all_assets)})"
    else:
        rasters = {k: a for k, a in all_assets.items()
                   if _is_raster(a) and not set(a.get("roles") or []) & _NOT_DATA_ROLES}
        data = [k for k, a in rasters.items() if "data" in (a.get("roles") or [])]
        keys = data or list(rasters)
        why = f"no raster data asset (it has {list(all_assets)}); choose them by key or media type"
    return keys, (None if keys else why)


def _absolute(href: str, base: str | None) -> str:
    if re.match(r"^[a-z][a-z0-9+.-]*://", href, re.I) or os.path.isabs(href) or base is None:
        return href
    return os.path.normpath(os.path.join(os.path.dirname(base), href))


def _scene(item: pystac.Item, base: str | None, assets: Sequence[str] | None, media_type: str | None) -> Scene:
    d = item.to_dict(include_self_link=False, transform_hrefs=False)
    keys, problem = _select(d, assets, media_type)
    item_href = item.get_self_href() or base
    hrefs = tuple(_absolute(str(d["assets"][k]["href"]), item_href) for k in keys)
    return Scene(item.id, hrefs, tuple(keys), d, item_href, problem)


def read_catalog(
    source: str | os.PathLike[str], *, assets: Sequence[str] | None = None, media_type: str | None = None
) -> list[Scene]:
    """The scenes of a STAC catalog, collection, ItemCollection or item.

    Parameters
    ----------
    source : str or path
        A ``catalog.json`` / ``collection.json`` (its items are gathered recursively, child catalogs included),
        an ItemCollection (``"type": "FeatureCollection"``, as a STAC API search returns it) or one item.
    assets : sequence of str, optional
        Asset keys (shell patterns allowed, e.g. ``"frame_*"``) whose assets form each scene's stack, in the
        item's order. Default: the assets with the ``data`` role, else every raster asset (GeoTIFF, PNG, JPEG
        2000...) that is not a thumbnail or overview.
    media_type : str, optional
        Pick assets by media type instead (a prefix: ``"image/tiff"`` matches every GeoTIFF flavour).

    Returns
    -------
    list of Scene
        In catalog order. An item without a matching asset is still returned, with its ``problem`` set, so
        that a batch reports it as failed rather than stopping.

    Raises
    ------
    CatalogError
        The file is missing, not JSON, not STAC, holds no item, or two items share an id.
    """
    path = os.fspath(source)
    data = _load_json(path)
    kind = data.get("type")
    try:
        if kind == "FeatureCollection":
            items = list(pystac.ItemCollection.from_dict(data, preserve_dict=False))
        elif kind == "Feature":
            items = [pystac.Item.from_file(path)]
        elif kind in ("Catalog", "Collection"):
            root = pystac.read_file(path)
            if not isinstance(root, pystac.Catalog):  # a Collection is one too; pystac read what "type" said
                raise CatalogError(f"{path}: not a STAC catalog or collection (type {kind!r})")
            items = list(root.get_items(recursive=True))
        else:
            raise CatalogError(f"{path}: not a STAC catalog, collection, item or ItemCollection (type {kind!r})")
    except CatalogError:
        raise
    except Exception as err:  # pystac raises many kinds (STACTypeError, KeyError, OSError for a missing child)
        raise CatalogError(f"{path}: cannot read the STAC {kind or 'document'} ({type(err).__name__}: {err})") from err
    if not items:
        raise CatalogError(f"{path}: the {kind} holds no item")
    scenes = [_scene(it, path, assets, media_type) for it in items]
    seen: set[str] = set()
    for s in scenes:
        if s.id in seen:
            raise CatalogError(f"{path}: two items share the id {s.id!r}; their outputs would collide")
        seen.add(s.id)
    return scenes


# -- building a catalog from a folder ----------------------------------------------------------------------------
def _item_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "scene"


def _geometry(crs: CRS | None, transform: Affine, shape: tuple[int, int]) -> tuple[dict | None, list | None]:
    if crs is None:
        return None, None
    h, w = shape
    # Counter-clockwise for a north-up grid, as GeoJSON (RFC 7946) wants exterior rings.
    ring = [transform @ xy for xy in ((0, 0), (0, h), (w, h), (w, 0), (0, 0))]
    geom = transform_geom(crs, "EPSG:4326", {"type": "Polygon", "coordinates": [ring]}, precision=7)
    xs = [p[0] for p in geom["coordinates"][0]]
    ys = [p[1] for p in geom["coordinates"][0]]
    return dict(geom), [min(xs), min(ys), max(xs), max(ys)]


def _proj_fields(crs: CRS | None, transform: Affine, shape: tuple[int, int]) -> dict[str, Any]:
    out: dict[str, Any] = {"proj:shape": [int(shape[0]), int(shape[1])], "proj:transform": list(transform)[:6]}
    if crs is not None:
        epsg = crs.to_epsg()
        if epsg:
            out["proj:code"] = f"EPSG:{epsg}"
        else:
            out["proj:code"] = None
            out["proj:wkt2"] = crs.to_wkt()
    return out


def _gsd(crs: CRS | None, transform: Affine) -> float | None:
    if crs is None or not crs.is_projected:
        return None
    from pyproj import CRS as ProjCRS

    axis = ProjCRS.from_wkt(crs.to_wkt()).axis_info
    return float(abs(transform.a) * (axis[0].unit_conversion_factor if axis else 1.0))


def _media_type(path: str) -> str:
    suffix = Path(path).suffix.lower()
    return {".tif": pystac.MediaType.GEOTIFF, ".tiff": pystac.MediaType.GEOTIFF, ".png": pystac.MediaType.PNG,
            ".jp2": pystac.MediaType.JPEG2000, ".jpg": pystac.MediaType.JPEG,
            ".jpeg": pystac.MediaType.JPEG}.get(suffix, "application/octet-stream")


def _raster_bands(meta: Any) -> list[dict[str, Any]]:
    band = {"data_type": meta.dtype}
    if meta.nodata is not None:
        band["nodata"] = meta.nodata
    if meta.crs is not None and meta.crs.is_projected:
        band["spatial_resolution"] = float(abs(meta.transform.a))
    return [dict(band) for _ in range(meta.count)]


def _folder_item(name: str, files: list[Path], crs: Any, transform: Any) -> pystac.Item:
    metas = [read_meta(str(f)) for f in files]
    first = metas[0]
    georef = first.crs is not None
    icrs = first.crs if georef else (CRS.from_user_input(crs) if crs is not None else None)
    itr = first.transform if georef else (Affine(*transform[:6]) if transform is not None else first.transform)
    geom, bbox = _geometry(icrs, itr, first.shape)
    times = [m.time for m in metas if m.time is not None]
    if times:
        start = dt.datetime.fromisoformat(str(min(times))[:26]).replace(tzinfo=dt.timezone.utc)
        end = dt.datetime.fromisoformat(str(max(times))[:26]).replace(tzinfo=dt.timezone.utc)
        when_from = "TIFFTAG_DATETIME"
    else:
        mtime = dt.datetime.fromtimestamp(min(f.stat().st_mtime for f in files), tz=dt.timezone.utc)
        start = end = mtime.replace(microsecond=0)
        when_from = "file modification time"
    props: dict[str, Any] = {
        "satsr:datetime_source": when_from,
        **_proj_fields(icrs, itr, first.shape),
    }
    if len(files) > 1:
        props["start_datetime"], props["end_datetime"] = start.isoformat(), end.isoformat()
    gsd = _gsd(icrs, itr)
    if gsd:
        props["gsd"] = gsd
    if not georef and icrs is None:
        props["satsr:note"] = ("frames carry no georeferencing: set proj:code and proj:transform (or run "
                               "'satsr catalog init' with --crs and --transform) before 'satsr batch'")
    item = pystac.Item(_item_id(name), geom, bbox, start, props)
    item.stac_extensions.append(ProjectionExtension.get_schema_uri())
    item.stac_extensions.append(RasterExtension.get_schema_uri())
    single = len(files) == 1
    for i, (f, m) in enumerate(zip(files, metas)):
        key = "data" if single else f"frame_{i:04d}"
        extra: dict[str, Any] = {"raster:bands": _raster_bands(m)}
        if m.time is not None:
            extra["datetime"] = str(m.time)[:19] + "Z"
        item.add_asset(key, pystac.Asset(str(f.resolve()), title=f.name, media_type=_media_type(str(f)),
                                         roles=["data"], extra_fields=extra))
    return item


def init_catalog(
    folder: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    catalog_id: str | None = None,
    description: str | None = None,
    crs: Any = None,
    transform: Sequence[float] | None = None,
) -> pystac.Catalog:
    """Build a static STAC catalog over a folder of scenes and write it.

    Each raster file directly in ``folder`` becomes an item with one ``data`` asset; each sub-folder holding
    rasters becomes an item whose ``frame_0000``, ``frame_0001``... assets are its frames sorted by name (a
    video clip or a multi-date series). Items get ``proj:code`` (or ``proj:wkt2``), ``proj:shape``,
    ``proj:transform``, ``gsd``, per-asset ``raster:bands`` (data type, nodata, resolution), a WGS 84 footprint
    and bbox, and a datetime from ``TIFFTAG_DATETIME`` (else the file modification time, said in
    ``satsr:datetime_source``).

    Parameters
    ----------
    folder : str or path
        Folder of GeoTIFFs and/or frame folders.
    out : str or path
        The root ``catalog.json`` to write; items go to ``<out folder>/<item id>/<item id>.json`` with hrefs
        relative to them (the catalog can move with the data if both move together).
    catalog_id, description : str, optional
        Root catalog id (default the folder name) and description.
    crs, transform : optional
        Georeferencing for scenes whose frames carry none (PNG video frames), written as their ``proj:*``.

    Returns
    -------
    pystac.Catalog

    Raises
    ------
    CatalogError
        ``folder`` does not exist or holds no readable raster; ``out`` is not a ``.json`` path in an existing
        folder.

    Warns
    -----
    SatsrWarning
        For each scene skipped because a file cannot be read (named, with the reason).
    """
    root = Path(folder)
    target = Path(out)
    if not root.is_dir():
        raise CatalogError(f"{root}: not a folder")
    if target.suffix.lower() != ".json":
        raise CatalogError(f"{target}: the catalog must be a .json file (e.g. catalog.json)")
    check_parent(target, error=CatalogError)  # created when the catalog is written
    scenes: list[tuple[str, list[Path]]] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix.lower() in {".tif", ".tiff"}:
            scenes.append((entry.stem, [entry]))
        elif entry.is_dir():
            frames = sorted(p for p in entry.iterdir()
                            if p.is_file() and p.suffix.lower() in _RASTER_SUFFIXES and not p.name.startswith("."))
            if frames:
                scenes.append((entry.name, frames))
    if not scenes:
        raise CatalogError(f"{root}: no GeoTIFF and no folder of frames found")
    cat = pystac.Catalog(catalog_id or _item_id(root.resolve().name),
                         description or f"Scenes in {root.resolve().name}, catalogued by satsr {package_version()}")
    ids: set[str] = set()
    skipped = []
    for name, files in scenes:
        try:
            item = _folder_item(name, files, crs, transform)
        except InputError as err:  # one unreadable scene should not cost the user the whole catalog
            warnings.warn(f"skipped {name}: {err}", SatsrWarning, stacklevel=2)
            skipped.append(name)
            continue
        if item.id in ids:
            raise CatalogError(f"{root}: two scenes map to the item id {item.id!r}; rename one")
        ids.add(item.id)
        cat.add_item(item)
    if not ids:
        raise CatalogError(f"{root}: no readable scene ({len(skipped)} skipped)")
    cat.normalize_hrefs(str(target.parent.resolve()))
    cat.set_self_href(str(target.resolve()))
    cat.make_all_asset_hrefs_relative()
    cat.save(pystac.CatalogType.SELF_CONTAINED)
    return cat


# -- products --------------------------------------------------------------------------------------------------
def file_checksum(path: str | os.PathLike[str]) -> str:
    """SHA2-256 of a file as a multihash hex string (``1220`` + digest), the STAC ``file:checksum`` form."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "1220" + h.hexdigest()


def product_item(
    scene: Scene,
    files: Sequence[Path],
    sr: xr.DataArray,
    *,
    model: Mapping[str, Any],
    item_path: Path,
    when: dt.datetime | None = None,
) -> pystac.Item:
    """The STAC item of a super-resolved product.

    Parameters
    ----------
    scene : Scene
        The source.
    files : sequence of path
        The product files (COGs), in time order.
    sr : xarray.DataArray
        The product stack as :func:`satsr.upscale` returned it (grid and ``satsr_*`` attributes).
    model : mapping
        ``name``, ``scale``, ``frames_in``, ``bands``, ``parameters``, ``description``, ``pretrained`` (a str
        or None), ``device``, ``options``: what ran.
    item_path : path
        Where the item JSON will be written (asset hrefs are made relative to it).
    when : datetime, optional
        Processing time (default now, UTC).

    Returns
    -------
    pystac.Item
    """
    from satsr.geo import Grid

    scale = int(model["scale"])
    src = pystac.Item.from_dict(scene.item, preserve_dict=True)
    when = (when or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    # Compute every field first, then construct the item from them.
    props = _product_properties(scene, src, Grid.from_xarray(sr), scale, model["name"], when)
    bands = _band_fields(sr)
    data_assets = _data_assets(files, item_path, bands)
    model_asset = _model_asset(model, item_path)

    item = pystac.Item(scene.id + SR_SUFFIX.format(scale=scale), src.geometry, src.bbox, src.datetime, props)
    item.stac_extensions = [ProjectionExtension.get_schema_uri(), FileExtension.get_schema_uri(), PROCESSING_SCHEMA]
    MLMExtension.add_to(item)
    if scene.item_href:
        item.add_link(pystac.Link("derived_from", scene.item_href, media_type=pystac.MediaType.JSON,
                                  title=f"source item {scene.id}"))
    for key, asset in data_assets.items():
        item.add_asset(key, asset)
    if model_asset is not None:
        item.add_asset("model", model_asset)
    item.properties["bands"] = bands
    item.properties.update(_mlm_fields(model, [b["name"] for b in bands], scale))
    return item


def _relative_href(path: str | os.PathLike[str], item_path: str | os.PathLike[str]) -> str:
    return os.path.relpath(Path(path).resolve(), Path(item_path).resolve().parent)


def _product_properties(scene: Scene, src: pystac.Item, grid: Grid, scale: int, model_name: object,
                        when: dt.datetime) -> dict[str, Any]:
    """The source's properties for the new grid (``proj:*``, ``gsd``), with the ``processing`` and ``satsr`` fields.

    The source's own ``proj``, ``satsr``, ``mlm`` and ``processing`` fields describe it, not the product: dropped.
    """
    props = {k: v for k, v in src.properties.items() if not k.startswith(("proj:", "satsr:", "mlm:", "processing:"))}
    props.update(_proj_fields(grid.crs, grid.transform, grid.shape))
    gsd = _gsd(grid.crs, grid.transform)
    if gsd:
        props["gsd"] = gsd
    elif "gsd" in props:
        props["gsd"] = float(props["gsd"]) / scale
    version = package_version()
    props.update({
        "processing:software": {"satsr": version},
        "processing:datetime": when.isoformat().replace("+00:00", "Z"),
        "processing:lineage": (f"super-resolved x{scale} by satsr {version} with the model {model_name!r}"
                               f" from the item {scene.id!r} (assets {', '.join(scene.asset_keys)})"),
        "satsr:source_id": scene.id,
        "satsr:scale": scale,
    })
    return props


def _band_fields(sr: xr.DataArray) -> list[dict[str, Any]]:
    """STAC 1.1 common ``bands`` (what ``mlm:input``'s band names refer to): name, data type and nodata."""
    n_bands = int(sr.sizes["band"])
    descriptions = sr["description"].values.tolist() if "description" in sr.coords else [""] * n_bands
    names = [str(d) or f"b{b}" for b, d in zip(sr["band"].values.tolist(), descriptions)]
    nodata = nodata_of(sr)
    return [{"name": n, "data_type": str(sr.dtype), **({"nodata": nodata} if nodata is not None else {})}
            for n in names]


def _data_assets(files: Sequence[Path], item_path: Path, bands: list[dict[str, Any]]) -> dict[str, pystac.Asset]:
    """One COG asset per file (``data``, or ``frame_0000``... for several), with its checksum, size and bands.

    The bands are on the assets as well as the item: STAC 1.1 allows item-level bands (which ``mlm:input``'s
    band names need) only when the assets describe theirs.
    """
    keys = ["data"] if len(files) == 1 else [f"frame_{i:04d}" for i in range(len(files))]
    return {key: pystac.Asset(
        _relative_href(f, item_path), title=Path(f).name, media_type=pystac.MediaType.COG, roles=["data"],
        extra_fields={"file:checksum": file_checksum(f), "file:size": Path(f).stat().st_size, "bands": bands},
    ) for key, f in zip(keys, files)}


def _model_asset(model: Mapping[str, Any], item_path: Path) -> pystac.Asset | None:
    """The model as run (``model["artifact"]``: safetensors weights or a JSON description), if it was saved."""
    if not model.get("artifact"):
        return None
    art = Path(model["artifact"])
    weights = art.suffix == ".safetensors"
    return pystac.Asset(
        _relative_href(art, item_path), title=f"the model as run: {art.name}",
        media_type="application/octet-stream" if weights else pystac.MediaType.JSON, roles=["mlm:model"],
        extra_fields={"mlm:artifact_type": "safetensors (satsr.models.save)" if weights
                      else "satsr model description (JSON)",
                      "file:checksum": file_checksum(art), "file:size": art.stat().st_size},
    )


def _mlm_fields(model: Mapping[str, Any], names: list[str], scale: int) -> dict[str, Any]:
    """The ML-Model extension's fields: the model that ran, its input (``names`` bands) and its output."""
    n_bands, frames = len(names), int(model.get("frames_in") or 1)
    in_shape = [-1, frames, n_bands, -1, -1] if frames > 1 else [-1, n_bands, -1, -1]
    in_dims = ["batch", "time", "bands", "height", "width"] if frames > 1 else ["batch", "bands", "height", "width"]
    fields: dict[str, Any] = {
        "mlm:name": str(model["name"]),
        "mlm:architecture": str(model.get("architecture") or model["name"]),
        "mlm:tasks": ["super-resolution"],
        "mlm:framework": "pytorch",
        "mlm:framework_version": str(model.get("framework_version") or ""),
        "mlm:pretrained": bool(model.get("pretrained")),
        "mlm:accelerator": "cuda" if str(model.get("device", "")).startswith("cuda") else "amd64",
        "mlm:input": [{
            "name": "frames" if frames > 1 else "image",
            "bands": names,
            "input": {"shape": in_shape, "dim_order": in_dims, "data_type": "float32"},
            "description": f"{frames} frame(s) of {n_bands} bands scaled to 0..1 (value range of the source)",
        }],
        "mlm:output": [{
            "name": "super-resolution",
            "tasks": ["super-resolution"],
            "result": {"shape": [-1, n_bands, -1, -1], "dim_order": ["batch", "bands", "height", "width"],
                       "data_type": "float32"},
            "description": f"the centre frame, {scale} times larger in height and width",
        }],
    }
    if model.get("parameters") is not None:
        fields["mlm:total_parameters"] = int(model["parameters"])
    if model.get("pretrained"):
        fields["mlm:pretrained_source"] = str(model["pretrained"])
    if not fields["mlm:framework_version"]:
        del fields["mlm:framework_version"]
    if model.get("options"):
        fields["satsr:model_options"] = dict(model["options"])
    if model.get("precision"):
        fields["satsr:precision"] = str(model["precision"])  # the autocast dtype the forwards ran in
    if model.get("self_ensemble"):
        fields["satsr:self_ensemble"] = int(model["self_ensemble"])  # outputs averaged over that many transforms
    return fields


def verify_product(item_path: str | os.PathLike[str]) -> tuple[bool, str]:
    """Whether a product item and every file it lists are complete: ``(ok, why not)``.

    Each asset's file must exist with the recorded ``file:size`` and ``file:checksum`` (SHA2-256 multihash).
    """
    path = Path(item_path)
    if not path.is_file():
        return False, f"{path}: no product item"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        assets = data["assets"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return False, f"{path}: unreadable product item ({err})"
    if not assets:
        return False, f"{path}: lists no asset"
    for key, a in assets.items():
        f = path.parent / str(a.get("href", ""))
        if not f.is_file():
            return False, f"{path}: asset {key} file {f} is missing"
        if a.get("file:size") is not None and f.stat().st_size != a["file:size"]:
            return False, f"{path}: asset {key} file {f} has {f.stat().st_size} bytes, {a['file:size']} recorded"
        if a.get("file:checksum") != file_checksum(f):
            return False, f"{path}: asset {key} file {f} does not match its recorded checksum"
    return True, ""
