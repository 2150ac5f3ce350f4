"""torch.compile where it pays: the "auto" rule, fixed shapes, the job's size reaching the runner, the fallback."""

from __future__ import annotations

import logging
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import satsr
from satsr import engine, models
from satsr.engine import COMPILE_COST, COMPILE_PAYOFF, Runner, RunnerJob, compile_pays, make_runner, resolve_compile
from satsr.errors import InputError

CPU = torch.device("cpu")


def _conv_net(scale: int = 2, seed: int = 0) -> nn.Module:
    """Random 3-layer conv net, receptive-field radius 3 (LR pixels)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale),
    )


@pytest.fixture
def fake_compile(monkeypatch):
    """``torch.compile`` that compiles nothing (the module itself): what satsr asks of it, without the minutes."""
    calls: list[dict] = []

    def fake(model, **kw):
        calls.append(kw)
        return model

    monkeypatch.setattr(torch, "compile", fake)
    return calls


# -- the "auto" rule -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_auto_rule_is_off_for_a_tiny_job_and_on_for_a_big_one(device):
    cost = COMPILE_COST[device]
    assert not compile_pays(device, 10 * 0.5)  # ten windows of half a second: a compile would never pay
    assert not compile_pays(device, cost.seconds)  # as long eagerly as one compile: not "well above" it
    assert compile_pays(device, 10_000 * 0.5)  # 10,000 windows: 83 minutes eagerly
    # the threshold: the time compiled saves repays the compile COMPILE_PAYOFF times
    edge = COMPILE_PAYOFF * cost.seconds / (1 - 1 / cost.speedup)
    assert compile_pays(device, edge * 1.01) and not compile_pays(device, edge * 0.99)
    assert edge > 5 * cost.seconds  # "well above" the compile time


def test_auto_rule_never_compiles_elsewhere():
    assert not compile_pays("mps", 1e9) and not compile_pays("cpu", 0.0) and not compile_pays("cpu", float("nan"))


def test_compile_option_and_environment(monkeypatch):
    monkeypatch.delenv("SATSR_COMPILE", raising=False)
    assert resolve_compile("auto") == "auto" and resolve_compile(True) is True and resolve_compile(False) is False
    for env, want in (("1", True), ("0", False), ("auto", "auto"), (" 1 ", True)):
        monkeypatch.setenv("SATSR_COMPILE", env)
        assert resolve_compile("auto") == want, env
    monkeypatch.setenv("SATSR_COMPILE", "1")
    assert resolve_compile(False) is False  # an explicit choice wins over the environment
    assert make_runner(models.wrap(_conv_net(), scale=2, halo=3), None, None, CPU, 1).compile_state == "pending"
    monkeypatch.setenv("SATSR_COMPILE", "0")
    assert make_runner(models.wrap(_conv_net(), scale=2, halo=3), None, None, CPU, 1).compile_state == "off"
    monkeypatch.setenv("SATSR_COMPILE", "yes")
    with pytest.raises(InputError, match="SATSR_COMPILE"):
        resolve_compile("auto")
    with pytest.raises(InputError, match="compile must be"):
        resolve_compile("on")  # type: ignore[arg-type]


# -- the runner: decide from the job, compile once -----------------------------------------------------------
def _auto_runner(monkeypatch, pays: bool, batch: int = 2) -> Runner:
    monkeypatch.delenv("SATSR_COMPILE", raising=False)
    monkeypatch.setattr(engine, "compile_pays", lambda device_type, eager_seconds: pays)
    return Runner(models.wrap(_conv_net(), scale=2, halo=3), CPU, batch, None, compile="auto")


@pytest.mark.parametrize("pays", [False, True])
def test_auto_compiles_once_the_job_is_known_to_be_large(pays, monkeypatch, fake_compile):
    img = np.random.default_rng(0).random((2, 3, 12, 12), dtype=np.float32)
    eager = Runner(models.wrap(_conv_net(), scale=2, halo=3), CPU, 2, None, compile=False)(img)
    runner = _auto_runner(monkeypatch, pays)
    assert runner.compile_state == "auto"
    job = runner.for_job(windows=20, batch=2)
    outs = [job(img) for _ in range(4)]
    for out in outs:
        np.testing.assert_allclose(out, eager, atol=1e-6)
    if not pays:
        assert runner.compile_state == "auto" and not fake_compile
        return
    # two forwards timed eagerly, then compiled from the third, once, at the job's one shape, static
    assert runner.compile_state == "on" and fake_compile == [{"dynamic": False}]
    assert runner._compiled_shapes == {((2, 3, 12, 12),)}
    assert any(e.startswith("compile: auto: on (16 windows left") for e in runner.events), runner.events


def test_auto_never_compiles_without_a_job(monkeypatch, fake_compile):
    """A runner used outside a job (a dry run's calibration, a benchmark) has no windows left to repay a compile."""
    img = np.random.default_rng(0).random((2, 3, 12, 12), dtype=np.float32)
    runner = _auto_runner(monkeypatch, pays=True)
    for _ in range(4):
        runner(img)
    assert runner.compile_state == "auto" and not fake_compile


def test_small_batches_pad_to_the_compiled_shape_or_run_eagerly(monkeypatch, fake_compile):
    rng = np.random.default_rng(0)
    model = models.wrap(_conv_net(), scale=2, halo=3)
    runner = Runner(model, CPU, 4, None, compile=True)
    eager = Runner(models.wrap(_conv_net(), scale=2, halo=3), CPU, 4, None, compile=False)
    shapes = []
    runner.model.register_forward_pre_hook(lambda m, a: shapes.append(tuple(a[0].shape)))
    for n in (4, 3, 1, 4):
        x = rng.random((n, 3, 10, 10), dtype=np.float32)
        np.testing.assert_allclose(runner(x), eager(x), atol=1e-5)
    # 4: compiled (checked against eager first: two forwards); 3 of 4 padded (3 x 1.5 >= 4); 1 eager; 4 compiled
    assert shapes == [(4, 3, 10, 10)] * 3 + [(1, 3, 10, 10), (4, 3, 10, 10)]
    assert len(fake_compile) == 1 and runner._compiled_shapes == {((4, 3, 10, 10),)}
    # another window shape (the halves of a window split on out-of-memory) runs eagerly, uncompiled
    runner(rng.random((4, 3, 14, 10), dtype=np.float32))
    assert runner._compiled_shapes == {((4, 3, 10, 10),)}


def test_upscale_compiles_one_shape_and_matches_eager(make_geotiff, monkeypatch, fake_compile):
    """Through satsr.upscale: the graph tells the runner the job's size; edge tiles share the window's shape."""
    monkeypatch.delenv("SATSR_COMPILE", raising=False)
    monkeypatch.setattr(engine, "compile_pays", lambda device_type, eager_seconds: True)
    da = satsr.open_stack(make_geotiff("c.tif", shape=(3, 70, 90), dtype="float32"))
    net = models.wrap(_conv_net(), scale=2, halo=3)
    ref = satsr.upscale(da, net, tile=16, device="cpu", compile=False).values
    net2 = models.wrap(_conv_net(), scale=2, halo=3)
    runner = make_runner(net2, None, None, CPU, None)
    seen: list[tuple] = []
    runner.model.register_forward_pre_hook(lambda m, a: seen.append(tuple(a[0].shape)))
    monkeypatch.setattr(engine, "make_runner", lambda *a, **k: runner)
    monkeypatch.setattr(satsr.pipeline, "make_runner", lambda *a, **k: runner)
    out = satsr.upscale(da, net2, tile=16, device="cpu").values
    np.testing.assert_allclose(out, ref, atol=1e-5)
    assert runner.compile_state == "on" and len(fake_compile) == 1
    assert {s[1:] for s in seen} == {(3, 22, 22)}  # every window one shape (16 + 2 x 3, edges reflected)
    assert runner._compiled_shapes == {((4, 3, 22, 22),)}  # one compile, at the full batch (a block's 4 tiles)


def test_a_job_pickles_with_its_size():
    job = make_runner("bicubic", 4, None, CPU, None).for_job(123, 4)
    back = pickle.loads(pickle.dumps(job))
    assert isinstance(back, RunnerJob) and (back.windows, back.batch) == (123, 4)
    assert back.runner is job.runner  # the per-process cache: the registered model is not shipped
    assert back.spec.name == "bicubic" and back.choose_batch((3, 20, 20)) == job.choose_batch((3, 20, 20))


def test_a_failed_compile_warns_and_runs_eagerly(monkeypatch, caplog):
    def broken(model, **kw):
        def run(*a):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")

        return run

    monkeypatch.setattr(torch, "compile", broken)
    img = np.random.default_rng(0).random((2, 3, 12, 12), dtype=np.float32)
    eager = Runner(models.wrap(_conv_net(), scale=2, halo=3), CPU, 2, None, compile=False)(img)
    runner = Runner(models.wrap(_conv_net(), scale=2, halo=3), CPU, 2, None, compile=True)
    with caplog.at_level(logging.WARNING, logger="satsr"):
        np.testing.assert_allclose(runner(img), eager, atol=1e-6)
        np.testing.assert_allclose(runner(img), eager, atol=1e-6)
    assert runner.compile_state.startswith("fallback: RuntimeError: InvalidCxxCompiler")
    warned = [r for r in caplog.records if "torch.compile not used" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING


# -- for real -----------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_compiled_default_model_equals_eager_on_real_frames(shared_data):
    """lgtd-s, really compiled (Inductor, static shapes), on 5 real Jilin-1 frames: the fp32 eager output."""
    frames = sorted((shared_data / "jilin1_airport" / "LR4x").glob("*.png"))[:5]
    arr = np.stack([np.asarray(Image.open(f).convert("RGB"))[40:72, 60:92] for f in frames])
    x = ((arr.astype(np.float32) / 255).transpose(0, 3, 1, 2))[None].copy()  # (1, 5, 3, 32, 32)
    eager = Runner(models.create("lgtd-s"), CPU, 1, None, precision="fp32", compile=False)(x)
    runner = Runner(models.create("lgtd-s"), CPU, 1, None, precision="fp32", compile=True)
    first = runner(x)
    assert runner.compile_state == "on", runner.compile_state
    again = runner(x)  # the compiled path alone
    assert first.shape == again.shape == eager.shape == (1, 3, 128, 128)
    np.testing.assert_allclose(first, eager, atol=1e-4)
    np.testing.assert_allclose(again, eager, atol=1e-4)
