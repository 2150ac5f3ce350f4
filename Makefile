# satsr developer tasks. `make demo` and `make test` work on a fresh machine (they create .venv first).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.satsr-installed
DEMO   := demo_out
DATA   ?= ../shared/data
# pytest-xdist workers for `make test`: one per usable core (the affinity mask CI and containers set), at most 4.
# tests/conftest.py pins each worker to its own share of the cores. `make test WORKERS=0` runs in one process.
WORKERS ?= $(shell $(PYTHON) -c "import os; print(min(4, len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1))" 2>/dev/null || echo 0)

.PHONY: venv demo test test-fast typecheck lint docs readme-picture bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## demo: super-resolve the bundled Landsat 8 crop x4 with the default model (lgtd-s), write a COG and a
## side-by-side PNG, then score lgtd-s against bicubic on the real Jilin-1 clip (when $(DATA) has it)
demo: $(STAMP)
	mkdir -p $(DEMO)
	$(BIN)/satsr upscale satsr/data/landsat8_sample.tif -o $(DEMO)/landsat8_sample_x4.tif \
		--bands 3,2,1 --value-range 6000 10000 --preview $(DEMO)/landsat8_sample_x4_compare.png
	@echo "demo outputs in $(abspath $(DEMO))/"
	@if [ -d "$(DATA)/jilin1_airport/GT" ]; then \
		echo "lgtd-s against bicubic on the real Jilin-1 clip, centre frame 3 of 7, standard protocol (Y, 8 bit):"; \
		$(BIN)/satsr evaluate -m lgtd-s --data "$(DATA)/jilin1_airport" --centres 3; \
	else \
		echo "Jilin-1 score skipped: $(DATA)/jilin1_airport not found (make demo DATA=/path/to/data)"; \
	fi

## test: mypy (typecheck), then the whole suite, slow (real-data) tests included
test: $(STAMP) typecheck
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist worksteal

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

## typecheck: mypy over satsr, configured in pyproject.toml ([tool.mypy]): strict for the georeferencing, tiling,
## radiometry, I/O, pipeline and engine modules, mypy's defaults elsewhere (cached in .mypy_cache)
typecheck: $(STAMP)
	$(BIN)/python -m mypy

lint: $(STAMP)
	$(BIN)/python -m pip install -q ruff
	$(BIN)/ruff check satsr tests benchmarks

## docs: the API reference, generated from the docstrings, into site/ (strict: any warning fails the build)
docs: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[docs]'
	$(BIN)/mkdocs build --strict -d site

## readme-picture: the picture at the top of README.md: the bundled Landsat 8 crop x4 by bicubic and by lgtd-s
## (1-2 minutes on 2 cores), around the Itaipu dam, side by side with one zoom box
README_PICTURE := docs/images/landsat8_bicubic_vs_lgtd-s.png
readme-picture: $(STAMP)
	mkdir -p $(DEMO) docs/images
	$(BIN)/satsr upscale satsr/data/landsat8_sample.tif --bands 3,2,1 --value-range 6000 10000 \
		-o $(DEMO)/landsat8_sample_x4.tif
	$(BIN)/satsr upscale satsr/data/landsat8_sample.tif --bands 3,2,1 --value-range 6000 10000 -m bicubic \
		-o $(DEMO)/landsat8_sample_x4_bicubic.tif
	$(BIN)/satsr quicklook satsr/data/landsat8_sample.tif $(DEMO)/landsat8_sample_x4.tif --bands 3,2,1 \
		--baseline $(DEMO)/landsat8_sample_x4_bicubic.tif --crop 48,96,112,112 --zoom 84,150,28 -o $(README_PICTURE)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_pipeline.py

clean:
	rm -rf $(DEMO) .pytest_cache build site *.egg-info
