import math
import warnings

import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from satsr import metrics
from satsr.degrade import imresize
from satsr.errors import InputError
from satsr.metrics import PROTOCOLS, evaluate, evaluate_clip, lr_consistency, psnr, ssim, to_y


def _read(path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            return src.read()


@pytest.fixture(scope="module")
def jilin(shared_data):
    """A real Jilin-1 frame: GT (3, 640, 640) uint8, its LR4x (3, 160, 160) uint8, and bicubic x4 of the LR."""
    root = shared_data / "jilin1_airport"
    gt, lr = _read(root / "GT" / "00000000.png"), _read(root / "LR4x" / "00000000.png")
    return gt, lr, imresize(lr.astype(np.float64), 4)  # float, overshoots 0..255 a little


@pytest.fixture(scope="module")
def pair(jilin):
    """A 192x160 crop of (bicubic SR, GT) in [0, 1] floats, SR not clipped: small enough to keep the file fast."""
    gt, _, sr = jilin
    return sr[:, 100:292, 200:360] / 255.0, gt[:, 100:292, 200:360] / 255.0


def _sk_ssim(a, b, data_range):
    """scikit-image's Gaussian SSIM, bands first."""
    kw = {"channel_axis": 0} if a.ndim == 3 else {}
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=data_range, **kw
    )


# ------------------------------------------------------------------------------------------------ PSNR


def test_psnr_known_mse_identical_and_skimage(pair):
    hr = np.zeros((3, 20, 30))
    assert psnr(hr + 0.1, hr) == pytest.approx(20.0)  # MSE 0.01, range 1
    assert psnr(hr + 25.5, hr, data_range=255) == pytest.approx(20.0)
    assert psnr(hr + 1.0, hr, data_range=255) == pytest.approx(20 * math.log10(255))
    assert psnr(hr, hr) == math.inf
    u8 = np.arange(600, dtype=np.uint8).reshape(20, 30)
    assert psnr(u8, u8.copy(), data_range=255) == math.inf
    sr, gt = pair
    assert psnr(sr, gt) == pytest.approx(peak_signal_noise_ratio(gt, sr, data_range=1.0), abs=1e-10)


def test_psnr_crop_round_and_y(pair):
    sr, gt = pair
    assert psnr(sr, gt, crop=4) == pytest.approx(psnr(sr[:, 4:-4, 4:-4], gt[:, 4:-4, 4:-4]), abs=1e-12)
    assert psnr(sr, gt, crop=4) != pytest.approx(psnr(sr, gt), abs=1e-3)  # bicubic's worst pixels are at the edge
    # round_to_8bit: clip, x255, round, score on 0..255
    sr8 = np.clip(np.round(sr * 255), 0, 255).astype(np.uint8)
    gt8 = np.round(gt * 255).astype(np.uint8)
    want = peak_signal_noise_ratio(gt8, sr8, data_range=255)
    assert psnr(sr, gt, round_to_8bit=True) == pytest.approx(want, abs=1e-10)
    assert psnr(sr * 1000, gt * 1000, data_range=1000, round_to_8bit=True) == pytest.approx(want, abs=1e-10)
    # Y channel: scikit-image's rgb2ycbcr luma, on the 0..255 scale
    ys = rgb2ycbcr(sr8.transpose(1, 2, 0))[..., 0]
    yg = rgb2ycbcr(gt8.transpose(1, 2, 0))[..., 0]
    want_y = peak_signal_noise_ratio(yg[4:-4, 4:-4], ys[4:-4, 4:-4], data_range=255)
    assert psnr(sr, gt, channel="y", crop=4, round_to_8bit=True) == pytest.approx(want_y, abs=1e-9)


# ------------------------------------------------------------------------------------------------ SSIM


def test_ssim_equals_skimage_gaussian(pair):
    """Same definition: skimage pads, then crops (win_size - 1) // 2 = 5 px from the map = our valid region.

    skimage's win_size for sigma 1.5 is 2 * int(3.5 * 1.5 + 0.5) + 1 = 11 and its filter is scipy's Gaussian
    with the same normalised 11-tap kernel, so the two agree to rounding (about 1e-15), not just 1e-6.
    """
    sr, gt = pair
    assert ssim(sr, gt) == pytest.approx(_sk_ssim(sr, gt, 1.0), abs=1e-9)
    assert ssim(sr[1], gt[1]) == pytest.approx(_sk_ssim(sr[1], gt[1], 1.0), abs=1e-9)  # 2-D
    s255, g255 = sr * 255, gt * 255
    assert ssim(s255, g255, data_range=255, crop=4) == pytest.approx(
        _sk_ssim(s255[:, 4:-4, 4:-4], g255[:, 4:-4, 4:-4], 255), abs=1e-9
    )
    ys, yg = to_y(sr) * 255, to_y(gt) * 255
    assert ssim(sr, gt, channel="y") == pytest.approx(_sk_ssim(ys, yg, 255), abs=1e-9)
    # valid region: the map is (H-10) x (W-10); an 11x11 image gives a single window
    rng = np.random.default_rng(1)
    a, b = rng.random((11, 11)), rng.random((11, 11))
    assert ssim(a, b) == pytest.approx(_sk_ssim(a, b, 1.0), abs=1e-12)


