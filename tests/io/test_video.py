"""Video files: open_video (lazy, exact against PyAV), georeferencing, times, errors, info, to_video, CLI."""

from __future__ import annotations

import json
import pickle
from fractions import Fraction
from pathlib import Path

import av
import dask
import numpy as np
import pytest
from affine import Affine
from click.testing import CliRunner
from PIL import Image

import satsr
from satsr.cli import main
from satsr.errors import GeoreferenceError, InputError, OutputError
from satsr.geo import Grid
from satsr.io import video as video_mod
from satsr.io.coords import PIXEL_COORDS_NOTE
from satsr.io.video import open_video, to_video, video_info, write_sidecar

N, H, W = 16, 96, 128  # frames and crop of the real clip (small: the whole module runs in a few seconds)
CRS = "EPSG:32650"
T = Affine(0.9, 0, 400000, 0, -0.9, 3500000)
PTS_VFR = [0, 40, 120, 130, 200, 330, 340, 400, 480, 600, 640, 700]


@pytest.fixture(scope="module")
def frames(shared_data: Path) -> np.ndarray:
    """``(N, H, W, 3)`` uint8: a crop of the first frames of the real satellite clip macf_012."""
    files = sorted((shared_data / "satvideo" / "macf_012" / "GT").glob("*.jpg"))[:N]
    assert len(files) == N
    return np.stack([np.asarray(Image.open(f).convert("RGB"))[300 : 300 + H, 400 : 400 + W] for f in files])


def encode(path: Path, frames: np.ndarray, codec: str, pix_fmt: str = "yuv420p", *, options: dict | None = None,
           pts: list[int] | None = None, rate: int = 10) -> Path:
    """Encode ``frames`` with PyAV; ``pts`` (milliseconds) makes a variable-frame-rate clip."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        stream.options = options or {}
        if pts is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i, a in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(a), format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def clips(frames: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    return {
        # B-frames (decode order differs from presentation order) and a keyframe every 5 frames
        "h264": encode(d / "clip.mp4", frames, "libx264", options={"bf": "2", "g": "5", "crf": "20"}),
        "ffv1": encode(d / "clip.mkv", frames, "ffv1", "bgr0"),
        "mpeg4": encode(d / "clip.avi", frames, "mpeg4", options={"bf": "2", "g": "6"}),
        "hevc": encode(d / "hevc.mkv", frames, "libx265", options={"x265-params": "log-level=error:keyint=6"}),
        "vfr": encode(d / "vfr.mkv", frames[: len(PTS_VFR)], "libx264", options={"bf": "2", "g": "4"},
                      pts=PTS_VFR),
    }


def reset() -> None:
    """Forget this process's idle decoders and decoded chunks, so the next read starts from scratch."""
    video_mod._POOL.clear()
    video_mod._CACHE.clear()


def pyav_frames(path: Path, fmt: str = "rgb24") -> np.ndarray:
    with av.open(str(path)) as c:
        out = [f.to_ndarray(format=fmt) for f in c.decode(video=0)]
    return np.stack([a.transpose(2, 0, 1) if a.ndim == 3 else a[None] for a in out])


# -- reading --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["h264", "ffv1", "mpeg4", "hevc", "vfr"])
def test_content_equals_pyav_decoding(clips, kind):
    clip = open_video(clips[kind], crs=CRS, transform=T, frames_per_chunk=3)
    ref = pyav_frames(clips[kind])
    assert clip.dims == ("time", "band", "y", "x") and clip.dtype == np.uint8
    assert clip.shape == ref.shape == (len(ref), 3, H, W)
    assert max(clip.chunks[0]) <= 3
    reset()
    np.testing.assert_array_equal(clip.values, ref)
    # out of order and fancy indexing, from fresh decoders
    reset()
    np.testing.assert_array_equal(clip.isel(time=[9, 2, 7]).values, ref[[9, 2, 7]])
    np.testing.assert_array_equal(clip[4, 1, 10:20, 5].values, ref[4, 1, 10:20, 5])
    assert list(clip["description"].values) == ["red", "green", "blue"]


def test_ffv1_is_lossless(clips, frames):
    np.testing.assert_array_equal(open_video(clips["ffv1"], crs=CRS, transform=T).values,
                                  frames.transpose(0, 3, 1, 2))


def test_threaded_compute_equals_pyav(clips):
    clip = open_video(clips["h264"], crs=CRS, transform=T, frames_per_chunk=2)
    with dask.config.set(scheduler="threads", num_workers=3):
        np.testing.assert_array_equal(clip.values, pyav_frames(clips["h264"]))


