"""satsr.batch and 'satsr batch': scene catalogs through dask.distributed, resumable, failures reported."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rasterio
from click.testing import CliRunner
from rasterio.windows import Window

import satsr
from satsr.batch import JobConfig, plan_batch, run_batch
from satsr.catalog import init_catalog, read_catalog, verify_product
from satsr.cli import main

CORNERS = [(600, 600), (900, 900), (1200, 500), (300, 1400)]


def _crop(src: rasterio.DatasetReader, path: Path, row: int, col: int, h: int, w: int, when: str) -> None:
    win = Window(col, row, w, h)
    profile = {**src.profile, "width": w, "height": h, "transform": src.window_transform(win), "tiled": False,
               "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(src.read(window=win))
        dst.update_tags(TIFFTAG_DATETIME=when)


def _catalog(shared_data: Path, root: Path, size: tuple[int, int] = (40, 48), corrupt: bool = True) -> Path:
    """Four small real Landsat 8 scenes in a catalog; the last one truncated after cataloguing."""
    scenes = root / "scenes"
    scenes.mkdir(parents=True)
    with rasterio.open(shared_data / "geotiff" / "landsat8_rgb_30m_uint16.tif") as src:
        for i, (r, c) in enumerate(CORNERS):
            _crop(src, scenes / f"scene{i}.tif", r, c, *size, f"2021:0{i + 1}:15 10:30:00")
    cat = root / "catalog.json"
    init_catalog(scenes, cat)
    if corrupt:
        data = (scenes / "scene3.tif").read_bytes()
        (scenes / "scene3.tif").write_bytes(data[: len(data) // 2])
    return cat


def _products(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.glob("*_sr_x*/**/*.tif"))}


@pytest.mark.slow
def test_local_cluster_matches_single_process_and_reports_the_corrupt_item(shared_data, tmp_path):
    cat = _catalog(shared_data, tmp_path)
    cfg = JobConfig(model="bicubic", scale=2, device="cpu")
    one = run_batch(cat, tmp_path / "one", cfg, workers=0, progress=False)
    two = run_batch(cat, tmp_path / "two", cfg, workers=2, progress=False)
    for report in (one, two):
        assert report.counts() == {"done": 3, "skipped": 0, "failed": 1}
        (bad,) = report.failed
        assert bad.id == "scene3" and "scene3.tif" in bad.error and "not a readable raster" in bad.error
        assert bad.attempts == 2  # retried once (the default)
    assert {r.worker for r in two.results if r.status == "done"} <= {0, 1, "0", "1"}
    # Byte-identical products, whichever way they ran, and identical to upscale + to_cog by hand.
    a, b = _products(tmp_path / "one"), _products(tmp_path / "two")
    assert sorted(a) == [f"scene{i}_sr_x2/scene{i}_sr_x2.tif" for i in range(3)] and a == b
    hand = tmp_path / "hand.tif"
    satsr.to_cog(satsr.upscale(satsr.open_stack(tmp_path / "scenes" / "scene1.tif"), "bicubic", scale=2,
                               device="cpu"), hand)
    assert hand.read_bytes() == a["scene1_sr_x2/scene1_sr_x2.tif"]
    # The report and the output catalog.
    rep = json.loads((tmp_path / "two" / "run-report.json").read_text())
    assert rep["counts"] == {"done": 3, "skipped": 0, "failed": 1} and rep["workers"] == 2
    assert [i["status"] for i in rep["items"]] == ["done", "done", "done", "failed"]
    out_scenes = read_catalog(tmp_path / "two" / "catalog.json")
    assert [s.id for s in out_scenes] == ["scene0_sr_x2", "scene1_sr_x2", "scene2_sr_x2"]
    assert out_scenes[0].open().shape == (1, 3, 80, 96)


@pytest.mark.slow
def test_product_items_describe_the_output(shared_data, tmp_path):
    cat = _catalog(shared_data, tmp_path, corrupt=False)
    run_batch(cat, tmp_path / "out", JobConfig(model="bicubic", scale=2, device="cpu"), workers=0, progress=False)
    src = json.loads((tmp_path / "scenes" / "scene0" / "scene0.json").read_text()) \
        if (tmp_path / "scenes" / "scene0").exists() else json.loads((tmp_path / "scene0" / "scene0.json").read_text())
    item_path = tmp_path / "out" / "scene0_sr_x2" / "scene0_sr_x2.json"
    item = json.loads(item_path.read_text())
    p = item["properties"]
    assert item["id"] == "scene0_sr_x2" and p["datetime"] == src["properties"]["datetime"]
    assert item["geometry"] == src["geometry"] and item["bbox"] == src["bbox"]
    assert p["proj:shape"] == [80, 96] and p["gsd"] == 15.0
    t = src["properties"]["proj:transform"]
    assert p["proj:transform"] == [t[0] / 2, t[1], t[2], t[3], t[4] / 2, t[5]]
    assert p["processing:software"] == {"satsr": satsr.__version__} and "bicubic" in p["processing:lineage"]
    assert p["mlm:name"] == "bicubic" and p["mlm:tasks"] == ["super-resolution"]
    assert p["mlm:input"][0]["input"]["shape"] == [-1, 3, -1, -1]
    derived = [ln for ln in item["links"] if ln["rel"] == "derived_from"]
    assert len(derived) == 1 and Path(derived[0]["href"]).name == "scene0.json"
    assert item["assets"]["model"]["roles"] == ["mlm:model"]
    assert (item_path.parent / item["assets"]["model"]["href"]).resolve() == (
        tmp_path / "out" / "model" / "bicubic_x2.json")
    with rasterio.open(item_path.parent / item["assets"]["data"]["href"]) as ds:
        assert list(ds.transform)[:6] == p["proj:transform"] and ds.crs.to_string() == p["proj:code"]
    assert verify_product(item_path) == (True, "")


@pytest.mark.slow
def test_resume_skips_complete_products_and_redoes_damaged_ones(shared_data, tmp_path):
    cat = _catalog(shared_data, tmp_path)
    cfg = JobConfig(model="bicubic", scale=2, device="cpu")
    out = tmp_path / "out"
    run_batch(cat, out, cfg, workers=0, progress=False)
    before = {p: p.stat().st_mtime_ns for p in out.glob("*_sr_x2/*")}
    again = run_batch(cat, out, cfg, workers=2, resume=True, progress=False)
    # complete products: no work (no cluster either); the corrupt scene is tried again and fails again
    assert again.counts() == {"done": 0, "skipped": 3, "failed": 1}
    assert {p: p.stat().st_mtime_ns for p in out.glob("*_sr_x2/*")} == before
    damaged = out / "scene1_sr_x2" / "scene1_sr_x2.tif"
    damaged.write_bytes(damaged.read_bytes()[:-10])
    third = run_batch(cat, out, cfg, workers=0, resume=True, progress=False)
    assert [r.status for r in third.results] == ["skipped", "done", "skipped", "failed"]
    assert verify_product(out / "scene1_sr_x2" / "scene1_sr_x2.json")[0]


@pytest.mark.slow
def test_job_killed_after_its_first_item_resumes_to_complete_products(shared_data, tmp_path):
    cat = _catalog(shared_data, tmp_path, size=(96, 96), corrupt=False)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "satsr.cli", "batch", str(cat), "-o", str(out), "--workers", "0",
           "--device", "cpu", "--bands", "3,2,1", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    first = out / "scene0_sr_x4" / "scene0_sr_x4.json"
    deadline = time.monotonic() + 240
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first.exists(), proc.stderr.read().decode()
    done_at_kill = sorted(p.name for p in out.glob("*_sr_x4/*.json"))
    assert len(done_at_kill) < 4, "the job finished before it could be killed: make the items bigger"
    result = CliRunner().invoke(main, cmd[3:] + ["--resume"])
    assert result.exit_code == 0, result.output
    assert "4 items: " in result.output and f"{len(done_at_kill)} already complete" in result.output
    products = sorted(out.glob("*_sr_x4/*"))
    assert [p.name for p in products] == [n for i in range(4) for n in (f"scene{i}_sr_x4.json", f"scene{i}_sr_x4.tif")]
    assert not [p for p in out.rglob("*") if ".satsr-" in p.name]  # no temporary or stage file left behind
    for i in range(4):
        assert verify_product(out / f"scene{i}_sr_x4" / f"scene{i}_sr_x4.json") == (True, "")
    assert read_catalog(out / "catalog.json")[3].open().shape == (1, 3, 384, 384)


def test_cli_batch_exit_status_and_messages(shared_data, tmp_path):
    cat = _catalog(shared_data, tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["batch", str(cat), "-o", str(out), "-m", "bicubic", "-s", "2",
                                       "--workers", "0", "--retries", "0", "--device", "cpu"])
    assert result.exit_code == 1
    assert "4 items: 3 done, 0 already complete, 1 failed" in result.output
    assert "failed: scene3 (1 attempt): " in result.output and "scene3.tif" in result.output
    assert f"catalog: {out / 'catalog.json'}" in result.output
    result = CliRunner().invoke(main, ["batch", str(tmp_path / "nope.json"), "-o", str(out)])
    assert result.exit_code == 1 and "no such catalog file" in result.output
    result = CliRunner().invoke(main, ["batch", str(cat), "-o", str(out), "-m", "no-such-model"])
    assert result.exit_code == 1 and "no-such-model" in result.output


def test_cli_catalog_init(shared_data, tmp_path):
    cat = _catalog(shared_data, tmp_path, corrupt=False)
    (tmp_path / "scenes" / "scene3.tif").write_bytes(b"not a tiff")
    result = CliRunner().invoke(main, ["catalog", "init", str(tmp_path / "scenes"), "-o", str(tmp_path / "c.json")])
    assert result.exit_code == 0, result.output
    assert "c.json: 3 items" in result.output and "warning: skipped scene3" in result.output
    assert cat.exists()


@pytest.mark.slow
def test_running_scheduler_by_address_and_tile_progress_events(shared_data, tmp_path):
    from distributed import Client, LocalCluster

    from satsr.batch import TILES_TOPIC

    cat = _catalog(shared_data, tmp_path, corrupt=False)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        report = run_batch(cat, tmp_path / "out", JobConfig(model="bicubic", scale=2, device="cpu", tile=16),
                           scheduler=cluster.scheduler_address, progress=False)
        assert report.counts()["done"] == 4 and report.workers == cluster.scheduler_address
        events = [msg for _, msg in client.get_events(TILES_TOPIC)]
    # every item reported its tile blocks, the last report being all of them
    finals = {m["id"]: (m["done"], m["total"]) for m in events}
    assert sorted(finals) == [f"scene{i}" for i in range(4)]
    assert all(done == total > 0 for done, total in finals.values())


def test_tile_progress_counts_the_blocks_of_one_item(shared_data, tmp_path):
    from satsr.batch import process_scene

    cat = _catalog(shared_data, tmp_path, corrupt=False)
    seen: list[tuple[int, int]] = []
    scene = read_catalog(cat)[0]
    result = process_scene(scene, tmp_path, JobConfig(model="bicubic", scale=2, device="cpu", tile=16,
                                                      batch_size=1), report=lambda d, t: seen.append((d, t)))
    assert result.status == "done", result.error
    assert seen[0] == (0, 9) and seen[-1] == (9, 9) and [d for d, _ in seen] == list(range(10))


def test_one_gpu_per_worker_process():
    from satsr.batch import _worker_device

    assert [_worker_device("cuda", str(i), 4) for i in range(5)] == ["cuda:0", "cuda:1", "cuda:2", "cuda:3", "cuda:0"]
    assert _worker_device("cuda", "3", 1) == "cuda"  # one GPU (or dask-cuda's CUDA_VISIBLE_DEVICES per worker)
    assert _worker_device("cuda:1", "0", 4) == "cuda:1"  # asked for by index
    assert _worker_device("cpu", "2", 4) == "cpu"
    assert _worker_device("cuda", None, 4) == "cuda"  # not in a worker
    assert _worker_device("cuda", "tcp://10.0.0.1:4000", 4) == "cuda"  # a worker named by address


@pytest.mark.slow
def test_plan_batch_against_the_run(shared_data, tmp_path):
    cat = _catalog(shared_data, tmp_path / "in", size=(64, 96), corrupt=False)  # two tiles a scene
    cfg = JobConfig(model="lgtd-s", tile=64, threads=1)
    plan = plan_batch(cat, cfg=cfg)
    assert [sid for sid, _ in plan.scenes] == [s.id for s in read_catalog(cat)]
    first = plan.scenes[0][1]
    assert first.shape_out == (1, 3, 256, 384) and first.forwards == 2 and first.blocks >= 1
    # one calibration, reused for the scenes of the same window size
    assert {p.seconds_per_forward for _, p in plan.scenes} == {first.seconds_per_forward}
    assert plan.seconds(1) == pytest.approx(sum(p.seconds(1) for _, p in plan.scenes))
    assert plan.seconds(8) == pytest.approx(first.seconds(1))  # more workers than scenes: the longest is the floor
    text = plan.table()
    assert all(sid in text for sid, _ in plan.scenes) and "worker" in text
    res = CliRunner().invoke(main, ["batch", str(cat), "-o", str(tmp_path / "dry"), "--tile", "64", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert all(sid in res.output for sid, _ in plan.scenes) and "time, 2 workers" in res.output
    assert not (tmp_path / "dry").exists()  # a plan writes nothing
    report = run_batch(cat, tmp_path / "out", cfg, workers=0, progress=False)
    assert report.counts()["done"] == 4
    measured = sum(r.seconds for r in report.results)
    print(f"plan {plan.seconds(1):.1f} s, measured {measured:.1f} s")
    assert plan.seconds(1) / 3 < measured < plan.seconds(1) * 3
    # resume: complete products are skipped in the plan too
    again = plan_batch(cat, tmp_path / "out", cfg, resume=True)
    assert again.scenes == () and len(again.skipped) == 4


def test_precision_and_self_ensemble_reach_the_products(shared_data, tmp_path):
    """``--precision`` and ``--self-ensemble`` run as satsr.upscale runs them, and the product items say so."""
    import numpy as np

    from satsr.errors import InputError

    cat = _catalog(shared_data, tmp_path, corrupt=False)
    result = CliRunner().invoke(main, ["batch", str(cat), "-o", str(tmp_path / "se"), "-m", "bicubic", "-s", "2",
                                       "--workers", "0", "--device", "cpu", "--precision", "fp32",
                                       "--self-ensemble", "--no-progress"])
    assert result.exit_code == 0, result.output
    plain = run_batch(cat, tmp_path / "plain", JobConfig(model="bicubic", scale=2, device="cpu"), workers=0,
                      progress=False)
    assert plain.counts()["done"] == 4
    item = json.loads((tmp_path / "se" / "scene1_sr_x2" / "scene1_sr_x2.json").read_text())["properties"]
    assert item["satsr:self_ensemble"] == 8 and item["satsr:precision"] == "fp32"
    plain_item = json.loads((tmp_path / "plain" / "scene1_sr_x2" / "scene1_sr_x2.json").read_text())["properties"]
    assert "satsr:self_ensemble" not in plain_item and plain_item["satsr:precision"] in ("fp32", "bf16")
    with rasterio.open(tmp_path / "se" / "scene1_sr_x2" / "scene1_sr_x2.tif") as a, \
            rasterio.open(tmp_path / "plain" / "scene1_sr_x2" / "scene1_sr_x2.tif") as b:
        # bicubic commutes with flips and transposes: its ensemble is itself, up to rounding
        assert np.abs(a.read().astype(int) - b.read().astype(int)).max() <= 1
        assert json.loads(a.tags()["satsr"])["self_ensemble"] == 8  # the file itself says so too
        assert "self_ensemble" not in json.loads(b.tags()["satsr"])
    with pytest.raises(InputError, match="precision must be"):
        run_batch(cat, tmp_path / "bad", JobConfig(model="bicubic", precision="fp8"), workers=0,  # type: ignore[arg-type]
                  progress=False)
    assert not (tmp_path / "bad").exists()  # refused before any folder was made
