"""One list of settings (issue 16 item 5): ``app.core.config.SETTINGS`` declares every key
with its default; the README's and docs' tables agree with it, and no code elsewhere in
``app/`` carries a default of its own (``config.get("X", default)``)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from app.core.config import ENVIRONMENT, FILE_ONLY, OBSOLETE, SETTINGS, load_settings

ROOT = Path(__file__).resolve().parent.parent
# Read by gunicorn.conf.py (and the Makefile), not by the app.
GUNICORN = {"HOST", "PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_LOG_LEVEL"}
ROW = re.compile(r"^\|\s*`(?P<name>[A-Z][A-Z0-9_]*)`\s*\|(?P<default>[^|]*)\|")


def table(path: Path, header: str) -> dict[str, str]:
    """``{name: default cell}`` of the Markdown table under ``header`` in ``path``."""
    lines = path.read_text().splitlines()
    start = lines.index(header)
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        match = ROW.match(line)
        assert match, f"{path.name}: a row without a `NAME` in its first cell: {line}"
        rows[match["name"]] = match["default"].strip()
    return rows


def stated_default(cell: str) -> str | None:
    """What a Default cell states: its leading `value`, "—" for none, or None when it
    says something in words ("generated", "two per core")."""
    if cell == "—":
        return "—"
    match = re.match(r"`([^`]*)`", cell)
    return match[1] if match else None


ENV_SETTINGS = {s.variable: s for s in SETTINGS if s.variable}
DOCUMENTS = [(ROOT / "README.md", "| Variable | Default | Meaning |"),
             (ROOT / "docs" / "configuration.md", "| Variable | Default | Meaning |")]


def test_the_settings_table_declares_each_key_once():
    keys = [s.key for s in SETTINGS]
    assert len(keys) == len(set(keys))
    variables = [s.variable for s in SETTINGS if s.variable]
    assert len(variables) == len(set(variables))
    assert all(s.variable for s in ENVIRONMENT) and not any(s.variable for s in FILE_ONLY)
    assert all(s.meaning and "\n" not in s.meaning for s in SETTINGS)
    assert not set(OBSOLETE) & (set(keys) | set(variables))


def test_load_settings_sets_every_key_of_the_table(tmp_path):
    assert set(load_settings({"PAPELERA_INSTANCE": str(tmp_path)})) == {s.key for s in SETTINGS}


@pytest.mark.parametrize("path,header", DOCUMENTS, ids=lambda v: getattr(v, "name", ""))
def test_the_variables_table_lists_every_variable_the_app_reads(path, header):
    rows = table(path, header)
    assert set(ENV_SETTINGS) - set(rows) == set(), f"missing from {path.name}"
    assert set(rows) - set(ENV_SETTINGS) - GUNICORN == set(), f"read by nothing: {path.name}"


@pytest.mark.parametrize("path,header", DOCUMENTS, ids=lambda v: getattr(v, "name", ""))
def test_the_variables_table_states_the_defaults_of_the_settings_table(path, header):
    wrong = {}
    for name, cell in table(path, header).items():
        setting, stated = ENV_SETTINGS.get(name), stated_default(cell)
        if setting is not None and stated is not None and stated != setting.default_text():
            wrong[name] = (stated, setting.default_text())
    assert wrong == {}, f"{path.name} (stated, declared)"


def test_the_instance_config_table_lists_the_keys_set_only_there():
    rows = table(ROOT / "docs" / "configuration.md", "| Key | Default | Meaning |")
    declared = {s.key: s for s in FILE_ONLY}
    assert set(rows) == set(declared)
    wrong = {name: (stated_default(cell), declared[name].default_text())
             for name, cell in rows.items()
             if stated_default(cell) not in (None, declared[name].default_text())}
    assert wrong == {}


def test_gunicorn_reads_the_variables_the_table_leaves_to_it():
    source = (ROOT / "gunicorn.conf.py").read_text()
    assert all(name in source for name in GUNICORN - {"GUNICORN_LOG_LEVEL"})


HIDDEN_DEFAULT = re.compile(r"\bconfig\.(get|setdefault)\(")


def test_no_config_read_outside_the_table_carries_a_default_of_its_own():
    """``app.config["X"]``: the default is the table's, never a second one at the read."""
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in sorted((ROOT / "app").rglob("*.py"))
             if path != ROOT / "app" / "core" / "config.py"
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if HIDDEN_DEFAULT.search(line)]
    assert found == []


@pytest.mark.parametrize("name", OBSOLETE)
def test_obsolete_variables_are_accepted_ignored_and_named_in_a_warning(tmp_path, caplog, name):
    with caplog.at_level(logging.WARNING, logger="app.core.config"):
        settings = load_settings({"PAPELERA_INSTANCE": str(tmp_path), name: "whatever"})
    assert name not in settings
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"{name} is ignored: it is read nowhere since /media; remove it"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="app.core.config"):
        load_settings({"PAPELERA_INSTANCE": str(tmp_path)})
    assert not caplog.records
