"""Driving the demo page as its user does: by labels, button names and what
the page shows."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect


def register(page: Any, username: str, email: str, password: str) -> None:
    form = page.locator("#register-form")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Create account").click()


def log_in(page: Any, identifier: str, password: str) -> None:
    form = page.locator("#login-form")
    form.get_by_label("Email or username").fill(identifier)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Log in", exact=True).click()


def notice(page: Any) -> Any:
    """The page-wide status line (logged in, logged out, account deleted)."""
    return page.locator("#notice")


def expect_signed_in(page: Any, username: str) -> None:
    """What the user sees once /me answered 200: the account, not the forms."""
    expect(page.locator("body")).to_have_attribute("data-state", "signed-in")
    expect(page.get_by_role("heading", name="Your account", exact=True)).to_be_visible()
    expect(page.locator('#me-details [data-key="username"]')).to_have_text(username)
    expect(page.get_by_role("heading", name="Log in", exact=True)).to_be_hidden()


def expect_signed_out(page: Any) -> None:
    """What the user sees once /me answered 401: the forms, nothing of an account."""
    expect(page.locator("body")).to_have_attribute("data-state", "signed-out")
    expect(page.get_by_role("heading", name="Log in", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Your account", exact=True)).to_be_hidden()
