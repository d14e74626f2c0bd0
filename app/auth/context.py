"""The use cases' collaborators, built once per process by ``create_app``
and kept in ``app.extensions``: one accessor each, so services name what
they use and tests can find what to inspect."""

from __future__ import annotations

from typing import Any, cast

from flask import current_app

from app.auth.admission import PasswordWork
from app.auth.challenge_store import ChallengeStore
from app.auth.event_store import EventStore
from app.auth.passwords import Hasher
from app.auth.secret_box import SecretBox
from app.auth.session_store import SessionStore
from app.auth.token_store import TokenStore
from app.throttle import Throttle


def _get(name: str) -> Any:
    return current_app.extensions[name]


def hasher() -> Hasher:
    return cast(Hasher, _get("password_hasher"))


def password_work() -> PasswordWork:
    return cast(PasswordWork, _get("password_work"))


def throttle() -> Throttle:
    return cast(Throttle, _get("throttle"))


def sessions() -> SessionStore:
    return cast(SessionStore, _get("session_store"))


def tokens() -> TokenStore:
    return cast(TokenStore, _get("token_store"))


def events() -> EventStore:
    return cast(EventStore, _get("event_store"))


def secret_box() -> SecretBox:
    return cast(SecretBox, _get("secret_box"))


def challenges() -> ChallengeStore:
    return cast(ChallengeStore, _get("challenge_store"))
