"""Read and write model weights: the layouts the papers' authors and common trainers save, and our own format.

Accepted on reading: ``.safetensors``; ``.pth``/``.pt``/``.ckpt`` holding a bare state_dict or one wrapped under
``params_ema``, ``params``, ``state_dict``, ``model``, ``net`` or ``generator`` (BasicSR, Lightning, plain
``torch.save``); keys prefixed by ``module.`` (DataParallel) or ``_orig_mod.`` (``torch.compile``). Pickles are
read with ``weights_only=True``: a file that needs arbitrary code to load is refused unless ``trusted=True``.

Written by :func:`save`: safetensors, with the registry name, scale and builder options in its metadata, so that
``create(name, pretrained=path)`` rebuilds the same model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from satsr._atomic import atomic_output
from satsr._folders import make_parent
from satsr.errors import CheckpointError
from satsr.models.registry import iter_specs

__all__ = ["read_state_dict", "load_weights", "grow_weights", "save", "read_metadata"]

_WRAPPERS = ("params_ema", "params", "state_dict", "model", "net", "generator")
_PREFIXES = ("module.", "_orig_mod.")


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The string metadata of a ``.safetensors`` file (empty for other formats)."""
    p = Path(path)
    if p.suffix.lower() != ".safetensors":
        return {}
    from safetensors import safe_open

    with safe_open(os.fspath(p), framework="pt") as f:
        return dict(f.metadata() or {})


def read_state_dict(path: str | os.PathLike[str], *, trusted: bool = False) -> dict[str, torch.Tensor]:
    """Read a checkpoint file and return a flat ``{name: tensor}`` state_dict on the CPU.

    Parameters
    ----------
    path : str or path
        ``.safetensors``, ``.pth``, ``.pt`` or ``.ckpt``.
    trusted : bool, default False
        Allow pickles that need arbitrary code to load (only for files you trust).

    Returns
    -------
    dict
        Tensors by parameter name, wrappers and ``module.``/``_orig_mod.`` prefixes removed.

    Raises
    ------
    CheckpointError
        Missing file, unreadable or unsafe pickle, or no state_dict found inside.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint file")
    if p.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            obj: Any = load_file(os.fspath(p), device="cpu")
        except Exception as err:  # safetensors raises its own error types
            raise CheckpointError(f"{p}: not a readable safetensors file ({err})") from err
    else:
        try:
            obj = torch.load(p, map_location="cpu", weights_only=not trusted)
        except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError...
            hint = "" if trusted else "; if you trust this file, pass trusted=True"
            raise CheckpointError(f"{p}: cannot be read as a PyTorch checkpoint ({err}){hint}") from err
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, Mapping):
        for key in _WRAPPERS:
            inner = obj.get(key)
            if isinstance(inner, nn.Module):  # a whole pickled module (trusted files only)
                inner = inner.state_dict()
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(
            f"{p}: no state_dict found (expected tensors by name, possibly under one of {', '.join(_WRAPPERS)})"
        )
    sd = dict(obj)
    for prefix in _PREFIXES:
        if all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix) :]: v for k, v in sd.items()}
    return sd


def _diff(model: nn.Module, sd: Mapping[str, torch.Tensor]) -> tuple[list[str], list[str], list[str]]:
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [
        f"{k} {tuple(sd[k].shape)} vs {tuple(v.shape)}" for k, v in own.items() if k in sd and sd[k].shape != v.shape
    ]
    return missing, unexpected, shapes


def _best_match(keys: set[str]) -> str | None:
    """The registered model whose state_dict keys overlap ``keys`` most (built on the meta device: no memory)."""
    best, score = None, 0.0
    for spec in iter_specs():
        name = spec.name
        try:
            with torch.device("meta"):
                other = set(spec.build().state_dict())
        except Exception:  # a builder that needs arguments or real data: skip it
            continue
        if not other:
            continue
        s = len(keys & other) / len(keys | other)
        if s > score:
            best, score = name, s
    return best if score > 0.5 else None


def load_weights(model: nn.Module, path: str | os.PathLike[str], *, strict: bool = True, trusted: bool = False) -> None:
    """Load a checkpoint into ``model`` (in place).

    Raises
    ------
    CheckpointError
        With ``strict``, any missing or unexpected key or shape mismatch: the message lists the first few of each
        with their counts and names the registered model the file matches best.
    """
    sd = read_state_dict(path, trusted=trusted)
    missing, unexpected, shapes = _diff(model, sd)
    if shapes or (strict and (missing or unexpected)):
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)):
            if items:
                more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
                parts.append(f"{len(items)} {label}: {', '.join(items[:5])}{more}")
        name = getattr(getattr(model, "spec", None), "name", type(model).__name__)
        match = _best_match(set(sd))
        hint = f"; the file matches the registered model {match!r}" if match and match != name else ""
        raise CheckpointError(f"{path}: does not fit {name}: {'; '.join(parts)}{hint}")
    model.load_state_dict(sd, strict=strict)


def _growable(module: nn.Module) -> bool:
    """Whether ``module`` is a residual block that can start as the identity (it has ``make_identity_``)."""
    return callable(getattr(module, "make_identity_", None))


def _shift_tails(model: nn.Module, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``sd`` with the tails of grown sequences renumbered to the model's.

    A sequence of residual blocks closed by other layers (``[block] * n + [conv]``, as LGFN's) numbers its tail
    after its blocks: grown from ``n_old`` to ``n`` blocks, the file's tail at ``n_old..`` is the model's at
    ``n..``. Sequences of blocks alone need nothing.
    """
    out = dict(sd)
    for prefix, seq in model.named_modules():
        if not isinstance(seq, nn.Sequential):
            continue
        children = list(seq)
        n = next((i for i, c in enumerate(children) if not _growable(c)), len(children))
        with_params = [i for i, c in enumerate(children) if i >= n and next(c.parameters(), None) is not None]
        if n == 0 or not with_params:
            continue
        head = f"{prefix}." if prefix else ""
        firsts = [k[len(head):].split(".", 1)[0] for k in out if k.startswith(head)]
        indices = {int(i) for i in firsts if i.isdigit()}
        if not indices:
            continue
        n_old = max(indices) - (with_params[-1] - n)  # where the file's tail starts
        if not 0 < n_old < n:
            continue
        renamed = {}
        for key, v in out.items():  # a new dict: a renamed key may be one still to rename
            i, _, rest = key[len(head):].partition(".")
            moved = key.startswith(head) and i.isdigit() and int(i) >= n_old
            renamed[f"{head}{int(i) + n - n_old}.{rest}" if moved else key] = v
        out = renamed
    return out


