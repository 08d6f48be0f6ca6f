"""The three switches every delete endpoint understands, parsed strictly."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from app.errors import BadRequest

SWITCHES = ("permanent", "dry_run", "force")


@dataclass(frozen=True)
class Options:
    permanent: bool = False
    dry_run: bool = False
    force: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def parse_switch(args, name: str) -> bool:
    raw = args.get(name)
    if raw is None:
        return False
    if raw in ("true", "false"):
        return raw == "true"
    raise BadRequest(f"The option {name} must be true or false, got {raw!r}.",
                     code="invalid_option", option=name)


def parse_options(args, *, soft: bool, allow_permanent: bool) -> Options:
    values = {name: parse_switch(args, name) for name in SWITCHES}
    if values["permanent"] and not allow_permanent:
        raise BadRequest("This endpoint does not offer permanent=true.", code="invalid_option",
                         option="permanent")
    if not soft:
        values["permanent"] = True  # a hard-only endpoint is permanent by definition
    return Options(**values)
