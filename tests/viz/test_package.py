"""satsr.viz as a package: the names of the single-module satsr.viz, and short functions."""

import ast
import io
import tokenize
from pathlib import Path

import satsr.viz

VIZ = Path(satsr.viz.__file__).parent


def test_names_of_the_single_module_viz_still_import():
    from satsr.viz import FOOTER, GAP, LAYOUTS, STRETCH, _auto_zoom, _choose_bands, _Georef
    from satsr.viz.annotate import Georef
    from satsr.viz.selection import choose_bands
    from satsr.viz.zoom import auto_zoom

    assert satsr.viz.__all__ == ["compare_html", "compare_png", "quicklook", "scale_bar_length"]
    assert all(callable(getattr(satsr.viz, name)) for name in satsr.viz.__all__)
    assert len(satsr.viz.BOX_COLOURS) == 4
    assert (GAP, STRETCH, FOOTER, LAYOUTS) == (4, (2.0, 98.0), 24, ("side-by-side", "swipe"))
    assert (_auto_zoom, _choose_bands, _Georef) == (auto_zoom, choose_bands, Georef)
    assert satsr.viz.quicklook.__module__ == "satsr.viz.figure"


def _code_lines(src: str, node: ast.AST) -> int:
    """Lines of ``node`` holding code: no docstrings, comments or blank lines."""
    docs = set()
    for sub in ast.walk(node):
        body = getattr(sub, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            docs |= set(range(first.lineno, first.end_lineno + 1))
    code = set()
    skip = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type not in skip:
            code |= set(range(tok.start[0], tok.end[0] + 1))
    return len({n for n in code - docs if node.lineno <= n <= node.end_lineno})


def test_no_function_over_80_lines_of_code():
    long = []
    for path in sorted(VIZ.glob("*.py")):
        src = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (n := _code_lines(src, node)) > 80:
                long.append(f"{path.name}: {node.name} has {n} lines of code")
    assert not long, "\n".join(long)
