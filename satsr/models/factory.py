"""The model factory: :func:`create` builds a registered model and loads its weights.

It sits above :mod:`satsr.models.registry` (specs and lookup) and :mod:`satsr.models.checkpoint` (weights I/O),
which do not import each other's way up (timm's split of registry, factory and checkpoint loading).

No silent random weights: a network satsr ships no weights for is built only with a checkpoint
(``pretrained=PATH``) or on purpose (``pretrained=False``); otherwise :func:`create` stops with a one-line
:class:`~satsr.errors.ModelError` that names the ways out.
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
from satsr.models.registry import ModelSpec, bundled_weights, get_spec, needs_weights, shipped_variants

__all__ = ["create", "resolve_weights"]


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
        Which weights:

        * ``None`` (default): the weights shipped with satsr (``lgtd-s``); a network without any stops with a
          :class:`~satsr.errors.ModelError` rather than run its random initialisation. Builder options other
          than those the shipped weights were trained with also stop it.
        * a path: that checkpoint (see :mod:`satsr.models.checkpoint` for the layouts read). A file written by
          :func:`satsr.models.save` also restores the builder options it was saved with, unless given here.
        * ``True``: the shipped weights, an error where there are none.
        * ``False``: the random initialisation, on purpose (training from scratch, tests, benchmarks).

        Models without parameters (``bicubic``...) need no weights: ``None`` and ``False`` build them alike.
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
        Unsupported ``scale`` or unknown keyword argument; a network with neither shipped nor given weights
        (``pretrained=None`` or ``True``), the message naming the ways out.
    """
    spec = get_spec(name)
    s = spec.scale if scale is None else scale
    if not isinstance(s, int) or isinstance(s, bool) or s not in spec.scales:
        raise ModelError(f"{name}: scale {s!r} is not supported (supported: {_fmt_scales(spec.scales)})")
    _check_options(spec, kwargs)  # a typo is reported as such, before any word about weights
    asked, pretrained = pretrained, _resolve(spec, pretrained, kwargs)
    if pretrained is not None and not kwargs:
        saved = read_metadata(pretrained).get("options")
        kwargs = dict(json.loads(saved)) if saved else {}
        _check_options(spec, kwargs)
    options = dict(kwargs)
    if spec.scale_is_argument:
        kwargs["scale"] = s
    model = spec.build(**kwargs)
    if asked is None and pretrained is None and any(True for _ in model.parameters()):
        # checked on the model built (not a second build on the meta device): a network without weights
        raise ModelError(_no_weights_message(spec))
    model.spec = replace(spec, scale=s)  # type: ignore[assignment]  # torch types Module attributes as tensors or
    model.satsr_options = options  # type: ignore[assignment]  # modules only (Module.__setattr__)
    if pretrained is not None:
        load_weights(model, pretrained, strict=strict, trusted=trusted)
    return model.eval()


def resolve_weights(
    name: str, pretrained: str | os.PathLike[str] | bool | None = None, **options: Any
) -> str | os.PathLike[str] | None:
    """The checkpoint :func:`create` loads for these arguments, checked without building the model.

    Parameters
    ----------
    name : str
        Registry key.
    pretrained : str, path or bool, optional
        As :func:`create` takes it.
    **options
        Options of the model's builder.

    Returns
    -------
    str, path or None
        The given checkpoint, the shipped one, or ``None`` where no weights are loaded (``pretrained=False``, or a
        model without parameters).

    Raises
    ------
    UnknownModelError
        Unknown ``name``.
    ModelError
        An unknown option; a network with neither shipped nor given weights (as :func:`create`).
    """
    spec = get_spec(name)
    _check_options(spec, options)
    path = _resolve(spec, pretrained, options)
    if pretrained is None and path is None and needs_weights(spec):
        raise ModelError(_no_weights_message(spec))
    return path


def _resolve(spec: ModelSpec, pretrained: str | os.PathLike[str] | bool | None,
             kwargs: dict[str, Any]) -> str | os.PathLike[str] | None:
    """``pretrained`` made a checkpoint path, or ``None``: no weights to load (``False``, or none shipped).

    Refuses ``True`` without shipped weights, and shipped weights with options they were not trained with; a
    network left without weights by ``None`` is refused by the caller (:func:`create` once it has built it).
    """
    if pretrained is False:
        return None
    if pretrained is not None and pretrained is not True:
        return pretrained
    shipped = bundled_weights(spec)
    if shipped is None:
        if pretrained is True:
            learnt = needs_weights(spec)
            raise ModelError(_no_weights_message(spec, interpolator=not learnt))
    elif kwargs and not _same_options(spec, kwargs, shipped):
        raise ModelError(_no_weights_message(spec, options=kwargs))
    return shipped


def _check_options(spec: ModelSpec, kwargs: dict[str, Any]) -> None:
    """Refuse a keyword the model's builder does not take (with a close match as hint)."""
    params = inspect.signature(spec.build).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in kwargs:
        if key not in params and not accepts_any:
            close = difflib.get_close_matches(key, [p for p in params if p != "scale"], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ModelError(f"{spec.name}: unknown argument {key!r}{hint}")


def _same_options(spec: ModelSpec, kwargs: dict[str, Any], shipped: os.PathLike[str]) -> bool:
    """Whether ``kwargs`` build the model the shipped weights were trained as (builder defaults filled in)."""
    defaults = {k: p.default for k, p in inspect.signature(spec.build).parameters.items()
                if p.default is not inspect.Parameter.empty}
    saved = read_metadata(shipped).get("options")
    trained = {**defaults, **(json.loads(saved) if saved else {})}
    return {**trained, **kwargs} == trained


def _no_weights_message(spec: ModelSpec, *, interpolator: bool = False,
                        options: dict[str, Any] | None = None) -> str:
    """One line: why ``spec`` has no weights to run, and the ways out."""
    if interpolator:
        return f"satsr ships no weights for {spec.name} (it needs none): drop pretrained=True"
    random = "pass pretrained=False (CLI --random-weights) to run random weights on purpose (tests, benchmarks)"
    if options:
        given = ", ".join(f"{k}={v!r}" for k, v in options.items())
        return (f"{spec.name}: the weights satsr ships were trained with other options than {given}; drop the "
                f"options to use them, pass a checkpoint trained with them (pretrained=PATH; CLI --pretrained "
                f"PATH), or {random}")
    ways = ["pass the authors' checkpoint (pretrained=PATH; CLI --pretrained PATH)"]
    # the light "-s" variant first: the one to try first, and the CLI hint's
    variants = sorted((v for v in shipped_variants(spec) if v != spec.name), key=lambda v: (not v.endswith("-s"), v))
    if variants:
        ways.append(f"use the small variant satsr ships trained weights for, {' or '.join(map(repr, variants))} "
                    f"(CLI --model {variants[0]})")
    return f"{spec.name}: satsr ships no trained weights for this model and none were given; " \
        f"{', '.join(ways)}, or {random}"


def _fmt_scales(scales: tuple[int, ...]) -> str:
    if len(scales) > 4 and scales == tuple(range(scales[0], scales[-1] + 1)):
        return f"{scales[0]}..{scales[-1]}"
    return ", ".join(str(s) for s in scales)
