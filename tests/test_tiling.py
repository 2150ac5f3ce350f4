import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satsr.errors import InputError
from satsr.tiling import (
    MAX_HALO_OVERHEAD,
    BufferPool,
    Stitcher,
    TilePlan,
    default_tile,
    gather,
    halo_overhead,
    pad_reflect,
    reflect_index,
)


def test_reflect_index_matches_numpy_pad():
    for n in (1, 2, 3, 7):
        a = np.arange(n)
        for pad in (1, 3, 10):
            if n > 1 and pad < n:
                np.testing.assert_array_equal(a[reflect_index(np.arange(-pad, n + pad), n)], np.pad(a, pad, "reflect"))
    np.testing.assert_array_equal(reflect_index(np.array([-1, 3, 4, 6]), 4), [1, 3, 2, 0])


plans = st.builds(
    TilePlan,
    shape=st.tuples(st.integers(1, 90), st.integers(1, 90)),
    tile=st.integers(4, 40),
    halo=st.integers(0, 9),
    scale=st.integers(1, 4),
    multiple_of=st.sampled_from([1, 2, 4, 8]),
)


@settings(max_examples=150, deadline=None)
@given(plans)
def test_cores_partition_image_and_windows_share_one_shape(plan):
    h, w = plan.shape
    cover = np.zeros((h, w), int)
    ny, nx = plan.grid_shape
    for ty in range(ny):
        for tx in range(nx):
            y0, y1, x0, x1 = plan.core(ty, tx)
            cover[y0:y1, x0:x1] += 1
            wy0, wy1, wx0, wx1 = plan.window(ty, tx)
            assert (wy1 - wy0, wx1 - wx0) == plan.window_shape
            assert all(v % plan.multiple_of == 0 for v in plan.window_shape)
            # windows start on the model's grid (attention windows, strided pooling)
            assert wy0 % plan.multiple_of == 0 and wx0 % plan.multiple_of == 0
            # the core sits inside the window with at least `halo` pixels of context each side
            assert wy0 <= y0 - plan.halo and wx0 <= x0 - plan.halo
            assert wy1 >= y1 + plan.halo and wx1 >= x1 + plan.halo
    assert (cover == 1).all()
    assert len(plan.tiles_in(0, h, 0, w)) == ny * nx


@settings(max_examples=100, deadline=None)
@given(plans, st.data())
def test_crop_stitch_of_exact_model_reproduces_whole_image(plan, data):
    """A pointwise 'model' (nearest upsampling) stitched over any sub-region equals the whole image."""
    h, w = plan.shape
    s = plan.scale
    rng = np.random.default_rng(0)
    img = rng.random((2, h, w)).astype(np.float32)
    y0 = data.draw(st.integers(0, h - 1))
    y1 = data.draw(st.integers(y0 + 1, h))
    x0 = data.draw(st.integers(0, w - 1))
    x1 = data.draw(st.integers(x0 + 1, w))
    tiles = plan.tiles_in(y0, y1, x0, x1)
    sy0, sy1, sx0, sx1 = plan.source_range(tiles)
    src = img[:, sy0:sy1, sx0:sx1]
    stitch = Stitcher(plan, (y0, y1, x0, x1), 2)
    for ty, tx in tiles:
        win = gather(src, (sy0, sx0), plan.window(ty, tx), plan.shape)
        stitch.add(ty, tx, np.repeat(np.repeat(win, s, -2), s, -1))
    want = np.repeat(np.repeat(img[:, y0:y1, x0:x1], s, -2), s, -1)
    np.testing.assert_array_equal(stitch.result(), want)


def test_feather_weights_sum_to_one_and_are_flat_at_borders():
    plan = TilePlan((50, 50), tile=16, halo=2, scale=2, blend="feather", feather=3)
    total = np.zeros((100, 100))
    for ty, tx in plan.tiles_in(0, 50, 0, 50):
        fy0, fy1, fx0, fx1 = plan.footprint(ty, tx)
        wy, wx = plan.weights_1d(fy0, fy1, 50), plan.weights_1d(fx0, fx1, 50)
        total[fy0 * 2 : fy1 * 2, fx0 * 2 : fx1 * 2] += wy[:, None] * wx[None, :]
    assert np.all(total > 0)
    # two ramps cross in each overlap; weights are 1 at the image border (no feathering there)
    assert plan.weights_1d(0, 19, 50)[0] == 1.0
    np.testing.assert_allclose(total[:30, :30], 1.0, atol=1e-12)


def test_time_window_clamps_at_ends():
    plan = TilePlan((8, 8), tile=8, halo=0, scale=1, n_frames=4, frames_in=5)
    assert plan.time_window(0) == [0, 0, 0, 1, 2]
    assert plan.time_window(3) == [1, 2, 3, 3, 3]
    assert TilePlan((8, 8), 8, 0, 1, n_frames=1, frames_in=3).time_window(0) == [0, 0, 0]


