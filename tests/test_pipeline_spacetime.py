"""The time axis in the spine: space-time models make (N - 1) r + 1 frames from N, each exactly once."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from torch import nn

import satsr
from satsr.models import wrap
from satsr.tiling import space_time_windows


class MidpointX2(nn.Module):
    """4 frames in, 7 out: the inputs and the mean of each pair, each upsampled x2 by pixel replication."""

    calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        MidpointX2.calls += x.shape[0]
        frames = []
        for i in range(x.shape[1]):
            frames.append(x[:, i])
            if i + 1 < x.shape[1]:
                frames.append((x[:, i] + x[:, i + 1]) / 2)
        y = torch.stack(frames, dim=1)
        return y.repeat_interleave(2, dim=-1).repeat_interleave(2, dim=-2)


class ConvSpaceTime(nn.Module):
    """Random local space-time net: per-frame convs, features blended linearly in time, pixel shuffle x2."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c, h, w = x.shape
        f = self.body(x.reshape(b * n, c, h, w)).view(b, n, 12, h, w)
        seq = [f[:, 0]]
        for i in range(n - 1):
            seq += [0.3 * f[:, i] + 0.7 * f[:, i + 1], f[:, i + 1]]
        y = torch.stack(seq, dim=1).reshape(b * (2 * n - 1), 12, h, w)
        return nn.functional.pixel_shuffle(y, 2).view(b, 2 * n - 1, 3, 2 * h, 2 * w)


def _clip(make_geotiff, n: int, size=(12, 16)):
    paths = [make_geotiff(f"f{i}.tif", shape=(3, *size), seed=i, datetime=f"2021:05:15 10:30:{2 * i:02d}")
             for i in range(n)]
    return satsr.open_stack(paths)


def test_windows_cover_every_output_once():
    for n in range(1, 12):
        windows = space_time_windows(n, 4, 2)
        outs = [j for _, owned in windows for j, _ in owned]
        assert sorted(outs) == list(range(2 * n - 1)), n
        for frames, owned in windows:
            assert len(frames) == 4 and all(0 <= f < n for f in frames)
            for j, o in owned:  # output j is half-step j / 2, made by window position o / 2
                assert frames[0] * 2 + o == j or frames[-1] == n - 1


@pytest.mark.parametrize("n", [7, 5, 2])
def test_space_time_output_frames_and_times(make_geotiff, n):
    clip = _clip(make_geotiff, n)
    model = wrap(MidpointX2(), scale=2, frames_in=4, time_scale=2, name="midpoint")
    MidpointX2.calls = 0
    sr = satsr.upscale(clip, model, device="cpu")
    assert sr.sizes["time"] == 2 * n - 1 and sr.attrs["satsr_time_scale"] == 2
    out = sr.values.astype(np.float64)
    lr = clip.values.astype(np.float64)
    up = lr.repeat(2, axis=-1).repeat(2, axis=-2)
    for k in range(n):
        np.testing.assert_allclose(out[2 * k], up[k], atol=1)  # uint16 round trip
        if k + 1 < n:
            np.testing.assert_allclose(out[2 * k + 1], (up[k] + up[k + 1]) / 2, atol=1)
    times = sr["time"].values.astype("datetime64[ms]")
    assert str(times[0]) == "2021-05-15T10:30:00.000" and str(times[1]) == "2021-05-15T10:30:01.000"
    assert list(sr["source"].values[:3]) == [str(clip["source"].values[0]), "", str(clip["source"].values[1])]
    assert MidpointX2.calls == len(space_time_windows(n, 4, 2))  # one tile: each window run once


def test_space_time_tiles_equal_the_whole_clip(make_geotiff):
    clip = _clip(make_geotiff, 7, size=(20, 28))
    model = wrap(ConvSpaceTime(), scale=2, frames_in=4, time_scale=2, halo=2, name="conv-st")
    whole = satsr.upscale(clip.astype("float32") / 65535, model, tile=64, device="cpu").values
    tiled = satsr.upscale(clip.astype("float32") / 65535, model, tile=8, batch_size=3, device="cpu").values
    feathered = satsr.upscale(clip.astype("float32") / 65535, model, tile=8, blend="feather", feather=2,
                              device="cpu").values
    assert whole.shape == (13, 3, 40, 56) and np.abs(whole).max() > 0.05
    assert np.abs(tiled - whole).max() <= 1e-5 and np.abs(feathered - whole).max() <= 1e-5


def test_to_cog_names_and_tags_every_frame_with_its_time(make_geotiff, tmp_path):
    clip = _clip(make_geotiff, 3)
    model = wrap(MidpointX2(), scale=2, frames_in=4, time_scale=2, name="midpoint")
    files = satsr.to_cog(satsr.upscale(clip, model, device="cpu"), tmp_path / "out")
    assert [f.name for f in files] == [
        "frame_0000_t20210515T103000.tif", "frame_0001_t20210515T103001.tif", "frame_0002_t20210515T103002.tif",
        "frame_0003_t20210515T103003.tif", "frame_0004_t20210515T103004.tif",
    ]
    with rasterio.open(files[1]) as src:
        assert src.tags()["SATSR_TIME"] == "2021-05-15T10:30:01"
        assert src.tags()["TIFFTAG_DATETIME"] == "2021:05:15 10:30:01"


def test_frame_indices_become_half_steps(make_geotiff, tmp_path):
    paths = [make_geotiff(f"g{i}.tif", shape=(3, 8, 8), seed=i) for i in range(3)]
    clip = satsr.open_stack(paths)  # no acquisition times: frame indices 0, 1, 2
    model = wrap(MidpointX2(), scale=2, frames_in=4, time_scale=2, name="midpoint")
    sr = satsr.upscale(clip, model, device="cpu")
    assert sr["time"].values.tolist() == [0, 0.5, 1, 1.5, 2]
    files = satsr.to_cog(sr, tmp_path / "out")
    assert files[1].name == "frame_0001_t0.5.tif"
