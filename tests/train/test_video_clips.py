"""VideoClips on the real satellite video: held-aside frames, degradations, pure sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from satsr.degrade import imresize
from satsr.errors import InputError
from satsr.train.loop import build_dataset
from satsr.train.video_clips import RESAMPLERS, VideoClips, VideoDegradation, downscale


@pytest.fixture(scope="module")
def satvideo(shared_data: Path) -> Path:
    return shared_data / "satvideo"


def test_train_and_val_windows_share_no_frame(satvideo):
    train = VideoClips(satvideo, split="train", crop=64)
    val = VideoClips(satvideo, split="val", crop=64, augment=False)
    names = {name: len(paths) for name, paths in train.clips}
    assert names == {"icpr2024_017": 240, "macf_012": 120}
    for ci, (_name, paths) in enumerate(train.clips):
        used = {t for c, centre in train.windows if c == ci for t in range(centre - 2, centre + 3)}
        held = {t for c, centre in val.windows if c == ci for t in range(centre - 2, centre + 3)}
        assert used and held and not used & held
        assert max(used) < int(0.8 * len(paths)) <= min(held)  # the last 20% of each clip only in validation
    assert len(train) == (192 - 4) + (96 - 4) and len(val) == (48 - 4) + (24 - 4)


def test_samples_are_pure_and_shaped(satvideo):
    degradation = VideoDegradation(blur_sigma=(0, 0.6), noise_sigma=(0, 0.01), jpeg=(70, 90), jpeg_p=1.0)
    ds = VideoClips(satvideo, crop=64, degradation=degradation)
    a = ds.sample(17, np.random.default_rng([0, 3]))
    b = ds.sample(17, np.random.default_rng([0, 3]))
    c = ds.sample(17, np.random.default_rng([0, 4]))
    assert a["lr"].shape == (5, 3, 16, 16) and a["hr"].shape == (3, 64, 64) and a["lr"].dtype == torch.float32
    assert torch.equal(a["lr"], b["lr"]) and torch.equal(a["hr"], b["hr"]) and a["key"] == b["key"]
    assert not torch.equal(a["lr"], c["lr"])
    assert 0 <= float(a["lr"].min()) and float(a["lr"].max()) <= 1


def test_validation_lr_is_the_whole_frames_matlab_bicubic(satvideo):
    """Without blur, noise or JPEG, the LR of a crop equals the whole (prescaled) frame's LR there."""
    bicubic = VideoDegradation(resamplers=["bicubic"])
    val = VideoClips(satvideo, split="val", crop=128, augment=False, degradation=bicubic, limit=3)
    s = val[1]
    ci, centre = val.windows[1]
    whole = np.stack([val._hr_frame(ci, t) for t in range(centre - 2, centre + 3)])
    lr_whole = np.clip(imresize(whole, 1 / 4), 0, 1)  # LR values are clipped to [0, 1]
    h, w = whole.shape[-2:]
    y0, x0 = (h - 128) // 8 * 4, (w - 128) // 8 * 4
    np.testing.assert_allclose(s["lr"].numpy(), lr_whole[:, :, y0 // 4 : y0 // 4 + 32, x0 // 4 : x0 // 4 + 32],
                               atol=1e-5)
    np.testing.assert_array_equal(s["hr"].numpy(), whole[2][:, y0 : y0 + 128, x0 : x0 + 128])
    # the HR is the published JPEG frame area-reduced x2
    with Image.open(val.clips[ci][1][centre]) as im:
        src = np.asarray(im.convert("RGB"), np.float32).transpose(2, 0, 1) / 255
    np.testing.assert_allclose(whole[2], src.reshape(3, 512, 2, 512, 2).mean(axis=(2, 4)), atol=1e-6)


def test_resamplers_differ_and_match_their_definitions():
    rng = np.random.default_rng(0)
    img = rng.random((3, 32, 48)).astype(np.float32)
    outs = {m: downscale(img, 4, m) for m in RESAMPLERS}
    assert all(o.shape == (3, 8, 12) for o in outs.values())
    np.testing.assert_allclose(outs["area"], img.reshape(3, 8, 4, 12, 4).mean(axis=(2, 4)), atol=1e-6)
    np.testing.assert_allclose(outs["bicubic"], imresize(img, 1 / 4), atol=1e-6)
    pil = np.asarray(Image.fromarray(img[1], mode="F").resize((12, 8), Image.BICUBIC))
    np.testing.assert_allclose(outs["pil_bicubic"][1], pil, atol=1e-6)
    for a in RESAMPLERS:
        for b in RESAMPLERS:
            if a < b:
                assert np.abs(outs[a] - outs[b]).max() > 1e-3, (a, b)
    with pytest.raises(InputError, match="not one of"):
        downscale(img, 4, "lanczos")


def test_config_entry_and_errors(satvideo, tmp_path):
    ds = build_dataset({"type": "video_clips", "root": str(satvideo), "crop": 32, "split": "val"}, scale=4,
                       frames=5, seed=0)
    assert isinstance(ds, VideoClips) and ds.frames == 5
    with pytest.raises(InputError, match="no such folder"):
        VideoClips(tmp_path / "none")
    with pytest.raises(InputError, match="split must be"):
        VideoClips(satvideo, split="test")
    with pytest.raises(InputError, match="resamplers must be among"):
        VideoClips.from_options(satvideo, resamplers=["nearest"])  # a config entry's flat keys
    short = tmp_path / "short" / "GT"
    short.mkdir(parents=True)
    for i in range(5):
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(short / f"{i:03d}.png")
    with pytest.raises(InputError, match="fewer than one 5-frame window"):
        VideoClips(tmp_path / "short", split="val", crop=8)


def test_shipped_video_config_trains_on_held_in_frames_only(shared_data, tmp_path):
    from dataclasses import replace

    import satsr
    from satsr.train.loop import load_config, train

    cfg = load_config(Path(satsr.__file__).parent / "train" / "configs" / "lgtd-s-video.yaml",
                      data_root=str(shared_data), out=str(tmp_path / "run"), device="cpu")
    (data,) = cfg.data
    assert data["type"] == "video_clips" and data["split"] == "train" and data["holdout"] == 0.2
    assert cfg.val["split"] == "val" and cfg.val["holdout"] == 0.2
    assert "jilin" not in str(cfg.to_dict()).lower()  # the Jilin-1 clip is the test: never trained or validated on
    cfg = replace(cfg, data=[{**data, "crop": 32, "cache_mb": 64}], val={**cfg.val, "crop": 32, "limit": 1},
                  steps=2, batch_size=1, val_every=2, ckpt_every=2, warmup=0)
    result = train(cfg, progress=False)
    assert result["step"] == 2 and np.isfinite(result["loss"]) and np.isfinite(result["val"]["psnr"])
