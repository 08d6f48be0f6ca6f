"""``flask audit verify``: exit non-zero when the chain was altered or cut."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.audit.service import chain_head, parse_anchor, verify_chain

audit_cli = AppGroup("audit", help="Inspect the audit log.")


def _anchor(ctx, param, values):
    try:
        return dict(parse_anchor(value) for value in values)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@audit_cli.command("head")
def head_command():
    """Print the newest event as <id>:<hash>, an anchor to keep outside the database."""
    head = chain_head()
    click.echo(f"{head[0]}:{head[1]}" if head else "the audit log is empty")


@audit_cli.command("verify")
@click.option("--anchor", "anchors", multiple=True, callback=_anchor, metavar="ID:HASH",
              help="An earlier `flask audit head` (or a logged `audit head`); repeatable.")
def verify_command(anchors):
    """Check every event's hash and link, and that the chain still passes through each
    anchor; exit 1 on any break."""
    result = verify_chain(anchors=anchors)
    for problem in result.problems:
        click.echo(f"BROKEN: {problem}", err=True)
    if not result.ok:
        click.echo(f"audit chain BROKEN ({len(result.problems)} problem(s), "
                   f"{result.checked} events read)", err=True)
        raise SystemExit(1)
    click.echo(f"audit chain OK: {result.checked} events verified")
