"""The three switches every delete endpoint understands, parsed strictly.

Strict means: each switch is ``true`` or ``false``, given at most once, and the query holds
nothing the route has not declared. A proxy that reads the last of two values, or a client
that misspells ``dry_run``, must meet a 400, never the irreversible action.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from flask_babel import gettext

from app.core.errors import BadRequest

SWITCHES = ("permanent", "dry_run", "force")


@dataclass(frozen=True)
class Options:
    permanent: bool = False
    dry_run: bool = False
    force: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def _invalid(message: str, name: str) -> BadRequest:
    return BadRequest(message, code="invalid_option", option=name[:64])


def parse_switch(args, name: str) -> bool:
    values = args.getlist(name)
    if not values:
        return False
    if len(values) > 1:
        raise _invalid(gettext("The option %(name)s was given %(num)d times; give it once.",
                               name=name, num=len(values)), name)
    raw = values[0]
    if raw in ("true", "false"):
        return raw == "true"
    raise _invalid(gettext("The option %(name)s must be true or false, got %(value)s.",
                           name=name, value=repr(raw[:64])), name)


def check_known(args, params: tuple[str, ...] = ()) -> None:
    """Refuse any query parameter that is neither a switch nor declared by the route."""
    for name in args:
        if name not in SWITCHES and name not in params:
            allowed = ", ".join((*SWITCHES, *params))
            raise _invalid(gettext("This endpoint takes no option %(name)s (it takes "
                                   "%(allowed)s).", name=repr(name[:64]), allowed=allowed),
                           name)


def parse_options(args, *, soft: bool, allow_permanent: bool,
                  params: tuple[str, ...] = ()) -> Options:
    check_known(args, params)
    values = {name: parse_switch(args, name) for name in SWITCHES}
    if values["permanent"] and not allow_permanent:
        raise _invalid(gettext("This endpoint does not offer permanent=true."), "permanent")
    if not soft:
        if "permanent" in args and not values["permanent"]:
            raise _invalid(gettext("This endpoint always deletes for good: permanent=false "
                                   "cannot be honoured."), "permanent")
        values["permanent"] = True  # a hard-only endpoint is permanent by definition
    return Options(**values)
