"""The model factory: :func:`create` builds a registered model and loads its weights.

It sits above :mod:`satsr.models.registry` (specs and lookup) and :mod:`satsr.models.checkpoint` (weights I/O),
which do not import each other's way up (timm's split of registry, factory and checkpoint loading).
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
from dataclasses import replace
from typing import Any

from torch import nn

from satsr.errors import ModelError
from satsr.models.checkpoint import load_weights, read_metadata
from satsr.models.registry import bundled_weights, get_spec

__all__ = ["create"]


def create(
    name: str,
    *,
    scale: int | None = None,
    pretrained: str | os.PathLike[str] | bool | None = None,
    strict: bool = True,
    trusted: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model, with its ``spec`` attached, in eval mode, optionally loading weights.

    Parameters
    ----------
    name : str
        Registry key (see :func:`list_models`).
    scale : int, optional
        Upscaling factor; must be one of ``spec.scales``. Default ``spec.scale``.
    pretrained : str, path or bool, optional
        Checkpoint to load (see :mod:`satsr.models.checkpoint` for the layouts read). A file written by
        :func:`satsr.models.save` also restores the builder options it was saved with, unless given here.
        Default (``None``): the weights shipped with satsr when the model has them (``lgtd-s``) and no options
        are given, else the random initialisation. ``True`` asks for the shipped weights, ``False`` for random.
    strict : bool, default True
        Refuse checkpoints with missing or unexpected keys.
    trusted : bool, default False
        Allow pickled checkpoints that need arbitrary code to load.
    **kwargs
        Options of the model's builder, checked against its signature.

    Returns
    -------
    torch.nn.Module
        The model, with ``model.spec`` describing it (``scale`` set to the chosen factor).

    Raises
    ------
    UnknownModelError
        Unknown ``name``.
    ModelError
        Unsupported ``scale`` or unknown keyword argument.
    """
    spec = get_spec(name)
    if pretrained is None or pretrained is True:
        shipped = bundled_weights(spec)
        if pretrained is True and shipped is None:
            raise ModelError(f"{name}: satsr ships no weights for this model; pass a checkpoint path")
        pretrained = shipped if (pretrained is True or not kwargs) else None
    elif pretrained is False:
        pretrained = None
    if pretrained is not None and not kwargs:
        saved = read_metadata(pretrained).get("options")
        kwargs = dict(json.loads(saved)) if saved else {}
    s = spec.scale if scale is None else scale
    if not isinstance(s, int) or isinstance(s, bool) or s not in spec.scales:
        raise ModelError(f"{name}: scale {s!r} is not supported (supported: {_fmt_scales(spec.scales)})")
    params = inspect.signature(spec.build).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in kwargs:
        if key not in params and not accepts_any:
            close = difflib.get_close_matches(key, [p for p in params if p != "scale"], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ModelError(f"{name}: unknown argument {key!r}{hint}")
    options = dict(kwargs)
    if spec.scale_is_argument:
        kwargs["scale"] = s
    model = spec.build(**kwargs)
    model.spec = replace(spec, scale=s)
    model.satsr_options = options
    if pretrained is not None:
        load_weights(model, pretrained, strict=strict, trusted=trusted)
    return model.eval()


def _fmt_scales(scales: tuple[int, ...]) -> str:
    if len(scales) > 4 and scales == tuple(range(scales[0], scales[-1] + 1)):
        return f"{scales[0]}..{scales[-1]}"
    return ", ".join(str(s) for s in scales)
