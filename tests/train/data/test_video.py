"""Data sets of real frame sequences: shapes, window choice, LR/HR alignment, augmentation, errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.errors import NotGeoreferencedWarning

from satsr.degrade import degrade, imresize
from satsr.errors import InputError
from satsr.io import open_stack
from satsr.train.data import Degradation, FrameFolders, GeoStacks, Jilin189, VimeoSeptuplet

LR_ROUNDING = 0.5 / 255 + 1e-6  # LR PNGs on disk are the bicubic result rounded to 8 bits


def _read(path: Path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            return src.read()


def _write(path: Path, data: np.ndarray) -> Path:
    driver = "PNG" if path.suffix == ".png" else "GTiff"
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(
            path, "w", driver=driver, width=data.shape[2], height=data.shape[1], count=data.shape[0],
            dtype=data.dtype,
        ) as dst:
            dst.write(data)
    return path


@pytest.fixture(scope="module")
def jilin(shared_data: Path) -> Path:
    return shared_data / "jilin1_airport"


def _frame(folder: Path, i: int) -> np.ndarray:
    return _read(folder / f"{i:08d}.png").astype(np.float32) / 255


# -- Jilin-189 ------------------------------------------------------------------------------------------------------
def test_jilin_whole_frames_window_and_centre(shared_data, jilin):
    ds = Jilin189(shared_data, ["jilin1_airport"])
    assert len(ds) == 7
    s = ds[3]
    assert set(s) == {"lr", "hr", "key"} and s["key"] == "jilin1_airport/00000003"
    assert s["lr"].shape == (5, 3, 160, 160) and s["hr"].shape == (3, 640, 640)
    assert s["lr"].dtype == s["hr"].dtype == torch.float32
    np.testing.assert_array_equal(s["hr"].numpy(), _frame(jilin / "GT", 3))
    for k, t in enumerate(range(1, 6)):
        np.testing.assert_array_equal(s["lr"][k].numpy(), _frame(jilin / "LR4x", t))


def test_jilin_clamps_window_at_clip_ends(shared_data, jilin):
    ds = Jilin189(shared_data)
    lr_files = [_frame(jilin / "LR4x", t) for t in range(7)]
    for index, want in ((0, [0, 0, 0, 1, 2]), (6, [4, 5, 6, 6, 6]), (1, [0, 0, 1, 2, 3])):
        lr = ds[index]["lr"].numpy()
        for k, t in enumerate(want):
            np.testing.assert_array_equal(lr[k], lr_files[t])
    sub = Jilin189(shared_data, centres=range(2, 5), frames=3)
    assert len(sub) == 3 and [sub[i]["key"][-1] for i in range(3)] == ["2", "3", "4"]
    assert sub[0]["lr"].shape[0] == 3


def test_jilin_crop_alignment_with_lr_from_disk(shared_data):
    ds = Jilin189(shared_data, crop=96, seed=3)
    for i in range(7):
        s = ds[i]
        assert s["lr"].shape == (5, 3, 24, 24) and s["hr"].shape == (3, 96, 96)
        # Away from the crop's border (where the whole frame's pixels differ from the crop's padding), the HR
        # crop downscaled is the LR crop: the crops are aligned to the pixel.
        down = np.clip(imresize(s["hr"].numpy(), 1 / 4), 0, 1)
        assert np.abs(down - s["lr"][2].numpy())[:, 2:-2, 2:-2].max() <= LR_ROUNDING


def test_lr_on_the_fly_equals_the_whole_frames_lr(shared_data):
    disk = Jilin189(shared_data, crop=64, seed=5)
    fly = Jilin189(shared_data, crop=64, seed=5, use_disk_lr=False)
    for i in (0, 3, 6):
        a, b = disk[i], fly[i]
        assert torch.equal(a["hr"], b["hr"])  # same draws, same crop
        # The crop is degraded with real context, so even its border matches the whole frame's LR.
        assert (a["lr"] - b["lr"]).abs().max().item() <= LR_ROUNDING
    whole = Jilin189(shared_data, use_disk_lr=False, frames=1)[2]
    want = degrade(whole["hr"].numpy())
    np.testing.assert_allclose(whole["lr"][0].numpy(), want, atol=1e-6)


_DIHEDRAL = {
    (h, v, t): (lambda x, h=h, v=v, t=t: _apply(x, h, v, t)) for h in (0, 1) for v in (0, 1) for t in (0, 1)
}


def _apply(x: np.ndarray, h: int, v: int, t: int) -> np.ndarray:
    if h:
        x = x[..., ::-1]
    if v:
        x = x[..., ::-1, :]
    if t:
        x = x.swapaxes(-1, -2)
    return x


def test_augmentation_is_identical_across_frames_and_lr_hr(shared_data):
    opts = {"crop": 64, "seed": 1, "use_disk_lr": False}
    plain, aug = Jilin189(shared_data, **opts), Jilin189(shared_data, augment=True, **opts)
    seen = set()
    for i in range(7):
        p, a = plain[i], aug[i]  # the crop is drawn before the flips: same crop
        hits = [g for g, f in _DIHEDRAL.items() if np.array_equal(f(p["hr"].numpy()), a["hr"].numpy())]
        assert hits, f"sample {i}: augmented HR is no flip/turn of the plain one"
        g = hits[0]
        np.testing.assert_array_equal(_DIHEDRAL[g](p["lr"].numpy()), a["lr"].numpy())
        seen.add(g)
        down = np.clip(imresize(a["hr"].numpy(), 1 / 4), 0, 1)
        np.testing.assert_allclose(down[:, 2:-2, 2:-2], a["lr"][2, :, 2:-2, 2:-2].numpy(), atol=1e-5)
    assert len(seen) > 1


def test_blur_and_noise(shared_data):
    sharp = Jilin189(shared_data, crop=64, seed=2, use_disk_lr=False)[4]
    # blur: LR made on the fly
    blurred = Jilin189(shared_data, crop=64, seed=2, degradation=Degradation(blur_sigma=1.2))[4]
    assert torch.equal(sharp["hr"], blurred["hr"])
    assert blurred["lr"].std() < sharp["lr"].std()
    noisy = [Jilin189(shared_data, crop=64, seed=2, degradation=Degradation(noise_sigma=(0.01, 0.05)))[4]
             for _ in range(2)]
    assert torch.equal(noisy[0]["lr"], noisy[1]["lr"])
    assert 0 <= noisy[0]["lr"].min() and noisy[0]["lr"].max() <= 1
    assert (noisy[0]["lr"] - Jilin189(shared_data, crop=64, seed=2)[4]["lr"]).std() > 0.005


def test_jilin_errors(tmp_path, shared_data):
    with pytest.raises(InputError, match="no such folder"):
        Jilin189(tmp_path / "missing")
    with pytest.raises(InputError, match="GT/"):
        Jilin189(tmp_path)
    (tmp_path / "clip" / "GT").mkdir(parents=True)
    with pytest.raises(InputError, match="holds no frames"):
        Jilin189(tmp_path)
    with pytest.raises(InputError, match="odd"):
        Jilin189(shared_data, frames=4)
    with pytest.raises(InputError, match="multiple of scale"):
        Jilin189(shared_data, crop=50)
    with pytest.raises(InputError, match="smaller than the crop"):
        Jilin189(shared_data, crop=800)


# -- Vimeo-90K ------------------------------------------------------------------------------------------------------
def test_vimeo_real_folder(shared_data):
    root = shared_data / "vimeo_septuplet"
    ds = VimeoSeptuplet(root)
    assert len(ds) == 2
    assert ds[0]["key"] == "basicvsrpp/tests/data/vimeo90k/00001/0266/im4"
    folder = root / "zooming_slowmo" / "test_example" / "0625"
    s = ds[1]
    assert s["lr"].shape == (5, 3, 16, 28) and s["hr"].shape == (3, 64, 112)
    np.testing.assert_array_equal(s["hr"].numpy(), _read(folder / "im4.png") / np.float32(255))
    for k, i in enumerate(range(2, 7)):  # frames=5: im2..im6
        want = degrade(_read(folder / f"im{i}.png") / 255.0)
        np.testing.assert_allclose(s["lr"][k].numpy(), want, atol=1e-6)
    seven = VimeoSeptuplet(root, frames=7, crop=32)[1]
    assert seven["lr"].shape == (7, 3, 8, 8) and seven["hr"].shape == (3, 32, 32)
    with pytest.raises(InputError, match="at most 7"):
        VimeoSeptuplet(root, frames=9)


def test_vimeo_official_layout_and_list_file(tmp_path):
    rng = np.random.default_rng(0)
    for rel in ("00001/0001", "00001/0002"):
        for i in range(1, 8):
            _write(tmp_path / "sequences" / rel / f"im{i}.png", rng.integers(0, 256, (3, 32, 48), dtype=np.uint8))
    (tmp_path / "sep_trainlist.txt").write_text("00001/0002\n\n")
    assert [VimeoSeptuplet(tmp_path)[i]["key"] for i in range(2)] == ["00001/0001/im4", "00001/0002/im4"]
    listed = VimeoSeptuplet(tmp_path, "sep_trainlist.txt", frames=3)
    assert len(listed) == 1 and listed[0]["lr"].shape == (3, 3, 8, 12)
    with pytest.raises(InputError, match="no such list file"):
        VimeoSeptuplet(tmp_path, "sep_testlist.txt")
    (tmp_path / "sequences" / "00001" / "0001" / "im5.png").unlink()
    with pytest.raises(InputError, match="lacks im5.png"):
        VimeoSeptuplet(tmp_path)
    (tmp_path / "other").mkdir()
    with pytest.raises(InputError, match="no Vimeo-90K septuplets"):
        VimeoSeptuplet(tmp_path / "other")
    with pytest.raises(InputError, match="no such folder"):
        VimeoSeptuplet(tmp_path / "missing")


# -- frame folders --------------------------------------------------------------------------------------------------
def _clip_folders(root: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(1)
    a = [rng.integers(0, 256, (3, 32, 40), dtype=np.uint8) for _ in range(4)]
    b = [rng.integers(0, 65536, (3, 40, 48), dtype=np.uint16) for _ in range(3)]
    for i, x in enumerate(a):
        _write(root / "clip_a" / f"f{i}.png", x)
    for i, x in enumerate(b):
        _write(root / "clip_b" / f"f{i}.tif", x)
    return a, b


def test_frame_folders(tmp_path):
    a, b = _clip_folders(tmp_path)
    ds = FrameFolders(tmp_path, frames=3, crop=32)
    assert len(ds) == 7 and ds[0]["key"] == "clip_a/f0" and ds[4]["key"] == "clip_b/f0"
    for i in range(7):
        s = ds[i]
        assert s["lr"].shape == (3, 3, 8, 8) and s["hr"].shape == (3, 32, 32)
    whole = FrameFolders(tmp_path, frames=3)
    np.testing.assert_allclose(whole[5]["hr"].numpy(), b[1] / 65535, atol=1e-6)
    np.testing.assert_allclose(whole[0]["hr"].numpy(), a[0] / 255, atol=1e-6)
    scaled = FrameFolders(tmp_path, frames=1, value_range=(0, 30000), bands=[3, 2, 1])[6]["hr"].numpy()
    np.testing.assert_allclose(scaled, np.clip(b[2][::-1] / 30000, 0, 1), atol=1e-6)
    single = FrameFolders(tmp_path / "clip_a", frames=3)  # a folder of frames is one clip
    assert len(single) == 4 and single[0]["key"] == "clip_a/f0"


def test_frame_folders_errors(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        FrameFolders(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: folder holds no frames"):
        FrameFolders(tmp_path / "empty")
    _clip_folders(tmp_path / "data")
    _write(tmp_path / "data" / "clip_a" / "f2.png", np.zeros((3, 36, 40), np.uint8))  # one frame of another size
    ds = FrameFolders(tmp_path / "data", frames=3)
    with pytest.raises(InputError, match=r"f2\.png: frame is 3x36x40"):
        for i in range(len(ds)):
            ds[i]
    with pytest.raises(InputError, match="bands"):
        FrameFolders(tmp_path / "data", bands=[4])


# -- geo stacks -----------------------------------------------------------------------------------------------------
def test_geo_stacks(make_geotiff, tmp_path):
    paths = [make_geotiff(f"t{i}.tif", shape=(3, 40, 56), seed=i) for i in range(3)]
    raw = [_read(p) for p in paths]
    stack = open_stack(paths)
    ds = GeoStacks(stack, frames=3)
    assert len(ds) == 3
    s = ds[1]
    assert s["lr"].shape == (3, 3, 10, 14) and s["hr"].shape == (3, 40, 56)
    np.testing.assert_allclose(s["hr"].numpy(), raw[1] / 65535, atol=1e-6)
    sel = GeoStacks([str(tmp_path / "t*.tif")], frames=3, crop=32, value_range=(0, 60000), bands=[3, 2, 1])
    assert sel[0]["hr"].shape == (3, 32, 32) and sel[0]["key"].endswith("/0")
    whole = GeoStacks(stack, frames=1, value_range=(0, 60000), bands=[3, 2, 1])[2]["hr"].numpy()
    np.testing.assert_allclose(whole, np.clip(raw[2][::-1] / 60000, 0, 1), atol=1e-6)
    # Frames too large for the cache are read a window at a time: same samples.
    tiny = GeoStacks(stack, frames=3, crop=32, seed=4, cache_mb=0.01)
    cached = GeoStacks(stack, frames=3, crop=32, seed=4)
    for i in range(3):
        assert torch.equal(tiny[i]["lr"], cached[i]["lr"]) and torch.equal(tiny[i]["hr"], cached[i]["hr"])
    two = GeoStacks([stack, stack], frames=3)
    assert len(two) == 6 and two[0]["key"] == "stack/0" and two[3]["key"] == "stack#1/0"
    with pytest.raises(InputError, match="PseudoVideo"):
        GeoStacks(paths[0], frames=3)
    assert len(GeoStacks(paths[0], frames=1)) == 1
