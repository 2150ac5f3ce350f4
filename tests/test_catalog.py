"""satsr.catalog: scenes from STAC documents, catalogs from folders, product items."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from affine import Affine

from satsr.catalog import CatalogError, init_catalog, read_catalog, verify_product
from satsr.errors import SatsrWarning
from satsr.testing import JILIN1_TRANSFORM, write_geotiff

REPO = Path(__file__).resolve().parents[1]
UTM = Affine(30, 0, 738345, 0, -30, -2809995)


def _scenes_folder(tmp_path: Path) -> Path:
    """Two GeoTIFF scenes and one folder of three frames (with acquisition times)."""
    root = tmp_path / "scenes"
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write_geotiff(root / f"{name}.tif", rng.integers(1, 9000, (3, 20, 24)).astype(np.uint16),
                      crs="EPSG:32621", transform=UTM, nodata=0, datetime="2021:05:04 10:00:00")
    for i in range(3):
        write_geotiff(root / "clip" / f"f{i}.tif", rng.integers(1, 255, (3, 16, 16)).astype(np.uint8),
                      crs="EPSG:32621", transform=UTM, datetime=f"2021:05:04 10:00:0{i}")
    (root / "notes.txt").write_text("not a raster")
    return root


def test_init_catalog_items_and_fields(tmp_path):
    root = _scenes_folder(tmp_path)
    out = tmp_path / "cat" / "catalog.json"
    out.parent.mkdir()
    cat = init_catalog(root, out)
    items = {it.id: it for it in cat.get_items()}
    assert sorted(items) == ["a", "b", "clip"]
    a = pystac.Item.from_file(out.parent / "a" / "a.json")
    assert a.properties["proj:code"] == "EPSG:32621" and a.properties["proj:shape"] == [20, 24]
    assert a.properties["proj:transform"] == list(UTM)[:6] and a.properties["gsd"] == 30.0
    assert a.datetime.isoformat() == "2021-05-04T10:00:00+00:00"
    assert a.assets["data"].extra_fields["raster:bands"][0] == {"data_type": "uint16", "nodata": 0.0,
                                                                "spatial_resolution": 30.0}
    assert a.assets["data"].get_absolute_href() == str((root / "a.tif").resolve())
    # WGS 84 footprint around the scene (southern hemisphere, UTM 21), counter-clockwise, bbox around it
    ring = np.array(a.geometry["coordinates"][0])
    area2 = np.sum(ring[:-1, 0] * ring[1:, 1] - ring[1:, 0] * ring[:-1, 1])
    assert area2 > 0 and -56 < a.bbox[0] < a.bbox[2] < -53 and -26 < a.bbox[1] < a.bbox[3] < -25
    clip = items["clip"]
    assert list(clip.assets) == ["frame_0000", "frame_0001", "frame_0002"]
    assert clip.properties["start_datetime"].startswith("2021-05-04T10:00:00")
    assert clip.properties["end_datetime"].startswith("2021-05-04T10:00:02")
    # relative asset hrefs on disk: the catalog moves with the data
    raw = json.loads((out.parent / "clip" / "clip.json").read_text())
    assert raw["assets"]["frame_0000"]["href"] == "../../scenes/clip/f0.tif"


def test_init_catalog_skips_unreadable_scenes_and_checks_arguments(tmp_path):
    root = _scenes_folder(tmp_path)
    (root / "broken.tif").write_bytes((root / "a.tif").read_bytes()[:300])
    with pytest.warns(SatsrWarning, match=r"skipped broken: .*broken\.tif.*not a readable raster"):
        cat = init_catalog(root, tmp_path / "catalog.json")
    assert sorted(it.id for it in cat.get_items()) == ["a", "b", "clip"]
    with pytest.raises(CatalogError, match="not a folder"):
        init_catalog(tmp_path / "nope", tmp_path / "c.json")
    with pytest.raises(CatalogError, match="must be a .json file"):
        init_catalog(root, tmp_path / "c.yaml")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogError, match="no GeoTIFF and no folder of frames"):
        init_catalog(tmp_path / "empty", tmp_path / "c.json")


def test_read_catalog_scenes_and_asset_selection(tmp_path):
    root = _scenes_folder(tmp_path)
    init_catalog(root, tmp_path / "catalog.json")
    scenes = {s.id: s for s in read_catalog(tmp_path / "catalog.json")}
    assert scenes["a"].hrefs == (str((root / "a.tif").resolve()),) and scenes["a"].problem is None
    assert scenes["clip"].asset_keys == ("frame_0000", "frame_0001", "frame_0002")
    stack = scenes["clip"].open()
    assert stack.shape == (3, 3, 16, 16)
    two = {s.id: s for s in read_catalog(tmp_path / "catalog.json", assets=["frame_000[01]"])}
    assert two["clip"].asset_keys == ("frame_0000", "frame_0001")
    assert two["a"].problem and "no asset matches" in two["a"].problem
    with pytest.raises(CatalogError, match=r"item a: no asset matches"):
        two["a"].open()
    tiffs = read_catalog(tmp_path / "catalog.json", media_type="image/tiff")
    assert all(s.problem is None for s in tiffs)


def test_read_item_collection_and_single_item(tmp_path):
    root = _scenes_folder(tmp_path)
    init_catalog(root, tmp_path / "catalog.json")
    items = [pystac.Item.from_file(tmp_path / n / f"{n}.json") for n in ("a", "b")]
    for it in items:
        it.make_asset_hrefs_absolute()
    fc = tmp_path / "search.json"
    fc.write_text(json.dumps(pystac.ItemCollection(items).to_dict()))
    scenes = read_catalog(fc)
    assert [s.id for s in scenes] == ["a", "b"] and scenes[1].open().shape == (1, 3, 20, 24)
    one = read_catalog(tmp_path / "b" / "b.json")
    assert [s.id for s in one] == ["b"] and Path(one[0].hrefs[0]) == (root / "b.tif").resolve()


def test_read_catalog_errors(tmp_path):
    with pytest.raises(CatalogError, match="no such catalog file"):
        read_catalog(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CatalogError, match="not a readable JSON file"):
        read_catalog(bad)
    bad.write_text(json.dumps({"type": "Topology"}))
    with pytest.raises(CatalogError, match="not a STAC catalog, collection, item or ItemCollection"):
        read_catalog(bad)
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(CatalogError, match="holds no item"):
        read_catalog(bad)
    root = _scenes_folder(tmp_path)
    init_catalog(root, tmp_path / "catalog.json")
    a = pystac.Item.from_file(tmp_path / "a" / "a.json")
    a.make_asset_hrefs_absolute()
    twice = tmp_path / "twice.json"
    twice.write_text(json.dumps(pystac.ItemCollection([a, a.clone()]).to_dict()))
    with pytest.raises(CatalogError, match="two items share the id 'a'"):
        read_catalog(twice)


def test_shipped_example_catalogs():
    (landsat,) = read_catalog(REPO / "catalogs" / "landsat8-sample" / "catalog.json")
    assert Path(landsat.hrefs[0]) == (REPO / "satsr" / "data" / "landsat8_sample.tif").resolve()
    assert landsat.open().shape == (1, 3, 512, 512)
    (clip,) = read_catalog(REPO / "catalogs" / "jilin1-video-template" / "catalog.json")
    assert len(clip.hrefs) == 7 and clip.hrefs[3].endswith(os.path.join("shared", "data", "jilin1_airport",
                                                                        "LR4x", "00000003.png"))
    crs, transform = clip.georeferencing()
    assert crs.to_epsg() == 32650 and transform == JILIN1_TRANSFORM


def test_jilin_template_opens_with_the_items_georeferencing(shared_data):
    (clip,) = read_catalog(REPO / "catalogs" / "jilin1-video-template" / "catalog.json")
    if not Path(clip.hrefs[0]).exists():  # data elsewhere (SATSR_TEST_DATA): point the template at it
        frames = sorted((shared_data / "jilin1_airport" / "LR4x").glob("*.png"))
        clip = type(clip)(clip.id, tuple(map(str, frames)), clip.asset_keys, clip.item, clip.item_href)
    stack = clip.open()
    assert stack.shape == (7, 3, 160, 160)
    assert stack.rio.crs.to_epsg() == 32650 and stack.rio.transform() == JILIN1_TRANSFORM


def test_verify_product_detects_missing_and_changed_files(tmp_path):
    f = tmp_path / "p.tif"
    f.write_bytes(b"abc")
    from satsr.catalog import file_checksum

    item = tmp_path / "p.json"
    item.write_text(json.dumps({"assets": {"data": {"href": "p.tif", "file:checksum": file_checksum(f),
                                                    "file:size": 3}}}))
    assert verify_product(item) == (True, "")
    f.write_bytes(b"abd")
    assert "does not match its recorded checksum" in verify_product(item)[1]
    f.write_bytes(b"ab")
    assert "has 2 bytes, 3 recorded" in verify_product(item)[1]
    f.unlink()
    assert "is missing" in verify_product(item)[1]
    assert "no product item" in verify_product(tmp_path / "none.json")[1]
    assert file_checksum(item).startswith("1220") and len(file_checksum(item)) == 68


# -- JSON-schema validation with pystac's validator --------------------------------------------------------------
class _SchemaIO(pystac.stac_io.DefaultStacIO):
    """Reads schema URLs from a local mirror (``SATSR_STAC_SCHEMAS``: ``<root>/<host>/<path>``) when set."""

    root: Path | None = None

    def read_text(self, source, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
        href = str(source)
        if self.root is not None and href.startswith("https://"):
            local = self.root / href[len("https://"):].split("#")[0]
            if local.is_file():
                return local.read_text(encoding="utf-8")
        return super().read_text(source, *args, **kwargs)


@pytest.fixture
def stac_schemas():
    """pystac's validator, with the STAC schemas from SATSR_STAC_SCHEMAS or the network; skips without either."""
    root = os.environ.get("SATSR_STAC_SCHEMAS")
    if root:
        _SchemaIO.root = Path(root)
    else:
        try:
            urllib.request.urlopen("https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json", timeout=5)
        except OSError as err:
            pytest.skip(f"STAC JSON schemas unreachable (no network: {err}) and SATSR_STAC_SCHEMAS unset")
    pytest.importorskip("jsonschema")
    old = pystac.StacIO.default
    pystac.StacIO.set_default(_SchemaIO)
    yield
    pystac.StacIO.set_default(old)  # type: ignore[arg-type]


def test_catalogs_validate(stac_schemas, tmp_path):
    root = _scenes_folder(tmp_path)
    init_catalog(root, tmp_path / "catalog.json")
    assert pystac.read_file(tmp_path / "catalog.json").validate_all() == 3
    for name in ("landsat8-sample", "jilin1-video-template"):
        assert pystac.read_file(REPO / "catalogs" / name / "catalog.json").validate_all() == 1


def test_geotiff_written_by_fixture_is_real(tmp_path):
    """The fixture data are real GeoTIFFs GDAL reads back with their tags (guards the tests above)."""
    root = _scenes_folder(tmp_path)
    with rasterio.open(root / "a.tif") as src:
        assert src.crs.to_epsg() == 32621 and src.tags()["TIFFTAG_DATETIME"] == "2021:05:04 10:00:00"
