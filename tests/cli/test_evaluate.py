"""``satsr evaluate --self-ensemble``: each model scored beside its x8 self-ensemble, on real frames."""

from __future__ import annotations

import json

import pytest

from satsr.cli import main


@pytest.mark.slow
def test_self_ensemble_rows_beside_the_plain_model(runner, shared_data, tmp_path):
    out = tmp_path / "scores.json"
    result = runner.invoke(main, ["evaluate", "-m", "lgtd-s", "--data", str(shared_data / "jilin1_airport"),
                                  "--centres", "3", "--no-temporal", "--device", "cpu", "--self-ensemble",
                                  "--no-progress", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "| jilin1_airport | lgtd-s+x8 | 3 |" in result.output and "| jilin1_airport | lgtd-s | 3 |" in result.output
    psnr = {s["model"]: s["psnr"] for s in json.loads(out.read_text())["scores"] if s.get("clip") != "mean"}
    assert set(psnr) >= {"lgtd-s", "lgtd-s+x8", "bicubic"}
    assert psnr["lgtd-s"] - psnr["bicubic"] > 1.0  # the shipped model, as without the flag
    assert 0 < abs(psnr["lgtd-s+x8"] - psnr["lgtd-s"]) < 1.0  # another output, close to the plain model's


def test_self_ensemble_is_for_clips(runner, shared_data):
    sets = shared_data / "refsr" / "rrssrd" / "val_3rd"
    result = runner.invoke(main, ["evaluate", "-m", "lgtd-s", "--protocol", "rgtgan", "--data", str(sets),
                                  "--self-ensemble"])
    assert result.exit_code == 1 and "--self-ensemble scores clips" in result.output


def test_a_network_without_weights_is_refused_before_scoring(runner, shared_data):
    result = runner.invoke(main, ["evaluate", "-m", "lgfn", "--data", str(shared_data / "jilin1_airport"),
                                  "--self-ensemble"])
    assert result.exit_code == 1 and "error:" in result.output and "pretrained" in result.output
