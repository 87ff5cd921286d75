# The MNIST book. Two commands do everything on a fresh machine:
#   make book   create .venv, download and verify the data, execute the notebooks, build _build/html
#   make test   create .venv, run the unit tests, every notebook under nbval (smoke profile), a strict build
#               checked in headless Chromium (Debian's chromium and chromium-driver, installed if missing),
#               and the chapters opened and run in JupyterLab in that browser
#   make lab    JupyterLab on the chapters, with the project's kernel
# Offline: set MNISTLIB_DATA to a folder that already holds the data files.

PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
PROFILE ?= quick
# The profile reaches a shell only validated: PROFILE and MNISTBOOK_PROFILE (when set) are read raw ($(value):
# nothing in them is expanded), must each be one of PROFILES in any case and spacing, as mnistlib.profiles accepts
# them, and are replaced by that name before any recipe runs; anything else stops make here, before any command.
PROFILES := smoke quick full
# profile_name: $(1) stripped, with the capitals of the profiles' letters made small ($(2): the pairs still to apply).
profile_name = $(if $(2),$(call profile_name,$(subst $(firstword $(subst :, ,$(firstword $(2)))),$(lastword \
  $(subst :, ,$(firstword $(2)))),$(1)),$(wordlist 2,99,$(2))),$(strip $(1)))
PROFILE_LETTERS := S:s M:m O:o K:k E:e Q:q U:u I:i C:c F:f L:l
# check_profile: stop make unless the value $(2) of variable $(1) is one profile's name.
check_profile = $(if $(and $(filter 1,$(words $(2))),$(filter $(PROFILES),$(call profile_name,$(2),\
  $(PROFILE_LETTERS)))),,$(error $(1) is '$(2)': set it to one of $(PROFILES) (in any case); nothing was run))
$(call check_profile,PROFILE,$(value PROFILE))
override PROFILE := $(call profile_name,$(value PROFILE),$(PROFILE_LETTERS))
ifneq ($(strip $(value MNISTBOOK_PROFILE)),)
$(call check_profile,MNISTBOOK_PROFILE,$(value MNISTBOOK_PROFILE))
override MNISTBOOK_PROFILE := $(call profile_name,$(value MNISTBOOK_PROFILE),$(PROFILE_LETTERS))
endif
BOOK_PROFILE := $(or $(strip $(value MNISTBOOK_PROFILE)),$(PROFILE))
# A relative MNISTLIB_DATA is made absolute once, here, against the folder make runs in: every recipe, and the
# notebooks the book runs from chapters/, then read the same folder. make's functions work on words, so each space
# is a mark (SPACE_MARK) while they work, then a space again: a folder named with spaces, unicode, backslashes or
# two spaces in a row stays one folder, as it was given (only the ends are trimmed, as mnistlib trims them).
empty :=
space := $(empty) $(empty)
SPACE_MARK := |mnistbook-space|
spaces_marked = $(subst $(space),$(SPACE_MARK),$(1))
trim_marks = $(if $(filter $(SPACE_MARK)%,$(1)),$(call trim_marks,$(patsubst $(SPACE_MARK)%,%,$(1))),$(if $(filter \
  %$(SPACE_MARK),$(1)),$(call trim_marks,$(patsubst %$(SPACE_MARK),%,$(1))),$(1)))
ifneq ($(strip $(value MNISTLIB_DATA)),)
data_marked := $(call trim_marks,$(call spaces_marked,$(value MNISTLIB_DATA)))
data_marked := $(patsubst ~/%,$(call spaces_marked,$(HOME))/%,$(patsubst ~,~/,$(data_marked)))
override MNISTLIB_DATA := $(subst $(SPACE_MARK),$(space),$(abspath $(data_marked)))
export MNISTLIB_DATA
endif
# The limit per cell of the book's execution follows the profile (book/_ext/book_execution.py: as _config.yml says
# in smoke, 3 hours in quick, none in full); CELL_TIMEOUT=SECONDS sets it for every profile, -1 for no limit. Read
# raw and checked like the profile: a whole number of seconds above 0, or -1, else make stops before any command.
CELL_TIMEOUT ?=
ifneq ($(strip $(value CELL_TIMEOUT)),)
no_digits = $(subst 0,,$(subst 1,,$(subst 2,,$(subst 3,,$(subst 4,,$(subst 5,,$(subst 6,,$(subst 7,,$(subst 8,,$(subst \
  9,,$(1)))))))))))
