"""Every full-size GPU config (``satsr/train/configs/*-gpu.yaml``) trains on a CPU: two steps, tiny crops, batch 1.

The configs are what a GPU run is started with (``satsr train <config> --device cuda``); nothing in CI has a GPU,
so each is run here as it is written except for :func:`satsr.train.config.shrink_config`'s overrides: the smallest
crop the model takes (at least 16 LR pixels), batch 1, a one-sample validation, the loader in the process, the
CPU, and a temporary run folder. A config that names a missing data set, an unknown option, a model that does not
fit its data, a loss or schedule the task refuses, fails here.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch

import satsr
from satsr import models
from satsr.train.config import load_config, shrink_config
from satsr.train.loop import train

CONFIGS = sorted((Path(satsr.__file__).parent / "train" / "configs").glob("*-gpu.yaml"))


def smallest_crop(name: str) -> int:
    """HR crop of at least 16 LR pixels that the model's size rule (``multiple_of``) allows."""
    spec = models.get_spec(name)
    m = spec.multiple_of
    return spec.scale * m * math.ceil(16 / m)


def test_the_gpu_configs_are_found():
    names = {p.name for p in CONFIGS}
    assert {"lgtd-gpu.yaml", "rgtgan-gpu.yaml"} <= names, names


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_gpu_config_trains_two_steps_on_the_cpu(path, shared_data, tmp_path):
    full = load_config(path, data_root=str(shared_data))
    assert full.device == "cuda" and full.steps >= 10_000  # a real GPU run, not a smoke config
    out = tmp_path / "run"
    cfg = shrink_config(full, crop=smallest_crop(full.model), batch_size=1, val_limit=1, steps=2, device="cpu",
                        out=str(out))
    assert cfg.model == full.model and cfg.lr == full.lr and cfg.loss == full.loss  # only the sizes changed
    rows: list[dict] = []
    result = train(cfg, progress=False, log=rows.append)
    assert result["step"] == 2 and [r["step"] for r in rows] == [1, 2]
    assert all(math.isfinite(r["loss"]) for r in rows), rows
    state = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert state["step"] == 2 and state["name"] == full.model and state["config"]["device"] == "cpu"
    assert (out / "final.safetensors").is_file()
    with open(out / "log.csv", newline="") as fh:
        logged = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in logged] == [1, 2] and all(math.isfinite(float(r["loss"])) for r in logged)
    if full.val is not None:  # the one-sample validation ran at the last step
        assert math.isfinite(float(logged[-1]["val_psnr"])), logged[-1]


def test_shrink_config_changes_only_the_sizes(tmp_path):
    full = load_config(CONFIGS[0], data_root=str(tmp_path))  # reads no data
    small = shrink_config(full, crop=64, batch_size=1, val_limit=0, steps=3, out=str(tmp_path))
    assert small.val is None and small.batch_size == 1 and small.steps == 3 and small.workers == 0
    assert all(d.get("crop") in (None, 64) for d in small.data)
    assert [d.kind for d in small.data] == [d.kind for d in full.data]
    assert {k: v for k, v in small.data[0].items() if k != "crop"} == {k: v for k, v in full.data[0].items()
                                                                      if k != "crop"}
    assert (small.model, small.lr, small.schedule, small.seed) == (full.model, full.lr, full.schedule, full.seed)
    if full.val is not None:
        one = shrink_config(full, crop=64, val_limit=1)
        assert one.val is not None and one.val["limit"] == 1 and one.val.get("crop") in (None, 64)
