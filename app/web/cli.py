"""CLI: ``flask users bootstrap|create`` and ``flask demo seed``."""

from __future__ import annotations

import io
import logging
import random
from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from app.audit import service as audit
from app.audit.cli import audit_cli
from app.core.db import utcnow
from app.core.errors import Conflict, DomainError
from app.core.uow import unit_of_work
from app.images.doctor import check_counters, examine, repair
from app.images.service import soft_delete_image, upload_image
from app.installation import (
    adopt,
    ensure_installation,
    installation_status,
    require_installation,
    schema_ready,
)
from app.media import metrics
from app.purge.cli import purge_command
from app.storage import get_storage
from app.users.repository import get_users
from app.users.service import bootstrap_founder, create_user, register_user

log = logging.getLogger(__name__)

users_cli = AppGroup("users", help="Manage users.")
demo_cli = AppGroup("demo", help="Demo data for a first look.")


def ensure_founder(app) -> None:
    """Create the founder from ADMIN_USERNAME/ADMIN_PASSWORD when no admin exists."""
    try:
        created = bootstrap_founder(get_users(), username=app.config["ADMIN_USERNAME"],
                                    password=app.config["ADMIN_PASSWORD"],
                                    email=app.config["ADMIN_EMAIL"], now=utcnow())
    except Conflict:
        return  # another worker created it a moment ago
    if created is None:
        return
    user, generated = created
    if generated:
        # Printed once: it is not stored anywhere in clear.
        click.echo(
            f"\n  Papelera created the first admin '{user.username}' with the password: "
            f"{generated}\n  Sign in and change it on the account page.\n", err=True)
    log.info("founder created", extra={"username": user.username})


@users_cli.command("bootstrap")
def bootstrap_command():
    """Create the first admin if none exists (used once by the container entrypoint)."""

    status = ensure_installation()  # the store as it is, before a founder lands in it
    if status.state == "mismatch":
        # Not an error exit: the app may still start and serve, refusing destructive work
        # and saying why on /readyz, rather than not start at all.
        click.echo(f"not creating the first admin: {status.reason}", err=True)
        return
    ensure_founder(current_app)
    click.echo("first admin present")


@users_cli.command("create")
@click.argument("username")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["user", "admin"]), default="user")
@click.password_option()
def create_command(username, email, role, password):
    """Create a user."""
    try:
        user = register_user(get_users(), audit.SYSTEM, username=username, email=email,
                             password=password, role=role, now=utcnow())
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"created {user.role} {user.username} ({user.id})")


