"""Progress: a bar on a terminal, log lines elsewhere, nothing with --quiet."""

from __future__ import annotations

import logging

import dask.array as da
import pytest
from click.testing import CliRunner

from satsr import progress
from satsr.cli import main


@pytest.fixture
def log_mode(monkeypatch):
    monkeypatch.setenv("SATSR_PROGRESS", "log")
    monkeypatch.setenv("SATSR_PROGRESS_INTERVAL", "0")
    progress.configure("auto")
    yield
    progress.configure("auto")


def test_log_lines_count_and_finish(log_mode, caplog):
    caplog.set_level(logging.INFO, logger="satsr")
    with progress.bar(total=3, desc="items", unit="item") as counter:
        for _ in range(3):
            counter.update(1)
        counter.set_postfix(loss="0.1")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("items: 1/3 items (33%)")
    assert lines[-1].startswith("items: 3/3 items (100%)") and lines[-1].endswith("loss=0.1 done")
    caplog.clear()
    with progress.bar(total=3, desc="quiet", enabled=False) as counter:
        counter.update(3)
    assert not caplog.records


def test_dask_progress_logs_tasks(log_mode, caplog):
    caplog.set_level(logging.INFO, logger="satsr")
    with progress.dask_progress("summing"):
        total = (da.ones((40, 40), chunks=10) * 2).sum().compute(scheduler="threads")
    assert total == 3200
    last = caplog.records[-1].getMessage()
    assert last.startswith("summing: ") and last.endswith("done")
    done, of = (int(v) for v in last.split(":")[1].split()[0].split("/"))
    assert done == of > 16


def test_mode_follows_environment_and_quiet(monkeypatch):
    monkeypatch.setenv("SATSR_PROGRESS", "off")
    assert progress.mode() == "off"
    monkeypatch.setenv("SATSR_PROGRESS", "")
    progress.configure("off")
    assert progress.mode() == "off"
    progress.configure("auto")
    assert progress.mode() == "log"  # pytest's stderr is not a terminal
    with pytest.raises(ValueError, match="progress mode"):
        progress.configure("loud")  # type: ignore[arg-type]


def test_cli_logs_when_not_on_a_terminal_and_quiet_silences(make_geotiff, tmp_path, monkeypatch):
    monkeypatch.setenv("SATSR_PROGRESS_INTERVAL", "0")
    src = make_geotiff("in.tif", shape=(3, 24, 24), dtype="uint8")
    args = ["upscale", str(src), "-o", str(tmp_path / "a.tif"), "-m", "bicubic", "--device", "cpu"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "satsr: writing: " in result.stderr and "done" in result.stderr
    args[3] = str(tmp_path / "b.tif")
    result = CliRunner().invoke(main, ["--quiet", *args])
    assert result.exit_code == 0 and "satsr:" not in result.stderr
    result = CliRunner().invoke(main, ["-q", "-v", "models"])
    assert result.exit_code != 0 and "exclude each other" in result.output
    result = CliRunner().invoke(main, ["--version"])
    assert result.output.startswith("satsr ")
    progress.configure("auto")
