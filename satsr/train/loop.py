"""Training loop: plain PyTorch, one YAML config, exact resume.

Why plain PyTorch rather than Lightning: the loop is ~200 lines, has one model and one optimiser, and what it
must guarantee (bit-exact resume from a checkpoint, including the data order and augmentation) is easier to
hold in code we read than in a framework's callbacks; it also keeps a heavy dependency out of the package.

Exact resume: the data of step ``k`` is a pure function of ``(seed, k)``: the sample indices and each sample's
random crop, flips and pseudo-video parameters come from ``numpy.random.default_rng([seed, k, j])``. A
checkpoint holds the model, optimiser, scheduler, step and torch RNG state, so ``resume`` continues exactly.

Reference-based models (``spec.needs_reference``, e.g. ``rgtgan``) train on Ref-SR triplets: :func:`train` hands
their configs to :func:`satsr.train.refsr.train_refsr_config` (data entries ``{type: refsr, ...}``, ``frames: 1``).

Config (YAML) keys, with defaults::

    model: lgtd-s                 # a registered model name
    model_options: {}             # its builder's options
    init: null                    # optional checkpoint to start from
    data_root: .                  # relative data paths start here (itself relative to the config file)
    data:                         # one or more training datasets, mixed in proportion to their lengths
      - {type: pseudo_video, images: [...], crop: 128, samples_per_image: 200}
    val: {type: jilin189, root: ., clips: [jilin1_airport], centres: [2, 3, 4]}
    scale: 4
    frames: 5
    batch_size: 8
    steps: 10000
    lr: 4.0e-4
    min_lr: 1.0e-6
    weight_decay: 0.0
    betas: [0.9, 0.99]
    schedule: cosine              # or step (step_size, gamma), or constant
    warmup: 0
    loss: charbonnier             # or l1; rgtgan-warmup for Ref-SR models
    grad_clip: 1.0
    amp: null                     # bf16 or fp16 (CUDA only)
    val_every: 500
    ckpt_every: 500
    protocol: standard
    out: runs/name
    seed: 0
    device: auto
    workers: 0
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from satsr import models
from satsr.errors import InputError
from satsr.metrics import evaluate as evaluate_pair
from satsr.models.ops import set_dcn_impl

__all__ = ["TrainConfig", "load_config", "train", "build_dataset", "charbonnier"]


@dataclass
class TrainConfig:
    """Everything a training run needs (see the module docstring for the YAML form)."""

    model: str
    data: list[dict[str, Any]]
    out: str
    model_options: dict[str, Any] = field(default_factory=dict)
    init: str | None = None
    data_root: str | None = None
    val: dict[str, Any] | None = None
    scale: int = 4
    frames: int = 5
    batch_size: int = 8
    steps: int = 10000
    lr: float = 4e-4
    min_lr: float = 1e-6
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.99)
    schedule: str = "cosine"
    step_size: int = 5000
    gamma: float = 0.5
    warmup: int = 0
    loss: str = "charbonnier"
    grad_clip: float | None = 1.0
    amp: str | None = None
    val_every: int = 500
    ckpt_every: int = 500
    protocol: str = "standard"
    seed: int = 0
    device: str = "auto"
    workers: int = 0

    def __post_init__(self) -> None:
        if self.schedule not in ("cosine", "step", "constant"):
            raise InputError(f"schedule must be 'cosine', 'step' or 'constant', got {self.schedule!r}")
        if self.loss not in ("l1", "charbonnier", "rgtgan-warmup"):
            raise InputError(f"loss must be 'l1', 'charbonnier' or 'rgtgan-warmup' (Ref-SR), got {self.loss!r}")
        if self.amp not in (None, "bf16", "fp16"):
            raise InputError(f"amp must be null, 'bf16' or 'fp16', got {self.amp!r}")
        if not self.data:
            raise InputError("data: give at least one training dataset")
        for name in ("steps", "batch_size", "val_every", "ckpt_every"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} must be >= 1")
        self.betas = tuple(self.betas)  # type: ignore[assignment]


def load_config(path: str | os.PathLike[str], **overrides: Any) -> TrainConfig:
    """Read a YAML config; relative paths in it are taken relative to the config file's folder.

    Raises
    ------
    InputError
        Missing file, invalid YAML, unknown or missing keys.
    """
    import yaml

    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise InputError(f"{p}: config file not found") from None
    except yaml.YAMLError as err:
        raise InputError(f"{p}: not valid YAML ({err})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{p}: expected a mapping of settings at the top level")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(f"{p}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    missing = [k for k in ("model", "data", "out") if k not in raw]
    if missing:
        raise InputError(f"{p}: missing setting(s) {', '.join(missing)}")
    base = p.resolve().parent
    root = base / os.path.expanduser(raw["data_root"]) if raw.get("data_root") else base
    raw["data_root"] = str(root.resolve())
    raw["data"] = [_resolve_paths(d, root) for d in raw["data"]]
    if raw.get("val"):
        raw["val"] = _resolve_paths(raw["val"], root)
    for key in ("out", "init"):
        if raw.get(key):
            raw[key] = str((base / raw[key]).resolve()) if not os.path.isabs(raw[key]) else raw[key]
    return TrainConfig(**raw)


def _resolve_paths(spec: dict[str, Any], base: Path) -> dict[str, Any]:
    def fix(v: Any) -> Any:
        return str(base / v) if isinstance(v, str) and not os.path.isabs(v) else v

    out = dict(spec)
    for key in ("root", "images", "stacks"):
        if key in out:
            out[key] = [fix(v) for v in out[key]] if isinstance(out[key], list) else fix(out[key])
    return out


# -- data ----------------------------------------------------------------------------------------------------
def build_dataset(spec: dict[str, Any], *, scale: int, frames: int, seed: int) -> Any:
    """A training or validation dataset from a config entry (``type`` plus the class's arguments)."""
    from satsr.train import data as D

    kinds: dict[str, Callable[..., Any]] = {
        "jilin189": D.Jilin189, "vimeo": D.VimeoSeptuplet, "frame_folders": D.FrameFolders,
        "geo_stacks": D.GeoStacks, "pseudo_video": D.PseudoVideo,
    }
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in kinds:
        raise InputError(f"dataset type {kind!r} is not one of {', '.join(kinds)}")
    spec.setdefault("scale", scale)
    spec.setdefault("frames", frames)
    spec.setdefault("seed", seed)
    try:
        return kinds[kind](**spec)
    except TypeError as err:
        raise InputError(f"dataset {kind}: {err}") from None


class _StepBatches(torch.utils.data.Dataset):
    """Item ``k`` is the whole batch of training step ``k``: a pure function of ``(seed, k)``."""

    def __init__(self, datasets: list[Any], batch_size: int, seed: int) -> None:
        self.datasets = datasets
        self.sizes = np.array([len(d) for d in datasets])
        if not self.sizes.sum():
            raise InputError("the training data is empty")
        self.batch_size, self.seed = batch_size, seed

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, step])
        flat = rng.integers(0, int(self.sizes.sum()), self.batch_size)
        bounds = np.cumsum(self.sizes)
        samples = []
        for j, i in enumerate(flat):
            d = int(np.searchsorted(bounds, i, side="right"))
            local = int(i - (bounds[d - 1] if d else 0))
            samples.append(self.datasets[d].sample(local, np.random.default_rng([self.seed, step, j])))
        return {k: torch.stack([s[k] for s in samples]) for k in ("lr", "hr")}


