"""Passkeys on the demo page, in real Chromium with its virtual authenticator
(the DevTools WebAuthn domain, through Playwright's CDP session): add one,
sign out, sign in with it and no password, rename it, remove it; and a
passkey as the second factor after the password.

WebAuthn needs a secure context and a host name for its relying party:
the page is opened at http://localhost (not 127.0.0.1), and the service, in
development settings, takes the relying party from the request's host.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.real.browser.conftest import Shots
from tests.real.browser.demo import expect_signed_in, expect_signed_out, log_in, notice, register
from tests.real.services import Gunicorn

USER = {"username": "cleo", "email": "cleo@example.com", "password": "pa55word!"}


def virtual_authenticator(context: Any, page: Any) -> tuple[Any, str]:
    """A platform authenticator that holds discoverable credentials and
    verifies its user (as a phone's screen lock would), with no prompt."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def test_add_sign_in_with_rename_and_remove_a_passkey(
    context: Any, service: Gunicorn, shots: Shots
) -> None:
    page = context.new_page()
    cdp, authenticator = virtual_authenticator(context, page)
    base = f"http://localhost:{service.port}"
    page.goto(base + "/")
    expect_signed_out(page)
    assert page.evaluate("window.isSecureContext") is True

    register(page, **USER)
    expect(page.locator("#register-form .message")).to_contain_text("Account created for cleo.")
    log_in(page, USER["username"], USER["password"])
    expect_signed_in(page, "cleo")
    section = page.locator("#passkeys-section")
    expect(section.get_by_role("heading", name="Passkeys")).to_be_visible()
    expect(page.locator("#passkeys-list")).to_have_text("No passkey yet.")

    # Add one: the password, then the authenticator makes the credential.
    section.get_by_label("Name for a new passkey").fill("Laptop")
    section.get_by_label("Your password (to add or remove a passkey)").fill(USER["password"])
    section.get_by_role("button", name="Add a passkey").click()
    expect(section.locator(".message")).to_have_text(
        "Passkey “Laptop” added. Other sessions were signed out."
    )
    expect(page.locator("#passkeys-list tr")).to_have_count(1)
    expect(page.get_by_label("Name of passkey Laptop")).to_have_value("Laptop")
    expect(page.locator('#events-list tr[data-type="passkey_added"]')).to_have_count(1)
    [credential] = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})[
        "credentials"
    ]
    assert credential["isResidentCredential"] is True
    assert credential["rpId"] == "localhost"
    shots.take(page, "passkey-added")

    # Sign out, then back in with the passkey alone.
    page.locator("#me-panel").get_by_role("button", name="Log out").click()
    expect_signed_out(page)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(notice(page)).to_have_text("Signed in with a passkey as cleo.")
    expect_signed_in(page, "cleo")
    expect(page.locator("#passkeys-list tr td").nth(2)).not_to_have_text("never")
    signed_in = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert signed_in["credentials"][0]["signCount"] >= 1
    shots.take(page, "signed-in-with-passkey")

    # Rename it.
    page.get_by_label("Name of passkey Laptop").fill("Work laptop")
    page.locator("#passkeys-list").get_by_role("button", name="Rename").click()
    expect(section.locator(".message")).to_have_text("Passkey renamed to “Work laptop”.")
    expect(page.get_by_label("Name of passkey Work laptop")).to_have_value("Work laptop")

    # Removing needs the password: a wrong one keeps it.
    password = section.get_by_label("Your password (to add or remove a passkey)")
    password.fill("not-my-password")
    page.get_by_role("button", name="Remove passkey Work laptop").click()
    expect(section.locator(".message")).to_have_text("Password is incorrect")
    expect(page.locator("#passkeys-list tr")).to_have_count(1)
    password.fill(USER["password"])
    page.get_by_role("button", name="Remove passkey Work laptop").click()
    expect(section.locator(".message")).to_have_text(
        "Passkey removed. Other sessions were signed out."
    )
    expect(page.locator("#passkeys-list")).to_have_text("No passkey yet.")
    shots.take(page, "passkey-removed")

    # The authenticator still holds the credential; the service no longer knows it.
    page.locator("#me-panel").get_by_role("button", name="Log out").click()
    expect_signed_out(page)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.locator("#passkey-signin-section .message")).to_have_text("Invalid passkey")
    expect_signed_out(page)
    shots.take(page, "removed-passkey-refused")


def test_password_then_passkey_as_the_second_factor(
    context: Any, service: Gunicorn, shots: Shots
) -> None:
    page = context.new_page()
    cdp, authenticator = virtual_authenticator(context, page)
    base = f"http://localhost:{service.port}"
    page.goto(base + "/")
    expect_signed_out(page)

    register(page, **USER)
    expect(page.locator("#register-form .message")).to_contain_text("Account created for cleo.")
    log_in(page, USER["username"], USER["password"])
    expect_signed_in(page, "cleo")
    section = page.locator("#passkeys-section")
    section.get_by_label("Your password (to add or remove a passkey)").fill(USER["password"])
    section.get_by_role("button", name="Add a passkey").click()
    expect(section.locator(".message")).to_have_text(
        "Passkey “Passkey” added. Other sessions were signed out."
    )
    page.locator("#me-panel").get_by_role("button", name="Log out").click()
    expect_signed_out(page)

    # The right password alone: the second step, and no session yet.
    log_in(page, USER["email"], USER["password"])
    second_step = page.locator("#second-step-form")
    expect(second_step).to_be_visible()
    use_passkey = second_step.get_by_role("button", name="Use a passkey")
    expect(use_passkey).to_be_visible()
    assert page.request.get(base + "/api/auth/me").status == 401
    expect(page.locator("body")).to_have_attribute("data-state", "signed-out")
    shots.take(page, "second-step-passkey")

    # An assertion the server refuses (a bogus signature): said on the form, in text.
    cdp.send(
        "WebAuthn.setResponseOverrideBits",
        {"authenticatorId": authenticator, "isBogusSignature": True},
    )
    use_passkey.click()
    expect(second_step.locator(".message")).to_have_text("Invalid code")
    expect(second_step).to_be_visible()
    assert page.request.get(base + "/api/auth/me").status == 401
    cdp.send(
        "WebAuthn.setResponseOverrideBits",
        {"authenticatorId": authenticator, "isBogusSignature": False},
    )

    # The passkey finishes the login as a code would.
    use_passkey.click()
    expect(notice(page)).to_have_text("Logged in as cleo.")
    expect_signed_in(page, "cleo")
    expect(second_step).to_be_hidden()
    me = page.request.get(base + "/api/auth/me")
    assert me.status == 200
    assert me.json()["username"] == "cleo"
    [credential] = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})[
        "credentials"
    ]
    assert credential["signCount"] >= 1
    shots.take(page, "signed-in-with-password-and-passkey")
