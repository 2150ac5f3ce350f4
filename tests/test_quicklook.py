"""satsr.viz.quicklook and compare_html (PNG and HTML quick looks), and their commands; the HTML page in Chromium."""

import base64
import io
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from click.testing import CliRunner
from PIL import Image

import satsr
from satsr.cli import main
from satsr.errors import InputError, OutputError
from satsr.viz import BOX_COLOURS, FOOTER, GAP, _auto_zoom, _Georef, compare_html, quicklook, scale_bar_length

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

H, W, S = 37, 53, 4  # the scene and its scale


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        return np.asarray(im)


@pytest.fixture
def scene(make_geotiff):
    """A 3-band uint16 scene (band names blue, green, red) and its bicubic x4 (lazy)."""
    data = np.random.default_rng(0).integers(1000, 60000, (3, H, W)).astype(np.uint16)
    lr = satsr.open_stack(make_geotiff("scene.tif", data, descriptions=["B2 blue", "B3 green", "B4 red"]))
    return lr, satsr.upscale(lr, "bicubic", scale=S, device="cpu")


# -- scale bar and note ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("limit", "expected"),
    [(730, 500), (1000, 1000), (999.9, 500), (2, 2), (1.9999, 1), (19.99, 10), (0.07, 0.05), (4.9999e-5, 2e-5),
     (1e-3, 1e-3), (3e7, 2e7)],
)
def test_scale_bar_length_is_the_longest_round_length(limit, expected):
    assert scale_bar_length(limit) == pytest.approx(expected, rel=1e-12)
    assert scale_bar_length(limit) <= limit


@pytest.mark.parametrize("bad", [0.0, -3.0, float("nan"), float("inf")])
def test_scale_bar_length_refuses_non_positive(bad):
    with pytest.raises(InputError, match="positive"):
        scale_bar_length(bad)


def test_note_names_crs_and_resolutions(make_geotiff):
    utm = _Georef(satsr.open_stack(make_geotiff("utm.tif")))
    assert utm.note(4) == "EPSG:32621  30 m -> 7.5 m (x4)"
    assert utm.note(None) == "EPSG:32621  30 m"
    assert utm.length(2000) == "2 km" and utm.length(500) == "500 m"
    wgs84 = make_geotiff("geo.tif", crs="EPSG:4326", transform=Affine(0.001, 0, 10, 0, -0.001, 45))
    geo = _Georef(satsr.open_stack(wgs84))
    assert geo.note(2) == "EPSG:4326  0.001° -> 0.0005° (x2)" and geo.length(0.02) == "0.02°"
    px = _Georef(satsr.open_stack(make_geotiff("px.tif", crs=None, transform=None), allow_ungeoreferenced=True))
    assert px.note(4) == "no CRS (pixel coordinates)  1 px -> 0.25 px (x4)" and px.length(10) == "10 px"


# -- layouts --------------------------------------------------------------------------------------------------
def test_side_by_side_size_nearest_panel_and_scale_bar(scene, tmp_path):
    lr, sr = scene
    path = quicklook(lr, sr, tmp_path / "q.png")
    assert path == tmp_path / "q.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.png", "scene.tif"]  # no temporary left
    img = _png(path)
    ph, pw = H * S, W * S
    assert img.shape == (ph + FOOTER, 2 * pw + GAP, 3)
    assert (img[:ph, pw : pw + GAP] == 255).all()  # the gap
    left, right = img[:ph, :pw], img[:ph, pw + GAP :]
    # Left: the input upsampled by nearest neighbour (constant 4x4 blocks), away from the caption and scale bar.
    mid = left[40:120, 80:200]
    assert (mid == np.repeat(np.repeat(mid[::4, ::4], 4, axis=0), 4, axis=1)).all()
    assert not (right[40:120, 80:200] == np.repeat(np.repeat(right[40:120:4, 80:200:4], 4, axis=0), 4, axis=1)).all()
    # Scale bar: a quarter of 212 px x 7.5 m = 397.5 m -> 200 m = 27 px, white on its black box, bottom left.
    assert (left[ph - 10 : ph - 6, 8 : 8 + 27] == 255).all()
    assert (left[ph - 10 : ph - 6, 8 + 27 + 1] == 0).all()
    # The note strip is white with dark text.
    strip = img[ph:]
    assert (strip == 255).mean() > 0.8 and strip.min() < 100


