VENV   := .venv
PYTHON := $(VENV)/bin/python
FLASK  := $(VENV)/bin/flask
RUFF   := $(VENV)/bin/ruff
MKDOCS := NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs

# What is installed, one stamp per set; each is redone only when pyproject.toml changes,
# so repeated runs are quick. run/dev need the app alone; test/lint/bench/screenshots the
# test, dev and docs extras too; docs the docs extra.
APP_STAMP  := $(VENV)/.installed-app
TEST_STAMP := $(VENV)/.installed-test
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: screenshots venv run dev test deps bench lint clean docs docs-build \
	i18n-extract i18n-update i18n-compile

venv: $(APP_STAMP)

$(PYTHON):
	python3 -m venv $(VENV)

$(APP_STAMP): pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install -q -e .
	touch $@

$(DOCS_STAMP): pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install -q -e '.[docs]'
	touch $@

# A superset of the other two, so it marks them done as well.
$(TEST_STAMP): pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install -q -e '.[test,dev,docs]'
	touch $@ $(APP_STAMP) $(DOCS_STAMP)

# gunicorn (gunicorn.conf.py): one worker with threads, or several with REDIS_URL.
run: venv i18n-compile
	$(FLASK) --app app db upgrade
	@echo "Papelera is starting on http://$${HOST:-127.0.0.1}:$${PORT:-5000}/ (logs are JSON lines)"
	exec $(VENV)/bin/gunicorn --config gunicorn.conf.py

# Flask's development server: reloads on code changes, shows tracebacks. Never in production.
dev: venv i18n-compile
	$(FLASK) --app app db upgrade
	$(FLASK) --app app run --debug --host $${HOST:-127.0.0.1} --port $${PORT:-5000}

deps:
	bash scripts/test-deps.sh

# ruff, then the documentation (a broken link or a page missing from mkdocs.yml fails),
# then the suite: TEST_WORKERS processes (pytest-xdist), each test file kept on one worker
# so its module fixtures (a live server, a browser, a seeded library) are built once; the
# slowest tests are listed at the end. TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2
test: $(TEST_STAMP) deps i18n-compile
	$(RUFF) check app tests benchmarks
	$(MKDOCS) build --strict --quiet --site-dir build/site
	$(PYTHON) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=20

# The documentation site (docs/, mkdocs.yml): served with live reload on
# http://127.0.0.1:8000, or built into build/site/ as `make test` does.
docs: $(DOCS_STAMP)
	$(MKDOCS) serve

docs-build: $(DOCS_STAMP)
	$(MKDOCS) build --strict --site-dir build/site

# Each prints one JSON line on throwaway stores of its own (DATABASE_URL is never read);
# load.py needs PostgreSQL (TEST_DATABASE_URL or 127.0.0.1:5432); serve.py (wrk,
# installed by scripts/bench-deps.sh when missing) compares `flask run` with gunicorn;
# instructions.py counts a /media request's instructions under valgrind (installed too);
# scale.py builds 10k and 1M-image libraries per engine (up to 80 min; --rows N for less).
bench: $(TEST_STAMP)
	bash scripts/bench-deps.sh
	$(PYTHON) benchmarks/purge.py
	$(PYTHON) benchmarks/load.py
	$(PYTHON) benchmarks/serve.py
	$(PYTHON) benchmarks/media.py
	$(PYTHON) benchmarks/instructions.py
	$(PYTHON) benchmarks/scale.py

# Languages (docs/languages.md): strings -> messages.pot -> each .po -> compiled .mo.
# The .po files are committed; the .mo files are built here (and in the Dockerfile).
PYBABEL := $(VENV)/bin/pybabel

i18n-extract: venv
	$(PYBABEL) -q extract -F babel.cfg -k lazy_gettext -k lazy_ngettext:1,2 \
		--project Papelera --no-location --sort-output -o translations/messages.pot .

i18n-update: i18n-extract
	$(PYBABEL) -q update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete \
		--ignore-pot-creation-date

i18n-compile: venv
	$(PYBABEL) -q compile -d translations

lint: $(TEST_STAMP)
	$(RUFF) check app tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info build dist
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Refresh the README's screenshots (docs/screenshots/) from the browser suite.
screenshots: $(TEST_STAMP) deps i18n-compile
	UPDATE_README_SCREENSHOTS=1 $(PYTHON) -m pytest -q tests/e2e/test_pages_a11y.py -k readme_screenshots
