"""``benchmarks/self_ensemble.py``: the ensemble's gain over the plain model on a small real subset is the difference
of their PSNRs on the same frames, the ensemble costs about eight forwards, and bad arguments are usage errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "self_ensemble.py"


def test_bad_models_are_usage_errors(tmp_path):
    for models, msg in (("nope", "not a registered model"), ("rgtgan-s", "needs a reference")):
        proc = subprocess.run([sys.executable, str(SCRIPT), "--models", models, "--json", str(tmp_path / "t.json")],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and msg in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "t.json").exists()


@pytest.mark.slow
def test_lgtd_s_on_one_jilin_frame(shared_data, tmp_path):
    out = tmp_path / "se.json"
    args = ["--models", "lgtd-s", "--centres", "3", "--no-held-aside", "--time-frames", "1", "--time-size", "80",
            "--data",
            str(shared_data), "--json", str(out)]
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    row = json.loads(out.read_text())["rows"]["lgtd-s"]
    m = row["jilin"]["means"]
    assert set(m) == {"plain", "self-ensemble", "bicubic"}
    # the shipped model beats bicubic on Jilin-1 (by about 2 dB); the ensemble is another output, within 1 dB
    assert m["plain"]["psnr"] - m["bicubic"]["psnr"] > 1.0
    assert 0 < abs(m["self-ensemble"]["psnr"] - m["plain"]["psnr"]) < 1.0
    # eight forwards (the ratio is below 8 where fixed costs weigh); timed on an 80 px crop of one frame
    assert row["time"]["ratio"] > 3
    assert json.loads(out.read_text())["settings"]["time_size"] == 80
    assert "| lgtd-s |" in proc.stdout
