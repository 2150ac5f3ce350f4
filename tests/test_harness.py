"""The test harness itself: ``make test`` runs pytest-xdist workers, each pinned to its own cores."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from satsr._threads import usable_cores


def test_an_xdist_worker_runs_on_its_own_share_of_the_cores():
    worker, count = os.environ.get("PYTEST_XDIST_WORKER"), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if worker is None or count < 2:
        pytest.skip("not under pytest-xdist with several workers (`make test` runs `pytest -n`)")
    share = usable_cores()
    assert 1 <= share <= max(1, (os.cpu_count() or 1) // count)
    # torch, OpenMP in child processes and satsr's own default all see the share, not the machine
    assert torch.get_num_threads() == share
    assert os.environ["OMP_NUM_THREADS"] == str(share)
    child = subprocess.run([sys.executable, "-c", "import os; print(len(os.sched_getaffinity(0)))"],
                           capture_output=True, text=True, check=True)
    assert int(child.stdout) == share
