"""Reference training data from real imagery (satsr.train.data.refpairs): satellite video with a reference from
another time, bi-temporal pairs; held-aside parts, pure draws, the config types and a short rgtgan-s run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import satsr
from satsr.errors import InputError
from satsr.models.rgtgan import matlab_resize
from satsr.train.config import load_config, shrink_config
from satsr.train.data.refpairs import BitemporalPairs, VideoRefPairs
from satsr.train.loop import train
from satsr.train.refsr import RefSRSteps, build_refsr_dataset
from satsr.train.video_clips import VideoClips, VideoDegradation

BICUBIC = VideoDegradation(resamplers=["bicubic"])


@pytest.fixture(scope="module")
def satvideo(shared_data: Path) -> Path:
    return shared_data / "satvideo"


@pytest.fixture(scope="module")
def bitemporal(shared_data: Path) -> Path:
    return shared_data / "refsr" / "bitemporal"


def _frame(key: str) -> tuple[str, int]:
    clip, stem = key.rsplit("/", 1)
    return clip, int(stem) - 1  # satvideo frames are numbered from 1


def test_video_targets_and_references_stay_in_their_part(satvideo):
    train = VideoRefPairs(satvideo, split="train", crop=32, cache_mb=0)
    val = VideoRefPairs(satvideo, split="val", crop=32, augment=False, cache_mb=0)
    cut = {name: int(0.8 * len(paths)) for name, paths in train.clips}
    assert cut == {"icpr2024_017": 192, "macf_012": 96} and len(train) == 192 + 96 and len(val) == 48 + 24
    rng = np.random.default_rng(0)
    for ci, t in train.windows:  # every training target, with several reference draws each
        for _ in range(4):
            r = train._ref_frame(ci, t, rng)
            assert t < cut[train.clips[ci][0]] and r < cut[train.clips[ci][0]] and 10 <= abs(r - t) <= 40
    for ci, t in val.windows:
        assert t >= cut[val.clips[ci][0]] and val._ref_frame(ci, t, rng) == t - 25  # deterministic: 25 earlier


def test_video_sample_is_pure_and_made_as_video_clips_makes_it(satvideo):
    ds = VideoRefPairs(satvideo, crop=64, degradation=VideoDegradation(noise_sigma=(0, 0.01)), cache_mb=64)
    a, b = ds[5], ds[5]
    assert a["lr"].shape == (3, 16, 16) and a["hr"].shape == a["ref"].shape == a["lr_ux4"].shape == (3, 64, 64)
    assert all(torch.equal(a[k], b[k]) for k in ("lr", "ref", "hr")) and a["ref_key"] == b["ref_key"]
    ds.set_epoch(1)
    c = ds[5]
    assert c["key"] == a["key"] and not torch.equal(c["hr"], a["hr"])  # another crop (and reference) per epoch
    assert torch.equal(a["lr_ux4"], matlab_resize(a["lr"], 4))
    clip, t = _frame(a["key"])
    ref_clip, r = _frame(a["ref_key"])
    assert ref_clip == clip and 10 <= abs(r - t) <= 40
    # validation: the same LR, HR and window as VideoClips' centre frame, the reference 25 frames earlier
    pairs = VideoRefPairs(satvideo, split="val", crop=128, augment=False, degradation=BICUBIC, cache_mb=64)
    clips = VideoClips(satvideo, split="val", frames=1, crop=128, augment=False, degradation=BICUBIC, cache_mb=64)
    assert pairs.windows == clips.windows
    p, v = pairs[3], clips[3]
    assert p["key"] == v["key"] and torch.equal(p["hr"], v["hr"]) and torch.equal(p["lr"], v["lr"][0])
    ci, t = pairs.windows[3]
    h, w = pairs._hr_frame(ci, t).shape[1:]
    y0, x0 = (h - 128) // 8 * 4, (w - 128) // 8 * 4
    np.testing.assert_array_equal(p["ref"].numpy(), pairs._hr_frame(ci, t - 25)[:, y0 : y0 + 128, x0 : x0 + 128])
    assert _frame(p["ref_key"])[1] == t - 25


def test_bitemporal_pairs_both_directions_and_held_aside(bitemporal):
    train = BitemporalPairs(bitemporal, crop=64)
    val = BitemporalPairs(bitemporal, split="val", crop=None, augment=False, degradation=BICUBIC)
    everything = BitemporalPairs(bitemporal, split="all", crop=64)
    assert len(everything) == 2 * 22 and len(train) == 2 * (8 + 9) and len(val) == 2 * (2 + 3)
    names = {ds: {k.split("/")[0] + "/" + k.rsplit("/", 1)[1] for k in (ds.sample(i, np.random.default_rng(0))["key"]
                                                                         for i in range(len(ds)))}
             for ds in (train, val)}
    assert not names[train] & names[val] and len(names[val]) == 5
    s = val[0]
    assert s["key"].split("/")[1] != s["ref_key"].split("/")[1]  # LR of one date, the other date as reference
    assert s["key"].rsplit("/", 1)[1] == s["ref_key"].rsplit("/", 1)[1]  # of the same place
    assert s["hr"].shape == s["ref"].shape == (3, 256, 256) and s["lr"].shape == (3, 64, 64)
    keys = [everything.sample(i, np.random.default_rng(0))["key"] for i in range(len(everything))]
    assert any(k.endswith("/A/test_113_0256") for k in keys) and any(k.endswith("/B/test_113_0256") for k in keys)
    odd = everything[keys.index("levircd/A/test_113_0256")]  # 384 x 768 beside 383 x 768: cut to the common size
    assert odd["hr"].shape == odd["ref"].shape == (3, 64, 64)
    assert len(BitemporalPairs(bitemporal, crop=64, repeat=3)) == 3 * len(train)


def test_config_types_and_errors(satvideo, bitemporal, tmp_path):
    ds = build_refsr_dataset({"type": "video_ref", "root": str(satvideo), "crop": 32, "resamplers": ["area"],
                              "jpeg": [80, 90], "ref_gap": [5, 6]}, scale=4, seed=0, train=True)
    assert isinstance(ds, VideoRefPairs) and ds.augment and ds.degradation.resamplers == ("area",)
    assert ds.ref_gap == (5, 6) and ds.degradation.jpeg == (80, 90)
    ds = build_refsr_dataset({"type": "bitemporal", "root": str(bitemporal / "dsifn"), "split": "val"}, scale=4,
                             seed=0, train=False)
    assert isinstance(ds, BitemporalPairs) and not ds.augment and len(ds) == 4
    steps = RefSRSteps([ds, build_refsr_dataset({"type": "video_ref", "root": str(satvideo), "crop": 256}, scale=4,
                                                seed=0, train=True)], batch_size=2, seed=0)
    batch = steps[0]
    assert batch["lr"].shape == (2, 3, 64, 64) and batch["ref"].shape == batch["hr"].shape == (2, 3, 256, 256)
    with pytest.raises(InputError, match="'video_ref', 'bitemporal'"):
        build_refsr_dataset({"type": "vimeo", "root": "x"}, scale=4, seed=0, train=True)
    with pytest.raises(InputError, match="dataset video_ref:.*frames"):
        build_refsr_dataset({"type": "video_ref", "root": str(satvideo), "frames": 5}, scale=4, seed=0, train=True)
    with pytest.raises(InputError, match="ref_gap"):
        VideoRefPairs(satvideo, ref_gap=(0, 3))
    with pytest.raises(InputError, match="no reference 10 to 40 frames away"):
        short = tmp_path / "short" / "GT"
        short.mkdir(parents=True)
        for i in range(15):  # 12 training frames: the middle ones have no frame 10 away in them
            Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(short / f"{i:03d}.png")
        VideoRefPairs(tmp_path / "short", crop=8)
    with pytest.raises(InputError, match="no pairs"):
        BitemporalPairs(tmp_path / "short")
    with pytest.raises(InputError, match="crop 512 is larger"):
        BitemporalPairs(bitemporal, crop=512)[0]


def test_rgtgan_s_video_config_trains_from_bicubic(shared_data, tmp_path):
    """The shipped config, shrunk (LR 16, batch 1, one validation frame): two steps from exactly bicubic."""
    cfg = load_config(Path(satsr.__file__).parent / "train" / "configs" / "rgtgan-s-video.yaml",
                      data_root=str(shared_data))
    assert cfg.model == "rgtgan-s" and not cfg.init and [d.kind for d in cfg.data] == ["video_ref", "bitemporal",
                                                                                         "refsr"]
    assert all(d["split"] == "train" and d["holdout"] == 0.2 for d in cfg.data[:2]) and cfg.val["split"] == "val"
    assert "val_3rd" not in str(cfg.data) and "kagglesrd" not in str(cfg.data).lower()
    out = tmp_path / "run"
    small = shrink_config(cfg, crop=64, val_limit=1, steps=2, val_every=1, device="cpu", out=str(out))
    rows: list[dict] = []
    result = train(small, progress=False, log=rows.append)
    assert result["step"] == 2 and all(math.isfinite(r["loss"]) for r in rows)
    first = rows[0]  # validated after one step of a small learning rate: still (almost) bicubic
    assert abs(first["val_psnr"] - first["val_bicubic_psnr"]) < 0.05
    assert (out / "last.pt").is_file() and (out / "final.safetensors").is_file()