def test_swipe_is_half_input_half_output_split_by_a_line(scene, tmp_path):
    lr, sr = scene
    sbs = _png(quicklook(lr, sr, tmp_path / "sbs.png"))
    swipe = _png(quicklook(lr, sr, tmp_path / "swipe.png", layout="swipe"))
    ph, pw = H * S, W * S
    assert swipe.shape == (ph + FOOTER, pw, 3)
    split = pw // 2
    assert (swipe[:ph, split - 1 : split + 1] == 255).all()  # the line
    # Left of the line, the nearest-upsampled input; right of it, the output: as in the side-by-side panels.
    assert np.array_equal(swipe[30:140, 70 : split - 1], sbs[30:140, 70 : split - 1])
    assert np.array_equal(swipe[30:140, split + 1 : pw - 10], sbs[30:140, pw + GAP + split + 1 : 2 * pw + GAP - 10])


def test_input_alone_at_its_own_resolution(scene, tmp_path):
    lr, _ = scene
    img = _png(quicklook(lr, None, tmp_path / "lr.png", bands=[1]))
    assert img.shape == (H + FOOTER, W, 3)
    grey = img[12:30, 20:50]
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()  # one band, grey
    img = _png(quicklook(lr, None, tmp_path / "lr_zoom.png", zoom=[(5, 5, 10)]))
    assert img.shape == (H + GAP + W + FOOTER, W, 3)  # one crop, as wide as the picture


