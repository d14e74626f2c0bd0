"""The account lifecycle on the demo page, in real Chromium, against the
production gunicorn on PostgreSQL and Redis, with its mail delivered through
a real SMTP server and its mailed links opened in the same browser.

Each test checks what the user sees and what the server says: /me, the
mails received, the sessions a bearer token or another browser holds.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from tests.real.browser.conftest import MailingService, Shots
from tests.real.browser.demo import expect_signed_in, expect_signed_out, log_in, notice, register

# Not in production's blocklist of common passwords.
USER = {"username": "bea", "email": "bea@example.com", "password": "Tulip-Harbor-42"}
NEW_PASSWORD = "Lantern-Orchard-77"


def bearer_token(site: MailingService, password: str = USER["password"]) -> dict[str, str]:
    """A session of the account outside the browser: an API client's token."""
    reply = site.server.call(
        "POST", "/api/auth/token", {"email": USER["email"], "password": password}
    )
    assert reply.status == 200, reply.body
    return {"Authorization": f"Bearer {reply.body['access_token']}"}


def me_status(site: MailingService, headers: dict[str, str]) -> int:
    return site.server.call("GET", "/api/auth/me", headers=headers).status


def me_in_browser(site: MailingService, page: Any) -> Any:
    """/me with the browser's own cookie: what the server thinks of this device."""
    return page.request.get(site.base + "/api/auth/me")


def token_of(link: str) -> str:
    [token] = parse_qs(urlsplit(link).query)["token"]
    return token


def register_by_api(site: MailingService) -> None:
    assert site.server.call("POST", "/api/auth/register", USER).status == 201


def test_the_mailed_link_verifies_the_address(
    mailing_service: MailingService, context: Any, shots: Shots
) -> None:
    site = mailing_service
    page = context.new_page()
    page.goto(site.base + "/")
    expect_signed_out(page)
    register(page, **USER)
    expect(page.locator("#register-form .message")).to_contain_text("Account created for bea.")
    first = site.mailbox.wait_for(USER["email"], "confirm your email address")
    assert first.link.startswith(site.base + "/verify-email?token=")

    log_in(page, USER["username"], USER["password"])
    expect_signed_in(page, "bea")
    expect(page.locator("#email-status")).to_have_text("not verified")
    resend = page.get_by_role("button", name="Resend verification email")
    expect(resend).to_be_visible()
    shots.take(page, "not-verified")

    resend.click()
    expect(page.locator("#me-panel .message")).to_have_text(
        "If the address is not yet verified, a new link is on its way"
    )
    second = site.mailbox.wait_for(USER["email"], "confirm your email address", count=2)
    assert token_of(second.link) != token_of(first.link)

    page.goto(second.link)
    section = page.locator("#verify-section")
    expect(section.get_by_role("heading", name="Email verification")).to_be_visible()
    expect(section.locator(".message")).to_have_text(
        "Your email address bea@example.com is verified."
    )
    expect(page).to_have_url(site.base + "/verify-email")  # the token left the address bar
    expect_signed_in(page, "bea")
    expect(page.locator("#email-status")).to_have_text("verified")
    expect(resend).to_be_hidden()
    expect(page.locator('#events-list tr[data-type="email_verified"]')).to_have_count(1)
    shots.take(page, "verified")
    assert me_in_browser(site, page).json()["email_verified"] is True

    # The link is spent: opened again, the page says so and changes nothing.
    page.goto(second.link)
    expect(section.locator(".message")).to_have_text("Invalid or expired verification token")
    expect_signed_in(page, "bea")
    shots.take(page, "link-spent")
    # The token travelled in the URL of a GET: never into the service's log.
    log = site.server.log()
    assert "GET /verify-email " in log
    assert token_of(second.link) not in log
    assert token_of(first.link) not in log


