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

.PHONY: figs help setup data mathjax browser book test lint unit notebooks book-check browser-check \
  test-oldest sync export bench appendix clean

help:
	@echo "make book   set up, then build the HTML book (chapters run with the auto profile)"
	@echo "make test   set up, then ruff, unit tests, pair checks, nbval (smoke), a -W book build"
	@echo "            and the browser check of that build (headless Chromium, 1280 and 390 px)"
	@echo "make sync   re-pair every chapters/*.py with its .ipynb (jupytext --sync)"
	@echo "make figs   redraw the conceptual diagrams into figs/*.svg"
	@echo "make export copy the chapters' dlbook:MODULE cells into src/dlbook/ (one source)"
	@echo "make bench  PROFILE=cpu: run every chapter as a script, write bench/<profile>.json"
	@echo "make appendix  render bench/*.json into the book's appendix/runtimes.md"
	@echo "make test-oldest  unit tests and nbval on the oldest Python and lowest declared versions"

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

# Debian's Chromium and its WebDriver for the browser check, when we are root
# on Debian/Ubuntu; elsewhere install them yourself, or the check skips (saying so).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	else echo "Chromium: not installed and not installable here; the browser check will skip"; fi

# The strict build read in headless Chromium at 1280 and 390 px (tests/test_browser.py):
# fails, per page, on what a reader would hit; the counts go to _build/check/_build/browser-check.txt.
CHECK_HTML := _build/check/_build/html
browser-check: $(STAMP) browser
	DLBOOK_HTML=$(CHECK_HTML) $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_browser.py; \
	  status=$$?; cat $(CHECK_HTML)/../browser-check.txt 2>/dev/null; exit $$status

test: setup lint unit notebooks book-check browser-check
	@echo "make test: all checks passed"

# The floor that requirements.txt and pyproject.toml declare, tested: the oldest
# Python the project allows (requires-python) that pyenv or the system has, and
# every package in the lowest release series declared (`torch>=2.3` becomes
# `torch==2.3.*`, so post-releases such as mnist1d 0.0.2.post1 match). Not part
# of `make test`: it downloads an older torch.
OLDEST_PY ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10) \
  $(shell command -v python3.10) $(shell command -v python3.11) python3)
OLDEST := .venv-oldest
test-oldest:
	test -x $(OLDEST)/bin/python || $(OLDEST_PY) -m venv $(OLDEST)
	sed -n 's/^\([A-Za-z0-9_.-]*\)>=\([0-9][0-9.]*\).*/\1==\2.*/p' requirements.txt > $(OLDEST)/lowest.txt
	$(OLDEST)/bin/python -m pip install -q --upgrade pip
	$(OLDEST)/bin/python -m pip install -r $(OLDEST)/lowest.txt -c $(OLDEST)/lowest.txt -e .
	$(OLDEST)/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	$(OLDEST)/bin/python --version; $(OLDEST)/bin/python -m pip freeze | grep -iE '^(torch|numpy)=='
	$(OLDEST)/bin/python -m pytest -q tests --ignore=tests/test_browser.py
	DLBOOK_PROFILE=smoke DLBOOK_PROGRESS=0 OMP_NUM_THREADS=1 \
	  $(OLDEST)/bin/python -m pytest -q -p no:python --nbval-lax --nbval-cell-timeout=600 \
	  -n 2 --dist loadfile chapters

sync: $(STAMP)
	$(BIN)/jupytext --sync $(CHAPTERS)

# The chapters' cells tagged dlbook:MODULE are the source of what the package
# exports: copy them into src/dlbook/ (tests/test_taught.py checks they agree).
export: $(STAMP)
	$(BIN)/python -m dlbook.export

# The conceptual diagrams: drawn by code (figs/make_figs.py) into figs/*.svg,
# which is committed; tests/test_figs.py fails when a committed file is stale.
figs: $(STAMP)
	$(BIN)/python figs/make_figs.py

PROFILE ?= cpu
bench: setup
	mkdir -p bench
	$(BIN)/python -m dlbook.bench $(CHAPTERS) --profile $(PROFILE) --json bench/$(PROFILE).json \
	  --markdown bench/$(PROFILE).md

appendix: $(STAMP)
	$(BIN)/python -m dlbook.bench $(sort $(wildcard bench/*.json)) --appendix appendix/runtimes.md \
	  --speed $(sort $(wildcard bench/speed/*.json))

clean:
	rm -rf _build _mathjax .pytest_cache .ruff_cache .venv-oldest
