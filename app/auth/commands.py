"""Operator commands: ``flask --app wsgi sessions list|revoke EMAIL`` and
``flask --app wsgi users delete EMAIL``.

For a compromised account: see where it is logged in, and end every session
at once (or one, by its handle), from any host that reaches Redis. Sessions
carry a snapshot of their user, so an account is deleted here, where its
sessions end with it, not by hand in the database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import click
from flask import current_app
from flask.cli import AppGroup

from app.auth.schemas import normalize_email
from app.auth.service import find_by_email
from app.auth.session_store import SessionStore
from app.extensions import db
from app.models import User

sessions_cli = AppGroup("sessions", help="See and end the sessions of an account.")
users_cli = AppGroup("users", help="Manage accounts.")


def _store() -> SessionStore:
    return cast(SessionStore, current_app.session_interface.store)  # type: ignore[attr-defined]


def _user(email: str) -> User:
    try:
        user = find_by_email(normalize_email(email))
    except Exception as error:  # a ValidationError from normalize_email
        raise click.ClickException(f"not an email address: {email}") from error
    if user is None:
        raise click.ClickException(f"no account with email {email}")
    return user


def _when(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@sessions_cli.command("list")
@click.argument("email")
def list_sessions(email: str) -> None:
    """List the live sessions of the account with EMAIL."""
    user = _user(email)
    store = _store()
    found = store.list(user.id)
    for info in found:
        click.echo(
            f"{store.handle(info.ref)}  {info.kind:<6}  created {_when(info.created_at)}  "
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
    store = _store()
    if handle is not None:
        if store.revoke(user.id, handle) is None:
            raise click.ClickException(f"no live session {handle} for {user.email}")
        click.echo(f"ended session {handle} of {user.email} (user {user.id})")
        return
    ended = store.revoke_all(user.id)
    click.echo(f"ended {ended} session(s) of {user.email} (user {user.id})")


@users_cli.command("delete")
@click.argument("email")
@click.confirmation_option(prompt="Delete this account and end its sessions?")
def delete_user(email: str) -> None:
    """Delete the account with EMAIL and end every session of it at once."""
    user = _user(email)
    user_id, address = user.id, user.email
    # The row first: once it is gone no new login can start a session,
    # so ending the sessions afterwards leaves none behind.
    db.session.delete(user)
    db.session.commit()
    ended = _store().revoke_all(user_id)
    click.echo(f"deleted user {user_id} ({address}) and ended {ended} session(s)")
