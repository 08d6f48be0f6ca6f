VENV   := .venv
PYTHON := $(VENV)/bin/python
FLASK  := $(VENV)/bin/flask
RUFF   := $(VENV)/bin/ruff
STAMP  := $(VENV)/.installed

.PHONY: screenshots venv run dev test deps bench lint clean i18n-extract i18n-update i18n-compile

venv: $(STAMP)

$(PYTHON):
	python3 -m venv $(VENV)

# Reinstall only when pyproject.toml changes, so repeated runs are quick.
$(STAMP): pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install -q -e '.[test,dev]'
	touch $@

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

test: venv deps i18n-compile
	$(RUFF) check app tests benchmarks
	$(PYTHON) -m pytest -q

# Each prints one JSON line on throwaway stores of its own (DATABASE_URL is never read);
# load.py needs PostgreSQL (TEST_DATABASE_URL or 127.0.0.1:5432); serve.py (wrk,
# installed by scripts/bench-deps.sh when missing) compares `flask run` with gunicorn.
bench: venv
	bash scripts/bench-deps.sh
	$(PYTHON) benchmarks/purge.py
	$(PYTHON) benchmarks/load.py
	$(PYTHON) benchmarks/serve.py
	$(PYTHON) benchmarks/media.py

# Languages (README "Languages"): strings -> messages.pot -> each .po -> compiled .mo.
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

lint: venv
	$(RUFF) check app tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info build dist
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Refresh the README's screenshots (docs/screenshots/) from the browser suite.
screenshots: venv deps i18n-compile
	UPDATE_README_SCREENSHOTS=1 $(PYTHON) -m pytest -q tests/e2e/test_pages_a11y.py -k readme_screenshots