def test_forgot_password_then_reset_by_the_mailed_link(
    mailing_service: MailingService, context: Any, shots: Shots
) -> None:
    site = mailing_service
    register_by_api(site)
    api_client = bearer_token(site)  # another session, from before the reset
    assert me_status(site, api_client) == 200

    page = context.new_page()
    page.goto(site.base + "/")
    expect_signed_out(page)
    form = page.locator("#forgot-form")
    form.get_by_label("Email").fill(USER["email"])
    form.get_by_role("button", name="Email me a reset link").click()
    expect(form.locator(".message")).to_have_text(
        "If that address has an account, a reset link is on its way"
    )
    shots.take(page, "forgot")
    mail = site.mailbox.wait_for(USER["email"], "reset your password")
    assert mail.link.startswith(site.base + "/reset-password?token=")

    page.goto(mail.link)
    section = page.locator("#reset-section")
    expect(section.get_by_role("heading", name="Choose a new password")).to_be_visible()
    expect(page).to_have_url(site.base + "/reset-password")  # the token left the address bar
    expect_signed_out(page)
    shots.take(page, "choose-new-password")

    # A 422 is shown next to its field (every problem), and spends no token.
    section.get_by_label("New password").fill("abc")
    section.get_by_role("button", name="Set new password").click()
    expect(section.locator('.field-error[data-field="new_password"]')).to_have_text(
        "ensure this value has at least 6 characters; This password is too common"
    )
    section.get_by_label("New password").fill(NEW_PASSWORD)
    section.get_by_role("button", name="Set new password").click()
    expect(section.locator(".message")).to_have_text(
        "Password has been reset. Log in with your new password."
    )
    expect(section.locator('.field-error[data-field="new_password"]')).to_have_text("")
    expect(page.locator("#reset-form")).to_be_hidden()
    expect_signed_out(page)
    shots.take(page, "reset-done")

    # Every session of the account ended with the reset.
    assert me_status(site, api_client) == 401
    site.mailbox.wait_for(USER["email"], "your password was reset")

    log_in(page, USER["email"], USER["password"])
    expect(page.locator("#login-form .message")).to_have_text("Invalid email or password")
    log_in(page, USER["email"], NEW_PASSWORD)
    expect(notice(page)).to_have_text("Logged in as bea.")
    expect_signed_in(page, "bea")
    expect(page.locator('#events-list tr[data-type="password_reset"]')).to_have_count(1)
    shots.take(page, "logged-in-with-new-password")
    assert me_in_browser(site, page).status == 200

    # The link worked once: opened again, it is refused, and the form goes away.
    page.goto(mail.link)
    expect(page.locator("#reset-form")).to_be_visible()
    section.get_by_label("New password").fill("Another-Password-99")
    section.get_by_role("button", name="Set new password").click()
    expect(section.locator(".message")).to_have_text("Invalid or expired reset token")
    expect(page.locator("#reset-form")).to_be_hidden()
    assert token_of(mail.link) not in site.server.log()

    # A link cut short (no token) says so instead of offering a form that cannot work.
    page.goto(site.base + "/reset-password")
    expect(section.locator(".message")).to_have_text(
        "This link is incomplete: open the link from your email again."
    )
    expect(page.locator("#reset-form")).to_be_hidden()


def test_changing_the_password_signs_the_other_device_out(
    mailing_service: MailingService, devices: Any, shots: Shots
) -> None:
    site = mailing_service
    register_by_api(site)
    laptop, phone = devices("Laptop"), devices("Phone")
    for page in (laptop, phone):
        page.goto(site.base + "/")
        log_in(page, USER["email"], USER["password"])
        expect_signed_in(page, "bea")

    form = laptop.locator("#change-form")
    form.get_by_label("Current password").fill(USER["password"])
    form.get_by_label("New password").fill(NEW_PASSWORD)
    form.get_by_role("button", name="Change password").click()
    expect(form.locator(".message")).to_have_text("Password changed. 1 other session ended.")
    shots.take(laptop, "changed")

    phone.reload()
    expect_signed_out(phone)
    assert me_in_browser(site, phone).status == 401
    shots.take(phone, "other-device-signed-out")

    laptop.reload()
    expect_signed_in(laptop, "bea")
    assert me_in_browser(site, laptop).status == 200
    site.mailbox.wait_for(USER["email"], "your password was changed")


def test_sessions_list_ends_one_device_then_every_other(
    mailing_service: MailingService, devices: Any, shots: Shots
) -> None:
    site = mailing_service
    register_by_api(site)
    laptop, phone = devices("Laptop"), devices("Phone")
    for page in (laptop, phone):
        page.goto(site.base + "/")
        log_in(page, USER["email"], USER["password"])
        expect_signed_in(page, "bea")

    laptop.reload()  # the list as it is now, with the phone's session in it
    rows = laptop.locator("#sessions-list tr")
    expect(rows).to_have_count(2)
    laptop_row, phone_row = rows.filter(has_text="Laptop"), rows.filter(has_text="Phone")
    expect(laptop_row).to_contain_text("browser this device")
    expect(laptop_row).to_contain_text("127.0.0.1")
    expect(laptop_row.get_by_role("button")).to_have_count(0)  # ending it is "Log out"
    expect(phone_row).not_to_contain_text("this device")
    shots.take(laptop, "two-devices")
    # And from the phone, the other way round.
    phone.reload()
    expect(phone.locator("#sessions-list tr").filter(has_text="Phone")).to_contain_text(
        "this device"
    )
    expect(phone.locator("#sessions-list tr").filter(has_text="Laptop")).not_to_contain_text(
        "this device"
    )

    phone_row.get_by_role("button", name="End session").click()
    sessions = laptop.locator("#sessions-section")
    expect(sessions.locator(".message")).to_have_text("Session ended: that device is logged out.")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("this device")
    assert me_in_browser(site, phone).status == 401
    # The phone still shows the account; its next call finds the session gone.
    phone.get_by_role("button", name="Who am I?").click()
    expect(notice(phone)).to_have_text("Could not validate credentials: you are logged out.")
    expect_signed_out(phone)
    shots.take(phone, "ended-from-the-laptop")

    # Three more sessions: the phone again, and two API clients.
    log_in(phone, USER["email"], USER["password"])
    expect_signed_in(phone, "bea")
    api_clients = [bearer_token(site), bearer_token(site)]
    laptop.get_by_role("button", name="Who am I?").click()  # reloads the lists
    expect(rows).to_have_count(4)
    expect(rows.filter(has_text="API token")).to_have_count(2)
    shots.take(laptop, "four-sessions")

    laptop.get_by_role("button", name="Sign out everywhere else").click()
    expect(sessions.locator(".message")).to_have_text(
        "Logged out of every other session: 3 sessions ended."
    )
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Laptop")
    shots.take(laptop, "everywhere-else")
    assert [me_status(site, headers) for headers in api_clients] == [401, 401]
    phone.reload()
    expect_signed_out(phone)
    laptop.reload()
    expect_signed_in(laptop, "bea")
    assert me_in_browser(site, laptop).status == 200


