"""Shared fixtures: real GeoTIFFs written to tmp_path, and the shared real-data folder."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from satsr.testing import UTM_30M, write_geotiff


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test`` runs ``-n WORKERS``), give each worker its own share of the cores.

    Without it every worker's torch and dask would use all the cores, and the workers would fight over them. A
    worker pinned with ``sched_setaffinity`` sees only its share everywhere satsr asks (``usable_cores``), and so
    do the processes it starts (the CLI, notebook kernels, dask workers).
    """
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if not (worker.startswith("gw") and count.isdigit() and hasattr(os, "sched_setaffinity")):
        return
    cores, n = sorted(os.sched_getaffinity(0)), int(count)
    if n < 2 or len(cores) < n:
        return
    share = cores[int(worker[2:]) % n::n]
    os.sched_setaffinity(0, share)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(len(share))
    if "torch" in sys.modules:  # imported before this hook: its pool was sized for every core
        sys.modules["torch"].set_num_threads(len(share))


SHARED_DATA = Path(os.environ.get("SATSR_TEST_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))


def _shared_data() -> Path:
    if SHARED_DATA.is_dir():
        return SHARED_DATA.resolve()
    msg = f"real test data not found at {SHARED_DATA} (set SATSR_TEST_DATA)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(msg + "; CI must have it")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ``../shared/data`` folder: fails in CI when missing, skips elsewhere."""
    return _shared_data()


MakeGeoTiff = Callable[..., Path]


@pytest.fixture
def make_geotiff(tmp_path: Path) -> MakeGeoTiff:
    """Factory writing a real GeoTIFF; returns its path.

    ``make_geotiff(name, data=None, *, shape=(3, 37, 53), dtype="uint16", crs="EPSG:32621",
    transform=Affine(30, 0, 500000, 0, -30, 4200000), nodata=None, descriptions=None, datetime=None, seed=0)``
    """

    def make(
        name: str = "scene.tif",
        data: np.ndarray | None = None,
        *,
        shape: Sequence[int] = (3, 37, 53),
        dtype: str = "uint16",
        crs: str | None = "EPSG:32621",
        transform: Affine | None = UTM_30M,
        nodata: float | None = None,
        descriptions: Sequence[str] | None = None,
        datetime: str | None = None,
        seed: int = 0,
        tiled: bool = False,
    ) -> Path:
        if data is None:
            rng = np.random.default_rng(seed)
            if np.dtype(dtype).kind == "f":
                data = rng.random(shape).astype(dtype)
            else:
                hi = min(np.iinfo(dtype).max, 60000)
                data = rng.integers(1, hi, size=shape).astype(dtype)
        return write_geotiff(
            tmp_path / name, data, crs=crs, transform=transform, nodata=nodata, descriptions=descriptions,
            datetime=datetime, tiled=tiled,
        )

    return make


@pytest.fixture(scope="session")
def seed_keys(shared_data: Path) -> Callable[[str, str], dict[str, tuple[int, ...]]]:
    """``seed_keys(model, prefix)``: the authors' state_dict entries under ``prefix.`` (prefix stripped), with shapes.

    Read from ``../shared/seeds/keys/<model>.state_dict.tsv`` (e.g. ``LGTD_model_final``).
    """
    folder = shared_data.parent / "seeds" / "keys"

    def load(model: str, prefix: str = "") -> dict[str, tuple[int, ...]]:
        out = {}
        for line in (folder / f"{model}.state_dict.tsv").read_text().splitlines():
            if not line or line.startswith("#"):
                continue
            key, shape = line.split("\t")
            if prefix and not key.startswith(prefix + "."):
                continue
            dims = shape.strip("()").replace(" ", "")
            out[key[len(prefix) + 1 :] if prefix else key] = tuple(int(d) for d in dims.split(",") if d)
        return out

    return load


@pytest.fixture(scope="session")
def reference_scene(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """``(truth, lr, ref_path, tmp)`` for reference-based SR: a real Landsat 8 crop (96 x 96 at 30 m, UTM) as the
    truth; its x4 block mean (120 m) as the LR stack; and the truth warped to geographic coordinates (EPSG:4326)
    as the reference GeoTIFF: another CRS and pixel size."""
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    from satsr import open_stack

    tmp = tmp_path_factory.mktemp("ref")
    with rasterio.open(shared_data / "geotiff" / "landsat8_rgb_30m_uint16.tif") as src:
        win = ((600, 696), (600, 696))
        truth = src.read(window=win).astype(np.float32)
        tr = src.window_transform(win)
        crs = src.crs
    lr = truth.reshape(3, 24, 4, 24, 4).mean(axis=(2, 4))
    lr_path = write_geotiff(tmp / "lr.tif", lr.astype(np.float32), crs=crs.to_string(), transform=tr @ Affine.scale(4))
    west, south, east, north = rasterio.transform.array_bounds(96, 96, tr)
    dst_tr, w, h = calculate_default_transform(crs, "EPSG:4326", 96, 96, west, south, east, north)
    ref = np.zeros((3, h, w), np.float32)
    reproject(truth, ref, src_transform=tr, src_crs=crs, dst_transform=dst_tr, dst_crs="EPSG:4326",
              resampling=Resampling.cubic, dst_nodata=0)
    ref_path = write_geotiff(tmp / "ref.tif", ref, crs="EPSG:4326", transform=dst_tr, nodata=0)
    return truth, open_stack(lr_path), ref_path, tmp
