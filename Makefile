# The README's commands. `make book` and `make test` each set everything up
# on a fresh machine (virtual environment, packages, Fashion-MNIST, MathJax).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.dlbook-installed
MATHJAX := _mathjax/mathjax/tex-svg.js
FASHION := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
CHAPTERS := $(sort $(wildcard chapters/[0-9][0-9]_*.py))
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup data mathjax book test lint unit notebooks book-check sync export bench appendix clean

help:
	@echo "make book   set up, then build the HTML book (chapters run with the auto profile)"
	@echo "make test   set up, then ruff, unit tests, pair checks, nbval (smoke) and a -W book build"
	@echo "make sync   re-pair every chapters/*.py with its .ipynb (jupytext --sync)"
	@echo "make export copy the chapters' dlbook:MODULE cells into src/dlbook/ (one source)"
	@echo "make bench  PROFILE=cpu: run every chapter as a script, write bench/<profile>.json"
	@echo "make appendix  render bench/*.json into the book's appendix/runtimes.md"

setup: $(STAMP) data mathjax

$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt -c constraints.txt -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# Fashion-MNIST from Debian's package when we are root on Debian/Ubuntu;
# elsewhere dlbook.data downloads it on first use.
data:
	@if [ -e $(FASHION) ]; then echo "Fashion-MNIST: $(FASHION)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist; \
	else echo "Fashion-MNIST: not installed system-wide; dlbook will download it on first use"; fi

# MathJax 3 from the npm registry, served by the book itself (works offline).
mathjax: $(MATHJAX)
$(MATHJAX):
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -q && apt-get install -y -q npm; }
	rm -rf _mathjax/tmp && mkdir -p _mathjax/tmp
	cd _mathjax/tmp && npm pack --silent mathjax@3 >/dev/null && tar xzf mathjax-*.tgz
	rm -rf _mathjax/mathjax && mv _mathjax/tmp/package/es5 _mathjax/mathjax && rm -rf _mathjax/tmp
	@test -f $@

book: setup
	$(BIN)/jupyter-book build --keep-going .
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check src tests chapters

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests

# Two notebooks run at once (-n 2), so each kernel gets one thread: two
# 2-thread kernels on a 2-core machine oversubscribe it and run many times slower.
notebooks: setup
	DLBOOK_PROFILE=smoke DLBOOK_PROGRESS=0 OMP_NUM_THREADS=1 \
	  $(BIN)/python -m pytest -q -p no:python --nbval-lax --nbval-cell-timeout=600 \
	  -n 2 --dist loadfile chapters

# The strict build checks the book under the smoke profile in its own
# directory, so its cached outputs never stand in for `make book`'s.
book-check: setup
	DLBOOK_PROFILE=smoke $(BIN)/jupyter-book build -W -n --keep-going --path-output _build/check .

test: setup lint unit notebooks book-check
	@echo "make test: all checks passed"

sync: $(STAMP)
	$(BIN)/jupytext --sync $(CHAPTERS)

# The chapters' cells tagged dlbook:MODULE are the source of what the package
# exports: copy them into src/dlbook/ (tests/test_taught.py checks they agree).
export: $(STAMP)
	$(BIN)/python -m dlbook.export

PROFILE ?= cpu
bench: setup
	mkdir -p bench
	$(BIN)/python -m dlbook.bench $(CHAPTERS) --profile $(PROFILE) --json bench/$(PROFILE).json \
	  --markdown bench/$(PROFILE).md

appendix: $(STAMP)
	$(BIN)/python -m dlbook.bench $(sort $(wildcard bench/*.json)) --appendix appendix/runtimes.md \
	  --speed $(sort $(wildcard bench/speed/*.json))

clean:
	rm -rf _build _mathjax .pytest_cache .ruff_cache
