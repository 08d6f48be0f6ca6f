"""``flask purge [--dry-run] [--older-than DAYS] [--allow-mass-sweep] [--batch-size N]``."""

from __future__ import annotations

import sys
import time

import click
from flask.cli import with_appcontext

from app.core.db import utcnow
from app.core.errors import InstallationMismatch
from app.core.i18n import filesize
from app.purge.service import PurgeRunning, purge_expired


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would be purged; change nothing.")
@click.option("--older-than", "older_than", type=click.IntRange(min=0), metavar="DAYS",
              help="Only items trashed at least DAYS ago (never before their purge date).")
@click.option("--batch-size", type=click.IntRange(1, 100_000), metavar="N",
              help="Images per batch (default PURGE_BATCH_SIZE).")
@click.option("--allow-mass-sweep", is_flag=True,
              help="Let the orphan sweep trash more than PURGE_MAX_SWEEP_SHARE of owners or "
                   "images (after checking MONGO_URI).")
@with_appcontext
def purge_command(dry_run: bool, older_than: int | None, batch_size: int | None,
                  allow_mass_sweep: bool) -> None:
    """Purge expired trash now: database rows, originals and thumbnails."""
    now = utcnow()
    try:
        _purge(now, dry_run, older_than, batch_size, allow_mass_sweep)
    except InstallationMismatch as error:
        raise click.ClickException(f"Nothing was purged: {error.message}") from None


def _purge(now, dry_run: bool, older_than: int | None, batch_size: int | None,
           allow_mass_sweep: bool) -> None:
    if dry_run:
        report = purge_expired(now=now, dry_run=True, older_than_days=older_than,
                               trigger="cli")
        click.echo(f"Dry run: {report.images} image(s), {report.objects} object(s), "
                   f"{filesize(report.bytes)} would be purged. Nothing was changed.")
        return
    started = time.monotonic()
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=max(total, 1), label="Purging", file=sys.stderr,
                                    show_pos=True)
            bar.__enter__()
        if total > bar.length:
            bar.length = total
        bar.update(done - bar.pos)

    try:
        report = purge_expired(now=now, batch_size=batch_size, older_than_days=older_than,
                               trigger="cli", progress=progress,
                               allow_mass_sweep=allow_mass_sweep)
    except PurgeRunning as error:
        holder = error.extra.get("holder")
        detail = f" (held by {holder} since {error.extra.get('since')})" if holder else ""
        raise click.ClickException(f"A purge is already running{detail}.") from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    took = time.monotonic() - started
    click.echo(f"Run {report.run_id} {report.status}: purged {report.deleted} image(s), "
               f"freed {filesize(report.bytes_freed)}, {report.errors} error(s), "
               f"{report.remaining} remaining, in {took:.1f} s.")
    for message in report.error_messages[:10]:
        click.echo(f"  {message}", err=True)
    if report.status == "failed":
        sys.exit(1)
