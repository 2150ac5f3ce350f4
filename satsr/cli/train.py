"""``satsr train`` and ``satsr evaluate``: fit a model from a config, score models on clips with ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from satsr._atomic import atomic_output
from satsr.cli.app import main
from satsr.cli.params import parse_options
from satsr.errors import InputError

if TYPE_CHECKING:
    from satsr.train.evaluate import ClipScore

__all__ = ["evaluate", "train"]


@main.command()
@click.argument("config", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--resume", is_flag=True, help="Continue exactly from OUT/last.pt (same step, optimiser, data order).")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Override the config's number of steps.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None, help="Override the run folder.")
@click.option("--data-root", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder the config's relative data paths start from (default: the config's data_root).")
@click.option("--until", type=click.IntRange(min=1), default=None,
              help="Stop after this step (checkpointed; continue later with --resume).")
@click.option("--device", default=None, help="Override the device: auto, cpu, cuda, cuda:N.")
@click.option("--no-progress", is_flag=True, help="Do not show the progress bar.")
def train(config: Path, resume: bool, steps: int | None, out: Path | None, data_root: Path | None,
          until: int | None, device: str | None, no_progress: bool) -> None:
    """Train a model from a YAML CONFIG (see satsr.train.loop); checkpoints, log.csv, final.safetensors in out."""
    from satsr.train.loop import load_config
    from satsr.train.loop import train as run

    cfg = load_config(config, steps=steps, out=str(out.resolve()) if out else None, device=device,
                      data_root=str(data_root.resolve()) if data_root else None)
    result = run(cfg, resume=resume, until=until, progress=not no_progress)
    click.echo(f"step {result['step']}: loss {result['loss']:.4f}"
               + (f", val PSNR {result['val']['psnr']:.3f} dB" if result["val"] else ""))
    if result["step"] >= cfg.steps:
        click.echo(str(Path(cfg.out) / "final.safetensors"))


@main.command()
@click.option("-m", "--model", "model_names", multiple=True, required=True,
              help="Registered model to score (repeatable). Bicubic is always scored too, as the baseline.")
@click.option("--pretrained", default=None, help="Checkpoint for the (first) model.")
@click.option("--random-weights", is_flag=True,
              help="Run the models given no checkpoint on their random initialisation, on purpose (tests, "
                   "benchmarks): without it, a network satsr ships no weights for stops with an error.")
@click.option("-O", "--option", "options", multiple=True, metavar="KEY=VALUE", help="A model option (repeatable).")
@click.option("--data", "data_roots", type=click.Path(path_type=Path, file_okay=False), required=True,
              multiple=True,
              help="Clips in the Jilin-189 layout: <data>/<clip>/GT/*.png (+ LR4x/), or one clip folder; with "
                   "--protocol rgtgan, Ref-SR sets (<set>/HR, LR, LR_UX4, Ref, Ref_DUX4) or a folder of them. "
                   "Repeatable.")
@click.option("--protocol", default="standard", show_default=True,
              help="Scoring protocol: standard, lgtd, mtdo, mstt, lgfn or rgtgan. rgtgan runs RGTGAN's val.py on "
                   "Ref-SR sets (on Jilin-189 clips it only scores with its metric).")
@click.option("--centres", default=None, metavar="I,J,K", help="Frame indices to score (default all).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Ref-SR sets: score only the first N images of each set (default all).")
@click.option("-s", "--scale", type=click.IntRange(min=1), default=4, show_default=True,
              help="Upscaling factor (GT frames are this many times the LR frames).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write the scores as JSON.")
@click.option("--lr-resampler", type=click.Choice(["bicubic", "bicubic_noaa", "area", "pil_bicubic"]), default=None,
              help="Make the LR from GT with this resampler (robustness: e.g. pil_bicubic) instead of the clip's LR "
                   "frames or MATLAB's bicubic.")
@click.option("--prescale", type=click.IntRange(min=1), default=1, show_default=True,
              help="Area-reduce GT first (2 for JPEG-published video such as satvideo).")
@click.option("--holdout", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Score only windows within the last HOLDOUT share of each clip (the frames kept out of training).")
@click.option("--no-temporal", is_flag=True,
              help="Skip the temporal_gain column (each model again on its centre frame alone).")
@click.option("--self-ensemble", is_flag=True,
              help="Also score each model as an x8 self-ensemble (row '<model>+x8'): what upscale's "
                   "--self-ensemble gives. Clips only.")
@click.option("--no-progress", is_flag=True, help="No progress bar or progress lines.")
def evaluate(model_names: tuple[str, ...], pretrained: str | None, random_weights: bool, options: tuple[str, ...],
             data_roots: tuple[Path, ...], protocol: str, centres: str | None, limit: int | None, scale: int,
             device: str, json_path: Path | None, lr_resampler: str | None, prescale: int, holdout: float | None,
             no_temporal: bool, self_ensemble: bool, no_progress: bool) -> None:
    """Score models on clips with ground truth: a table per clip and the mean, as the papers report.

    With --protocol rgtgan on Ref-SR sets (RGTGAN's val.py): a table per set, the baseline "bicubic" being each
    set's supplied LR_UX4 image; reference models get the set's Ref, single-image models the LR alone.
    """
    from satsr.train.evaluate import format_gains, format_table

    candidates = {name: name for name in dict.fromkeys((*model_names, "bicubic"))}
    first = model_names[0]
    # --random-weights: random weights for every model but the one --pretrained names (bicubic has none to take)
    weights: dict[str, str | bool] = dict.fromkeys(candidates, False) if random_weights else {}
    if pretrained:
        weights[first] = pretrained
    trained: dict[str, Any] = {"pretrained": weights or None,
               "model_options": {first: parse_options(options) or {}}}
    refsr = protocol == "rgtgan" and not all(_is_clip_root(p) for p in data_roots)
    if refsr and self_ensemble:
        raise InputError("--self-ensemble scores clips; Ref-SR sets (--protocol rgtgan) are scored without it")
    candidates_all: dict[str, Any] = dict(candidates)
    if self_ensemble:
        candidates_all.update(_ensembles(model_names, trained, scale))
    if refsr:
        if centres:
            raise InputError("--centres picks frames of clips; for Ref-SR sets use --limit")
        scores = _score_refsr(data_roots, candidates, trained, limit=limit, scale=scale, device=device,
                              progress=not no_progress)
    else:
        if limit is not None:
            raise InputError("--limit applies to Ref-SR sets (--protocol rgtgan); for clips use --centres")
        picked = [int(v) for v in centres.split(",") if v.strip()] if centres else None
        from satsr.train.evaluate import evaluate_clips

        scores = [s for data in data_roots for s in evaluate_clips(
            data, candidates_all, protocol=protocol, scale=scale, centres=picked, device=device,
            progress=not no_progress, lr_method=lr_resampler, prescale=prescale, holdout=holdout,
            temporal=not no_temporal, **trained)]
    click.echo(format_table(scores, unit="set" if refsr else "clip"))
    if summary := format_gains(scores):
        click.echo(summary)
    if json_path is not None:
        where: str | list[str] = str(data_roots[0]) if len(data_roots) == 1 else [str(p) for p in data_roots]
        settings = {"protocol": protocol, "data": where, "scale": scale, "lr_resampler": lr_resampler or "as stored",
                    "prescale": prescale, "holdout": holdout}
        _write_scores(json_path, scores, settings, refsr=refsr)


def _ensembles(model_names: tuple[str, ...], trained: dict[str, Any], scale: int) -> dict[str, Any]:
    """``<name>+x8``: each named model (bicubic excepted) with its weights and options, as a self-ensemble."""
    from satsr import models

    out = {}
    for name in dict.fromkeys(model_names):
        if name == "bicubic":
            continue
        pretrained = (trained["pretrained"] or {}).get(name)
        opts = trained["model_options"].get(name) or {}
        out[f"{name}+x8"] = models.SelfEnsemble(models.create(name, scale=scale, pretrained=pretrained, **opts))
    return out


def _is_clip_root(p: Path) -> bool:
    """A clip (``GT/`` inside) or a folder of clips, as opposed to Ref-SR sets."""
    return p.is_dir() and ((p / "GT").is_dir() or any((c / "GT").is_dir() for c in p.iterdir() if c.is_dir()))


def _score_refsr(data_roots: tuple[Path, ...], candidates: dict[str, Any], trained: dict[str, Any], *,
                 limit: int | None, scale: int, device: str, progress: bool) -> list[ClipScore]:
    """Score on Ref-SR sets, the baseline being each set's supplied LR_UX4 image; a bar counts the images."""
    from satsr.progress import bar
    from satsr.train.evaluate import SUPPLIED_UX4, evaluate_refsr

    counter = bar(desc="images", unit="image", enabled=progress)

    def report(done: int, total: int) -> None:
        counter.total = total
        counter.update(done - counter.n)

    scores = evaluate_refsr(list(data_roots), {**candidates, "bicubic": SUPPLIED_UX4}, limit=limit, scale=scale,
                            device=device, progress=report, **trained)
    counter.close()
    return scores


def _write_scores(path: Path, scores: list[ClipScore], settings: dict[str, Any], *, refsr: bool) -> None:
    """``evaluate --json``: the settings and one row per (clip or set, model), written atomically."""
    rows = ([{"set": s.clip, "model": s.model, "images": len(s.frames), **s.scores} for s in scores] if refsr
            else [{"clip": s.clip, "model": s.model, "frames": list(s.frames), **s.scores} for s in scores])
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps({**settings, "scores": rows}, indent=2))
