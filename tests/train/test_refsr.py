"""Ref-SR training (RGTGAN's generator): a few steps on tiny real crops, checkpoint round trip, resume, dispatch."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import satsr
from satsr.errors import InputError
from satsr.models.rgtgan import derive_inputs
from satsr.train.loop import load_config, train
from satsr.train.refsr import RefSRSteps, build_refsr_dataset, train_refsr, zero_last_conv

CONFIG = Path(satsr.__file__).parent / "train" / "configs" / "rgtgan-2blocks.yaml"


def rrssrd(shared_data: Path, name: str) -> Path:
    return shared_data / "refsr" / "rrssrd" / name


def test_zero_last_conv_starts_at_bicubic():
    torch.manual_seed(0)
    model = zero_last_conv(satsr.models.create("rgtgan", n_blocks=1, pretrained=False))
    lr, ref = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(model(lr, ref), derive_inputs(lr, ref)[0])
    with pytest.raises(InputError, match="not an RGTNet"):
        zero_last_conv(torch.nn.Conv2d(3, 3, 3))


def test_steps_are_pure_and_cover_each_epoch(shared_data):
    spec = {"type": "refsr", "root": [str(rrssrd(shared_data, "val_1st"))], "crop": 32}
    ds = build_refsr_dataset(spec, scale=4, seed=0, train=True)
    steps = RefSRSteps([ds], batch_size=4, seed=0)
    a, b = steps[3], steps[4]
    assert a["lr"].shape == (4, 3, 8, 8) and a["ref"].shape == a["hr"].shape == (4, 3, 32, 32)
    assert torch.equal(a["hr"], steps[3]["hr"]) and not torch.equal(a["hr"], b["hr"])
    n = len(ds)
    keys = [steps.sample(p)["key"] for p in range(n)]
    assert sorted(keys) == sorted(str(it["key"]) for it in ds.items)  # one epoch: every sample once
    val = build_refsr_dataset({**spec, "limit": 3}, scale=4, seed=0, train=False)
    assert len(val) == 3 and not val.augment
    with pytest.raises(InputError, match="'refsr' data"):
        build_refsr_dataset({"type": "pseudo_video"}, scale=4, seed=0, train=True)


def test_train_refsr_checkpoint_loads_back(shared_data, tmp_path):
    rows: list[dict] = []
    result = train_refsr(
        rrssrd(shared_data, "val_1st"), val=rrssrd(shared_data, "val_3rd"), out=tmp_path / "run", n_blocks=1,
        steps=3, batch_size=1, crop=32, val_every=3, val_crop=32, val_limit=1, ckpt_every=2, device="cpu",
        progress=False, log=rows.append,
    )
    assert [r["step"] for r in rows] == [1, 2, 3] and np.isfinite([r["loss"] for r in rows]).all()
    assert result["step"] == 3 and np.isfinite(result["val"]["psnr"]) and 0 < result["val"]["bicubic_ssim"] <= 1
    assert (tmp_path / "run" / "last.pt").exists() and (tmp_path / "run" / "log.csv").read_text().count("\n") == 4
    weights = tmp_path / "run" / "final.safetensors"
    restored = satsr.models.create("rgtgan", pretrained=weights, n_blocks=1)
    trained = result["model"].state_dict()
    assert all(torch.equal(restored.state_dict()[k], trained[k]) for k in trained)
    assert not torch.equal(trained["texture_transfer.tail_large.2.weight"], torch.zeros(3, 32, 3, 3))  # it learnt
    again = satsr.models.create("rgtgan", pretrained=weights)  # the saved options (n_blocks=1) come back
    assert len(again.texture_transfer.body_large) == 1


def test_config_dispatch_and_exact_resume(shared_data, tmp_path):
    cfg = load_config(CONFIG, data_root=str(shared_data), out=str(tmp_path / "split"), steps=2, batch_size=1,
                      device="cpu")
    assert cfg.model == "rgtgan" and cfg.model_options == {"n_blocks": 2} and cfg.loss == "rgtgan-warmup"
    assert all(Path(p).is_dir() for p in cfg.data[0]["root"]) and "val_3rd" in cfg.val["root"]
    assert not any("val_3rd" in p or "kagglesrd" in p for p in cfg.data[0]["root"])  # held aside
    cfg = replace(cfg, model_options={"n_blocks": 1}, val=None, data=[{**cfg.data[0], "crop": 32}])
    part = train(cfg, progress=False, until=1)  # satsr.train.loop.train hands Ref-SR configs to refsr
    assert part["step"] == 1 and not (tmp_path / "split" / "final.safetensors").exists()
    resumed = train(cfg, progress=False, resume=True)
    straight = train_refsr(cfg.data[0]["root"], out=tmp_path / "straight", n_blocks=1, steps=2, batch_size=1,
                           crop=32, device="cpu", progress=False)
    a, b = straight["model"].state_dict(), resumed["model"].state_dict()
    assert resumed["step"] == 2 and all(torch.equal(a[k], b[k]) for k in a)


def test_refsr_settings_are_checked(shared_data, tmp_path):
    root = rrssrd(shared_data, "val_1st")
    with pytest.raises(InputError, match="multiple of 16"):
        train_refsr(root, out=tmp_path / "a", crop=24, steps=1, progress=False, device="cpu")
    with pytest.raises(InputError, match="takes no reference"):
        train_refsr(root, out=tmp_path / "b", model="lgtd-s", n_blocks=None, steps=1, progress=False, device="cpu")
