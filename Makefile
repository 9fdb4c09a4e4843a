# Two commands do everything on a fresh machine:
#   make run   – install what is missing and open the app
#   make test  – install what is missing and run the whole suite headless
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The torch build to install first. On these machines torch==2.13.0 is a local
# CPU wheel; elsewhere pip picks the build that suits the machine. Override
# with e.g. `make run TORCH_SPEC=torch`.
TORCH_SPEC ?= torch==2.13.0
# make test runs the suite in this many processes (pytest-xdist, tests handed out one by one)
TEST_WORKERS ?= 2
APT_PACKAGES := xvfb libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libgl1 libegl1 libgl1-mesa-dri libxkbcommon-x11-0 libfontconfig1 libdbus-1-3

.PHONY: run test install dev sysdeps bench clean screenshot bundle cli-reference install-desktop docs

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(PY) pyproject.toml
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "$(TORCH_SPEC)"
	$(PY) -m pip install -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(PY) -m pip install -e ".[dev,sweep]"
	touch $@

$(VENV)/.docs-installed: $(VENV)/.installed
	$(PY) -m pip install -e ".[docs]"
	touch $@

install: $(VENV)/.installed
dev: $(VENV)/.dev-installed

# System libraries for headless Qt and OpenGL (Debian, as root); skipped elsewhere.
sysdeps:
	@missing=""; \
	command -v Xvfb >/dev/null || missing="$$missing xvfb"; \
	for lib in libxcb-icccm.so.4 libxcb-keysyms.so.1 libxcb-cursor.so.0 libGL.so.1 libEGL.so.1 libxkbcommon-x11.so.0 libfontconfig.so.1 libdbus-1.so.3; do \
	  ldconfig -p | grep -q $$lib || missing="$$missing $$lib"; done; \
	[ -n "$$(ls /usr/lib/*/dri/swrast_dri.so /usr/lib/dri/swrast_dri.so 2>/dev/null)" ] || missing="$$missing mesa-dri(llvmpipe)"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system packages for headless Qt/OpenGL:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	  else echo "missing for headless tests:$$missing (install: $(APT_PACKAGES))"; fi; \
	fi
	@command -v Xvfb >/dev/null || { echo "Xvfb is missing: OpenGL tests cannot run (pytest-xvfb would skip them silently)"; exit 1; }

run: install
	$(VENV)/bin/attractor-lab

test: dev sysdeps
	QT_QPA_PLATFORM=xcb ATTRACTOR_LAB_REQUIRE_XVFB=1 $(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal --durations=25

# The documentation site (mkdocs.yml, docs/) into site/, offline, warnings as errors: broken links
# or anchors, a docstring mkdocstrings cannot read. The gallery and the family pages' preset tables
# are generated from presets/ at build time (docs/_hooks/site.py); thumbnails are rendered into
# build/docs-thumbnails/ the first time (about 2 minutes on 2 cores), then reused.
docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict
	@echo "open site/index.html"

bench: install
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/run_all.py

# A picture of the window after 60 frames, from any clone: headless by default (Qt's offscreen
# platform, 3D views off); run under a display with QT_QPA_PLATFORM=xcb to include them.
SCREENSHOT ?= docs/screenshot.png
screenshot: install
	QT_QPA_PLATFORM=$${QT_QPA_PLATFORM:-offscreen} ATTRACTOR_LAB_3D=$${ATTRACTOR_LAB_3D:-off} \
		$(VENV)/bin/attractor-lab --screenshot $(SCREENSHOT)

# Every shipped preset after its contract's steps, in one labelled image (headless, 3D off; about
# 5 minutes on 2 cores): the whole library at a glance. CONTACT_SHEET_ARGS='--only "hopfield_*"'
# for a part of it (app/contact_sheet.py).
CONTACT_SHEET ?= docs/presets.png
.PHONY: contact-sheet
contact-sheet: install
	QT_QPA_PLATFORM=$${QT_QPA_PLATFORM:-offscreen} ATTRACTOR_LAB_3D=$${ATTRACTOR_LAB_3D:-off} \
		$(PY) -m attractor_lab.app.contact_sheet --out $(CONTACT_SHEET) $(CONTACT_SHEET_ARGS)

# The docs' command reference (docs/cli.md), generated from the commands' --help (tests/test_packaging.py checks it).
cli-reference: install
	$(PY) -m attractor_lab.app.cli_reference --write docs/cli.md

# Menu entry, icons and AppStream metadata for the current user (Linux desktops).
install-desktop: install
	$(VENV)/bin/attractor-lab install-desktop

# A one-folder PyInstaller bundle with the CPU build of torch (not part of `make test`):
# dist/attractor-lab/attractor-lab; check it with packaging/smoke_test.sh.
bundle: install
	$(PY) -m pip install -q -e ".[bundle]"
	$(PY) -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
		packaging/attractor-lab.spec
	@du -sh dist/attractor-lab | awk '{print "bundle size: " $$1 " (dist/attractor-lab)"}'

clean:
	rm -rf $(VENV) build dist site *.egg-info .pytest_cache
