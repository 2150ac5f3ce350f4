"""The notebooks in ``notebooks/`` run from top to bottom on real data, and are committed without outputs."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_the_four_notebooks_are_there_and_stripped():
    assert [p.stem for p in NOTEBOOKS] == ["01_quickstart", "02_satellite_video", "03_catalog_batch",
                                           "04_train_evaluate"]
    for path in NOTEBOOKS:
        book = json.loads(path.read_text())
        for cell in book["cells"]:
            if cell["cell_type"] == "code":
                assert cell.get("outputs") == [] and cell.get("execution_count") is None, (
                    f"{path.name}: outputs are committed; clear them (jupyter nbconvert --clear-output --inplace)")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, shared_data, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[test]' installs nbformat")
    nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[test]' installs nbclient")
    monkeypatch.setenv("SATSR_TEST_DATA", str(shared_data))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(book, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    took = time.perf_counter() - start
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    print(f"{path.name}: {took:.1f} s")
    if os.environ.get("SATSR_NOTEBOOK_TIMES"):
        with open(os.environ["SATSR_NOTEBOOK_TIMES"], "a") as f:
            f.write(f"{path.name}\t{took:.1f}\n")
