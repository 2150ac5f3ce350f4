import numpy as np
import pytest
import torch

from satsr.errors import InputError
from satsr.models.mstt import MSTT, flow_warp
from satsr.testing import JILIN1_CRS, JILIN1_TRANSFORM


@pytest.mark.parametrize(("back_rbs", "keys", "count"),
                         [(20, "MSTT_back20", 5_664_283), (40, "MSTT_back40", 7_141_403)])
def test_state_dict_matches_the_authors_key_lists(back_rbs, keys, count, seed_keys):
    net = MSTT(back_rbs=back_rbs)
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == seed_keys(keys)
    assert sum(p.numel() for p in net.parameters()) == count


@pytest.mark.slow
def test_reproduces_the_authors_network(vectors):
    """Same 7 frames as the authors' MSTTr (formula weights and flows, 4 frames of 80 x 80); tests/data/README.md."""
    net = MSTT().eval()
    vectors.fill(net, 0.5)
    x = vectors.tensor((1, 4, 3, 80, 80), 0) * 0.5 + 0.5
    ff = [vectors.tensor((1, 80, 80, 2), 1 + i) * 1.5 for i in range(3)]
    bf = [vectors.tensor((1, 80, 80, 2), 4 + i) * 1.5 for i in range(3)]
    with torch.no_grad():
        y = net(x, ff, bf).numpy()
    assert y.shape == (1, 7, 3, 320, 320)
    ref = np.load(vectors.data / "mstt_official_formula.npz")
    assert np.abs(y[..., ::8, ::8] - ref["strided"]).max() <= 1e-4
    assert np.abs(y[0, :, :, 144:176, 144:176] - ref["crop"]).max() <= 1e-4
    # stacked flows work the same as the authors' lists
    with torch.no_grad():
        y2 = net(x, torch.stack(ff, dim=1), torch.stack(bf, dim=1)).numpy()
    assert np.array_equal(y, y2)


def test_flow_warp_follows_the_authors_normalisation():
    x = torch.arange(20.0).view(1, 1, 4, 5)
    # zero flow: positions normalised by W - 1 but sampled with align_corners=False, a shrink towards the centre
    y = flow_warp(x, torch.zeros(1, 4, 5, 2))
    # row 1, column 2: x lands on column 2 exactly; y on row 5/6 (between rows 0 and 1)
    assert float(y[0, 0, 1, 2]) == pytest.approx(2 / 6 + 7 * 5 / 6, abs=1e-5)
    assert not torch.equal(y, x)
    with pytest.raises(InputError, match=r"flow must be \(B, H, W, 2\)"):
        flow_warp(x, torch.zeros(1, 5, 4, 2))


def test_size_and_frame_rules():
    net = MSTT()
    f = [torch.zeros(1, 80, 80, 2)] * 3
    with pytest.raises(InputError, match="takes 4 frames"):
        net(torch.zeros(1, 3, 3, 80, 80), f, f)
    with pytest.raises(InputError, match="multiples of 80"):
        net(torch.zeros(1, 4, 3, 64, 80), f, f)


@pytest.mark.slow
def test_through_upscale_13_frames_from_7_each_window_once(shared_data):
    """Seven real Jilin-1 frames (a 40 x 48 crop) give 13; every output equals the model run on its window."""
    import satsr
    from satsr import models
    from satsr.tiling import TilePlan, gather, space_time_windows

    clip = satsr.open_stack(sorted((shared_data / "jilin1_airport" / "LR4x").glob("*.png")),
                            crs=JILIN1_CRS, transform=JILIN1_TRANSFORM)
    clip = clip.isel(y=slice(60, 100), x=slice(40, 88)).astype("float32") / 255
    torch.manual_seed(0)
    net = models.create("mstt", pretrained=False)
    # one 80 x 80 window per time window: the 80 px size rule pads the 40 x 48 frames
    sr = satsr.upscale(clip, net, device="cpu", halo=0, blend="crop", precision="fp32")  # exact windows
    assert sr.sizes["time"] == 13 and sr.attrs["satsr_time_scale"] == 2
    out = sr.values
    assert out.shape == (13, 3, 160, 192)
    # reference: the same windows in time, each run once on the whole (padded) frame
    spec = net.spec
    plan = TilePlan((40, 48), 256, 0, 4, spec.multiple_of)  # as upscale plans it
    y0, _, x0, _ = plan.window(0, 0)
    x = clip.values
    for frames, owned in space_time_windows(7, 4, 2):
        win = np.stack([gather(x[f], (0, 0), plan.window(0, 0), (40, 48)) for f in frames])
        with torch.no_grad():
            y = net(torch.from_numpy(win)[None])[0].numpy()
        assert y.shape[-2:] == (320, 320)
        y = y[..., -4 * y0 : -4 * y0 + 160, -4 * x0 : -4 * x0 + 192]
        for j, o in owned:
            assert np.abs(out[j] - y[o]).max() <= 1e-4, (j, o)
    assert np.abs(out).max() > 0.01


@pytest.mark.slow
def test_cli_makes_13_frames_from_7_real_jilin_frames(jilin_pngs, tmp_path):
    import rasterio
    from click.testing import CliRunner

    from satsr.cli import main

    frames, georef = jilin_pngs((60, 100), (40, 88))
    out = tmp_path / "sr"
    args = ["upscale", *frames, "-o", str(out), "--model", "mstt", "--random-weights", *georef, "--device", "cpu",
            "--halo", "0", "--blend", "crop"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "7 frames 48 x 40 -> 192 x 160 px (13 frames: time x2)" in result.output
    files = sorted(out.glob("*.tif"))
    assert [f.name for f in files][:3] == ["frame_0000_t0.tif", "frame_0001_t0.5.tif", "frame_0002_t1.tif"]
    assert len(files) == 13
    with rasterio.open(files[1]) as sr:
        assert sr.shape == (160, 192) and sr.tags()["SATSR_TIME"] == "0.5" and sr.crs.to_epsg() == 32650
