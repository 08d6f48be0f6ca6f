"""``flask audit verify``: exit non-zero when the chain was altered or cut."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.audit.service import verify_chain

audit_cli = AppGroup("audit", help="Inspect the audit log.")


@audit_cli.command("verify")
def verify_command():
    """Check every event's hash and link; exit 1 on any break."""
    result = verify_chain()
    for problem in result.problems:
        click.echo(f"BROKEN: {problem}", err=True)
    if not result.ok:
        click.echo(f"audit chain BROKEN ({len(result.problems)} problem(s), "
                   f"{result.checked} events read)", err=True)
        raise SystemExit(1)
    click.echo(f"audit chain OK: {result.checked} events verified")
