"""Static import-boundary check: layers import downward only (see DESIGN 8.3)."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "satsr"

# module (relative to satsr/) -> satsr modules it may import; and third-party modules it must not import
LAYERS = {
    "_version": set(),
    "_defaults": set(),
    "_threads": {"errors"},
    "_folders": {"errors"},
    "_atomic": {"_folders", "errors"},
    "_bicubic": set(),
    "errors": set(),
    "progress": set(),
    "coregistration": {"errors"},
    "geo": {"errors", "coregistration"},  # re-exports phase_shift, its old home
    "io": {"_atomic", "_folders", "errors", "geo", "io", "progress", "_threads", "radiometry", "coregistration"},
    "radiometry": {"errors"},
    "degrade": {"errors", "_bicubic"},
    "metrics": {"errors", "degrade"},
    "tiling": {"errors"},
    "models": {"_atomic", "_folders", "errors", "models", "_defaults", "_bicubic"},
    "engine": {"errors", "models", "_threads"},
    "pipeline": {"errors", "geo", "io", "radiometry", "tiling", "models", "engine", "_defaults"},
    "accessor": {"geo", "pipeline", "tiling", "io", "_defaults"},
    "testing": {"errors", "geo", "io"},
    "viz": {"_atomic", "_folders", "errors", "geo", "io", "pipeline", "radiometry"},
    "cli": {"_atomic", "plan", "_folders", "errors", "geo", "io", "pipeline", "models", "viz", "accessor", "train",
            "_defaults", "catalog", "batch", "progress"},
    "catalog": {"_folders", "errors", "geo", "io", "_version"},
    "plan": {"_defaults", "errors", "engine", "models", "pipeline", "tiling"},
    "batch": {"_atomic", "_folders", "errors", "io", "pipeline", "engine", "models", "catalog", "_defaults", "_version",
              "plan", "progress", "_threads"},
    "train": {"_atomic", "_folders", "errors", "geo", "io", "degrade", "radiometry", "tiling", "models", "engine",
              "pipeline", "metrics", "train", "progress"},
}
FORBIDDEN = {
    "errors": {"torch", "xarray", "rasterio", "dask"},
    "progress": {"torch", "xarray", "rasterio"},
    "geo": {"torch", "xarray", "rasterio", "dask"},
    "io": {"torch", "torchvision"},
    "radiometry": {"torch", "xarray", "rasterio", "dask"},
    "coregistration": {"torch", "xarray", "rasterio", "dask"},
    "degrade": {"torch", "xarray", "rasterio", "dask"},
    "metrics": {"torch", "xarray", "rasterio", "dask"},
    "tiling": {"torch", "xarray", "rasterio", "dask"},
    "models": {"xarray", "rasterio", "dask", "rioxarray"},
    "engine": {"xarray", "rasterio", "dask", "rioxarray"},
    "_threads": {"torch", "xarray", "rasterio", "dask"},
    "_folders": {"torch", "xarray", "rasterio", "dask", "numpy"},
    "_atomic": {"torch", "xarray", "rasterio", "dask", "numpy"},
    "_bicubic": {"torch", "xarray", "rasterio", "dask", "scipy"},
}


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` (annotations only, never imported at run time)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(path: Path) -> set[str]:
    out = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            if node.module == "satsr":
                out |= {f"satsr.{a.name}" for a in node.names}
    return out


def _layer(path: Path) -> str:
    return path.relative_to(PKG).parts[0].removesuffix(".py")


def test_layers_import_downward_only():
    problems = []
    for path in PKG.rglob("*.py"):
        layer = _layer(path)
        if layer == "__init__":
            continue
        assert layer in LAYERS, f"{path}: new module, add it to the layer table"
        for mod in _imports(path):
            top = mod.split(".")[0]
            if top == "satsr":
                parts = mod.split(".")
                if len(parts) > 1 and parts[1] not in LAYERS[layer] | {"_version"} and parts[1] != layer:
                    problems.append(f"{path.relative_to(PKG)} imports {mod}")
            elif top in FORBIDDEN.get(layer, set()):
                problems.append(f"{path.relative_to(PKG)} imports {mod} (forbidden in {layer})")
    assert not problems, "\n".join(problems)


def test_import_satsr_does_not_load_torch():
    """`import satsr` and `satsr --help` stay fast: torch loads on first use of upscale/models."""
    import subprocess
    import sys

    code = "import sys, satsr; assert 'torch' not in sys.modules; satsr.models; assert 'torch' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def _module_name(path: Path) -> str:
    parts = ["satsr", *path.relative_to(PKG).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _satsr_imports(path: Path, modules: set[str]) -> tuple[set[str], list[str]]:
    """Modules of satsr that ``path`` imports at run time (inside functions too), and the private names it takes."""
    deps, private = set(), []
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("satsr"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in modules:
                    deps.add(full)
                    continue
                deps.add(node.module)
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    private.append(f"{_module_name(path)} takes {node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            deps |= {a.name for a in node.names if a.name in modules}
    return deps & modules, private


def test_imports_form_a_dag_and_no_private_names_cross_modules():
    """No import cycle between modules, even through imports inside functions; no ``_private`` name taken."""
    paths = {_module_name(p): p for p in PKG.rglob("*.py")}
    modules = set(paths)
    edges, private = {}, []
    for name, path in paths.items():
        deps, taken = _satsr_imports(path, modules)
        # A package and its own submodules (re-exports in __init__) are one unit here.
        edges[name] = {d for d in deps if d != name and not d.startswith(name + ".") and not name.startswith(d + ".")}
        private += taken
    assert not private, "\n".join(private)
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt):], nxt]) if nxt in trail else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