def test_gray_video_has_one_band(tmp_path, frames):
    path = encode(tmp_path / "gray.mkv", frames[:4], "ffv1", "gray")
    clip = open_video(path, allow_ungeoreferenced=True)
    assert clip.sizes["band"] == 1 and list(clip["description"].values) == ["gray"]
    np.testing.assert_array_equal(clip.values, pyav_frames(path, "gray"))


def test_times_from_container(clips):
    clip = open_video(clips["h264"], crs=CRS, transform=T)
    assert clip["time"].dtype == np.dtype("timedelta64[ns]")
    np.testing.assert_array_equal(clip["time"].values, np.arange(N) * np.timedelta64(100, "ms"))
    assert clip.attrs["video_fps"] == 10 and clip.attrs["video_codec"] == "h264"
    vfr = open_video(clips["vfr"], crs=CRS, transform=T, start_time="2023-05-01T10:00:00")
    want = np.datetime64("2023-05-01T10:00:00", "ns") + np.array(PTS_VFR) * np.timedelta64(1, "ms")
    np.testing.assert_array_equal(vfr["time"].values, want)
    explicit = open_video(clips["ffv1"], crs=CRS, transform=T, times=list(range(100, 100 + N)))
    assert explicit["time"].values[0] == 100
    with pytest.raises(InputError, match="start_time"):
        open_video(clips["ffv1"], crs=CRS, transform=T, start_time="yesterday-ish")
    with pytest.raises(InputError, match="times has 3 values"):
        open_video(clips["ffv1"], crs=CRS, transform=T, times=[1, 2, 3])


class _Counting(video_mod._Cursor):
    """A decoder that counts the frames it decodes and the seeks it makes."""

    decoded = 0
    seeks = 0

    def __init__(self, index):
        super().__init__(index)
        self.frames = self._count(self.frames)

    def seek(self, pts):
        super().seek(pts)
        type(self).seeks += 1
        self.frames = self._count(self.frames)

    @classmethod
    def _count(cls, frames):
        for f in frames:
            cls.decoded += 1
            yield f


def test_chunks_decode_only_their_group_of_pictures(clips, monkeypatch):
    monkeypatch.setattr(video_mod, "_Cursor", _Counting)
    clip = open_video(clips["h264"], crs=CRS, transform=T, frames_per_chunk=2)  # keyframes at 0, 5, 10, 15
    starts = np.cumsum((0, *clip.chunks[0]))
    assert {5, 10, 15} <= set(starts) and max(clip.chunks[0]) == 2  # chunks never straddle a keyframe
    reset()
    _Counting.decoded = _Counting.seeks = 0
    clip.isel(time=slice(10, 12)).compute()  # a chunk at a keyframe: one seek, its two frames
    assert (_Counting.decoded, _Counting.seeks) == (2, 1)
    reset()
    _Counting.decoded = _Counting.seeks = 0
    clip.isel(time=slice(13, 15)).compute()  # inside a group: decoded from its keyframe (10), nothing else
    assert (_Counting.decoded, _Counting.seeks) == (5, 1)
    # a loop over single frames: each chunk decoded once (the block cache), continuing one decoder
    reset()
    _Counting.decoded = _Counting.seeks = 0
    for t in range(N):
        clip.isel(time=t).compute()
    assert (_Counting.decoded, _Counting.seeks) == (N, 0)
    # the whole clip in dask's order (last chunks first): every frame decoded once; with threads racing for
    # the chunks of one group, some twice at most
    for scheduler, most in (("synchronous", N), ("threads", 2 * N)):
        reset()
        _Counting.decoded = 0
        with dask.config.set(scheduler=scheduler, num_workers=3):
            clip.compute()
        assert N <= _Counting.decoded <= most


def test_graph_pickles_and_holds_no_container(clips):
    clip = open_video(clips["h264"], crs=CRS, transform=T, frames_per_chunk=4)
    data = pickle.loads(pickle.dumps(clip.data))
    reset()
    np.testing.assert_array_equal(data[5:9].compute(scheduler="synchronous"), pyav_frames(clips["h264"])[5:9])


def test_spatial_chunks(clips):
    clip = open_video(clips["ffv1"], crs=CRS, transform=T, chunks=64, frames_per_chunk=4)
    assert clip.chunks[2] == (64, 32) and clip.chunks[3] == (64, 64)
    np.testing.assert_array_equal(clip.values, pyav_frames(clips["ffv1"]))


# -- georeferencing -------------------------------------------------------------------------------------------
def test_georeferencing_from_arguments(clips):
    clip = open_video(clips["h264"], crs=CRS, transform=tuple(T)[:6])
    grid = Grid.from_xarray(clip)
    assert grid.transform == T and grid.crs.to_epsg() == 32650 and grid.shape == (H, W)
    assert float(clip["x"][0]) == 400000 + 0.45 and "georeferencing" not in clip.attrs


