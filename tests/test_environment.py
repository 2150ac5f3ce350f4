"""environment.yml (conda-forge) and pyproject.toml name the same dependencies with the same lower bounds.

conda is not needed: the test reads both files. A dependency added to pyproject.toml fails here until
environment.yml has its conda-forge counterpart (``CONDA_NAMES`` maps the names that differ), and a conda
package with no pyproject counterpart fails too, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]

# PyPI name -> conda-forge name, where they differ (every other name is the same on both).
CONDA_NAMES = {"torch": "pytorch", "dask": "dask-core"}
# (PyPI name, extra) -> the conda-forge package that extra installs; None: covered by another entry.
CONDA_EXTRAS = {("dask", "distributed"): "distributed", ("dask", "array"): None}  # dask[array] = numpy
CONDA_ONLY = {"pip"}  # packages the conda file needs for itself


def _lower_bound(specifier: str) -> str | None:
    bounds = re.findall(r">=\s*([0-9][0-9A-Za-z.]*)", specifier)
    return bounds[0] if bounds else None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _pyproject_requirements() -> dict[str, str | None]:
    """Conda-forge name -> the highest lower bound pyproject asks for (run time and every extra)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += [r for r in extra if not r.startswith("satsr")]
    wanted: dict[str, str | None] = {"python": _lower_bound(project["requires-python"])}
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        bound = _lower_bound(str(req.specifier))
        conda_names = [CONDA_NAMES.get(name, name)]
        for extra in sorted(req.extras):
            if (name, extra) not in CONDA_EXTRAS:
                pytest.fail(f"pyproject asks for {name}[{extra}]: add its conda-forge package to CONDA_EXTRAS")
            if CONDA_EXTRAS[(name, extra)]:
                conda_names.append(CONDA_EXTRAS[(name, extra)])
        for conda in conda_names:
            old = wanted.get(conda)
            if old is None or (bound is not None and _version_key(bound) > _version_key(old)):
                wanted[conda] = bound
    return wanted


def _environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))


def _conda_packages() -> dict[str, str | None]:
    packages: dict[str, str | None] = {}
    for entry in _environment()["dependencies"]:
        if isinstance(entry, dict):  # the pip: section
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", entry.strip())
        assert match, f"unparsable environment.yml entry {entry!r}"
        name, spec = match.groups()
        assert name not in packages, f"{name} listed twice in environment.yml"
        packages[name] = _lower_bound(spec)
    return packages


def test_environment_is_conda_forge_only_and_installs_satsr_editable() -> None:
    env = _environment()
    assert env["channels"] == ["conda-forge"]
    pip = [entry for entry in env["dependencies"] if isinstance(entry, dict)]
    assert len(pip) == 1 and pip[0]["pip"] == ["-e ."], "satsr itself: `pip: [-e .]`, nothing else from PyPI"


def test_every_pyproject_dependency_has_its_conda_forge_counterpart() -> None:
    wanted, conda = _pyproject_requirements(), _conda_packages()
    missing = {name: bound for name, bound in wanted.items() if name not in conda}
    assert not missing, (
        "environment.yml lacks the conda-forge counterparts of pyproject dependencies: "
        + ", ".join(f"{n}>={b}" if b else n for n, b in missing.items())
        + " (a different conda-forge name goes into CONDA_NAMES in this test)"
    )
    mismatched = {name: (bound, conda[name]) for name, bound in wanted.items() if conda[name] != bound}
    assert not mismatched, f"lower bounds differ (pyproject, environment.yml): {mismatched}"


def test_environment_has_nothing_pyproject_lacks() -> None:
    extra = set(_conda_packages()) - set(_pyproject_requirements()) - CONDA_ONLY
    assert not extra, f"environment.yml lists {sorted(extra)}, which pyproject.toml does not ask for"
