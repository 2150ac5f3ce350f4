"""Griffe extension for the API reference: reST roles in satsr's docstrings become cross-references.

The docstrings use reST roles (``:func:`satsr.open_stack```, ``:class:`~satsr.geo.Grid```, ``:meth:`close```),
which Markdown would print literally. Each becomes an *optional* autorefs link: a link when the target has a
page here, plain code otherwise (a private helper, ``nn.Module``), never a build warning. Names are resolved
in the scope of the docstring's object, as Python would (imports included). A reST ``text::`` before a literal
block becomes ``text:`` (the indented block is already Markdown code). Used by mkdocs.yml only.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_LITERAL = re.compile(r"(?<=\S)::[ \t]*$", flags=re.MULTILINE)  # "keys, with defaults::" before a literal block
_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj|const):`(?P<target>[^`]+)`")


def _resolve(obj: griffe.Object, target: str) -> str:
    head, _, rest = target.partition(".")
    try:
        resolved = obj.resolve(head)
    except (griffe.NameResolutionError, AttributeError, KeyError):
        return target
    return f"{resolved}.{rest}" if rest else resolved


def _rewrite(obj: griffe.Object, text: str) -> str:
    def sub(match: re.Match[str]) -> str:
        target = match["target"].strip()
        title = None
        if "<" in target and target.endswith(">"):  # :func:`title <target>`
            title, target = (part.strip() for part in target[:-1].split("<", 1))
        short = target.startswith("~")
        target = target.lstrip("~.")
        if title is None:
            title = target.rsplit(".", 1)[-1] if short else target
        identifier = _resolve(obj, target)
        return f'<autoref identifier="{identifier}" optional><code>{title}</code></autoref>'

    return _LITERAL.sub(":", _ROLE.sub(sub, text))


class RstRoles(griffe.Extension):
    """Rewrite the reST roles of every docstring in a loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:  # noqa: D102
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if obj.docstring is not None:
                obj.docstring.value = _rewrite(obj, obj.docstring.value)
            stack.extend(member for member in obj.members.values() if not member.is_alias)
