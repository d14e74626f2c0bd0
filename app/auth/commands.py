"""Operator commands: ``flask --app wsgi sessions list|revoke EMAIL`` and
``flask --app wsgi users delete EMAIL``.

For a compromised account: see where it is logged in, and end every session
at once (or one, by its handle), from any host that reaches Redis. Sessions
carry a snapshot of their user, so an account is deleted here, where its
sessions end with it, not by hand in the database.
"""

from __future__ import annotations

from datetime import datetime

import click
from flask.cli import AppGroup

from app.auth import service
from app.auth.schemas import normalize_email
from app.exceptions import SessionNotFound
from app.models import User

sessions_cli = AppGroup("sessions", help="See and end the sessions of an account.")
users_cli = AppGroup("users", help="Manage accounts.")


def _user(email: str) -> User:
    try:
        user = service.find_by_email(normalize_email(email))
    except Exception as error:  # a ValidationError from normalize_email
        raise click.ClickException(f"not an email address: {email}") from error
    if user is None:
        raise click.ClickException(f"no account with email {email}")
    return user


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@sessions_cli.command("list")
@click.argument("email")
def list_sessions(email: str) -> None:
    """List the live sessions of the account with EMAIL."""
    user = _user(email)
    found = service.sessions_of(user.id)
    for info in found:
        click.echo(
            f"{info.id}  {info.kind:<6}  created {_when(info.created_at)}  "
            f"last seen {_when(info.last_seen_at)}  expires {_when(info.expires_at)}  "
            f"{info.ip or '-'}  {info.user_agent or '-'}"
        )
    click.echo(f"{len(found)} live session(s) for {user.email} (user {user.id})")


@sessions_cli.command("revoke")
@click.argument("email")
@click.option("--handle", help="End only the session with this handle (from `list`).")
def revoke_sessions(email: str, handle: str | None) -> None:
    """End every session of the account with EMAIL, at once."""
    user = _user(email)
    if handle is not None:
        try:
            service.end_session_of(user.id, handle)
        except SessionNotFound:
            raise click.ClickException(f"no live session {handle} for {user.email}") from None
        click.echo(f"ended session {handle} of {user.email} (user {user.id})")
        return
    ended = service.end_all_sessions_of(user.id)
    click.echo(f"ended {ended} session(s) of {user.email} (user {user.id})")


@users_cli.command("delete")
@click.argument("email")
@click.confirmation_option(prompt="Delete this account and end its sessions?")
def delete_user(email: str) -> None:
    """Delete the account with EMAIL and end every session of it at once."""
    user = _user(email)
    user_id, address = user.id, user.email
    ended = service.delete_user(user_id)
    click.echo(f"deleted user {user_id} ({address}) and ended {ended} session(s)")