def test_ssim_identical_and_degraded(pair):
    sr, gt = pair
    assert ssim(gt, gt) == pytest.approx(1.0, abs=1e-12)
    u8 = (gt * 255).round().astype(np.uint8)
    assert ssim(u8, u8, data_range=255) == pytest.approx(1.0, abs=1e-12)
    assert 0.5 < ssim(sr, gt) < 0.99
    rng = np.random.default_rng(0)
    assert ssim(rng.random(gt.shape), gt) < 0.1


# ------------------------------------------------------------------------------------------------ Y


def test_to_y_matches_skimage_rgb2ycbcr(pair):
    _, gt = pair
    want = rgb2ycbcr(gt.transpose(1, 2, 0))[..., 0]  # float [0, 1] in -> Y in [16, 235]
    np.testing.assert_allclose(to_y(gt) * 255, want, atol=1e-10)
    np.testing.assert_allclose(to_y(gt * 255, 255), want, atol=1e-10)
    u8 = (gt * 255).round().astype(np.uint8)
    np.testing.assert_allclose(to_y(u8, 255), rgb2ycbcr(u8.transpose(1, 2, 0))[..., 0], atol=1e-10)
    assert to_y(np.zeros((3, 2, 2)))[0, 0] == pytest.approx(16 / 255)
    assert to_y(np.full((3, 2, 2), 255.0), 255)[0, 0] == pytest.approx(235)
    assert to_y(np.stack([gt, gt])).shape == (2, *gt.shape[1:])  # (T, 3, H, W) -> (T, H, W)


# ------------------------------------------------------------------------------------------------ protocols


def test_every_protocol_runs_on_a_real_pair(jilin):
    gt, _, sr = jilin
    assert set(PROTOCOLS) == {"standard", "lgtd", "mtdo", "mstt", "lgfn", "rgtgan"}
    for name, spec in PROTOCOLS.items():
        assert spec.name == name and spec.paper and spec.psnr and spec.ssim
        out = evaluate(sr, gt, protocol=name, data_range=255)
        assert {"psnr", "ssim", *spec.extra} == set(out), name
        assert all(isinstance(v, float) and math.isfinite(v) for v in out.values()), (name, out)
        assert 25 < out["psnr"] < 35 and 0.8 < out["ssim"] < 0.95, (name, out)
        # same scores from [0, 1] floats
        again = evaluate(sr / 255, gt / 255.0, protocol=name, data_range=1.0)
        assert again == pytest.approx(out, abs=1e-9), name


def test_standard_rgtgan_mstt_lgtd_are_the_documented_recipes(pair):
    sr, gt = pair
    out = evaluate(sr, gt, protocol="standard", scale=3)
    kw = {"channel": "y", "crop": 3, "round_to_8bit": True}
    assert out == pytest.approx({"psnr": psnr(sr, gt, **kw), "ssim": ssim(sr, gt, **kw)}, abs=1e-12)

    out = evaluate(sr, gt, protocol="rgtgan", scale=2)  # val.py always crops 4 px (x4 only)
    kw = {"crop": 4, "round_to_8bit": True}
    assert out == pytest.approx({"psnr": psnr(sr, gt, **kw), "ssim": ssim(sr, gt, **kw)}, abs=1e-12)

    out = evaluate(sr, gt, protocol="mstt")
    assert out["psnr"] == out["psnr_y"] == pytest.approx(psnr(sr, gt, channel="y", round_to_8bit=True), abs=1e-12)
    assert out["psnr_rgb"] == pytest.approx(psnr(sr, gt, round_to_8bit=True), abs=1e-12)
    assert out["ssim"] == pytest.approx(ssim(sr, gt, channel="y", round_to_8bit=True), abs=1e-12)

    out = evaluate(sr, gt, protocol="lgtd")  # float, unclipped (sr overshoots [0, 1]), RGB, no crop
    assert sr.max() > 1 or sr.min() < 0
    assert out == pytest.approx({"psnr": psnr(sr, gt), "ssim": ssim(sr, gt)}, abs=1e-12)


