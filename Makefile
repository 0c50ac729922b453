# The whole set-up on a fresh machine (Python 3.11, no GPU, only package registries):
#   make demo   installs into .venv (plus the speech engines) and runs the seed study on the
#               embedded digits set
#   make test   installs into .venv (plus the Debian packages the tests use) and runs the tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test bench sysdeps speechdeps lava clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages. speechdeps: the speech engines of the digits set (Flite, Festival and
# three of its voices), all that `make demo` needs; sysdeps adds the browser for the
# screenshot test and PostgreSQL for the tuning test.
SPEECH_DEBS := flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
FESTVOX := /usr/share/festival/voices/us/cmu_us_slt_arctic_hts /usr/share/festival/voices/english/kal_diphone \
           /usr/share/festival/voices/english/ked_diphone
speechdeps:
	@if ! command -v flite >/dev/null || ! command -v festival >/dev/null || ! ls -d $(FESTVOX) >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SPEECH_DEBS) >/dev/null; \
	fi

sysdeps: speechdeps
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

demo: $(STAMP) speechdeps
	$(BIN)/spikebench run

test: $(STAMP) sysdeps lava
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	for b in benchmarks/*_bench.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(LAVA_VENV) build src/*.egg-info .pytest_cache
