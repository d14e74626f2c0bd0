"""TOTP on the demo page, in real Chromium: turn it on with the key the page
shows (codes computed here with pyotp, from the real clock), log in with
password and code, see a used code refused, log in with a recovery code,
turn it off."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
from playwright.sync_api import expect

from tests.real.browser.conftest import Shots
from tests.real.browser.demo import expect_signed_in, expect_signed_out, log_in, register
from tests.real.services import Gunicorn

USER = {"username": "cleo", "email": "cleo@example.com", "password": "pa55word!"}


def log_out(page: Any) -> None:
    page.locator("#me-panel").get_by_role("button", name="Log out").click()
    expect_signed_out(page)


def second_step(page: Any, code: str) -> Any:
    form = page.locator("#second-step-form")
    expect(form).to_be_visible()
    expect(page.locator("#login-form")).to_be_hidden()
    form.get_by_label("Authentication or recovery code").fill(code)
    form.get_by_role("button", name="Verify").click()
    return form


def test_totp_on_log_in_with_a_code_then_a_recovery_code_and_off(
    context: Any, service: Gunicorn, shots: Shots
) -> None:
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{service.port}/")
    register(page, **USER)
    expect(page.locator("#register-form .message")).to_contain_text("Account created")
    log_in(page, USER["email"], USER["password"])
    expect_signed_in(page, USER["username"])

    section = page.locator("#totp-section")
    status = section.locator("#totp-status")
    expect(status).to_have_text("Off: logging in asks only for your password.")
    setup = section.locator("#totp-setup-form")
    setup.get_by_label("Password").fill(USER["password"])
    setup.get_by_role("button", name="Set up an authenticator app").click()
    key = section.locator("#totp-secret")
    expect(key).to_have_text(re.compile(r"^[A-Z2-7]{32}$"))
    expect(section.locator("#totp-qr svg")).to_be_visible()
    shots.take(page, "totp-setup")
    secret = key.text_content() or ""

    section.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    section.get_by_role("button", name="Turn on").click()
    expect(section.locator("> .message")).to_have_text(
        "Two-factor authentication is on. Your other sessions were logged out."
    )
    codes = section.locator("#recovery-codes-list li")
    expect(codes).to_have_count(10)
    recovery = codes.all_text_contents()
    assert all(re.fullmatch(r"[a-z2-7]{5}-[a-z2-7]{5}", code) for code in recovery)
    expect(status).to_contain_text("On:")
    expect(status).to_contain_text("10 recovery codes left")
    expect(page.locator('#events-list tr[data-type="totp_enabled"]')).to_have_count(1)
    shots.take(page, "totp-on")

    # Password, then a code: the next step's (the confirming one is spent).
    log_out(page)
    expect(section.locator("#recovery-codes-list li")).to_have_count(0)  # gone with the session
    log_in(page, USER["username"], USER["password"])
    code = pyotp.TOTP(secret).at(time.time() + 30)
    shots.take(page, "second-step")
    second_step(page, code)
    expect_signed_in(page, USER["username"])

    # The same code again: refused; a recovery code (typed loosely) then works.
    log_out(page)
    log_in(page, USER["email"], USER["password"])
    form = second_step(page, code)
    expect(form.locator(".message")).to_have_text("Invalid code")
    expect(page.locator("body")).to_have_attribute("data-state", "signed-out")
    shots.take(page, "code-refused")
    second_step(page, recovery[0].replace("-", "").upper())
    expect_signed_in(page, USER["username"])
    expect(status).to_contain_text("9 recovery codes left")
    expect(page.locator('#events-list tr[data-type="second_factor_failed"]')).to_have_count(1)

    # The used recovery code is refused too.
    log_out(page)
    log_in(page, USER["email"], USER["password"])
    form = second_step(page, recovery[0])
    expect(form.locator(".message")).to_have_text("Invalid code")
    second_step(page, recovery[1])
    expect_signed_in(page, USER["username"])

    # Off, with the password: logging in is the password alone again.
    disable = section.locator("#totp-disable-form")
    disable.get_by_label("Password").fill(USER["password"])
    disable.get_by_role("button", name="Turn off").click()
    expect(section.locator("> .message")).to_have_text(
        "Two-factor authentication disabled. Your other sessions were logged out."
    )
    expect(status).to_have_text("Off: logging in asks only for your password.")
    shots.take(page, "totp-off")
    log_out(page)
    log_in(page, USER["email"], USER["password"])
    expect_signed_in(page, USER["username"])
    expect(page.locator("#second-step-form")).to_be_hidden()
