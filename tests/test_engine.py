"""The runner: precision, out-of-memory recovery, torch.compile with fallback, channels_last, threads."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import satsr
from satsr import metrics, models
from satsr.engine import Runner, cpu_has_native_bf16, make_runner, resolve_precision, thread_plan
from satsr.errors import InputError, ModelError

CPU = torch.device("cpu")


def _conv_net(scale: int = 2, seed: int = 0) -> nn.Module:
    """Random 3-layer conv net, receptive-field radius 3 (LR pixels)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale),
    )


class _Tight(nn.Module):
    """A model on a "device" with room for ``limit`` input pixels per forward: beyond it, CUDA's OOM error."""

    def __init__(self, net: nn.Module, limit: int) -> None:
        super().__init__()
        self.net, self.limit, self.calls = net, limit, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(x.shape))
        if x.shape[0] * x.shape[-2] * x.shape[-1] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.net(x)


# -- precision -----------------------------------------------------------------------------------------------
def test_precision_resolution(monkeypatch):
    monkeypatch.delenv("SATSR_CPU_BF16", raising=False)
    assert resolve_precision("auto", CPU) == ("bf16" if cpu_has_native_bf16() else "fp32")  # what the detector says
    monkeypatch.setenv("SATSR_CPU_BF16", "0")
    assert resolve_precision("auto", CPU) == "fp32"
    monkeypatch.setenv("SATSR_CPU_BF16", "1")
    assert resolve_precision("auto", CPU) == "bf16"
    assert resolve_precision("bf16", CPU) == "bf16"
    # a model measured slower in bf16 on a CPU keeps fp32 under "auto" (rgtgan), but bf16 when asked for
    assert models.get_spec("rgtgan").cpu_bf16 is False and resolve_precision("auto", CPU, cpu_bf16=False) == "fp32"
    assert resolve_precision("bf16", CPU, cpu_bf16=False) == "bf16"
    assert make_runner("rgtgan", None, None, CPU, None, pretrained=False).precision == "fp32"
    assert make_runner("lgtd-s", None, None, CPU, None).precision == "bf16"
    # the per-process runner cache follows the setting: a runner built under one is not handed out under the other
    monkeypatch.setenv("SATSR_CPU_BF16", "0")
    assert make_runner("lgtd-s", None, None, CPU, None).precision == "fp32"
    monkeypatch.setenv("SATSR_CPU_BF16", "1")
    assert make_runner("lgtd-s", None, None, CPU, None).precision == "bf16"
    with pytest.raises(InputError, match="precision must be"):
        resolve_precision("int8", CPU)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="precision must be"):
        make_runner("bicubic", None, None, CPU, None, precision="fp64")  # type: ignore[arg-type]


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="no /proc/cpuinfo to check the detector against")
def test_cpu_bf16_detection_agrees_with_cpuinfo(monkeypatch):
    monkeypatch.delenv("SATSR_CPU_BF16", raising=False)
    text = Path("/proc/cpuinfo").read_text(errors="replace")
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    assert cpu_has_native_bf16() == any(f in flags for f in ("avx512_bf16", "amx_bf16", "amx_tile"))


def test_bf16_on_cpu_through_upscale(make_geotiff):
    da = satsr.open_stack(make_geotiff("p.tif", shape=(3, 40, 40), dtype="float32"))
    net = models.wrap(_conv_net(), scale=2, halo=3)
    a = satsr.upscale(da, net, device="cpu", precision="fp32")
    b = satsr.upscale(da, net, device="cpu", precision="bf16")
    assert a.attrs["satsr_precision"] == "fp32" and b.attrs["satsr_precision"] == "bf16"
    d = np.abs(a.values - b.values)
    assert 0 < d.max() < 0.05  # bf16 did run, and stays close


