"""mkdocs hook: the README's picture, written for GitHub, also shows on the docs site.

The README (included in ``docs/readme.md``) points at ``docs/images/...`` from the repository root, in an HTML
``<img>`` tag; on the site that page lives under ``docs/``, so the tag becomes a Markdown image relative to it,
which mkdocs checks and rewrites like any other link.
"""

from __future__ import annotations

import re
from typing import Any

_IMG = re.compile(r'<img src="docs/(images/[^"]+)"[^>]*?alt="([^"]*)"[^>]*>')


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Rewrite the README's ``<img src="docs/images/...">`` tags on the page that includes it."""
    if page.file.src_uri != "readme.md":
        return markdown
    return _IMG.sub(lambda m: f"![{m.group(2)}]({m.group(1)})", markdown)