def test_downsizing_and_crop(scene, tmp_path):
    lr, sr = scene
    small = _png(quicklook(lr, sr, tmp_path / "small.png", max_size=50))
    k = 5  # ceil(212 / 50)
    assert small.shape == (-(-H * S // k) + FOOTER, 2 * -(-W * S // k) + GAP, 3)
    crop = _png(quicklook(lr, sr, tmp_path / "crop.png", crop=(10, 20, 8, 12), layout="swipe"))
    assert crop.shape == (32 + FOOTER, 48, 3)


def test_zoom_boxes_outlined_and_enlarged_below(scene, tmp_path):
    lr, sr = scene
    img = _png(quicklook(lr, sr, tmp_path / "z.png", zoom=[(10, 20, 8)]))
    ph, pw = H * S, W * S
    side = (2 * pw + GAP - GAP) // 2
    assert img.shape == (ph + GAP + side + FOOTER, 2 * pw + GAP, 3)
    colour = np.array(BOX_COLOURS[0], dtype=np.uint8)
    for off in (0, pw + GAP):  # outlined in both panels: rows 40..71, cols 80..111
        assert (img[40, off + 85] == colour).all() and (img[60, off + 80] == colour).all()
        assert (img[71, off + 100] == colour).all() and (img[50, off + 111] == colour).all()
    y0 = ph + GAP
    assert (img[y0 + 100, 0] == colour).all() and (img[y0 + 100, side + GAP] == colour).all()
    # The right crop is the output at full resolution, enlarged by nearest neighbour from 32 to `side` pixels.
    right_crop, panel = img[y0 : y0 + side, side + GAP :], img[:ph, pw + GAP :]
    for y, x in [(20, 30), (100, 150), (180, 60), (60, 190)]:  # inside the outline
        assert (right_crop[y, x] == panel[40 + y * 32 // side, 80 + x * 32 // side]).all()
    # Two boxes: four crops in one row.
    two = _png(quicklook(lr, sr, tmp_path / "z2.png", zoom=[(10, 20, 8), (0, 0, 4)], layout="swipe"))
    assert two.shape == (ph + GAP + (pw - 3 * GAP) // 4 + FOOTER, pw, 3)


def test_auto_zoom_finds_the_textured_spot(make_geotiff, tmp_path):
    data = np.full((1, 60, 80), 5000, dtype=np.uint16)
    data[0, 30:42, 50:62] = np.random.default_rng(3).integers(1000, 9000, (12, 12))
    r, c = _auto_zoom(data.astype(float), np.zeros(data.shape, bool), 12)
    assert (r, c) == (30, 50)
    bad = np.zeros(data.shape, bool)
    bad[0, 35, 55] = True  # a nodata pixel inside: the box moves off it
    r, c = _auto_zoom(data.astype(float), bad, 6)
    assert not (r <= 35 < r + 6 and c <= 55 < c + 6)
    lr = satsr.open_stack(make_geotiff("flat.tif", data))
    sr = satsr.upscale(lr, "nearest", scale=2, device="cpu")
    img = _png(quicklook(lr, sr, tmp_path / "auto.png", zoom="auto"))
    colour = np.array(BOX_COLOURS[0], dtype=np.uint8)
    rows, cols = np.nonzero((img[:120, :160] == colour).all(axis=2))  # its outline, left panel
    # The 20-pixel box (a third of the frame) holds the whole 12-pixel patch: rows 60..83, cols 100..123 at x2.
    assert rows.min() <= 60 and rows.max() >= 83 and cols.min() <= 100 and cols.max() >= 123
    assert rows.max() - rows.min() == cols.max() - cols.min() == 39


def test_16_bit_stretch(make_geotiff, tmp_path):
    ramp = np.tile(np.linspace(6000, 10000, 101).round().astype(np.uint16), (200, 1))[None]
    lr = satsr.open_stack(make_geotiff("ramp.tif", ramp))
    full = _png(quicklook(lr, None, tmp_path / "full.png", stretch=(0, 100)))[100, :, 0]  # clear of caption and bar
    assert full[0] == 0 and full[-1] == 255 and full[50] == 128 and (np.diff(full.astype(int)) >= 0).all()
    clipped = _png(quicklook(lr, None, tmp_path / "clip.png"))[100, :, 0]  # default 2-98 %
    assert (clipped[:3] == 0).all() and (clipped[-3:] == 255).all() and 0 < clipped[50] < 255
    with pytest.raises(InputError, match="0 <= low < high <= 100"):
        quicklook(lr, None, tmp_path / "x.png", stretch=(50, 10))


def test_bands_of_a_file_written_from_chosen_bands(scene, tmp_path):
    """`satsr upscale --bands 3,2,1` output numbers its bands 1..3 again: matched to the input by band name."""
    lr, _ = scene
    (tmp_path / "sr").mkdir()
    written = satsr.to_cog(satsr.upscale(lr, "nearest", scale=2, bands=[3, 2, 1], device="cpu"), tmp_path / "sr")
    sr = satsr.open_stack(written[0])
    assert sr["description"].values.tolist() == ["B4 red", "B3 green", "B2 blue"]
    for bands in ([3, 2, 1], None, [2]):  # None: natural colour by band name
        img = _png(quicklook(lr, sr, tmp_path / "b.png", bands=bands))
        pw = 2 * W
        assert np.array_equal(img[25:70, 62 : pw - 5], img[25:70, pw + GAP + 62 : 2 * pw + GAP - 5])


def test_baseline_replaces_the_nearest_panel(scene, tmp_path):
    lr, sr = scene
    near = satsr.upscale(lr, "nearest", scale=S, device="cpu")
    a = _png(quicklook(lr, sr, tmp_path / "a.png"))
    b = _png(quicklook(lr, sr, tmp_path / "b.png", baseline=near, labels=("nearest", None)))
    assert np.array_equal(a[30:140, 80:200], b[30:140, 80:200])
    with pytest.raises(InputError, match="baseline .* output grid"):
        quicklook(lr, sr, tmp_path / "x.png", baseline=near.isel(x=slice(0, 100)))


def test_quicklook_errors(scene, tmp_path):
    lr, sr = scene
    with pytest.raises(InputError, match=r"zoom box \(row 30, col 0, size 10\) lies outside the frame"):
        quicklook(lr, sr, tmp_path / "x.png", zoom=[(30, 0, 10)])
    with pytest.raises(InputError, match="outside the shown window"):
        quicklook(lr, sr, tmp_path / "x.png", zoom=[(0, 0, 4)], crop=(10, 10, 20, 20))
    with pytest.raises(InputError, match="zoom 'big'"):
        quicklook(lr, sr, tmp_path / "x.png", zoom=["big"])
    with pytest.raises(InputError, match="scene.tif: band 4 is out of range: it has bands 1..3"):
        quicklook(lr, sr, tmp_path / "x.png", bands=[4, 2, 1])
    with pytest.raises(InputError, match="integer multiple"):
        quicklook(lr, sr.isel(x=slice(0, 211)), tmp_path / "x.png")
    with pytest.raises(InputError, match="swipe needs the super-resolved"):
        quicklook(lr, None, tmp_path / "x.png", layout="swipe")
    with pytest.raises(InputError, match="layout must be one of"):
        quicklook(lr, sr, tmp_path / "x.png", layout="grid")
    with pytest.raises(InputError, match="frame 1 is out of range"):
        quicklook(lr, sr, tmp_path / "x.png", frame=1)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        quicklook(lr, sr, tmp_path / "afile" / "x.png")
    assert not (tmp_path / "x.png").exists()


# -- compare page ---------------------------------------------------------------------------------------------
def _page_images(page: str) -> list[np.ndarray]:
    out = []
    for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page):
        with Image.open(io.BytesIO(base64.b64decode(data))) as im:
            out.append(np.asarray(im.convert("RGB")))
    return out


def test_compare_html_is_self_contained_bicubic_vs_sr(scene, tmp_path):
    lr, _ = scene
    sr = satsr.upscale(lr, "nearest", scale=S, device="cpu")
    path = compare_html(lr, sr, tmp_path / "c.html", crop=(5, 10, 20, 30), bands=[3, 2, 1])
    page = path.read_text(encoding="utf-8")
    assert '<input type="range"' in page and "clip-path" in page and "scene.tif" in page and "EPSG:32621" in page
    assert "http://" not in page and "https://" not in page and "<link" not in page and " src=\"/" not in page
    before, after = _page_images(page)
    assert before.shape == after.shape == (80, 120, 3)
    # "before" is the bicubic upsampling of the whole frame, cut to the window (edge context kept).
    bic = satsr.upscale(lr, "bicubic", scale=S, device="cpu").isel(band=[2, 1, 0]).values[0, :, 20:100, 40:160]
    lo = lr.isel(band=[2, 1, 0]).values[0, :, 5:25, 10:40].reshape(3, -1).astype(float)
    low, high = np.percentile(lo, 2, axis=1), np.percentile(lo, 98, axis=1)
    expect = np.clip((bic - low[:, None, None]) * (255 / (high - low))[:, None, None], 0, 255).round()
    assert np.abs(before.transpose(2, 0, 1).astype(int) - expect).max() <= 1
    assert not np.array_equal(before, after)


def test_compare_html_default_centre_crop_and_stride(scene, tmp_path):
    lr, sr = scene
    page = compare_html(lr, sr, tmp_path / "c.html", max_size=64).read_text()
    assert [im.shape for im in _page_images(page)] == [(64, 64, 3)] * 2  # centre 16 x 16 input pixels at x4
    assert "window rows 10-25, cols 18-33 of 37 x 53" in page
    page = compare_html(lr, sr, tmp_path / "c.html", crop=(0, 0, 37, 53), max_size=100).read_text()
    assert [im.shape for im in _page_images(page)] == [(-(-148 // 3), -(-212 // 3), 3)] * 2
    with pytest.raises(InputError, match="crop"):
        compare_html(lr, sr, tmp_path / "x.html", crop=(30, 0, 10, 10))


# -- commands -------------------------------------------------------------------------------------------------
def test_cli_quicklook_and_compare(scene, tmp_path):
    lr, sr = scene
    lr_path = tmp_path / "scene.tif"
    (tmp_path / "sr").mkdir()
    sr_path = satsr.to_cog(sr, tmp_path / "sr")[0]
    runner = CliRunner()
    out = tmp_path / "q.png"
    res = runner.invoke(main, ["quicklook", str(lr_path), str(sr_path), "-o", str(out), "--bands", "3,2,1",
                               "--zoom", "auto", "--zoom", "2,3,8", "--stretch", "1", "99", "--layout", "swipe"])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == str(out)
    assert _png(out).shape[1] == W * S
    res = runner.invoke(main, ["quicklook", str(lr_path), "-o", str(tmp_path / "lr.png"), "--frame", "-1"])
    assert res.exit_code == 0, res.output and _png(tmp_path / "lr.png").shape == (H + FOOTER, W, 3)
    for args, message in [
        (["--zoom", "1,2"], "--zoom '1,2': give 3 whole numbers"),
        (["--zoom", "30,0,10"], "lies outside the frame"),
        (["--bands", "4"], "band 4 is out of range"),
        (["--crop", "a,b,c,d"], "--crop 'a,b,c,d'"),
    ]:
        res = runner.invoke(main, ["quicklook", str(lr_path), str(sr_path), "-o", str(tmp_path / "e.png"), *args])
        assert res.exit_code == 1 and message in res.output, res.output
    assert not (tmp_path / "e.png").exists()
    html_out = tmp_path / "c.html"
    res = runner.invoke(main, ["compare", str(lr_path), str(sr_path), "-o", str(html_out), "--crop", "0,0,16,16"])
    assert res.exit_code == 0, res.output
    page = html_out.read_text()
    assert "bicubic" in page and "bicubic" in page.split("tag right")[1][:80]  # sr's model, from its metadata
    (tmp_path / "no").write_text("a file")
    res = runner.invoke(main, ["compare", str(lr_path), str(sr_path), "-o", str(tmp_path / "no" / "c.html")])
    assert res.exit_code == 1 and "is a file, not a folder" in res.output


# -- the page in a real browser -------------------------------------------------------------------------------
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def chrome(tmp_path_factory):
    """Headless Chromium through selenium: fails in CI when missing, skips elsewhere."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    if missing:
        msg = f"headless Chromium test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg + "; CI must have them")
        pytest.skip(msg)
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}", "--window-size=900,800",
                "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    yield driver
    driver.quit()
    shutil.rmtree(tmp_path_factory.getbasetemp() / "chromium-profile0", ignore_errors=True)


def _shot(driver, rect: dict) -> np.ndarray:
    with Image.open(io.BytesIO(driver.get_screenshot_as_png())) as im:
        img = np.asarray(im.convert("RGB")).astype(np.int16)
    x, y, w, h = (round(rect[k]) for k in ("x", "y", "width", "height"))
    return img[y : y + h, x : x + w]


def test_compare_page_swipes_in_headless_chromium(chrome, scene, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    start = time.perf_counter()
    lr, _ = scene
    sr = satsr.upscale(lr, "nearest", scale=S, device="cpu")  # blocky: unlike the bicubic "before"
    page = compare_html(lr, sr, tmp_path / "c.html", bands=[3, 2, 1])
    chrome.get(page.resolve().as_uri())
    box, slider = chrome.find_element(By.ID, "swipe"), chrome.find_element(By.ID, "split")
    rect = box.rect
    assert (round(rect["width"]), round(rect["height"])) == (W * S, H * S)
    first = _shot(chrome, rect)
    assert first.shape[:2] == (H * S, W * S) and first.std() > 20  # not blank
    assert slider.get_attribute("value") == "50"

    # Click the slider at 20 % of its width: the split moves there.
    ActionChains(chrome).move_to_element_with_offset(slider, round(-0.3 * slider.rect["width"]), 0).click().perform()
    value = float(slider.get_attribute("value"))
    assert 15 < value < 25
    assert f"{value}%" in chrome.find_element(By.ID, "after").value_of_css_property("clip-path")
    second = _shot(chrome, rect)
    moved = np.abs(second - first).max(axis=2) > 0
    x20, x50 = round(W * S * value / 100), W * S // 2
    assert moved[:, x20 + 3 : x50 - 3].mean() > 0.3  # there the top image (sr) now shows
    assert not moved[:, x50 + 6 :].any() and not moved[:, : x20 - 6].any()  # the line has a 3-px shadow

    # Drag on the image, from 20 % to about 70 %: the slider follows.
    drag = ActionChains(chrome).move_to_element_with_offset(box, round(-0.3 * rect["width"]), 0).click_and_hold()
    drag.move_by_offset(round(0.5 * rect["width"]), 0).release().perform()
    assert 65 < float(slider.get_attribute("value")) < 75
    third = _shot(chrome, rect)
    assert (np.abs(third - second).max(axis=2) > 0).mean() > 0.1
    print(f"chromium swipe test: {time.perf_counter() - start:.1f} s (browser start not included)")