def test_a_module_is_prepared_in_place_as_the_docstring_says(make_geotiff):
    """``upscale``'s docstring: a module given is put on the device, in eval mode, channels-last and (bf16 on a
    CPU) with grid_sample deformable convolutions; a deep copy keeps the caller's module as it was."""
    from satsr.models.ops import DCNSep

    da = satsr.open_stack(make_geotiff("v.tif", shape=(3, 24, 24), dtype="float32"))
    net = models.create("lgtd-s").train()
    kept = models.create("lgtd-s").train()
    for module in (net, copy.deepcopy(kept)):  # one frame (its window repeats it): one bf16 forward, emulated here
        assert satsr.upscale(da, module, device="cpu", precision="bf16").values.shape == (1, 3, 96, 96)
    assert not net.training and {m.impl for m in net.modules() if isinstance(m, DCNSep)} == {"grid_sample"}
    assert net.conv_last.weight.is_contiguous(memory_format=torch.channels_last)
    assert kept.training and {m.impl for m in kept.modules() if isinstance(m, DCNSep)} == {"torchvision"}


def _psnr(test: np.ndarray, ref: np.ndarray) -> float:
    """PSNR against fp32 with peak ``max(1, range of ref)``: the usual PSNR for an image model's [0, 1] output.

    Models without published weights run at their authors' initialisation, where the output is not an image and
    spans hundreds of units; the peak is then that span, so the figure still measures relative precision.
    """
    peak = max(1.0, float(ref.max() - ref.min()))
    return metrics.psnr(test.reshape(-1, *test.shape[-2:]), ref.reshape(-1, *ref.shape[-2:]), data_range=peak)


#: Every registered model but mstt-40: mstt's layers, 40 reconstruction blocks instead of 20 (70 s more here)
EVERY = [n for n in models.list_models() if n != "mstt-40"]


@pytest.fixture(scope="module")
def jilin_crop(shared_data):
    """The 7 real Jilin-1 LR frames, an 80 x 80 crop, float32 in [0, 1], (T, C, H, W)."""
    frames = sorted((shared_data / "jilin1_airport" / "LR4x").glob("*.png"))
    arr = np.stack([np.asarray(Image.open(f).convert("RGB"))[40:120, 60:140] for f in frames])
    return (arr.astype(np.float32) / 255).transpose(0, 3, 1, 2).copy()


@pytest.mark.slow
@pytest.mark.parametrize("name", EVERY)
def test_half_precision_accuracy_every_model(name, jilin_crop):
    """bf16 (and fp16 where it is quick on a CPU) autocast stays above 50 dB PSNR against fp32, on real frames."""
    torch.manual_seed(0)
    # lgtd-s: its shipped weights; the others: the authors' initialisation
    model = models.create(name, pretrained=None if models.get_spec(name).weights else False)
    spec = models.get_spec(model)
    t = spec.frames_in
    n = -(-32 // spec.multiple_of) * spec.multiple_of  # 32 x 32 pixels, 80 x 80 for MSTT
    crop = jilin_crop[..., :n, :n]
    x = crop[:t][None] if t > 1 else crop[3][None]
    inp = x
    if spec.needs_reference:
        s = spec.scale
        ref = np.repeat(np.repeat(crop[3][None], s, axis=-1), s, axis=-2)
        inp = (x, ref)
    fp32 = Runner(model, CPU, 1, None, precision="fp32", compile=False)(inp)
    checks = ["bf16"] + (["fp16"] if name in ("lgtd-s", "bicubic", "bilinear", "nearest") else [])
    for p in checks:
        out = Runner(model, CPU, 1, None, precision=p, compile=False)(inp)
        assert out.dtype == np.float32 and out.shape == fp32.shape
        assert _psnr(out, fp32) > 50, (name, p)


@pytest.mark.slow
@pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no native bf16 (AVX512-BF16 or AMX): "
                    "precision='auto' runs fp32 here, so there is no bf16 default to check")
