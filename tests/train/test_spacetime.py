"""Space-time training and evaluation (mstt-s) on the real satellite video: windows of 7 frames, LR of 0, 2, 4, 6."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import satsr
from satsr.degrade import imresize
from satsr.errors import InputError
from satsr.models.mstt import neighbour_flows
from satsr.train.evaluate import evaluate_clips, format_gains, load_clip, spacetime_stretches
from satsr.train.loop import SpaceTimeTask, StepBatches, load_config, train
from satsr.train.spacetime import split_scores
from satsr.train.video_clips import VideoClips, VideoDegradation

CONFIGS = Path(satsr.__file__).parent / "train" / "configs"


@pytest.fixture(scope="module")
def satvideo(shared_data: Path) -> Path:
    return shared_data / "satvideo"


def test_windows_of_seven_keep_the_held_aside_frames_apart(satvideo):
    train_ds = VideoClips(satvideo, split="train", frames=4, time_scale=2, crop=64)
    val = VideoClips(satvideo, split="val", frames=4, time_scale=2, crop=64, augment=False)
    assert train_ds.span == 7 and len(train_ds) == (192 - 6) + (96 - 6) and len(val) == (48 - 6) + (24 - 6)
    for ci, (_name, paths) in enumerate(train_ds.clips):
        used = {t for c, centre in train_ds.windows if c == ci for t in range(centre - 3, centre + 4)}
        held = {t for c, centre in val.windows if c == ci for t in range(centre - 3, centre + 4)}
        assert max(used) < int(0.8 * len(paths)) <= min(held)
    with pytest.raises(InputError, match="positive odd"):
        VideoClips(satvideo, frames=4)  # four frames only as a space-time window


def test_sample_is_lr_of_even_frames_and_all_hr_frames(satvideo):
    bicubic = VideoDegradation(resamplers=["bicubic"])
    ds = VideoClips(satvideo, split="val", frames=4, time_scale=2, crop=128, augment=False, degradation=bicubic,
                    limit=2, flows={})
    s = ds[1]
    assert s["lr"].shape == (4, 3, 32, 32) and s["hr"].shape == (7, 3, 128, 128)
    ci, centre = ds.windows[1]
    whole = np.stack([ds._hr_frame(ci, t) for t in range(centre - 3, centre + 4)])
    h, w = whole.shape[-2:]
    y0, x0 = (h - 128) // 8 * 4, (w - 128) // 8 * 4
    np.testing.assert_array_equal(s["hr"].numpy(), whole[:, :, y0 : y0 + 128, x0 : x0 + 128])
    lr = np.clip(imresize(whole[::2], 1 / 4), 0, 1)[:, :, y0 // 4 : y0 // 4 + 32, x0 // 4 : x0 // 4 + 32]
    np.testing.assert_allclose(s["lr"].numpy(), lr, atol=1e-5)
    fwd, bwd = neighbour_flows(s["lr"].numpy())  # the flows the model would compute from these frames
    np.testing.assert_allclose(s["f_flow"].numpy(), fwd, atol=1e-6)
    np.testing.assert_allclose(s["b_flow"].numpy(), bwd, atol=1e-6)


def test_step_batches_are_pure_and_carry_the_flows(satvideo):
    deg = VideoDegradation(blur_sigma=(0, 0.6), noise_sigma=(0, 0.01), jpeg=(75, 95), jpeg_p=0.5)
    ds = VideoClips(satvideo, frames=4, time_scale=2, crop=128, degradation=deg, flows={})
    a, b = StepBatches([ds], 2, seed=3)[5], StepBatches([ds], 2, seed=3)[5]
    assert set(a) == {"lr", "hr", "f_flow", "b_flow"}
    assert a["lr"].shape == (2, 4, 3, 32, 32) and a["hr"].shape == (2, 7, 3, 128, 128)
    assert a["f_flow"].shape == (2, 3, 32, 32, 2)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_split_scores():
    rows = [(k, {"psnr": float(k)}) for k in range(7)]
    s = split_scores(rows)
    assert s == {"psnr": 3.0, "psnr_key": 3.0, "psnr_mid": 3.0}
    s = split_scores([(0, {"psnr": 30.0}), (1, {"psnr": 20.0}), (2, {"psnr": 32.0})])
    assert (s["psnr_key"], s["psnr_mid"]) == (31.0, 20.0)


def test_shipped_configs(shared_data):
    cfg = load_config(CONFIGS / "mstt-s-video.yaml", data_root=str(shared_data), out="/tmp/x")
    assert cfg.model == "mstt-s" and cfg.frames == 4 and cfg.init is None  # from scratch
    (data,) = cfg.data
    assert data["type"] == "video_clips" and data["split"] == "train" and data["holdout"] == 0.2
    assert cfg.val["split"] == "val" and cfg.val["holdout"] == 0.2
    assert "jilin" not in str(cfg.to_dict()).lower()  # the Jilin-1 clip is the test: never trained on
    gpu = load_config(CONFIGS / "mstt-gpu.yaml", data_root=str(shared_data), out="/tmp/x")
    assert gpu.model == "mstt" and gpu.device == "cuda" and gpu.batch_size == 1 and gpu.lr == 1e-5
    assert "jilin" not in str(gpu.to_dict()).lower()


def test_one_training_step_on_the_cpu(shared_data, tmp_path):
    """The shipped config, shrunk: one step of 32 x 32 LR windows, a finite loss, key and in-between scores."""
    cfg = load_config(CONFIGS / "mstt-s-video.yaml", data_root=str(shared_data), out=str(tmp_path / "run"),
                      device="cpu")
    (data,) = cfg.data
    cfg = replace(cfg, data=[{**data, "cache_mb": 64}], val={**cfg.val, "crop": 128, "limit": 1}, steps=1,
                  batch_size=1, warmup=0, val_every=1, ckpt_every=1)
    rows: list[dict] = []
    result = train(cfg, progress=False, log=rows.append)
    assert result["step"] == 1 and np.isfinite(result["loss"])
    val = result["val"]
    assert {"psnr_key", "psnr_mid", "gain_key", "gain_mid"} <= set(val)
    assert 20 < val["psnr_key"] < 50 and 20 < val["psnr_mid"] < 50
    assert abs(val["gain_key"]) < 0.5 and abs(val["gain_mid"]) < 0.5  # one step from the bicubic baseline
    header = (tmp_path / "run" / "log.csv").read_text().splitlines()[0]
    assert "val_psnr_key" in header and "val_gain_mid" in header


def test_space_time_models_train_on_video_clips_and_pseudo_video_only(shared_data, tmp_path):
    cfg = load_config(CONFIGS / "mstt-s-video.yaml", data_root=str(shared_data), out=str(tmp_path), device="cpu")
    task = SpaceTimeTask(cfg)
    with pytest.raises(InputError, match="video_clips.*pseudo_video"):
        task.dataset({"type": "jilin189", "root": str(shared_data)}, cfg)
    with pytest.raises(InputError, match="time_scale=2"):
        task.dataset({**cfg.data[0], "time_scale": 3}, cfg)


def test_pseudo_video_batches_with_real_video_as_space_time_windows(shared_data, tmp_path):
    """A ``pseudo_video`` entry gives the windows a ``video_clips`` entry gives, flows included: one batch of both."""
    cfg = load_config(CONFIGS / "mstt-s-video.yaml", data_root=str(shared_data), out=str(tmp_path), device="cpu")
    task = SpaceTimeTask(cfg)
    task.flow_options = {}  # as build() sets it for MSTT
    stills = str(shared_data / "refsr" / "rrssrd" / "val_1st" / "HR")
    pseudo = task.dataset({"type": "pseudo_video", "images": [stills], "crop": 128}, cfg)
    video = task.dataset({**cfg.data[0], "cache_mb": 64}, cfg)  # crop 128: LR of 32 px, enough for the flows
    assert (pseudo.time_scale, pseudo.span, pseudo.flows) == (2, 7, {})
    a, b = pseudo.sample(0, np.random.default_rng(0)), video.sample(0, np.random.default_rng(0))
    tensors = {k for k, v in a.items() if torch.is_tensor(v)}
    assert tensors == {k for k, v in b.items() if torch.is_tensor(v)} == {"lr", "hr", "f_flow", "b_flow"}
    assert all(a[k].shape == b[k].shape for k in tensors)  # so StepBatches stacks them into one batch
    batch = StepBatches([pseudo, video], 4, seed=0)[1]
    assert batch["lr"].shape == (4, 4, 3, 32, 32) and batch["hr"].shape == (4, 7, 3, 128, 128)
    assert batch["f_flow"].shape == batch["b_flow"].shape == (4, 3, 32, 32, 2)
    assert task.dataset({"type": "pseudo_video", "images": [stills], "crop": 128}, cfg, train=False).flows is None


def test_stretches():
    assert spacetime_stretches(7, 7) == [0]
    assert spacetime_stretches(120, 7, holdout=0.2) == [96, 103, 110]
    assert spacetime_stretches(20, 7, centres=[3, 10]) == [0, 7]
    with pytest.raises(InputError, match="do not fit"):
        spacetime_stretches(7, 7, centres=[2])
    with pytest.raises(InputError, match="no 7-frame stretch"):
        spacetime_stretches(6, 7)


@pytest.fixture
def tiny_clip(shared_data, tmp_path) -> Path:
    """The 7 real Jilin-1 GT frames, a 128 x 128 crop (LR made with MATLAB's bicubic: 32 x 32)."""
    gt = tmp_path / "airport" / "GT"
    gt.mkdir(parents=True)
    for p in sorted((shared_data / "jilin1_airport" / "GT").glob("*.png")):
        Image.open(p).crop((256, 256, 384, 384)).save(gt / p.name)
    return tmp_path / "airport"


def test_evaluate_reports_key_and_in_between_frames(tiny_clip):
    scores = evaluate_clips(tiny_clip, {"mstt-s": "mstt-s", "bicubic": "bicubic"}, pretrained={"mstt-s": False},
                            device="cpu")
    ours, base = (s for s in scores)
    assert ours.frames == base.frames == (0,)
    for key in ("psnr", "psnr_key", "psnr_mid", "ssim_key", "ssim_mid"):
        assert ours.scores[key] == pytest.approx(base.scores[key], abs=0.02)  # untrained: the baseline
    # the baseline of the frames in between: bicubic of the mean of the two LR neighbours, scored on its own
    from satsr.metrics import evaluate as evaluate_pair
    from satsr.train.evaluate import _as_stack

    lr, gt = load_clip(tiny_clip)
    mids = np.stack([(lr[k - 1] + lr[k + 1]) / 2 for k in (1, 3, 5)])
    up = satsr.upscale(_as_stack(mids), "bicubic", device="cpu").values
    psnr = np.mean([evaluate_pair(np.clip(u, 0, 1), gt[k], protocol="standard")["psnr"]
                    for u, k in zip(up, (1, 3, 5))])
    assert base.scores["psnr_mid"] == pytest.approx(psnr, abs=1e-6)
    assert base.scores["psnr_key"] > base.scores["psnr_mid"]  # the neighbours' mean blurs what moved
    assert "mstt-s over bicubic: " in format_gains(scores) and "PSNR_MID" in format_gains(scores)