def test_lgfn_scores_the_luma_of_the_difference(pair):
    sr, gt = pair
    s8, g8 = np.round(np.clip(sr * 255, 0, 255)), np.round(gt * 255)
    diff = s8 - g8
    lum = (65.738 * diff[0] + 129.057 * diff[1] + 25.064 * diff[2]) / 256
    want = 10 * math.log10(255**2 / np.mean(lum**2))
    assert evaluate(sr, gt, protocol="lgfn")["psnr"] == pytest.approx(want, abs=1e-10)


def test_mtdo_matches_opencv_y_and_skimage_rowwise_ssim(pair):
    """MTDO's eval.py: cv2 BGR->YCrCb on RGB float arrays (x255), then skimage SSIM with channel_axis=0 on 2-D."""
    sr, gt = pair

    def cv_bgr_y(rgb):  # OpenCV float formula, Y = 0.299 R + 0.587 G + 0.114 B, reading channel 0 as B
        b, g, r = rgb[0], rgb[1], rgb[2]
        return 0.299 * r + 0.587 * g + 0.114 * b

    ys, yg = cv_bgr_y(sr * 255), cv_bgr_y(gt * 255)
    out = evaluate(sr, gt, protocol="mtdo")
    assert out["psnr"] == pytest.approx(peak_signal_noise_ratio(yg, ys, data_range=255), abs=1e-10)
    # each row is a channel: 1-D SSIM along rows, 7-sample uniform window, data range from the reference
    want = structural_similarity(ys, yg, channel_axis=0, data_range=yg.max() - yg.min())
    assert out["ssim"] == pytest.approx(want, abs=1e-9)
    # MTDO's arrays are float32, so skimage computes in float32 there: same to about 1e-6
    ys32, yg32 = ys.astype(np.float32), yg.astype(np.float32)
    want32 = structural_similarity(ys32, yg32, channel_axis=0, data_range=float(yg32.max() - yg32.min()))
    assert out["ssim"] == pytest.approx(want32, abs=1e-5)
    # it is not the standard SSIM of the same Y
    assert abs(out["ssim"] - _sk_ssim(ys, yg, 255)) > 1e-3


def test_identical_frames_score_like_the_authors_code(pair):
    _, gt = pair
    assert evaluate(gt, gt, protocol="lgtd") == {"psnr": 100.0, "ssim": pytest.approx(1.0)}  # their PSNR caps
    assert evaluate(gt, gt, protocol="mtdo") == {"psnr": 100.0, "ssim": pytest.approx(1.0)}
    for name in ("standard", "mstt", "lgfn", "rgtgan"):
        assert evaluate(gt, gt, protocol=name)["psnr"] == math.inf


def test_evaluate_clip_averages_frames(pair):
    sr, gt = pair
    rng = np.random.default_rng(0)
    frames_hr = np.stack([gt, gt[:, ::-1], gt[:, :, ::-1]])
    frames_sr = np.clip(frames_hr + rng.normal(0, [[[[0.01]]], [[[0.02]]], [[[0.04]]]], frames_hr.shape), 0, 1)
    per = [evaluate(s, h, protocol="mstt") for s, h in zip(frames_sr, frames_hr)]
    got = evaluate_clip(frames_sr, frames_hr, protocol="mstt")
    assert got == pytest.approx({k: np.mean([p[k] for p in per]) for k in per[0]}, abs=1e-12)
    # LGFN scores inner frames only, unless told otherwise
    assert evaluate_clip(frames_sr, frames_hr, protocol="lgfn") == pytest.approx(
        evaluate(frames_sr[1], frames_hr[1], protocol="lgfn"), abs=1e-12
    )
    assert evaluate_clip(frames_sr, frames_hr, protocol="lgfn", skip_ends=False)["psnr"] == pytest.approx(
        np.mean([evaluate(s, h, protocol="lgfn")["psnr"] for s, h in zip(frames_sr, frames_hr)]), abs=1e-12
    )
    with pytest.raises(InputError, match="frames"):
        evaluate_clip(frames_sr[:2], frames_hr[:2], protocol="lgfn")
    with pytest.raises(InputError, match=r"\(T, C, H, W\)"):
        evaluate_clip(sr, gt)


# ------------------------------------------------------------------------------------------------ LR consistency


