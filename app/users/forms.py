"""A compatibility shim for select choices across WTForms versions."""

from __future__ import annotations

try:  # WTForms 3.3+: tuples are deprecated (a warning, an error under pytest)
    from wtforms.fields.choices import SelectChoice as _SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    _SelectChoice = None


def choice(value: str, label: str):
    """One option of a SelectField, in the form this WTForms version wants."""
    return _SelectChoice(value, label) if _SelectChoice else (value, label)