cell_timeout := $(strip $(value CELL_TIMEOUT))
ifeq ($(and $(filter 1,$(words $(cell_timeout))),$(or $(filter -1,$(cell_timeout)),$(if $(call \
  no_digits,$(cell_timeout)),,$(subst 0,,$(cell_timeout))))),)
$(error CELL_TIMEOUT is '$(value CELL_TIMEOUT)': set it to a whole number of seconds per cell, or -1 for no limit; \
  nothing was run)
endif
export MNISTBOOK_CELL_TIMEOUT := $(cell_timeout)
endif
# Strict (-n -W --keep-going) and from a fresh Sphinx environment (--all: every page read again, executed
# notebooks still come from the jupyter cache), so an incremental build cannot keep a stale page.
JB_FLAGS := -n -W --keep-going --all
# Where `make html` builds: BOOK_OUT/_build/html. The test suite builds the smoke book into _build/smoke.
BOOK_OUT ?= .
# TensorFlow writes its C++ start-up log (CPU features, oneDNN, absl) to stderr, which a page would show
# and a strict build rejects. Level 3 keeps INFO, WARNING and ERROR lines of its C++ log out of every
# process make starts, kernels included; Python exceptions are unaffected. mnistlib sets the same default.
export TF_CPP_MIN_LOG_LEVEL ?= 3
# TensorFlow's oneDNN kernels, on by default on processors with AVX-512 VNNI or BF16, announce themselves on
# stderr whatever the log level, and change results from one processor to the next: off, as mnistlib sets it.
export TF_ENABLE_ONEDNN_OPTS ?= 0
# Builds, tests and benchmarks train without Keras's progress bars, which a page or a log would show
# (mnistlib.training.progress_verbose); `make lab` unsets it, so a reader sees training progress.
export MNISTBOOK_BUILD ?= 1
STAMP   := $(VENV)/.installed
GIT_FILTER := $(VENV)/.git-filter
# Notebook outputs cached by jupyter-book are only valid for this library and these pins.
LIB_HASH = $(shell cat pyproject.toml mnistlib/*.py | md5sum | cut -c1-16)

# The kernel every notebook names ("python3", in their metadata) is, in .venv, the project's: this Python, with
# TensorFlow's C++ log silenced and its oneDNN kernels off, displayed as KERNEL_NAME. JupyterLab, nbval and
# jupyter-book all start it.
KERNEL_NAME := MNIST book (.venv)
# Git strips outputs, execution counts and what JupyterLab adds to the metadata from notebooks as they are
# committed: nbstripout is the filter .gitattributes names, installed with .venv. Besides nbstripout's defaults
# it strips the values of inline expressions that jupyterlab-myst stores in markdown cells (user_expressions)
# and the kernel's details a save adds to language_info; cell ids are kept; the kernelspec is the committed one.
NBSTRIPOUT_EXTRA_KEYS := cell.metadata.user_expressions $(foreach k,codemirror_mode file_extension mimetype \
  nbconvert_exporter pygments_lexer version,metadata.language_info.$(k))

.PHONY: npm book html pdf test bench chapter full-gpu venv data browser lint test-unit test-notebooks test-book test-lab lab clean help

help:
	@echo "make book   - build the HTML book into _build/html (profile: MNISTBOOK_PROFILE or PROFILE=$(PROFILE))"
	@echo "             (limit per cell: by profile; CELL_TIMEOUT=SECONDS sets it, -1 for none)"
	@echo "make pdf    - after make book: the PDF edition, _build/html/mnist-book.pdf (nothing executed again)"
	@echo "make test   - ruff and jactionlint, unit tests, notebooks under nbval (smoke profile), strict book build,"
	@echo "             the site in Chromium, the chapters in JupyterLab"
	@echo "make bench  - speed figures (IDX reading, every model's throughput, scaling) into book/benchmark_results.*,"
	@echo "              then every chapter's wall time and peak memory, smoke and quick, into book/chapter_timings.json"
	@echo "make full-gpu BUDGET_S=600 - on a GPU: chapter 08's ResNet and chapter 11's M5, M3, M7 in the full profile"
	@echo "             (Keras on JAX, no Jupyter), as many as fit in BUDGET_S seconds, into book/reference_results.csv"
	@echo "make chapter NB=chapters/NN_slug.ipynb - one chapter as the build runs it, smoke and quick, its timing rows"
	@echo "             recorded in book/chapter_timings.json (the cheap part of make bench)"
	@echo "make data   - download and verify MNIST and QMNIST into MNISTLIB_DATA"
	@echo "make lab    - JupyterLab on chapters/ with the project's kernel (MNISTBOOK_PROFILE, MNISTLIB_DATA from the shell)"
	@echo "make clean  - remove _build (keeps .venv and data)"

venv: $(STAMP) $(GIT_FILTER)

# A $(VENV) that an interrupted install left without a working pip (every later pip call said only "No module named
# pip") is removed and created again; something else named $(VENV) is left alone, saying what to do.
define fresh_venv
	@if [ -e "$(VENV)" ] && ! "$(PY)" -m pip --version >/dev/null 2>&1; then \
	  if [ -f "$(VENV)/pyvenv.cfg" ]; then \
	    echo "$(VENV) is incomplete (no working pip: an interrupted make venv?): removing it and creating it again"; \
	    rm -rf "$(VENV)"; \
	  else \
	    echo "$(VENV) is not a virtual environment (no pyvenv.cfg): move it away or delete it, or set VENV to" \
	      "another folder, then run make again" >&2; \
	    exit 1; \
	  fi; \
	fi
endef

$(STAMP): pyproject.toml
	$(call fresh_venv)
	@start=$$(date +%s); \
	if ! test -x $(PY); then \
	  $(PYTHON) -m venv $(VENV) || { rm -rf "$(VENV)"; echo "creating $(VENV) with $(PYTHON) failed (its message" \
	    "above says what is missing, e.g. Debian's python3-venv); nothing was kept" >&2; exit 1; }; \
	fi; \
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip && \
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test,web]" && \
	$(PY) -m ipykernel install --prefix $(VENV) --name python3 --display-name "$(KERNEL_NAME)" \
	  --env TF_CPP_MIN_LOG_LEVEL 3 --env TF_ENABLE_ONEDNN_OPTS 0 >/dev/null && \
	touch $@ && echo "[time] install: $$(( $$(date +%s) - start )) s"

# The git filter (NBSTRIPOUT_EXTRA_KEYS above), configured again whenever this Makefile changes: nbstripout, then
# tools/kernelspec_filter.py, which commits every notebook with the same kernelspec whatever JupyterLab (or another
# editor) wrote there. git runs the filter at the top of the work tree, so each worktree runs its own script.
$(GIT_FILTER): $(STAMP) Makefile
	@if [ -e .git ]; then \
	  git config filter.nbstripout.clean \
	    '"$(abspath $(PY))" -m nbstripout --keep-id | "$(abspath $(PY))" tools/kernelspec_filter.py' && \
	  git config filter.nbstripout.smudge cat && \
	  git config filter.nbstripout.required true && \
	  git config filter.nbstripout.extrakeys "$(NBSTRIPOUT_EXTRA_KEYS)" && \
	  git config diff.ipynb.textconv '"$(abspath $(PY))" -m nbstripout --keep-id -t'; \
	fi && touch $@

data: $(STAMP) $(GIT_FILTER)
	$(PY) -m mnistlib fetch

# The site test drives Debian's headless Chromium (no browser download), which also prints the PDF; the PDF test
# reads it with poppler-utils (pdftotext, pdfimages, pdftoppm): install them when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || [ ! -x /usr/bin/pdftotext ]; then \
	  start=$$(date +%s); \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium chromium-driver \
	    poppler-utils >/dev/null && echo "[time] chromium, poppler-utils install: $$(( $$(date +%s) - start )) s"; \
	fi

# Clear a jupyter-book execution cache made with another library version or profile.
define fresh_cache
	@mkdir -p $(1); if [ "$$(cat $(1)/.mnistlib-key 2>/dev/null)" != "$(LIB_HASH)-$(2)" ]; then \
	  rm -rf $(1)/.jupyter_cache; echo "$(LIB_HASH)-$(2)" > $(1)/.mnistlib-key; fi
endef

book: data
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory html; rc=$$?; \
	echo "[time] make book ($(BOOK_PROFILE), after install): $$(( $$(date +%s) - start )) s"; exit $$rc
	@echo "The book is in _build/html/index.html"

# onnxruntime-web, which the page "Draw a digit" runs in the reader's browser: installed from the npm registry at the
# version package-lock.json pins (book/_ext/book_draw.py copies its files into the site). Debian's nodejs and npm are
# installed first when missing.
ORT_STAMP := node_modules/.package-lock.json
npm:
	@if ! command -v npm >/dev/null 2>&1; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; \
	fi

$(ORT_STAMP): package.json package-lock.json
	@$(MAKE) --no-print-directory npm
	@start=$$(date +%s); npm ci --no-audit --no-fund --ignore-scripts --loglevel=error && touch $@ && \
	echo "[time] npm ci (onnxruntime-web): $$(( $$(date +%s) - start )) s"

# The one way the book is built, by `make book` and by the test suite's strict build (tests/conftest.py).
html: $(STAMP) $(ORT_STAMP)
	$(call fresh_cache,$(BOOK_OUT)/_build,$(BOOK_PROFILE))
	MNISTBOOK_PROFILE=$(BOOK_PROFILE) $(VENV)/bin/jupyter-book build . --path-output $(BOOK_OUT) $(JB_FLAGS)

# The PDF edition from the book `make book` executed: Jupyter Book's singlehtml builder writes the whole book as one
# page from the same execution cache (a chapter is executed only if its code changed since), headless Chromium
# prints it (tools/make_pdf.py, book/_ext/static/book_print.css) into the site, which links it from its first page.
PDF_NAME := mnist-book.pdf
pdf: $(STAMP) browser
	@test -f "$(BOOK_OUT)/_build/html/index.html" || { echo "no book in $(BOOK_OUT)/_build/html: run make book first" >&2; exit 1; }
	@start=$$(date +%s); \
	MNISTBOOK_PROFILE=$(BOOK_PROFILE) $(VENV)/bin/jupyter-book build . --path-output $(BOOK_OUT) --builder singlehtml \
	  $(JB_FLAGS) && \
	$(PY) tools/make_pdf.py "$(BOOK_OUT)/_build/singlehtml" "$(BOOK_OUT)/_build/html/$(PDF_NAME)" && \
	echo "[time] make pdf: $$(( $$(date +%s) - start )) s"

test: data
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory lint test-unit test-notebooks test-book test-lab; rc=$$?; \
	echo "[time] make test (after install): $$(( $$(date +%s) - start )) s"; exit $$rc

bench: data
	$(PY) benchmarks/run.py
	$(PY) benchmarks/chapters.py smoke quick

# One chapter as the build runs it (nbclient, a fresh artifacts folder, so earlier chapters' models it needs are
# trained as their chapters train them), in the smoke and quick profiles; its rows in book/chapter_timings.json are
# replaced, the other chapters' kept. The cheap way to time a new or changed chapter: make bench takes about an hour.
NB ?=
chapter:
	@test -n "$(NB)" || { echo "name the notebook: make chapter NB=chapters/NN_slug.ipynb" >&2; exit 2; }
	@test -f "$(NB)" || { echo "make chapter: no notebook $(NB) (give its path, e.g. chapters/05_cnn.ipynb)" >&2; exit 2; }
	@$(MAKE) --no-print-directory data
	$(PY) benchmarks/chapters.py smoke quick --only $(basename $(notdir $(NB)))

# benchmarks/full_gpu.py: the full profile of chapter 08's ResNet and chapter 11's networks as scripts on Keras's JAX
# backend, planned to fit BUDGET_S seconds (it times the networks first), rows exported to book/reference_results.csv.
# No venv is made or installed here: a GPU machine may be offline with its libraries already installed, so
# `make full-gpu PY=python3` runs that Python (it needs jax with its GPU plugin, keras and the book's pins; no
# Jupyter, no TensorFlow). FULL_GPU_FLAGS passes more options (e.g. --plan-only, --out report.json).
BUDGET_S ?= 3600
FULL_GPU_FLAGS ?=
full-gpu:
	@command -v "$(PY)" >/dev/null 2>&1 || { echo "$(PY) not found: run make venv first (then install jax with its" \
	  "GPU plugin into it), or name a Python that has them: make full-gpu PY=python3" >&2; exit 1; }
	KERAS_BACKEND=jax PYTHONPATH="$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH}" "$(PY)" benchmarks/full_gpu.py \
	  --budget-s "$(BUDGET_S)" $(FULL_GPU_FLAGS)

# ruff, pinned in the test extras: lint everything (notebooks included), check the format (notebooks excluded).
# jactionlint, pinned there too (a fork of actionlint whose wheel carries the binary: nothing is downloaded from
# GitHub), checks the GitHub workflows with actionlint's checks (its correctness profile), offline, and the same
# on every machine: no shellcheck or pyflakes on run: scripts, even where they are installed.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/jactionlint --profile correctness --no-online --shellcheck= --pyflakes= --strict-exit \
	  .github/workflows/*.yml

test-unit: $(STAMP) $(GIT_FILTER)
	@start=$$(date +%s); \
	$(PY) -m pytest tests -m "not book and not lab" -q; rc=$$?; \
	echo "[time] unit tests: $$(( $$(date +%s) - start )) s"; exit $$rc

test-notebooks: $(STAMP)
	@start=$$(date +%s); \
	MNISTBOOK_PROFILE=smoke $(PY) -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=300 \
	  -p no:cacheprovider chapters -q; rc=$$?; \
	echo "[time] notebooks (nbval, smoke): $$(( $$(date +%s) - start )) s"; exit $$rc

test-book: $(STAMP) browser
	@start=$$(date +%s); \
	MNISTBOOK_PROFILE=smoke $(PY) -m pytest tests -m book -q; rc=$$?; \
	echo "[time] strict book build (smoke): $$(( $$(date +%s) - start )) s"; exit $$rc

# tests/test_lab.py: JupyterLab on a copy of the chapters, in headless Chromium; screenshots in _build/screenshots/lab.
test-lab: $(STAMP) browser
	@start=$$(date +%s); \
	MNISTBOOK_PROFILE=smoke $(PY) -m pytest tests -m lab -q; rc=$$?; \
	echo "[time] chapters in JupyterLab (smoke): $$(( $$(date +%s) - start )) s"; exit $$rc

# The kernel inherits this shell's MNISTLIB_DATA and MNISTBOOK_PROFILE (or PROFILE); .venv's kernels come before
# any of the user's. The server's root is the book's, so links from a chapter to ../book work (LAB_ROOT: another
# copy of the book, as tests/test_lab.py uses). LAB_FLAGS: more options, e.g. LAB_FLAGS="--no-browser --port 9999".
# JupyterLab's defaults are the book's (book/jupyterlab/overrides.json5: every cell rendered at once, so that one
# Run All fills every inline value).
LAB_ROOT ?= $(CURDIR)
LAB_FLAGS ?=
lab: data
	env -u MNISTBOOK_BUILD MNISTBOOK_PROFILE=$(BOOK_PROFILE) JUPYTER_PREFER_ENV_PATH=1 $(VENV)/bin/jupyter lab \
	  --ServerApp.root_dir="$(LAB_ROOT)" --LabApp.default_url=/lab/tree/chapters \
	  --LabApp.app_settings_dir="$(CURDIR)/book/jupyterlab" \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_FLAGS)

clean:
	rm -rf _build
