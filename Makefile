# Vigil — the two commands: `make demo` and `make test`. Both bootstrap .venv themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
CHROMIUM ?= /usr/bin/chromium

.PHONY: demo test test-fast lint format types pytest bench bench-alarms bench-profile venv debian-deps clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
	  { echo "Vigil needs Python >= 3.11: install it (Debian: apt-get install python3 python3-venv) or run make PYTHON=python3.11"; exit 1; }
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || { echo "python venv missing: apt-get install python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests use: Chromium for the browser tests (driven by Playwright, no browser
# download), shellcheck and systemd-analyze for the deployment files, aplay for the bedside sound,
# a real Mosquitto broker, PostgreSQL server and openssl for the clinic central station tests.
debian-deps:
	@missing=""; \
	[ -x "$(CHROMIUM)" ] || missing="$$missing chromium"; \
	command -v shellcheck >/dev/null || missing="$$missing shellcheck"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	command -v aplay >/dev/null || missing="$$missing alsa-utils"; \
	[ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v mosquitto_pub >/dev/null || missing="$$missing mosquitto-clients"; \
	compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing="$$missing postgresql"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages for the tests:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "The tests need Debian packages:$$missing - run: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

demo: venv
	$(VENV)/bin/vigil demo

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

types: venv
	$(VENV)/bin/mypy

pytest: venv debian-deps
	VIGIL_CHROMIUM=$(CHROMIUM) $(VENV)/bin/pytest

test: lint types pytest

# The edit loop: lint, types and the tests that need no browser and no end-to-end set-up (no
# Chromium, no Mosquitto/PostgreSQL, no emulators on ptys); README gives both durations.
test-fast: lint types
	$(VENV)/bin/pytest -q -m "not browser and not e2e"

bench: venv
	$(PY) -m bench

# Alarm burden of a simulated clinic cohort through the real alarm engine, written to
# docs/alarm-burden.md (also run by `make bench`). --no-fail: report while targets are missed.
bench-alarms: venv
	$(PY) -m bench.alarm_burden --sessions 2000 --no-fail

# Where the service spends its time under load (py-spy, an external sampling profiler).
bench-profile: venv
	$(VENV)/bin/pip install -q 'py-spy>=0.4,<0.5'
	$(PY) -m bench.profile --out profile.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache data

# Mutation testing (tools/mutation.py, docs/testing.md); not part of `make test`. Every codec by
# default; MUTATION_ARGS="--target ge_dri" for one module, "--group service" for the alarm engine,
# rules, infusion logic and sign-in throttle (tools/mutation.toml lists the targets).
.PHONY: mutation
mutation: venv
	$(PY) -m tools.mutation $(MUTATION_ARGS)
