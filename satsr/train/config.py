"""Training configuration, parsed once at the edge into frozen, typed objects.

A YAML file (or a notebook's keyword arguments) becomes a :class:`TrainConfig`; each dataset entry becomes a
:class:`DataSpec`. Past this module no mutable dict travels: the loop, the tasks and the dataset builders read
these objects, and ``dataclasses.replace`` makes a changed copy.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from satsr.errors import InputError

__all__ = ["DataSpec", "TrainConfig", "load_config", "shrink_config"]

_PATH_KEYS = ("root", "images", "stacks")


def _freeze(value: Any) -> Any:
    """Lists become tuples and mappings read-only, recursively (so a spec cannot change under the loop)."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    """Plain lists and dicts again, for the dataset classes' arguments and for checkpoints."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class DataSpec(Mapping[str, Any]):
    """One training or validation dataset: its ``type`` and the arguments of its class, read-only.

    It reads like the YAML entry it came from (``spec["type"]``, ``spec["root"]``, ``{**spec, "crop": 64}``).

    Parameters
    ----------
    kind : str
        The dataset type (``pseudo_video``, ``jilin189``, ``frame_folders``, ``refsr``...).
    options : mapping
        The class's keyword arguments (paths already resolved).
    """

    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", _freeze(dict(self.options)))

    @classmethod
    def parse(cls, value: Any, where: str = "data") -> DataSpec:
        """A spec from a mapping with a ``type`` key (or an existing spec).

        Raises
        ------
        InputError
            When ``value`` is not a mapping or has no ``type``.
        """
        if isinstance(value, DataSpec):
            return value
        if not isinstance(value, Mapping) or "type" not in value:
            raise InputError(f"{where}: each dataset is a mapping with a 'type' (got {value!r})")
        options = {str(k): v for k, v in value.items() if k != "type"}
        return cls(str(value["type"]), options)

    def __getitem__(self, key: str) -> Any:
        if key == "type":
            return self.kind
        return self.options[key]

    def __iter__(self) -> Iterator[str]:
        yield "type"
        yield from self.options

    def __len__(self) -> int:
        return 1 + len(self.options)

    def kwargs(self) -> dict[str, Any]:
        """The class's keyword arguments as plain lists and dicts."""
        return _thaw(self.options)

    def to_dict(self) -> dict[str, Any]:
        """The YAML form: ``{"type": ..., **options}``."""
        return {"type": self.kind, **self.kwargs()}


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs (see :mod:`satsr.train.loop` for the YAML form); frozen.

    ``data`` and ``val`` take :class:`DataSpec` objects or plain mappings (parsed here), ``model_options`` a
    mapping (stored read-only). Change a setting with ``dataclasses.replace(cfg, steps=10)``.
    """

    model: str
    data: tuple[DataSpec, ...]
    out: str
    model_options: Mapping[str, Any] = field(default_factory=dict)
    init: str | None = None
    grow_from: str | None = None
    data_root: str | None = None
    val: DataSpec | None = None
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
        if self.init and self.grow_from:
            raise InputError("give init (weights of this model) or grow_from (a shallower model's), not both")
        for name in ("steps", "batch_size", "val_every", "ckpt_every"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} must be >= 1")
        data = [self.data] if isinstance(self.data, Mapping) else list(self.data)
        object.__setattr__(self, "data", tuple(DataSpec.parse(d) for d in data))
        if self.val is not None:
            object.__setattr__(self, "val", DataSpec.parse(self.val, "val"))
        object.__setattr__(self, "model_options", _freeze(dict(self.model_options or {})))
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))

    def to_dict(self) -> dict[str, Any]:
        """Plain values (lists, dicts, numbers, strings), e.g. to store in a checkpoint."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "data":
                v = [d.to_dict() for d in v]
            elif f.name == "val":
                v = v.to_dict() if v is not None else None
            else:
                v = _thaw(v)
            out[f.name] = v
        return out


def load_config(path: str | os.PathLike[str], **overrides: Any) -> TrainConfig:
    """Read a YAML config; relative paths in it are taken relative to the config file's folder.

    Parameters
    ----------
    path : str or path
        The YAML file.
    **overrides
        Settings that replace the file's (``None`` values are ignored), e.g. ``steps=10, device="cpu"``.

    Returns
    -------
    TrainConfig

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
    data = raw["data"] if isinstance(raw["data"], list) else [raw["data"]]
    raw["data"] = [_resolve_paths(DataSpec.parse(d, f"{p}: data"), root) for d in data]
    if raw.get("val"):
        raw["val"] = _resolve_paths(DataSpec.parse(raw["val"], f"{p}: val"), root)
    for key in ("out", "init", "grow_from"):
        if raw.get(key):
            raw[key] = str((base / raw[key]).resolve()) if not os.path.isabs(raw[key]) else raw[key]
    return TrainConfig(**raw)


def shrink_config(cfg: TrainConfig, *, crop: int | None = None, batch_size: int = 1, val_limit: int = 1,
                  **settings: Any) -> TrainConfig:
    """A cheap copy of ``cfg`` for a smoke run: CI runs every full-size GPU config a few steps on a CPU so.

    Parameters
    ----------
    cfg : TrainConfig
        The run to shrink (e.g. from :func:`load_config`).
    crop : int, optional
        Replaces the ``crop`` of every training and validation dataset that has one (HR pixels); ``None`` keeps
        them. Entries without a ``crop`` are left as they are.
    batch_size : int, default 1
    val_limit : int, default 1
        Validate on that many samples (the validation entry's ``limit``); ``0`` drops validation.
    **settings
        Other :class:`TrainConfig` fields to replace, e.g. ``steps=2, device="cpu", out=...``; ``workers``
        defaults to 0 (the loader in the training process).

    Returns
    -------
    TrainConfig
    """

    def small(spec: DataSpec, **extra: Any) -> DataSpec:
        options = spec.kwargs()
        if crop is not None and options.get("crop") is not None:
            options["crop"] = int(crop)
        return DataSpec(spec.kind, {**options, **extra})

    val = None if cfg.val is None or val_limit <= 0 else small(cfg.val, limit=int(val_limit))
    settings.setdefault("workers", 0)
    return dataclasses.replace(cfg, data=tuple(small(d) for d in cfg.data), val=val, batch_size=int(batch_size),
                               **settings)


def _resolve_paths(spec: DataSpec, base: Path) -> DataSpec:
    def fix(v: Any) -> Any:
        return str(base / v) if isinstance(v, str) and not os.path.isabs(v) else v

    options = spec.kwargs()
    for key in _PATH_KEYS:
        if key in options:
            options[key] = [fix(v) for v in options[key]] if isinstance(options[key], list) else fix(options[key])
    return DataSpec(spec.kind, options)
