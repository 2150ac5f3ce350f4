"""mkdocs hook: the README's picture, written for GitHub, also shows on the docs site.

The README (included in ``docs/readme.md`` by pymdownx.snippets, during the Markdown conversion) points at
``docs/images/...`` from the repository root in an HTML ``<img>`` tag. On the site, ``docs/images`` is copied to
``images/`` and the page lives one folder down (``readme/``), so the rendered tags are pointed there.
"""

from __future__ import annotations

from typing import Any


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    """Rewrite ``src="docs/images/...`` on the page that includes the README."""
    if page.file.src_uri != "readme.md":
        return html
    prefix = "../" if page.url.endswith("/") and page.url.strip("/") else ""
    return html.replace('src="docs/images/', f'src="{prefix}images/')