def test_pad_reflect_matches_gather_for_whole_image():
    img = np.arange(35, dtype=float).reshape(1, 5, 7)
    plan = TilePlan((5, 7), tile=7, halo=3, scale=1)
    np.testing.assert_array_equal(gather(img, (0, 0), plan.window(0, 0), (5, 7)), pad_reflect(img, 3)[:, :, :13])


@pytest.mark.parametrize(
    "kw, match",
    [({"tile": 0}, "tile"), ({"halo": -1}, "halo"), ({"blend": "median"}, "blend"),
     ({"blend": "feather", "feather": 9}, "feather width")],
)
def test_bad_plans(kw, match):
    args = {"shape": (20, 20), "tile": 16, "halo": 2, "scale": 2, **kw}
    with pytest.raises(InputError, match=match):
        TilePlan(**args)


# -- the default tile ------------------------------------------------------------------------------------------
def test_default_tile_is_the_smallest_within_the_overhead():
    t = default_tile(40, 4)
    assert t == 572 and halo_overhead(t, 40, 4) <= MAX_HALO_OVERHEAD < halo_overhead(t - 4, 40, 4)
    assert default_tile(0) == 1 and default_tile(2, min_tile=256) == 256  # a small halo keeps the model's tile
    assert default_tile(48, 16, feather=16) % 16 == 0 and halo_overhead(default_tile(48, 16, feather=16), 48, 16,
                                                                        16) <= MAX_HALO_OVERHEAD


def test_default_tile_budget_and_image_caps():
    # A budget of 5 frames x 400 x 400 pixels: the window (tile + 2 x 40) fits it; never below min_tile.
    assert default_tile(40, 4, frames=5, max_window_pixels=5 * 400 * 400) == 320
    assert default_tile(40, 4, frames=5, max_window_pixels=5 * 100 * 100, min_tile=256) == 256
    assert default_tile(40, 4, shape=(160, 90)) == 160  # an image smaller than the tile is one tile
    assert default_tile(40, 16, shape=(161, 90)) == 176
    assert default_tile(40, 4, shape=(1024, 300)) == 512  # two even tiles, not 572 + 452


@pytest.mark.parametrize("kw, match", [(dict(overhead=1.0), "overhead"), (dict(multiple_of=0), "multiple_of")])
def test_default_tile_bad_arguments(kw, match):
    with pytest.raises(InputError, match=match):
        default_tile(8, **kw)


def test_every_model_default_tile_keeps_the_halo_overhead_within_budget():
    """Each registered model's default tile on this CPU: overhead <= 1.3, unless the memory budget caps it."""
    import torch

    from satsr import models
    from satsr.engine import make_runner

    for name in models.list_models():
        spec = models.get_spec(name)
        fw = spec.feather
        free = default_tile(spec.halo, spec.multiple_of, feather=fw, min_tile=spec.tile)
        assert halo_overhead(free, spec.halo, spec.multiple_of, fw) <= MAX_HALO_OVERHEAD, name
        budget = make_runner(name, None, None, torch.device("cpu"), None, pretrained=False).window_budget()
        t = default_tile(spec.halo, spec.multiple_of, feather=fw, frames=spec.frames_in, max_window_pixels=budget,
                         min_tile=spec.tile)
        margin = -(-(spec.halo + fw) // spec.multiple_of) * spec.multiple_of
        capped = spec.frames_in * (t + spec.multiple_of + 2 * margin) ** 2 > budget
        assert t == free or (t < free and (capped or t == spec.tile)), name
        assert halo_overhead(t, spec.halo, spec.multiple_of, fw) <= MAX_HALO_OVERHEAD or capped or t == spec.tile


def test_buffer_pool_reuses_arrays_per_thread_within_its_bound():
    import pickle
    import threading

    pool = BufferPool(max_bytes=3 * 4096)
    a = pool.take((1024,), np.float32)
    assert pool.take((1024,), np.float32) is a and pool.nbytes == 4096
    assert pool.take((1024,), np.uint8) is not a  # one array per shape and dtype
    for n in range(1, 40):  # many shapes: the least recently used go, the bound holds
        assert pool.take((1000 + n,), np.float32).shape == (1000 + n,)
        assert pool.nbytes <= pool.max_bytes
    big = pool.take((4 * 4096,), np.uint8)  # larger than the bound: handed out, never kept
    assert pool.take((4 * 4096,), np.uint8) is not big and pool.nbytes <= pool.max_bytes
    mine = pool.take((8, 8), np.float32)
    theirs: list[np.ndarray] = []
    t = threading.Thread(target=lambda: theirs.append(pool.take((8, 8), np.float32)))
    t.start()
    t.join()
    assert theirs[0] is not mine  # each thread has its own
    clone = pickle.loads(pickle.dumps(pool))  # travels empty (a dask graph may be pickled)
    assert clone.max_bytes == pool.max_bytes and clone.nbytes == 0
    pool.clear()
    assert pool.nbytes == 0
