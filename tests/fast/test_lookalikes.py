"""Look-alike identities cannot register beside the account they imitate.

The rule (app/auth/confusables.py): usernames and email local parts are
unique by their case-folded Unicode TR39 skeleton, as well as by their
lower-cased text.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from app.auth.confusables import email_key, skeleton, username_key
from tests.conftest import API, PASSWORD

CYRILLIC_A = "\u0430"  # renders as Latin "a"
CYRILLIC_ER = "\u0440"  # renders as Latin "p"
CYRILLIC_U = "\u0443"  # renders as Latin "y"


def register(client: FlaskClient, username: str, email: str) -> Any:
    return client.post(
        f"{API}/register", json={"username": username, "email": email, "password": PASSWORD}
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("paypal", CYRILLIC_ER + CYRILLIC_A + CYRILLIC_U + CYRILLIC_ER + CYRILLIC_A + "l"),
        ("johnl", "john1"),
        ("johnl", "JohnI"),
        ("modern", "rnodern"),
        ("oops", "0ops"),
        ("a", "\u0251"),  # Latin small alpha
    ],
)
def test_confusable_strings_share_a_skeleton(first: str, second: str) -> None:
    assert first != second
    assert skeleton(first).casefold() == skeleton(second).casefold()


@pytest.mark.parametrize(("first", "second"), [("alice", "alicia"), ("john", "joan"), ("l", "i")])
def test_different_strings_do_not(first: str, second: str) -> None:
    assert username_key(first) != username_key(second)


def test_the_domain_is_kept_apart_from_the_local_part() -> None:
    assert email_key(f"{CYRILLIC_A}nn@example.com") == email_key("ann@example.com")
    assert email_key("ann@example.com") != email_key("ann@example.org")


class TestRegistration:
    @pytest.mark.parametrize("lookalike", ["john1", "JOHNI", "iohnl", "johnI"])
    def test_a_username_lookalike_is_taken(self, client: FlaskClient, lookalike: str) -> None:
        assert register(client, "johnl", "john@example.com").status_code == 201
        response = register(client, lookalike, "other@example.com")
        if username_key(lookalike) == username_key("johnl"):
            assert response.status_code == 400
            assert response.json == {"detail": "Username already taken"}
        else:  # "iohnl": an i is not an l
            assert response.status_code == 201

    @pytest.mark.parametrize(
        "lookalike",
        [f"{CYRILLIC_A}nn@example.com", "ANN@example.com", f"{CYRILLIC_A.upper()}nn@Example.com"],
    )
    def test_an_email_lookalike_is_taken(self, client: FlaskClient, lookalike: str) -> None:
        assert register(client, "ann", "ann@example.com").status_code == 201
        response = register(client, "ann2", lookalike)
        assert response.status_code == 400
        assert response.json == {"detail": "Email already registered"}

    def test_the_same_local_part_at_another_domain_is_free(self, client: FlaskClient) -> None:
        assert register(client, "ann", "ann@example.com").status_code == 201
        assert register(client, "ann2", "ann@example.org").status_code == 201

    def test_distinct_names_register(self, client: FlaskClient) -> None:
        for name in ("alice", "alicia", "bob", "rob", "modem"):
            assert register(client, name, f"{name}@example.com").status_code == 201
