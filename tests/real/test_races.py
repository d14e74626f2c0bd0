"""12 registrations racing for one email (or one username in other cases):
exactly one 201, the others 400, never a 5xx — on PostgreSQL and on SQLite."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tests.real.conftest import flask_db_upgrade
from tests.real.services import Gunicorn, Reply

RACERS = 12


def race(server: Gunicorn, bodies: list[dict[str, str]]) -> list[Reply]:
    start = threading.Barrier(len(bodies))
    replies: list[Reply] = []
    lock = threading.Lock()

    def register(body: dict[str, str]) -> None:
        start.wait()
        reply = server.call("POST", "/api/auth/register", body, timeout=30)
        with lock:
            replies.append(reply)

    threads = [threading.Thread(target=register, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return replies


SAME_EMAIL = [
    {"username": f"racer{i}", "email": "Same@Example.com" if i % 2 else "same@example.com",
     "password": "pa55word!"}
    for i in range(RACERS)
]  # fmt: skip
CASES = ["racer", "RACER", "Racer", "rAcEr"]
SAME_USERNAME = [
    {"username": CASES[i % len(CASES)], "email": f"racer{i}@example.com", "password": "pa55word!"}
    for i in range(RACERS)
]


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'race.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_database")("race")
    flask_db_upgrade(url)
    return url


@pytest.mark.parametrize(
    ("bodies", "detail"),
    [(SAME_EMAIL, "Email already registered"), (SAME_USERNAME, "Username already taken")],
    ids=["same-email", "same-username-other-case"],
)
def test_exactly_one_wins(
    make_gunicorn: Any,
    gunicorn_env: dict[str, str],
    database_url: str,
    bodies: list[dict[str, str]],
    detail: str,
) -> None:
    # 4 workers x 4 threads: all twelve requests are in flight at once.
    server = make_gunicorn(
        {**gunicorn_env, "DATABASE_URL": database_url, "WEB_CONCURRENCY": "4",
         "GUNICORN_THREADS": "4"}
    )  # fmt: skip
    server.start()
    replies = race(server, bodies)
    statuses = sorted(reply.status for reply in replies)
    assert statuses == [201] + [400] * (RACERS - 1), [r.body for r in replies]
    assert {reply.body["detail"] for reply in replies if reply.status == 400} == {detail}
    # Probe: only one account exists for the contested value.
    winner = next(reply.body for reply in replies if reply.status == 201)
    token = server.call(
        "POST", "/api/auth/token", {"email": winner["email"], "password": "pa55word!"}
    )
    assert token.status == 200