def test_recent_activity_lists_what_happened_newest_first(
    mailing_service: MailingService, devices: Any, shots: Shots
) -> None:
    site = mailing_service
    register_by_api(site)
    page = devices("Laptop")
    page.goto(site.base + "/")
    log_in(page, USER["email"], USER["password"])
    expect_signed_in(page, "bea")
    rows = page.locator("#events-list tr")
    expect(rows).to_have_count(1)

    form = page.locator("#change-form")
    form.get_by_label("Current password").fill("not-my-password")
    form.get_by_label("New password").fill(NEW_PASSWORD)
    form.get_by_role("button", name="Change password").click()
    expect(form.locator(".message")).to_have_text("Current password is incorrect")
    expect(rows).to_have_count(2)

    form.get_by_label("Current password").fill(USER["password"])
    form.get_by_label("New password").fill(NEW_PASSWORD)
    form.get_by_role("button", name="Change password").click()
    expect(form.locator(".message")).to_have_text("Password changed. 0 other sessions ended.")
    expect(rows).to_have_count(3)
    expect(rows.locator("td:first-child")).to_have_text(
        ["Password changed", "Wrong password", "Logged in"]
    )
    for row in rows.all():
        expect(row).to_contain_text("127.0.0.1")
        expect(row).to_contain_text("Laptop")
    shots.take(page, "activity")

    types = [row.get_attribute("data-type") for row in rows.all()]
    assert types == ["password_changed", "login_failed", "login"]
    served = page.request.get(site.base + "/api/auth/events").json()
    assert [event["type"] for event in served] == types


def test_deleting_the_account_signs_out_and_frees_the_names(
    mailing_service: MailingService, context: Any, shots: Shots
) -> None:
    site = mailing_service
    page = context.new_page()
    page.goto(site.base + "/")
    register(page, **USER)
    expect(page.locator("#register-form .message")).to_contain_text("Account created for bea.")
    log_in(page, USER["email"], USER["password"])
    expect_signed_in(page, "bea")

    form = page.locator("#delete-form")
    form.get_by_label("Password").fill(USER["password"])
    form.get_by_role("button", name="Delete my account").click()  # not confirmed
    expect(form.locator('.field-error[data-field="confirm"]')).to_have_text(
        "Tick this box to confirm."
    )
    expect(form.locator(".message")).to_have_text("Your account was not deleted.")
    shots.take(page, "not-confirmed")
    assert me_in_browser(site, page).status == 200

    form.get_by_label("Password").fill("not-my-password")
    form.get_by_label("I understand").check()
    form.get_by_role("button", name="Delete my account").click()
    expect(form.locator(".message")).to_have_text("Password is incorrect")
    assert me_in_browser(site, page).status == 200

    form.get_by_label("Password").fill(USER["password"])
    form.get_by_role("button", name="Delete my account").click()
    expect(notice(page)).to_have_text("Account deleted. You are logged out.")
    expect_signed_out(page)
    shots.take(page, "deleted")
    assert me_in_browser(site, page).status == 401
    site.mailbox.wait_for(USER["email"], "your account was deleted")

    # The email and the username are free again.
    register(page, **USER)
    expect(page.locator("#register-form .message")).to_contain_text("Account created for bea.")
    log_in(page, USER["username"], USER["password"])
    expect_signed_in(page, "bea")
    expect(page.locator("#email-status")).to_have_text("not verified")
    shots.take(page, "registered-again")
