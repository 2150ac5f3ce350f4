"""``benchmarks/models_table.py`` (issue 16's table): its row for ``lgtd-s`` on a small real subset is consistent
(gains are PSNR minus bicubic's on the same frames, parameters are the model's, the speed is positive), the rows
come from the registry, and missing data is a one-line error."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "models_table.py"


@pytest.fixture(scope="module")
def mt():
    spec = importlib.util.spec_from_file_location("models_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script runs
    path = list(sys.path)
    try:
        spec.loader.exec_module(module)  # puts benchmarks/ on sys.path for its sibling script: taken off again
        sys.path[:] = path
        yield module
    finally:
        sys.path[:] = path
        del sys.modules[spec.name]


def test_rows_come_from_the_registry(mt, tmp_path):
    shipped = mt.shipped_models()
    assert "lgtd-s" in shipped and "mtdo" not in shipped  # the registry's shipped weights, nothing hard-coded
    entries = mt.pick_entries(None, [])
    assert [e.name for e in entries] == ["bicubic", *shipped] and all(e.path is None for e in entries)
    assert all(e.weights == f"{e.name}.safetensors (shipped)" for e in entries[1:])
    ckpt = tmp_path / "c.safetensors"
    ckpt.write_bytes(b"")
    cand = mt.pick_entries("", [f"mtdo-s={ckpt}"])
    assert [(e.name, e.path) for e in cand] == [("bicubic", None), ("mtdo-s", ckpt.resolve())]
    assert cand[1].weights == str(ckpt.resolve())
    for names, cands, msg in (("mstt", [], "has no shipped weights"), ("nope", [], "not a registered model"),
                              ("", ["mtdo-s"], "NAME=PATH"), ("", [f"mtdo-s={tmp_path / 'x'}"], "no such file")):
        with pytest.raises(SystemExit, match=msg):
            mt.pick_entries(names, cands)


def test_short_clips_are_skipped_for_a_space_time_model_only(mt, tmp_path):
    from satsr.errors import InputError

    for name in ("a", "b"):
        (tmp_path / name / "GT").mkdir(parents=True)
        (tmp_path / name / "GT" / "000.png").write_bytes(b"")
    calls = []

    def run(where):  # the whole root and clip "a" hold no stretch; clip "b" does
        calls.append(where.name)
        if where.name in (tmp_path.name, "a"):
            raise InputError(f"{where}: too short")
        return [where.name]

    scores, skipped = mt.scores_skipping_short_clips(tmp_path, "mstt-s", run)
    assert scores == ["b"] and skipped == ["a"] and calls == [tmp_path.name, "a", "b"]
    assert mt.scores_skipping_short_clips(tmp_path / "b", "mstt-s", run) == (["b"], None)  # no fallback needed
    with pytest.raises(InputError, match="too short"):  # a model of one output frame: the error as it came
        mt.scores_skipping_short_clips(tmp_path, "lgtd-s", run)
    with pytest.raises(InputError, match="no clip of"):
        mt.scores_skipping_short_clips(tmp_path, "mstt-s", lambda where: run(tmp_path / "a"))


def test_missing_data_is_a_one_line_error(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--models", "lgtd-s", "--data", str(tmp_path),
                           "--json", str(tmp_path / "t.json")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "data not found" in proc.stderr and "jilin1_airport" in proc.stderr
    assert not (tmp_path / "t.json").exists()


@pytest.mark.slow
def test_lgtd_s_row_on_a_small_real_subset(mt, shared_data, monkeypatch):
    monkeypatch.setenv("SATSR_THREADS", "1")
    entry = mt.Entry("lgtd-s")
    # one Jilin-1 centre; one held-aside window: the last 4% of macf_012's 120 frames hold only the one at 117
    row = mt.score_model(entry, shared_data, centres=(3,), holdout=0.04, sv_temporal=False,
                         sv_root=shared_data / "satvideo" / "macf_012")
    for key in ("jilin", "pil_lr", "satvideo"):
        s = row[key]
        assert s["gain"] == pytest.approx(s["psnr"] - s["bicubic_psnr"], abs=1e-12)
        assert s["gain"] > 0  # the shipped model beats bicubic on each
        assert {c["model"] for c in s["clips"]} == {"lgtd-s", "bicubic"}
    assert [c["frames"] for c in row["jilin"]["clips"]] == [[3], [3]]
    assert [c["frames"] for c in row["satvideo"]["clips"]] == [[117], [117]]
    assert math.isfinite(row["jilin"]["temporal_gain"]) and "temporal_gain" not in row["satvideo"]
    # the card's single-frame figures (frame 3): 32.55 dB against bicubic 30.58
    assert row["jilin"]["psnr"] == pytest.approx(32.55, abs=0.01)
    assert row["jilin"]["bicubic_psnr"] == pytest.approx(30.58, abs=0.01)

    assert mt.count_params(entry) == 1_194_577 == sum(p.numel() for p in mt.models.create("lgtd-s").parameters())

    stack, gt = mt.jilin_stack(shared_data)
    assert stack.shape == (7, 3, 160, 160) and gt.shape == (7, 3, 640, 640)
    small = stack.isel(time=slice(0, 3), y=slice(0, 64), x=slice(0, 64))
    timing = mt.time_upscale(entry, small, (1,), repeat=1)
    assert timing["frames_out"] == 3 and timing["output_mpx"] == pytest.approx(3 * 256 * 256 / 1e6)
    assert timing["s_per_mpx"] > 0 and timing["s_per_mpx"] == pytest.approx(timing["median_s"] / timing["output_mpx"])
    assert timing["lr_consistency_db"] > 40 and timing["threads"]["torch"] == 1

    row.update(model="lgtd-s", kind="video", params=1_194_577, weights=entry.weights, timing=timing, notes="")
    line = mt.table([row]).splitlines()[2]
    assert line.startswith(f"| lgtd-s | 1,194,577 | {row['jilin']['psnr']:.2f} ({row['jilin']['gain']:+.2f}) |")
