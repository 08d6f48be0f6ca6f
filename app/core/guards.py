"""Checks every destructive action must pass, declared by the capabilities that own them.

The deletion plug-in knows no resource and no capability: it runs whatever was
registered here (today: the installation check, ``app.installation``) before it loads a
target. A guard raises a domain error to refuse.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app

_KEY = "papelera.destructive_guards"


def register_destructive_guard(app, guard: Callable[[], None]) -> None:
    guards = app.extensions.setdefault(_KEY, [])
    if guard not in guards:
        guards.append(guard)


def check_destructive_guards() -> None:
    for guard in current_app.extensions.get(_KEY, ()):
        guard()