def test_lr_consistency(jilin):
    gt, lr, sr = jilin
    assert lr_consistency(sr, lr, 4, data_range=255) > 35  # bicubic up then down: consistent with its input
    assert lr_consistency(gt, lr, 4, data_range=255) > 50  # the GT is what the LR was made from (only rounding)
    noise = np.random.default_rng(0).uniform(0, 255, sr.shape)
    assert lr_consistency(noise, lr, 4, data_range=255) < 20
    shifted = np.roll(gt, 8, axis=-1)  # 2 LR pixels off: contradicts the input
    assert lr_consistency(shifted, lr, 4, data_range=255) < 30
    assert lr_consistency(sr / 255, lr / 255, 4) == pytest.approx(lr_consistency(sr, lr, 4, data_range=255))
    with pytest.raises(InputError, match=r"\(3, 160, 160\).*\(3, 80, 80\)"):
        lr_consistency(sr, lr[:, :80, :80], 4, data_range=255)
    with pytest.raises(InputError, match="scale"):
        lr_consistency(sr, lr, 0)
    # the map: the rolled GT contradicts the input (bright), the GT does not (dark), and it matches the score
    from satsr.metrics import lr_consistency_map

    good, bad = lr_consistency_map(gt, lr, 4), lr_consistency_map(shifted, lr, 4)
    assert good.shape == bad.shape == (160, 160)
    assert good.mean() < 1 and bad.mean() > 5 * good.mean()
    mse = (lr_consistency_map(noise[:1], lr[:1], 4) ** 2).mean()
    assert 10 * np.log10(255**2 / mse) == pytest.approx(lr_consistency(noise[:1], lr[:1], 4, data_range=255))


# ------------------------------------------------------------------------------------------------ errors


def test_errors_are_input_errors_with_clear_messages(pair):
    sr, gt = pair
    with pytest.raises(InputError, match=r"sr \(3, 192, 160\), hr \(3, 192, 150\)"):
        psnr(sr, gt[:, :, :150])
    with pytest.raises(InputError, match="shapes differ"):
        ssim(sr[0], gt)
    with pytest.raises(InputError, match="shapes differ"):
        evaluate(sr, gt[:2], protocol="lgtd")
    with pytest.raises(InputError, match="3 bands"):
        to_y(gt[:2])
    with pytest.raises(InputError, match="3 bands"):
        to_y(gt[0])
    with pytest.raises(InputError, match="3 bands"):
        psnr(np.concatenate([sr, sr[:1]]), np.concatenate([gt, gt[:1]]), channel="y")
    for name in ("standard", "mtdo", "mstt", "lgfn"):
        with pytest.raises(InputError, match="3 bands"):
            evaluate(sr[0], gt[0], protocol=name)
    known = "standard, lgtd, mtdo, mstt, lgfn, rgtgan"
    with pytest.raises(InputError, match=f"unknown evaluation protocol 'psnr'; known: {known}"):
        evaluate(sr, gt, protocol="psnr")
    with pytest.raises(InputError, match="unknown"):
        evaluate_clip(sr[None], gt[None], protocol="MTDO")
    with pytest.raises(InputError, match="channel"):
        psnr(sr, gt, channel="Y")
    with pytest.raises(InputError, match="data_range"):
        psnr(sr, gt, data_range=0)
    with pytest.raises(InputError, match="data_range"):
        ssim(sr, gt, data_range="big")
    with pytest.raises(InputError, match="crop"):
        psnr(sr, gt, crop=80)
    with pytest.raises(InputError, match="crop"):
        psnr(sr, gt, crop=-1)
    with pytest.raises(InputError, match="11x11"):
        ssim(sr[:, :12, :12], gt[:, :12, :12], crop=1)
    with pytest.raises(InputError, match="scale"):
        evaluate(sr, gt, scale=0)
    bad = sr.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        psnr(bad, gt)
    with pytest.raises(InputError, match="data type"):
        psnr(np.full((3, 20, 20), "a"), np.full((3, 20, 20), "a"))
    with pytest.raises(InputError, match="not an array"):
        psnr([[1, 2], [3]], [[1, 2], [3]])
    with pytest.raises(InputError, match=r"\(C, H, W\)"):
        psnr(sr[None], gt[None])
    with pytest.raises(InputError, match="constant"):
        evaluate(sr, np.full_like(gt, 0.5), protocol="mtdo")
    assert issubclass(InputError, ValueError)


def test_public_names():
    assert set(metrics.__all__) >= {"to_y", "psnr", "ssim", "lr_consistency", "evaluate", "evaluate_clip", "PROTOCOLS"}
    for name in metrics.__all__:
        assert hasattr(metrics, name)
