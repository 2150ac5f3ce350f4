"""The training loop on the shipped lgtd-s config: a few steps on tiny crops, loss down, exact resume."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import satsr
from satsr.errors import InputError
from satsr.train.loop import StepBatches, build_dataset, load_config, train

CONFIG = Path(satsr.__file__).parent / "train" / "configs" / "lgtd-s.yaml"


def tiny(shared_data: Path, out: Path, **extra):
    """The shipped config, shrunk: 64 px HR crops, batch 2, 4 steps, one validation frame."""
    settings = {"steps": 4, "batch_size": 2, "warmup": 0, "ckpt_every": 2, "val_every": 4, "device": "cpu", **extra}
    cfg = load_config(CONFIG, data_root=str(shared_data), out=str(out), **settings)
    return replace(cfg, data=[{**d, "crop": 64, "samples_per_image": 2} for d in cfg.data],
                   val={**cfg.val, "centres": [3]})


def test_shipped_config_parses_and_resolves_paths(shared_data):
    cfg = load_config(CONFIG, data_root=str(shared_data), out="/tmp/x")
    assert cfg.model == "lgtd-s" and cfg.scale == 4 and cfg.frames == 5
    for d in cfg.data:
        assert all(Path(p).is_dir() for p in d["images"])
    assert Path(cfg.val["root"], "jilin1_airport", "GT").is_dir()


def test_config_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: lgtd-s\ndata: [{type: pseudo_video}]\nout: o\nlearning_rate: 1\n")
    with pytest.raises(InputError, match="unknown setting.*learning_rate"):
        load_config(bad)
    bad.write_text("model: lgtd-s\nout: o\n")
    with pytest.raises(InputError, match="missing setting.*data"):
        load_config(bad)
    bad.write_text("model: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(InputError, match="config file not found"):
        load_config(tmp_path / "none.yaml")
    bad.write_text("model: lgtd-s\ndata: [{type: pseudo_video}]\nout: o\nloss: l2\n")
    with pytest.raises(InputError, match="loss must be"):
        load_config(bad)
    with pytest.raises(InputError, match="dataset type 'movies'"):
        build_dataset({"type": "movies"}, scale=4, frames=5, seed=0)
    head = "model: lgtd-m\ndata: [{type: pseudo_video}]\nout: o\n"
    bad.write_text(head + "init: a.safetensors\ngrow_from: b.safetensors\n")
    with pytest.raises(InputError, match="init .* or grow_from .*not both"):
        load_config(bad)
    bad.write_text(head + "grow_from: w/b.safetensors\n")
    assert load_config(bad).grow_from == str(tmp_path / "w" / "b.safetensors")  # relative to the config


@pytest.mark.slow
def test_loss_goes_down_and_resume_is_exact(shared_data, tmp_path):
    cfg = tiny(shared_data, tmp_path / "straight")
    batches = StepBatches([build_dataset(d, scale=4, frames=5, seed=0) for d in cfg.data], 2, 0)
    probe, first = batches[0], batches[1]
    assert probe["lr"].shape == (2, 5, 3, 16, 16) and probe["hr"].shape == (2, 3, 64, 64)
    assert not torch.equal(probe["lr"], first["lr"])  # steps draw different samples
    assert torch.equal(probe["lr"], batches[0]["lr"])  # ... and the same ones again

    rows = []
    straight = train(cfg, progress=False, log=rows.append)
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and np.isfinite([r["loss"] for r in rows]).all()
    assert np.isfinite(rows[-1]["val_psnr"]) and 0 < rows[-1]["val_ssim"] <= 1
    assert (tmp_path / "straight" / "final.safetensors").exists()
    assert (tmp_path / "straight" / "log.csv").read_text().count("\n") == 5

    # the same run in two parts, the second resumed from the checkpoint at step 2
    cfg2 = tiny(shared_data, tmp_path / "split")
    part = train(cfg2, progress=False, until=2)
    assert part["step"] == 2 and not (tmp_path / "split" / "final.safetensors").exists()
    resumed = train(cfg2, progress=False, resume=True)
    assert resumed["step"] == 4
    a, b = straight["model"].state_dict(), resumed["model"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    restored = satsr.models.create("lgtd-s", pretrained=tmp_path / "split" / "final.safetensors")
    assert all(torch.equal(restored.state_dict()[k], b[k]) for k in b)


@pytest.mark.slow
def test_loss_goes_down_on_a_fixed_batch(shared_data, tmp_path):
    """The shipped config's model and loop fit one real 64 px still with no motion: the loss falls."""
    import rasterio

    still = next((shared_data / "refsr" / "rrssrd" / "val_1st" / "HR").glob("*.jpg"))
    with rasterio.open(still) as src:
        crop = src.read(window=((200, 264), (200, 264)))
    png = tmp_path / "still.png"
    with rasterio.open(png, "w", driver="PNG", width=64, height=64, count=3, dtype="uint8") as dst:
        dst.write(crop)
    cfg = tiny(shared_data, tmp_path / "fit", steps=40, ckpt_every=40, val_every=40)
    cfg = replace(cfg, data=[{"type": "pseudo_video", "images": [str(png)], "crop": 64, "drift": 0, "jitter": 0,
                              "rotation": 0, "movers": 0}], val=None)
    rows = []
    train(cfg, progress=False, log=rows.append)
    losses = [r["loss"] for r in rows]
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses


def test_resume_without_a_checkpoint_is_a_clear_error(shared_data, tmp_path):
    with pytest.raises(InputError, match="nothing to resume from"):
        train(tiny(shared_data, tmp_path / "none"), progress=False, resume=True)


@pytest.mark.slow
def test_cli_train_and_evaluate(shared_data, tmp_path):
    from satsr.cli import main

    runner = CliRunner()
    cfg = tmp_path / "run.yaml"
    cfg.write_text(CONFIG.read_text().replace("crop: 96", "crop: 64").replace("samples_per_image: 64",
                                                                                "samples_per_image: 1"))
    result = runner.invoke(main, ["train", str(cfg), "--data-root", str(shared_data), "--out", str(tmp_path / "r"),
                                  "--steps", "2", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    weights = tmp_path / "r" / "final.safetensors"
    assert str(weights) in result.output
    out = tmp_path / "scores.json"
    result = runner.invoke(main, ["evaluate", "-m", "lgtd-s", "--pretrained", str(weights), "--data",
                                  str(shared_data / "jilin1_airport"), "--centres", "3", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "| jilin1_airport | lgtd-s | 3 |" in result.output and "| **mean** | bicubic |" in result.output
    assert "lgtd-s over bicubic: " in result.output and " dB PSNR, " in result.output
    import json

    scores = json.loads(out.read_text())["scores"]
    bicubic = next(s for s in scores if s["model"] == "bicubic")
    assert 25 < bicubic["psnr"] < 45 and 0.5 < bicubic["ssim"] < 1