@pytest.mark.parametrize("name", EVERY)
def test_auto_precision_on_a_bf16_cpu_stays_45_db_from_fp32(name, jilin_crop, monkeypatch):
    """The CPU default (``"auto"``, bf16 here) against fp32, every model, real frames: >= 45 dB PSNR."""
    monkeypatch.delenv("SATSR_CPU_BF16", raising=False)
    torch.manual_seed(0)
    model = models.create(name, pretrained=None if models.get_spec(name).weights else False)
    spec = models.get_spec(model)
    n = -(-48 // spec.multiple_of) * spec.multiple_of  # 48 x 48 pixels, 80 x 80 for MSTT
    o = (jilin_crop.shape[-1] - n) // 2
    crop = jilin_crop[..., o : o + n, o : o + n]
    x = crop[: spec.frames_in][None] if spec.frames_in > 1 else crop[3][None]
    inp = (x, np.repeat(np.repeat(crop[3][None], spec.scale, -1), spec.scale, -2)) if spec.needs_reference else x
    auto = Runner(model, CPU, 1, None, compile=False)
    assert auto.precision == ("bf16" if spec.cpu_bf16 else "fp32")  # rgtgan: slower in bf16 on a CPU, kept fp32
    forced = Runner(model, CPU, 1, None, precision="bf16", compile=False)  # the accuracy of bf16 all the same
    fp32 = Runner(model, CPU, 1, None, precision="fp32", compile=False)(inp)
    assert _psnr(auto(inp), fp32) >= 45 and _psnr(forced(inp), fp32) >= 45, name


def test_autocast_leaves_interpolators_exact():
    """bicubic, bilinear and nearest have no weights: bf16 autocast must not touch their arithmetic."""
    x = np.random.default_rng(0).random((2, 3, 24, 20), dtype=np.float32)
    for name in ("bicubic", "bilinear", "nearest"):
        model = models.create(name)
        a = Runner(model, CPU, 2, None, precision="fp32", compile=False)(x)
        b = Runner(model, CPU, 2, None, precision="bf16", compile=False)(x)
        np.testing.assert_array_equal(a, b, err_msg=name)


# -- out of memory ---------------------------------------------------------------------------------------------
def test_oom_halves_the_batch_and_loses_no_tile(make_geotiff, caplog):
    da = satsr.open_stack(make_geotiff("o.tif", shape=(3, 64, 64), dtype="float32"))
    ref = satsr.upscale(da, models.wrap(_conv_net(), scale=2, halo=3), tile=16, batch_size=4).values
    tight = _Tight(_conv_net(), limit=2 * 22 * 22)  # room for two 22 x 22 windows (16 + 2 x 3), not four
    with caplog.at_level(logging.WARNING, logger="satsr"):
        out = satsr.upscale(da, models.wrap(tight, scale=2, halo=3), tile=16, batch_size=4).values
    np.testing.assert_array_equal(out, ref)  # same arithmetic per tile, every tile there
    assert any("batch halved to 2" in r.getMessage() for r in caplog.records)
    assert max(c[0] for c in tight.calls if c[0] * c[-1] * c[-2] <= tight.limit) == 2


def test_oom_at_one_tile_splits_the_window(caplog):
    img = np.random.default_rng(0).random((1, 3, 40, 28), dtype=np.float32)
    net = _conv_net()
    whole = Runner(models.wrap(net, scale=2, halo=3), CPU, 1, None)(img)
    tight = _Tight(net, limit=30 * 28)  # the 40 x 28 window does not fit; halves of 23 and 20 rows (+ halo) do
    runner = Runner(models.wrap(tight, scale=2, halo=3), CPU, 1, None)
    with caplog.at_level(logging.WARNING, logger="satsr"):
        out = runner(img)
    assert out.shape == whole.shape
    np.testing.assert_allclose(out, whole, atol=1e-5)  # the halo covers the net's reach: the cut is invisible
    assert any("split in two (rows)" in e for e in runner.events)
    assert any("split in two" in r.getMessage() for r in caplog.records)


def test_oom_splits_a_reference_models_inputs_in_lockstep():
    class RefNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net, self.calls = _conv_net(), []

        def forward(self, lr: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
            self.calls.append((tuple(lr.shape), tuple(ref.shape)))
            if lr.shape[-2] * lr.shape[-1] > 600:
                raise torch.OutOfMemoryError("CUDA out of memory")
            return self.net(lr) + ref[:, :, : lr.shape[-2] * 2, : lr.shape[-1] * 2] * 0.5

    lr = np.random.default_rng(1).random((1, 3, 24, 40), dtype=np.float32)
    ref = np.random.default_rng(2).random((1, 3, 48, 80), dtype=np.float32)
    net = RefNet()
    whole = Runner(models.wrap(net.net, scale=2, halo=3), CPU, 1, None)(lr) + ref * 0.5
    runner = Runner(models.wrap(net, scale=2, halo=3, needs_reference=True), CPU, 1, None)
    out = runner((lr, ref))
    np.testing.assert_allclose(out, whole, atol=1e-5)
    assert all(r[-2] == 2 * lr_[-2] and r[-1] == 2 * lr_[-1] for lr_, r in net.calls)  # cut together


def test_oom_on_a_window_too_small_to_split_is_a_clear_error():
    tight = _Tight(_conv_net(), limit=10)
    runner = Runner(models.wrap(tight, scale=2, halo=3), CPU, 1, None)
    with pytest.raises(ModelError, match="out of memory on cpu even for one window"):
        runner(np.zeros((1, 3, 16, 16), np.float32))


def test_errors_that_are_not_oom_pass_through():
    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise ValueError("bad weights")

    with pytest.raises(ValueError, match="bad weights"):
        Runner(models.wrap(Broken(), scale=2), CPU, 1, None)(np.zeros((2, 3, 8, 8), np.float32))


# -- torch.compile -----------------------------------------------------------------------------------------------
class _CompileTrap(nn.Module):
    """Computes something else only when Dynamo traces it (as a miscompiled op would)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = _conv_net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        return y + 1 if torch.compiler.is_compiling() else y


def _failing_compile(model, **kw):
    """What torch.compile gives when the backend cannot lower an op: a callable that raises on first use."""

    def run(*a):
        raise RuntimeError("BackendCompilerFailed: backend='inductor' raised: NotImplementedError")

    return run


@pytest.mark.parametrize("mode, why", [("fail", "BackendCompilerFailed"), ("differ", "differs from eager")])
def test_compile_falls_back_quietly(mode, why, caplog, monkeypatch):
    img = np.random.default_rng(0).random((2, 3, 12, 12), dtype=np.float32)
    eager = Runner(models.wrap(_conv_net(), scale=2, halo=3), CPU, 2, None, compile=False)(img)
    if mode == "fail":
        monkeypatch.setattr(torch, "compile", _failing_compile)
    net = _CompileTrap() if mode == "differ" else _conv_net()
    runner = Runner(models.wrap(net, scale=2, halo=3), CPU, 2, None, compile=True)
    with caplog.at_level(logging.INFO, logger="satsr"):
        out = runner(img)
        again = runner(img)
    np.testing.assert_allclose(out, eager, atol=1e-6)
    np.testing.assert_allclose(again, eager, atol=1e-6)
    assert runner.compile_state.startswith("fallback") and why in runner.compile_state
    assert sum("torch.compile not used" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.slow
def test_compile_for_real_on_cpu():
    img = np.random.default_rng(0).random((2, 3, 16, 16), dtype=np.float32)
    net = models.wrap(_conv_net(), scale=2, halo=3)
    eager = Runner(net, CPU, 2, None, compile=False)(img)
    runner = Runner(models.wrap(_conv_net(), scale=2, halo=3), CPU, 2, None, compile=True)
    out = runner(img)
    assert runner.compile_state == "on", runner.compile_state
    np.testing.assert_allclose(out, eager, atol=1e-4)
    np.testing.assert_allclose(runner(img), eager, atol=1e-4)  # the compiled path, second call


def test_channels_last_gives_the_same_result():
    img = np.random.default_rng(0).random((2, 3, 20, 20), dtype=np.float32)
    a = Runner(models.wrap(_conv_net(), scale=2, halo=3), CPU, 2, None)(img)
    runner = Runner(models.wrap(_conv_net(), scale=2, halo=3), CPU, 2, None, channels_last=True)
    assert runner.channels_last
    np.testing.assert_allclose(runner(img), a, atol=1e-5)


def test_default_layout_is_nhwc_for_bf16_on_the_cpu():
    net = models.wrap(_conv_net(), scale=2, halo=3)
    fp32 = Runner(net, CPU, 2, None, precision="fp32")
    assert not fp32.channels_last  # fp32 keeps NCHW: the same summation order as before
    assert not next(fp32.model.parameters()).is_contiguous(memory_format=torch.channels_last)
    bf16 = Runner(models.wrap(_conv_net(), scale=2, halo=3), CPU, 2, None, precision="bf16")
    assert bf16.channels_last
    weight = next(p for p in bf16.model.parameters() if p.ndim == 4)
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert not Runner(models.wrap(_conv_net(), scale=2, halo=3), CPU, 2, None, precision="bf16",
                      channels_last=False).channels_last  # an explicit choice wins


# -- threads ----------------------------------------------------------------------------------------------------
def test_thread_plan_rule(monkeypatch):
    monkeypatch.delenv("SATSR_THREADS", raising=False)
    plan = thread_plan("cpu")
    assert plan.source == "default" and plan.torch == plan.dask >= 1
    monkeypatch.setenv("SATSR_THREADS", "1")
    assert thread_plan("cpu") == thread_plan("cpu", 1).__class__(torch=1, dask=1, source="SATSR_THREADS")
    assert thread_plan("cpu", 3).torch == 3
    monkeypatch.setenv("SATSR_THREADS", "lots")
    with pytest.raises(InputError, match="SATSR_THREADS"):
        thread_plan("cpu")
    with pytest.raises(InputError, match="threads must be"):
        thread_plan("cpu", 0)


def test_thread_plan_sets_torch_and_dask_together(monkeypatch, make_geotiff):
    import threading

    import dask
    import dask.array

    from satsr.io._atomic import drained_dask_threads

    class Spy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net, self.seen = _conv_net(), set()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.seen.add(torch.get_num_threads())  # in the dask thread that runs the forward
            return self.net(x)

    monkeypatch.setenv("SATSR_THREADS", "1")
    spy = Spy()
    da = satsr.open_stack(make_geotiff("t.tif", shape=(3, 40, 40)))
    satsr.upscale(da, models.wrap(spy, scale=2, halo=3), tile=16, device="cpu").compute()
    assert spy.seen == {1}
    names: set[str] = set()

    def where(block: np.ndarray) -> np.ndarray:
        names.add(threading.current_thread().name)
        return block

    with drained_dask_threads():  # the writers' pool: as many threads as the plan's dask share
        dask.array.ones(8, chunks=1).map_blocks(where, meta=np.empty(0)).compute()
    assert len(names) == 1


def test_every_forward_runs_on_the_one_model_thread(make_geotiff):
    import threading

    import dask

    class Where(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net, self.threads = _conv_net(), set()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.threads.add(threading.current_thread().name)
            return self.net(x)

    where = Where()
    da = satsr.open_stack(make_geotiff("w.tif", shape=(3, 64, 64)))
    with dask.config.set(num_workers=3):
        satsr.upscale(da, models.wrap(where, scale=2, halo=3), tile=16, batch_size=1, device="cpu").compute()
    assert len(where.threads) == 1 and next(iter(where.threads)).startswith("satsr-")
