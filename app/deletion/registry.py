"""Every decorated view, read back from the URL map: no list to keep in sync."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EndpointSpec:
    resource: str
    description: str
    soft: bool
    allow_permanent: bool
    confirm: Any
    roles: Any
    status_code: int
    partial: str | None
    dry_run_partial: str
    action: Any
    params: tuple[str, ...] = ()  # query parameters the route reads besides the switches

    @property
    def face(self) -> str:
        return "page" if self.partial else "api"

    @property
    def options(self) -> tuple[str, ...]:
        """Every query parameter the route accepts: the switches it offers, then its own."""
        switches = ["dry_run", "force"]
        if self.soft and self.allow_permanent:
            switches.append("permanent")
        return (*switches, *self.params)

    @property
    def confirm_text(self) -> str:
        if self.confirm is None:
            return "none"
        if callable(self.confirm):
            return getattr(self.confirm, "__doc__", None) or "computed from the target"
        return self.confirm

    @property
    def roles_text(self) -> str:
        if self.roles is None:
            return "any signed-in user"
        if callable(self.roles):
            return getattr(self.roles, "__doc__", None) or "custom rule"
        return ", ".join(self.roles)


@dataclass(frozen=True)
class RegisteredEndpoint:
    rule: str
    methods: tuple[str, ...]
    endpoint: str
    spec: EndpointSpec


def delete_endpoints(app) -> list[RegisteredEndpoint]:
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        spec = getattr(view, "delete_endpoint", None)
        if spec is None:
            continue
        methods = tuple(sorted(m for m in rule.methods if m not in ("HEAD", "OPTIONS")))
        found.append(RegisteredEndpoint(rule.rule, methods, rule.endpoint, spec))
    return sorted(found, key=lambda e: (e.spec.face, e.rule, e.methods))
