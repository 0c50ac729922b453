# The whole set-up on a fresh machine (Python 3.11, no GPU, only package registries):
#   make demo   installs into .venv and runs the seed study on the embedded digits set
#   make test   installs into .venv (plus the Debian packages the tests use) and runs the tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test bench sysdeps lava clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages for the browser screenshot test and the PostgreSQL tuning test.
sysdeps:
	@if ! command -v chromium >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium postgresql >/dev/null; \
	fi

# Intel Lava (lava-nc 0.10.0) runs only on Python 3.10: a side environment for the test that
# compares spikebench's Loihi 2 fixed-point model with Lava's bit-accurate simulator
# (tests/test_loihi.py, skipped without it). Optional: without Python 3.10 it is left out.
LAVA_VENV   := .venv-lava
LAVA_PYTHON ?= $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && echo $$p && break; done)

lava:
	@if [ -x $(LAVA_VENV)/bin/python ]; then :; \
	elif [ -z "$(LAVA_PYTHON)" ]; then echo "lava: no Python 3.10 here; the Lava comparison test will be skipped"; \
	else $(LAVA_PYTHON) -m venv $(LAVA_VENV) && $(LAVA_VENV)/bin/pip install --quiet lava-nc==0.10.0 \
		numpy==1.26.4 scipy==1.15.3 scikit-learn==1.7.2 networkx==2.8.7 asteval==0.9.33 \
		|| { rm -rf $(LAVA_VENV); echo "lava: install failed; the Lava comparison test will be skipped"; }; fi

demo: $(STAMP)
	$(BIN)/spikebench run

test: $(STAMP) sysdeps lava
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	for b in benchmarks/*_bench.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(LAVA_VENV) build src/*.egg-info .pytest_cache