def test_georeferencing_from_sidecar(tmp_path, clips):
    path = tmp_path / "side.mp4"
    path.write_bytes(clips["h264"].read_bytes())
    written = write_sidecar(path, Grid((H, W), T, CRS))
    assert [p.name for p in written] == ["side.wld", "side.prj"]
    clip = open_video(path)
    assert Grid.from_xarray(clip).transform.almost_equals(T) and Grid.from_xarray(clip).crs.to_epsg() == 32650
    assert open_video(path, crs=CRS, transform=T).sizes["time"] == N  # agreeing arguments are fine
    with pytest.raises(GeoreferenceError, match="side.wld conflicts"):
        open_video(path, transform=(1, 0, 0, 0, -1, 0))
    (tmp_path / "side.prj").unlink()
    with pytest.raises(GeoreferenceError, match="transform only"):
        open_video(path)
    assert Grid.from_xarray(open_video(path, crs=CRS)).crs.to_epsg() == 32650
    (tmp_path / "side.wld").write_text("1\n2\nthree\n")
    with pytest.raises(GeoreferenceError, match="six numbers"):
        open_video(path, crs=CRS)


def test_no_georeferencing(clips):
    with pytest.raises(GeoreferenceError, match=r"clip\.mp4: has no CRS or geotransform.*--crs, --transform"):
        open_video(clips["h264"])
    clip = open_video(clips["h264"], allow_ungeoreferenced=True)
    assert clip.attrs["georeferencing"] == PIXEL_COORDS_NOTE and float(clip["x"][0]) == 0.5
    with pytest.raises(GeoreferenceError, match="rotat|shear"):
        open_video(clips["h264"], crs=CRS, transform=(1, 0.5, 0, 0.5, -1, 0))


def test_open_stack_dispatches_to_video(clips):
    stack = satsr.open_stack(clips["h264"], crs=CRS, transform=T)
    assert stack.sizes == {"time": N, "band": 3, "y": H, "x": W}
    assert str(stack["source"].values[0]) == str(clips["h264"])
    with pytest.raises(InputError, match="one clip at a time"):
        satsr.open_stack([clips["h264"], clips["ffv1"]], crs=CRS, transform=T)


def test_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match=r"missing\.mp4: no such file"):
        open_video(tmp_path / "missing.mp4", crs=CRS, transform=T)
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    with pytest.raises(InputError, match=r"garbage\.mp4: not a readable video"):
        satsr.open_stack(bad, crs=CRS, transform=T)
    with pytest.raises(InputError, match="frames_per_chunk"):
        open_video(bad, frames_per_chunk=0)


def test_truncated_clip_fails_with_input_error(tmp_path, clips):
    data = clips["h264"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])  # moov atom at the end: the header is gone
    with pytest.raises(InputError, match=r"cut\.mp4"):
        open_video(cut, crs=CRS, transform=T)


