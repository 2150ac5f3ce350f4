"""The one training skeleton: every kind of model trains through :func:`fit` with a task object.

:func:`fit` owns what every run shares: the run folder, the seed, the optimiser's schedule, autocast, exact
resume, ``log.csv``, progress, validation, checkpoints and the final weights. A :class:`Task` says what differs
between kinds of model: which model to build and how, its optimiser, the batches of each step, the loss, and
how to validate. :class:`satsr.train.loop.VideoTask` (single- and multi-frame video SR) and
:class:`satsr.train.refsr.RefSRTask` (reference-based SR) are the two kinds today.

Exact resume: the task's batches are a pure function of ``(seed, step)``; a checkpoint holds the model,
optimiser, scheduler, step and torch's RNG state, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from satsr import models
from satsr._atomic import atomic_output
from satsr._folders import make_parent
from satsr.errors import InputError
from satsr.train.config import TrainConfig

__all__ = ["Task", "fit", "charbonnier", "lr_factor"]

#: Weight of the newest loss in the running average shown by the progress bar and returned.
RUNNING_WEIGHT = 0.02
#: Columns every run logs; a task adds its validation columns after them.
LOG_FIELDS = ("step", "loss", "lr", "samples_per_s", "seconds_per_step", "seconds")


class Task(Protocol):
    """What one kind of model needs from the training skeleton."""

    #: Validation columns of ``log.csv`` (each also a key of :meth:`validate`'s result, ``val_`` prefixed).
    val_fields: tuple[str, ...]

    def build(self, cfg: TrainConfig, device: torch.device) -> nn.Module:
        """Check the config against the model and build it (initialised, on ``device``, in training mode)."""

    def optimizer(self, model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
        """The optimiser."""

    def batches(self, cfg: TrainConfig) -> Any:
        """An object whose item ``k`` is the batch (a dict of tensors) of step ``k``: a pure function of it."""

    def loss(self, model: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The training loss of one batch (already on the model's device)."""

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float] | None:
        """Scores on the held-aside data (``None`` when the config has no validation set)."""

    def describe(self, val: Mapping[str, float]) -> str:
        """One line for the progress output."""


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Charbonnier loss ``mean(sqrt((pred - target)^2 + eps^2))``: L1 that is smooth at zero."""
    return torch.sqrt((pred - target) ** 2 + eps * eps).mean()


def lr_factor(cfg: TrainConfig) -> Callable[[int], float]:
    """The learning rate's multiplier at each step: linear warm-up, then cosine to ``min_lr``, step or constant."""
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


class _Steps(torch.utils.data.Dataset):
    """The task's step batches as a map-style dataset (so a DataLoader's workers can prepare them ahead)."""

    def __init__(self, batches: Any) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, step: int) -> Any:
        return self.batches[step]


def _save(path: Path, model: nn.Module, opt: torch.optim.Optimizer, sched: Any, step: int, cfg: TrainConfig) -> None:
    with atomic_output(path) as tmp:  # a run killed mid-save keeps its previous checkpoint
        torch.save({
            "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "step": step,
            "torch_rng": torch.get_rng_state(), "config": cfg.to_dict(),
            "options": getattr(model, "satsr_options", {}), "name": models.get_spec(model).name,
        }, tmp)


def _restore(path: Path, model: nn.Module, opt: torch.optim.Optimizer, sched: Any, device: torch.device) -> int:
    if not path.exists():
        raise InputError(f"{path}: nothing to resume from")
    state = torch.load(path, map_location=device, weights_only=False)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"])


def _open_log(path: Path, fields: list[str], resume: bool) -> tuple[Any, csv.DictWriter]:
    new_log = not (resume and path.exists())
    fh = open(path, "w" if new_log else "a", newline="")  # noqa: SIM115 (closed by the caller, in finally)
    writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
    if new_log:
        writer.writeheader()
    return fh, writer


def fit(cfg: TrainConfig, task: Task, *, resume: bool = False, progress: bool = True, until: int | None = None,
        log: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train ``task``'s model as ``cfg`` says; write ``last.pt``, ``log.csv`` and ``final.safetensors`` in ``out``.

    Parameters
    ----------
    cfg : TrainConfig
        The run.
    task : Task
        The kind of model (:class:`satsr.train.loop.VideoTask`, :class:`satsr.train.refsr.RefSRTask`).
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
        ``step``, ``loss`` (running average), ``val`` (the last validation, or ``None``), ``model``, ``seconds``
        (of this call) and ``config`` (plain values).

    Raises
    ------
    InputError
        A config the model does not fit; ``resume`` without a checkpoint.
    FloatingPointError
        A non-finite loss (the step is not taken; the last checkpoint stays as it was).
    """
    from satsr.engine import resolve_device
    from satsr.progress import bar as progress_bar

    out = Path(cfg.out)
    make_parent(out / "last.pt")
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = task.build(cfg, device)
    opt = task.optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(cfg))
    last = out / "last.pt"
    start = _restore(last, model, opt, sched, device) if resume else 0
    stop = min(cfg.steps, until) if until is not None else cfg.steps
    loader = torch.utils.data.DataLoader(
        _Steps(task.batches(cfg)), batch_size=None, sampler=range(start, max(start, stop)),
        num_workers=cfg.workers, persistent_workers=cfg.workers > 0,
    )
    amp = device.type == "cuda" and cfg.amp is not None
    dtype = torch.bfloat16 if cfg.amp == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp and cfg.amp == "fp16")

    fh, writer = _open_log(out / "log.csv", [*LOG_FIELDS, *(f"val_{k}" for k in task.val_fields)], resume)
    bar = progress_bar(total=cfg.steps, initial=start, enabled=progress, desc=f"train {cfg.model}", unit="step")
    t0 = time.perf_counter()
    window, seen = t0, 0
    running: float | None = None
    val: dict[str, float] | None = None
    step = start
    try:
        for batch in loader:
            tick = time.perf_counter()
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=dtype, enabled=amp):
                loss = task.loss(model, batch)
            value = float(loss.detach())
            if not np.isfinite(value):
                raise FloatingPointError(f"step {step + 1}: the loss is {value}; lower lr or set grad_clip")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip:
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            sched.step()
            step += 1
            seen += int(next(iter(batch.values())).shape[0])
            running = value if running is None else (1 - RUNNING_WEIGHT) * running + RUNNING_WEIGHT * value
            now = time.perf_counter()
            row: dict[str, Any] = {"step": step, "loss": value, "lr": sched.get_last_lr()[0],
                                   "samples_per_s": seen / max(now - window, 1e-9), "seconds_per_step": now - tick,
                                   "seconds": now - t0}
            bar.set_postfix(loss=f"{running:.4f}", sps=f"{row['samples_per_s']:.1f}")
            bar.update(1)
            if step % cfg.val_every == 0 or step == cfg.steps:
                val = task.validate(model, device) or val
                if val is not None:
                    row.update({f"val_{k}": v for k, v in val.items()})
                    bar.write(f"step {step}: {task.describe(val)}")
            if step % cfg.ckpt_every == 0 or step == cfg.steps or step == until:
                _save(last, model, opt, sched, step, cfg)
                window, seen = time.perf_counter(), 0
            writer.writerow(row)
            fh.flush()  # the log is read while the run goes on
            if log is not None:
                log(row)
    finally:
        bar.close()
        fh.close()
    model.eval()
    if step >= cfg.steps:
        models.save(model, out / "final.safetensors")
    return {"step": step, "loss": running, "val": val, "model": model, "seconds": time.perf_counter() - t0,
            "config": cfg.to_dict()}
