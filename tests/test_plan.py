"""A plan before the run: counts from the job's own graph, time from a calibration on its own pixels."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import satsr
from satsr.cli import main
from satsr.errors import InputError
from satsr.plan import plan_upscale


@pytest.fixture(scope="module")
def jilin_lr(shared_data: Path):
    return satsr.open_stack(shared_data / "jilin1_airport" / "LR4x", allow_ungeoreferenced=True)


def test_counts_come_from_the_jobs_tiles_and_graph(jilin_lr):
    clip = jilin_lr.isel(time=slice(0, 3), y=slice(0, 96), x=slice(0, 128))
    p = plan_upscale(clip, "bicubic", scale=2, tile=32, device="cpu")
    assert p.shape_in == (3, 3, 96, 128) and p.shape_out == (3, 3, 192, 256)
    assert p.tiles_per_frame == 3 * 4 and p.forwards == 3 * 12
    assert p.bytes_in == clip.nbytes and p.bytes_out == 3 * 3 * 192 * 256
    sr = satsr.upscale(clip, "bicubic", scale=2, tile=32, device="cpu")
    assert p.blocks == sr.data.npartitions and p.tasks == len(sr.data.__dask_graph__())
    assert p.seconds(2) == pytest.approx(p.seconds(1) / 2) and p.seconds_per_forward > 0
    table = p.table()
    assert "36 model forwards" in table and "time, 2 workers" in table
    with pytest.raises(InputError, match="workers must be"):
        p.seconds(0)
    with pytest.raises(InputError, match="calibration"):
        plan_upscale(clip, "bicubic", calibration=0)


def test_a_self_ensemble_is_calibrated_as_it_will_run(jilin_lr, monkeypatch):
    import satsr.plan
    from satsr.models import SelfEnsemble

    seen = []
    real = satsr.plan._calibrate
    monkeypatch.setattr(satsr.plan, "_calibrate", lambda runner, *a: seen.append(runner.model) or real(runner, *a))
    clip = jilin_lr.isel(time=slice(0, 1), y=slice(0, 32), x=slice(0, 32))
    plan_upscale(clip, "bicubic", scale=2, device="cpu", self_ensemble=True)
    plan_upscale(clip, "bicubic", scale=2, device="cpu")
    assert isinstance(seen[0], SelfEnsemble) and not isinstance(seen[1], SelfEnsemble)  # eight forwards timed


@pytest.mark.slow
def test_estimate_is_close_to_the_measured_run(jilin_lr):
    """The estimate against a real run of the default model on real frames (the docs state the ratio)."""
    clip = jilin_lr.isel(time=slice(0, 2), y=slice(0, 128), x=slice(0, 128))  # 8 forwards of 4 tiles
    p = plan_upscale(clip, "lgtd-s", tile=64, device="cpu")
    t0 = time.perf_counter()
    satsr.upscale(clip, "lgtd-s", tile=64, device="cpu").compute()
    measured = time.perf_counter() - t0
    assert 0.5 <= measured / p.seconds(1) <= 2.0, (measured, p.seconds(1))


def test_cli_dry_run_prints_the_plan_and_writes_nothing(shared_data, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["upscale", str(shared_data / "jilin1_airport" / "LR4x"), "-m", "bicubic",
                                    "--allow-ungeoreferenced", "--tile", "64", "-o", str(out), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "model forwards" in res.output and "per worker" in res.output and "time, 1 worker" in res.output
    assert not out.exists()