# -- info -----------------------------------------------------------------------------------------------------
def test_video_info_and_cli(clips):
    info = video_info(clips["h264"])
    assert (info["frames"], info["fps"], info["width"], info["height"], info["codec"]) == (N, 10.0, W, H, "h264")
    assert info["duration_s"] == pytest.approx(N / 10) and info["keyframes"] == 4
    assert not info["variable_frame_rate"] and not info["georeferenced"]
    assert video_info(clips["vfr"])["variable_frame_rate"]
    runner = CliRunner()
    result = runner.invoke(main, ["info", str(clips["h264"])])
    assert result.exit_code == 0, result.output
    for text in ("frames:", "16", "fps:", "duration:", "1.600 s", "h264", f"{W} x {H}"):
        assert text in result.stdout
    result = runner.invoke(main, ["info", str(clips["ffv1"]), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["codec"] == "ffv1"
    bad = runner.invoke(main, ["info", str(clips["h264"].with_name("nope.mp4"))])
    assert bad.exit_code == 1 and "nope.mp4: no such file" in bad.output


# -- writing --------------------------------------------------------------------------------------------------
def test_to_video_round_trip(tmp_path, clips):
    clip = open_video(clips["h264"], crs=CRS, transform=T, start_time="2023-05-01T10:00:00")
    out = to_video(clip, tmp_path / "out.mp4", progress=False)
    info = video_info(out)
    assert (info["frames"], info["fps"], info["width"], info["height"]) == (N, 10.0, W, H)
    assert info["georeferenced"] and info["crs"] == "EPSG:32650"  # the sidecar
    back = open_video(out)
    assert Grid.from_xarray(back).transform.almost_equals(T)
    np.testing.assert_array_equal(back["time"].values, clip["time"].values - clip["time"].values[0])
    err = np.abs(back.values.astype(int) - clip.values.astype(int)).mean()
    assert err < 3  # H.264 at crf 18
    assert not list(tmp_path.glob(".*satsr-*"))


def test_to_video_ffv1_exact_and_stretch(tmp_path, clips, frames):
    clip = open_video(clips["ffv1"], crs=CRS, transform=T)
    out = to_video(clip, tmp_path / "exact.mkv", codec="ffv1", progress=False)
    np.testing.assert_array_equal(open_video(out).values, frames.transpose(0, 3, 1, 2))
    # floats: stretched with value_range; odd sizes padded to even for yuv420p
    small = clip.isel(x=slice(0, 51), y=slice(0, 33)).astype("float32") * 4
    out = to_video(small, tmp_path / "float.mp4", value_range=(0, 1020), progress=False)
    assert (video_info(out)["width"], video_info(out)["height"]) == (52, 34)
    got = open_video(out, allow_ungeoreferenced=True, crs=CRS, transform=T).values[:, :, :33, :51]
    assert np.abs(got.astype(int) - clip.values[:, :, :33, :51].astype(int)).mean() < 6  # 4:2:0 chroma, small


def test_to_video_side_by_side(tmp_path, clips):
    clip = open_video(clips["ffv1"], crs=CRS, transform=T)
    left = clip.copy(data=255 - clip.data)
    out = to_video(clip, tmp_path / "sbs.mkv", codec="ffv1", baseline=left, gap=2, progress=False)
    back = open_video(out, allow_ungeoreferenced=True).values
    assert back.shape == (N, 3, H, 2 * W + 2) and not out.with_suffix(".wld").exists()
    np.testing.assert_array_equal(back[..., :W], 255 - clip.values)
    np.testing.assert_array_equal(back[..., W + 2 :], clip.values)
    assert (back[..., W : W + 2] == 0).all()
    with pytest.raises(InputError, match="baseline is"):
        to_video(clip, tmp_path / "x.mp4", baseline=left.isel(x=slice(0, 10)), progress=False)


def test_to_video_errors(tmp_path, clips):
    clip = open_video(clips["ffv1"], crs=CRS, transform=T)
    frames_only = clip.assign_coords(time=np.arange(N))
    with pytest.raises(InputError, match="pass fps="):
        to_video(frames_only, tmp_path / "a.mp4", progress=False)
    assert video_info(to_video(frames_only, tmp_path / "a.mp4", fps=25, progress=False))["fps"] == 25
    with pytest.raises(OutputError, match="no encoder 'nope'"):
        to_video(clip, tmp_path / "b.mp4", codec="nope", progress=False)
    with pytest.raises(OutputError, match="not a video file name"):
        to_video(clip, tmp_path / "b.tif", progress=False)
    assert to_video(clip, tmp_path / "new" / "b.mp4", progress=False).is_file()  # missing folders are made
    with pytest.raises(OutputError, match="encoding with mpeg4 failed|cannot"):
        to_video(clip, tmp_path / "c.mp4", codec="mpeg4", pix_fmt="nv24", progress=False)
    assert not (tmp_path / "c.mp4").exists() and not list(tmp_path.glob(".*satsr-*"))


def test_writers_take_a_timedelta_time_coordinate(tmp_path, clips):
    clip = open_video(clips["ffv1"], crs=CRS, transform=T).isel(time=slice(0, 3))
    store = satsr.to_zarr(clip, tmp_path / "c.zarr")
    back = satsr.open_zarr(store)
    np.testing.assert_array_equal(back["time"].values, clip["time"].values)
    np.testing.assert_array_equal(back.values, clip.values)
    files = satsr.to_cog(clip, tmp_path / "cogs")
    assert [p.name for p in files] == ["frame_0000.tif", "frame_0001.tif", "frame_0002.tif"]


# -- command line ---------------------------------------------------------------------------------------------
def test_cli_upscale_video_end_to_end(tmp_path, clips):
    runner = CliRunner()
    out, mp4 = tmp_path / "sr", tmp_path / "sr.mp4"
    t = ",".join(str(v) for v in tuple(T)[:6])
    clip = tmp_path / "short.mkv"
    encode(clip, pyav_frames(clips["ffv1"])[:4].transpose(0, 2, 3, 1), "ffv1", "bgr0")
    result = runner.invoke(main, ["upscale", str(clip), "--crs", CRS, "--transform", t, "-m", "bicubic", "-s", "2",
                                  "-o", str(out), "--video", str(mp4), "--video-side-by-side", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*.tif"))) == 4
    info = video_info(mp4)
    assert (info["frames"], info["fps"], info["width"], info["height"]) == (4, 10.0, 2 * 2 * W + 4, 2 * H)
    assert "video:" in result.stdout
    g = Grid.from_xarray(satsr.open_stack(out / "frame_0000.tif"))
    assert g.transform.almost_equals(Affine(0.45, 0, 400000, 0, -0.45, 3500000))
