"""The demo page in real headless Chromium: what a browser user gets."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.conftest import SessionKeys
from tests.real.browser.conftest import Shots, StaticSite
from tests.real.browser.demo import expect_signed_in, expect_signed_out, log_in, notice, register
from tests.real.services import Gunicorn

USER = {"username": "ann", "email": "ann@example.com", "password": "pa55word!"}


def test_register_log_in_who_am_i_log_out(
    context: Any, service: Gunicorn, shots: Shots, redis: Any, key_prefix: str
) -> None:
    page = context.new_page()
    base = f"http://127.0.0.1:{service.port}"
    page.goto(base + "/")
    expect(page).to_have_title("Auth service — demo")
    expect_signed_out(page)
    shots.take(page, "empty")

    register(page, **USER)
    expect(page.locator("#register-form .message")).to_have_text(
        "Account created for ann. You can log in now; a link to verify your email is on its way."
    )
    shots.take(page, "registered")

    log_in(page, USER["email"], USER["password"])
    expect(notice(page)).to_have_text("Logged in as ann.")
    expect_signed_in(page, "ann")
    shots.take(page, "logged-in")

    # The session lives only in the HttpOnly cookie: invisible to scripts.
    assert page.evaluate("document.cookie") == ""
    [cookie] = [c for c in context.cookies() if c["name"] == "session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"
    keys = SessionKeys(redis, key_prefix)
    assert keys.exists(cookie["value"])

    panel = page.locator("#me-panel")
    panel.get_by_role("button", name="Who am I?").click()
    expect(panel.locator(".message")).to_have_text("You are ann.")
    expect(page.locator('#me-details [data-key="email"]')).to_have_text("ann@example.com")
    shots.take(page, "who-am-i")

    # A reload finds the session again: the page asks /me when it opens.
    page.reload()
    expect_signed_in(page, "ann")

    panel.get_by_role("button", name="Log out").click()
    expect(notice(page)).to_have_text("Successfully logged out")
    expect_signed_out(page)
    expect(page.locator('#me-details [data-key="email"]')).to_have_text("")  # nothing left behind
    assert not keys.exists(cookie["value"])
    assert [c for c in context.cookies() if c["name"] == "session"] == []
    shots.take(page, "logged-out")

    page.reload()
    expect_signed_out(page)
    assert page.request.get(base + "/api/auth/me").status == 401

    # A stolen copy of the old cookie, set back by hand, is dead too.
    context.add_cookies([{k: cookie[k] for k in ("name", "value", "domain", "path")}])
    page.reload()
    expect_signed_out(page)
    shots.take(page, "stolen-cookie")
    response = page.request.get(base + "/api/auth/me")
    assert response.status == 401


def test_validation_errors_are_shown_next_to_each_field(
    context: Any, service: Gunicorn, shots: Shots
) -> None:
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{service.port}/")
    register(page, "a b", "not-an-email", "123")
    form = page.locator("#register-form")
    expect(form.locator('.field-error[data-field="email"]')).to_have_text(
        "value is not a valid email address"
    )
    expect(form.locator('.field-error[data-field="username"]')).to_contain_text(
        "may contain only letters"
    )
    expect(form.locator('.field-error[data-field="password"]')).to_have_text(
        "ensure this value has at least 6 characters"
    )
    shots.take(page, "field-errors")

    log_in(page, USER["email"], "wrong-password")
    expect(page.locator("#login-form .message")).to_have_text("Invalid email or password")
    shots.take(page, "bad-credentials")


def test_a_listed_origin_logs_in_with_credentials(
    context: Any, service: Gunicorn, sites: tuple[StaticSite, StaticSite], shots: Shots
) -> None:
    listed, _ = sites
    api = f"http://127.0.0.1:{service.port}"
    assert service.call("POST", "/api/auth/register", USER).status == 201
    page = context.new_page()
    page.goto(f"{listed.origin}/crossorigin.html?api={api}")
    login = page.evaluate("login('ann@example.com', 'pa55word!')")
    assert login["status"] == 200
    me = page.evaluate("me()")
    assert me == {"status": 200, "body": me["body"]}
    assert me["body"]["username"] == "ann"
    shots.take(page, "listed-origin")


def test_an_unlisted_origin_is_refused_and_changes_nothing(
    context: Any,
    service: Gunicorn,
    sites: tuple[StaticSite, StaticSite],
    shots: Shots,
    redis: Any,
    key_prefix: str,
) -> None:
    _, unlisted = sites
    api = f"http://127.0.0.1:{service.port}"
    assert service.call("POST", "/api/auth/register", USER).status == 201
    keys = SessionKeys(redis, key_prefix)
    before = keys.everything()
    page = context.new_page()
    page.goto(f"{unlisted.origin}/crossorigin.html?api={api}")
    login = page.evaluate("login('ann@example.com', 'pa55word!')")
    assert "Failed to fetch" in login["error"]  # the browser's CORS refusal
    me = page.evaluate("me()")
    assert "error" in me
    shots.take(page, "unlisted-origin")
    assert keys.everything() == before  # no session was created
    assert "POST /api/auth/login" not in service.log()  # the preflight stopped it
