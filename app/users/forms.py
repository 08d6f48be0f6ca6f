"""Form helpers: a shim for select choices across WTForms versions, the password rule."""

from __future__ import annotations

from wtforms.validators import StopValidation

from app.auth.passwords import password_problem

try:  # WTForms 3.3+: tuples are deprecated (a warning, an error under pytest)
    from wtforms.fields.choices import SelectChoice as _SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    _SelectChoice = None


def choice(value: str, label: str):
    """One option of a SelectField, in the form this WTForms version wants."""
    return _SelectChoice(value, label) if _SelectChoice else (value, label)


class StrongPassword:
    """The one password rule (``app.auth.passwords.password_problem``) as a form validator.

    ``whose(form)`` gives the (username, e-mail) the password must not be or lean on."""

    def __init__(self, whose):
        self.whose = whose

    def __call__(self, form, field) -> None:
        username, email = self.whose(form)
        problem = password_problem(field.data, username=username or "", email=email or "")
        if problem:
            raise StopValidation(problem)