# -- loss, schedule --------------------------------------------------------------------------------------------
def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Charbonnier loss ``mean(sqrt((pred - target)^2 + eps^2))``: L1 that is smooth at zero."""
    return torch.sqrt((pred - target) ** 2 + eps * eps).mean()


def _lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    floor = cfg.min_lr / cfg.lr

    def f(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        if cfg.schedule == "step":
            return cfg.gamma ** (step // cfg.step_size)
        if cfg.schedule == "constant":
            return 1.0
        t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    return f


# -- validation ------------------------------------------------------------------------------------------------
def validate(model: nn.Module, dataset: Any, device: torch.device, protocol: str, scale: int) -> dict[str, float]:
    """Mean metrics of ``model`` over every sample of ``dataset`` (whole frames, padded to the model's rule)."""
    was_training = model.training
    model.eval()
    m = models.get_spec(model).multiple_of
    scores: list[dict[str, float]] = []
    with torch.inference_mode():
        for i in range(len(dataset)):
            s = dataset[i]
            lr = s["lr"][None].to(device)
            h, w = lr.shape[-2:]
            ph, pw = (-h) % m, (-w) % m
            if ph or pw:
                lr = F.pad(lr.flatten(0, 1), (0, pw, 0, ph), mode="reflect").unflatten(0, lr.shape[:2])
            sr = model(lr)[0, :, : h * scale, : w * scale].float().clamp(0, 1).cpu().numpy()
            scores.append(evaluate_pair(sr, s["hr"].numpy(), protocol=protocol, scale=scale))
    model.train(was_training)
    return {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}


# -- the loop --------------------------------------------------------------------------------------------------
def _checkpoint(path: Path, model: nn.Module, opt: torch.optim.Optimizer, sched: Any, step: int,
                cfg: TrainConfig) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save({
        "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "step": step,
        "torch_rng": torch.get_rng_state(), "config": dataclasses.asdict(cfg),
        "options": getattr(model, "satsr_options", {}), "name": models.get_spec(model).name,
    }, tmp)
    os.replace(tmp, path)


def _open_log(path: Path, fields: list[str], resume: bool) -> tuple[Any, csv.DictWriter]:
    """``log.csv``: a new file with its header, or (resuming) the old one to append to. The caller closes it."""
    new_log = not (resume and path.exists())
    fh = open(path, "w" if new_log else "a", newline="")  # noqa: SIM115 (closed by the caller, in finally)
    writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
    if new_log:
        writer.writeheader()
    return fh, writer


def _restore(path: Path, model: nn.Module, opt: torch.optim.Optimizer, sched: Any, device: torch.device) -> int:
    """Load what :func:`_checkpoint` wrote into the model, optimiser, scheduler and torch's RNG; the step reached."""
    if not path.exists():
        raise InputError(f"{path}: nothing to resume from")
    state = torch.load(path, map_location=device, weights_only=False)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"])


def train(cfg: TrainConfig, *, resume: bool = False, progress: bool = True, until: int | None = None,
          log: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train ``cfg.model`` on ``cfg.data``; write checkpoints, ``log.csv`` and ``final.safetensors`` under ``out``.

    Reference-based models (``needs_reference``) are trained by :func:`satsr.train.refsr.train_refsr_config`.

    Parameters
    ----------
    cfg : TrainConfig
        The run (see :func:`load_config`).
    resume : bool, default False
        Continue from ``out/last.pt`` exactly where it stopped.
    progress : bool, default True
        Show progress (a bar on a terminal, log lines elsewhere; :mod:`satsr.progress`) with the loss and speed.
    until : int, optional
        Stop after this step (checkpointed) instead of ``cfg.steps``, e.g. to split a run across sessions; the
        schedule still spans ``cfg.steps``. ``final.safetensors`` is written only at ``cfg.steps``.
    log : callable, optional
        Called with each logged row (for notebooks and tests).

    Returns
    -------
    dict
        ``{"step", "loss", "val", "model"}`` at the end (``val`` is the last validation, or ``None``).
    """
    if models.get_spec(cfg.model).needs_reference:
        from satsr.train.refsr import train_refsr_config

        return train_refsr_config(cfg, resume=resume, progress=progress, until=until, log=log)
    if cfg.loss not in ("l1", "charbonnier"):
        raise InputError(f"loss {cfg.loss!r} is for reference models; use 'l1' or 'charbonnier'")

    from satsr.pipeline import resolve_device
    from satsr.progress import bar as progress_bar

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = models.create(cfg.model, pretrained=cfg.init or False, **cfg.model_options).to(device).train()
    if device.type == "cpu":
        set_dcn_impl(model, "grid_sample")  # same forward; its backward is several times faster on a CPU
    spec = models.get_spec(model)
    if spec.scale != cfg.scale or spec.frames_in != cfg.frames:
        raise InputError(f"{cfg.model} takes {spec.frames_in} frames at x{spec.scale}; the config says "
                         f"frames={cfg.frames}, scale={cfg.scale}")
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    last = out / "last.pt"
    start = _restore(last, model, opt, sched, device) if resume else 0

    datasets = [build_dataset(d, scale=cfg.scale, frames=cfg.frames, seed=cfg.seed) for d in cfg.data]
    val_ds = build_dataset(cfg.val, scale=cfg.scale, frames=cfg.frames, seed=cfg.seed) if cfg.val else None
    loader = torch.utils.data.DataLoader(
        _StepBatches(datasets, cfg.batch_size, cfg.seed), batch_size=None, sampler=range(start, cfg.steps),
        num_workers=cfg.workers, persistent_workers=cfg.workers > 0,
    )
    loss_fn = charbonnier if cfg.loss == "charbonnier" else F.l1_loss
    amp = device.type == "cuda" and cfg.amp is not None
    dtype = torch.bfloat16 if cfg.amp == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp and cfg.amp == "fp16")

    csv_path = out / "log.csv"
    fields = ["step", "loss", "lr", "samples_per_s", "val_psnr", "val_ssim", "seconds"]
    fh, writer = _open_log(csv_path, fields, resume)
    bar = progress_bar(total=cfg.steps, initial=start, enabled=progress, desc=f"train {cfg.model}", unit="step")
    t0 = time.perf_counter()
    tick, seen, running = t0, 0, None
    val: dict[str, float] | None = None
    step = start
    try:
        for batch in loader:
            lr_t = batch["lr"].to(device, non_blocking=True)
            hr_t = batch["hr"].to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=dtype, enabled=amp):
                loss = loss_fn(model(lr_t).float(), hr_t)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip:
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            sched.step()
            step += 1
            seen += lr_t.shape[0]
            value = float(loss.detach())
            running = value if running is None else 0.98 * running + 0.02 * value
            now = time.perf_counter()
            row: dict[str, Any] = {"step": step, "loss": value, "lr": sched.get_last_lr()[0],
                                   "samples_per_s": seen / max(now - tick, 1e-9), "seconds": now - t0}
            bar.set_postfix(loss=f"{running:.4f}", sps=f"{row['samples_per_s']:.1f}")
            bar.update(1)
            if val_ds is not None and (step % cfg.val_every == 0 or step == cfg.steps):
                val = validate(model, val_ds, device, cfg.protocol, cfg.scale)
                row.update(val_psnr=val["psnr"], val_ssim=val["ssim"])
                bar.write(f"step {step}: val PSNR {val['psnr']:.3f} dB, SSIM {val['ssim']:.4f}")
            if step % cfg.ckpt_every == 0 or step == cfg.steps or step == until:
                _checkpoint(last, model, opt, sched, step, cfg)
                tick, seen = time.perf_counter(), 0
            writer.writerow(row)
            fh.flush()  # the log is read while the run goes on
            if log is not None:
                log(row)
            if step >= cfg.steps or step == until:
                break
    finally:
        bar.close()
        fh.close()
    model.eval()
    if step >= cfg.steps:
        models.save(model, out / "final.safetensors")
    return {"step": step, "loss": running, "val": val, "model": model}