def grow_weights(model: nn.Module, path: str | os.PathLike[str]) -> list[str]:
    """Load a smaller model's checkpoint into a deeper one, so that the deeper one starts as the same function.

    Every tensor of the file must fit ``model`` (same name and shape). What the file lacks must be whole residual
    blocks appended to the file's sequences: satsr's blocks that can start as the identity (those with a
    ``make_identity_`` method: :class:`~satsr.models.ops.ResnetBlock`, LGFN's ``ResBlock`` and ``RCAB``, MSTT's
    ``ResidualBlockNoBN``). Each new block is made the identity (its last convolution zero; a PReLU around the
    sum at slope 1), so ``model`` computes exactly what the smaller one did, and training then uses the new
    depth. A sequence closed by other layers (blocks then a convolution) keeps its closing layers: they are
    renumbered after the new blocks.

    Returns
    -------
    list of str
        The names of the blocks made identity.

    Raises
    ------
    CheckpointError
        A tensor of the file that ``model`` lacks or has in another shape, or a missing tensor that is not part
        of a whole new residual block.
    """
    sd = _shift_tails(model, read_state_dict(path))
    missing, unexpected, shapes = _diff(model, sd)
    name = getattr(getattr(model, "spec", None), "name", type(model).__name__)
    if unexpected or shapes:
        bad = (unexpected + shapes)[:5]
        raise CheckpointError(f"{path}: cannot grow {name} from it: {len(unexpected)} tensor(s) that {name} "
                              f"lacks, {len(shapes)} of another shape ({', '.join(bad)})")
    new_blocks = {
        prefix: block for prefix, block in model.named_modules()
        if _growable(block) and all(f"{prefix}.{k}" not in sd for k in block.state_dict())
    }
    covered = {f"{prefix}.{k}" for prefix, block in new_blocks.items() for k in block.state_dict()}
    stray = [k for k in missing if k not in covered]
    if stray:
        more = f" (+{len(stray) - 5} more)" if len(stray) > 5 else ""
        raise CheckpointError(f"{path}: cannot grow {name} from it: {len(stray)} missing tensor(s) outside new "
                              f"residual blocks ({', '.join(stray[:5])}{more})")
    model.load_state_dict(sd, strict=False)
    for block in new_blocks.values():
        block.make_identity_()
    return sorted(new_blocks)


def save(model: nn.Module, path: str | os.PathLike[str]) -> Path:
    """Write ``model``'s weights as safetensors, with its registry name, scale and options as metadata.

    Parameters
    ----------
    model : torch.nn.Module
        A model from :func:`satsr.models.create` (or any module; then only the weights are described).
    path : str or path
        Output file; ``.safetensors`` is appended when missing. Written to a temporary name, then renamed.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    from safetensors.torch import save_file

    p = Path(path)
    if p.suffix.lower() != ".safetensors":
        p = p.with_name(p.name + ".safetensors")
    make_parent(p, error=CheckpointError)
    spec = getattr(model, "spec", None)
    meta = {"format": "satsr"}
    if spec is not None:
        meta.update(model=spec.name, scale=str(spec.scale))
    options = getattr(model, "satsr_options", None)
    if options:
        meta["options"] = json.dumps(options, sort_keys=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_output(p) as tmp:
        save_file(tensors, os.fspath(tmp), metadata=meta)
        os.chmod(tmp, 0o644)  # safetensors creates the file owner-only; a weights file is meant to be shared
    return p
