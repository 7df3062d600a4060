# Everything a fresh machine needs (python3 >= 3.11, pip, make, git): `make demo`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench soak serve-sandbox serve clean browser

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/jst-kingdee demo

# Debian's chromium and CJK fonts for the browser tests (tests/reporting/test_browser.py); Playwright drives this
# chromium, never a browser of its own. Installs only what is missing, as root or through sudo. Where it cannot,
# it says so and the browser tests skip; under CI it fails.
BROWSER_PACKAGES := chromium fonts-noto-cjk
browser:
	@missing=$$(for p in $(BROWSER_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		echo "make browser: installing" $$missing "(apt-get)"; \
		{ $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			$$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; } || \
		{ echo "make browser: could not install" $$missing "- the browser tests will be skipped"; [ -z "$$CI" ]; }; \
	fi

# Two test processes, one test file each at a time (module fixtures such as the deploy test's Prefect server
# start once); whatever a test shares with another (a port, a file, a database) must be its process's own.
test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# ≥ 100 seeded fault and crash scenarios against the emulators, each checked by the oracle (~9 min on 2 cores).
soak: $(STAMP)
	$(BIN)/python -m tests.reliability.soak

# Benchmarks (issue 5); each prints its figures and ends with a RESULT line.
bench: $(STAMP)
	$(BIN)/python -m bench.transform
	$(BIN)/python -m bench.e2e
	$(BIN)/python -m bench.overhead
	$(BIN)/python -m bench.memory

serve-sandbox: $(STAMP)
	$(BIN)/jst-kingdee sandbox serve

# Prefect server + work pool + deployments + emulators + worker on 127.0.0.1; UI at http://127.0.0.1:4200.
serve: $(STAMP)
	$(BIN)/jst-kingdee serve

clean:
	rm -rf $(VENV) .state reports