def _demo_png(seed: int) -> bytes:
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    image = Image.new("RGB", (640, 480), tuple(rng.randrange(40, 220) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(0, 600), rng.randrange(0, 440)
        r = rng.randrange(20, 120)
        draw.ellipse((x - r, y - r, x + r, y + r),
                     fill=tuple(rng.randrange(0, 256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@demo_cli.command("seed")
@click.option("--username", default="demo")
@click.option("--password", default="demo-password")
@click.option("--images", "count", default=8, show_default=True)
def seed_command(username, password, count):
    """A demo user with a few generated images, some of them in the trash."""


    users = get_users()
    user = users.by_username(username)
    if user is None:
        user = create_user(users, username=username, email=f"{username}@example.com",
                           password=password, now=utcnow())
        click.echo(f"created user {username} with password {password}")
    config = current_app.config
    now = utcnow()
    images = []
    for n in range(count):
        images.append(upload_image(get_storage(), owner_id=user.id, file_name=f"demo-{n + 1}.png",
                                   data=_demo_png(n), max_bytes=config["MAX_UPLOAD_MB"] << 20,
                                   max_pixels=config["MAX_IMAGE_PIXELS"], now=now))
    # A few in the trash, one of them close to its purge date.
    with unit_of_work():
        for offset, image in zip((1, 12, 28), images[-3:], strict=False):
            soft_delete_image(image, actor_id=user.id,
                              retention_days=config["TRASH_RETENTION_DAYS"],
                              now=now - timedelta(days=offset))
    click.echo(f"{count} images for {username}; sign in at http://{config['HOST']}:"
               f"{config['PORT']}/login")


@click.command("doctor")
@with_appcontext
@click.option("--fix", is_flag=True, help="Delete orphan objects and rows without objects.")
@click.option("--min-age-minutes", default=60, show_default=True,
              help="Ignore objects younger than this (uploads in progress).")
@click.option("--counters", "counters_only", is_flag=True,
              help="Instead: recount the per-owner totals from the image rows and repair "
                   "any drift.")
@click.option("--dry-run", is_flag=True,
              help="With --counters: report the drift only (exit 1 if there is some).")
def doctor_command(fix, min_age_minutes, counters_only, dry_run):
    """Compare image rows with stored objects; report (and with --fix, repair) orphans.
    With --counters, check the per-owner totals against the rows instead."""


    if counters_only:
        _doctor_counters(repair=not dry_run)
        return
    if dry_run:
        raise click.UsageError("--dry-run goes with --counters (without it the doctor "
                               "only reports unless --fix is given)")
    if fix:
        try:
            require_installation()
        except DomainError as error:
            raise click.ClickException(error.message) from None
    storage, now = get_storage(), utcnow()
    report = examine(storage, now=now, min_age=timedelta(minutes=min_age_minutes))
    click.echo(f"{report.rows} image rows, {report.objects} objects")
    for key in report.orphan_objects:
        click.echo(f"orphan object (no row): {key}")
    for image_id in report.rows_missing_objects:
        click.echo(f"row without its objects: {image_id}")
    if report.healthy:
        click.echo("everything matches")
        return
    if not fix:
        click.echo(f"{len(report.orphan_objects)} orphan object(s), "
                   f"{len(report.rows_missing_objects)} row(s) without objects; "
                   "run with --fix to repair")
        raise SystemExit(1)
    repair(report, storage, now=now)
    audit.record("doctor_fix", "ok", audit.SYSTEM, target_type="storage",
                 details={"objects_deleted": report.fixed_objects,
                          "rows_deleted": report.fixed_rows})
    click.echo(f"repaired: {report.fixed_objects} object(s) and {report.fixed_rows} row(s) "
               "deleted")


def _doctor_counters(*, repair: bool) -> None:
    """``flask doctor --counters``: drift per owner and in the media totals row, repaired
    unless ``--dry-run``."""
    report = check_counters(repair=repair)
    media = metrics.totals_drift()
    click.echo(f"{report.owners} owner counter row(s) checked")
    for found in report.drift:
        changes = ", ".join(f"{name} {stored} -> {counted}"
                            for name, (stored, counted) in found.differences().items())
        click.echo(f"drift for owner {found.owner_id}: {changes}")
    if media is not None:
        click.echo("drift in the media totals: " + ", ".join(
            f"{name} {stored} -> {summed}"
            for name, (stored, summed) in media.differences().items()))
    if report.healthy and media is None:
        click.echo("every counter matches the rows")
        return
    if not repair:
        click.echo(f"{len(report.drift)} owner(s) with drift"
                   + (" and the media totals" if media is not None else "")
                   + "; run without --dry-run to repair")
        raise SystemExit(1)
    media_repaired = metrics.repair_totals() if media is not None else None
    audit.record("doctor_counters", "ok", audit.SYSTEM, target_type="counters",
                 details={"owners_repaired": len(report.repaired),
                          "owners": [d.owner_id for d in report.repaired][:100],
                          "changes": {d.owner_id: d.differences()
                                      for d in report.repaired[:100]},
                          "media_totals": media_repaired.differences()
                          if media_repaired is not None else {}})
    click.echo(f"repaired the counters of {len(report.repaired)} owner(s)"
               + (f" ({len(report.drift) - len(report.repaired)} had been right all along: "
                  "a change committed during the check)"
                  if len(report.repaired) < len(report.drift) else ""))
    if media_repaired is not None:
        click.echo("repaired the media totals")


# -- CLI -------------------------------------------------------------------------------

installation_cli = AppGroup("installation", help="The installation id shared by SQL and "
                                                 "the user store.")


@installation_cli.command("show")
def show_command():
    """Print both ids and whether they match."""
    status = installation_status()
    click.echo(f"database:   {status.sql_id or '(none)'}")
    click.echo(f"user store: {status.store_id or '(none)'}")
    click.echo(f"status:     {status.state}" + (f": {status.reason}" if status.reason else ""))
    if status.state == "mismatch":
        raise SystemExit(1)


@installation_cli.command("adopt")
@click.option("--new", is_flag=True, help="Write a new id into both instead of keeping the "
                                          "database's.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def adopt_command(new: bool, yes: bool):
    """Declare that this database and this user store belong together."""
    if not schema_ready():
        raise click.ClickException("The database schema is not there yet: run "
                                   "`flask db upgrade` first.")
    before = installation_status()
    if not yes:
        click.confirm(f"Database {before.sql_id or '(none)'}, user store "
                      f"{before.store_id or '(none)'}. Adopt this user store for this "
                      "database?", abort=True)
    value, done = adopt(new=new)
    audit.record("installation_adopt", "ok", audit.SYSTEM, target_type="installation",
                 target_id=value, details={"database_before": before.sql_id,
                                           "store_before": before.store_id, "new": new})
    click.echo(f"Adopted: {done}.")


def init_app(app) -> None:
    for group in (audit_cli, users_cli, demo_cli, doctor_command, installation_cli,
                  purge_command):
        app.cli.add_command(group)
