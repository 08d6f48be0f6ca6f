"""What a ``@delete_endpoint`` declares (``EndpointSpec``), and every declared view, read
back from the URL map: no list to keep in sync."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.deletion.options import Options

DRY_RUN_PARTIAL = "deletion/_dry_run.html#summary"


@dataclass(frozen=True)
class EndpointSpec:
    """One destructive endpoint, declared once: the registry and the OpenAPI document
    read it, and the delete pipeline (``app.deletion.pipeline``) runs it.

    - ``resource``: the audit ``target_type`` and the registry's key.
    - ``load(actor, **view_args)`` returns the target (with ``id`` and ``etag``) or raises.
    - ``protect(actor, target, options)`` raises Forbidden/Conflict for refused actions.
    - ``preview(target, options)`` returns the dry run's ``consequences``.
    - ``soft``: the default action is soft; ``?permanent=true`` asks for hard. A route
      with ``soft=False`` always deletes for good; ``allow_permanent=False`` refuses
      ``?permanent=true``.
    - ``confirm``: the required X-Confirm-Delete value, ``callable(target, options)``,
      or None for actions that need no confirmation (restore, activate).
    - ``roles``: e.g. ``("admin",)``, or a callable ``(actor) -> bool``; None: anyone
      signed in.
    - ``status_code``: 200 with a body, or 204 (a dry run always answers 200).
    - ``partial``: ``"template.html#block"``; makes this a page route answering htmx.
    - ``dry_run_partial``: the block a page-face dry run answers with.
    - ``action``: the audit action name, or ``callable(options)``; by default
      ``permanent_delete`` or ``soft_delete``.
    - ``outside_sql``: the action writes outside SQL (the object store, the user store),
      so it cannot share a transaction with its audit event (bool, or
      ``callable(options)``; see ``app.deletion.pipeline``).
    - ``params``: query parameters the route reads besides the switches (e.g. ``ids``);
      any other parameter is 400 ``invalid_option``.
    """

    resource: str
    description: str = ""
    load: Callable | None = field(default=None, repr=False, compare=False)
    soft: bool = True
    allow_permanent: bool = True
    confirm: Any = "yes"
    roles: Any = None
    status_code: int = 200
    partial: str | None = None
    dry_run_partial: str = DRY_RUN_PARTIAL
    protect: Callable | None = field(default=None, repr=False, compare=False)
    preview: Callable | None = field(default=None, repr=False, compare=False)
    action: Any = None
    outside_sql: bool | Callable = False
    params: tuple[str, ...] = ()

    @classmethod
    def declare(cls, base: EndpointSpec | None = None, **fields) -> EndpointSpec:
        """A spec from keywords, or ``base`` with some of them replaced."""
        if "params" in fields:
            fields["params"] = tuple(fields["params"])
        spec = cls(**fields) if base is None else dataclasses.replace(base, **fields)
        if spec.load is None or not spec.description:
            raise TypeError(f"@delete_endpoint for {spec.resource!r} needs load and "
                            "description")
        return spec

    def action_name(self, options) -> str:
        """The audit action; ``options`` is None before they are parsed."""
        if callable(self.action):
            return self.action(options or Options())
        if self.action:
            return self.action
        return "permanent_delete" if options and options.permanent else "soft_delete"

    def reaches_outside_sql(self, options) -> bool:
        return bool(self.outside_sql(options) if callable(self.outside_sql)
                    else self.outside_sql)

    def expected_confirmation(self, target, options) -> str | None:
        return self.confirm(target, options) if callable(self.confirm) else self.confirm

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
