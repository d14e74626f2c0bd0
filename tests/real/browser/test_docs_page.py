"""/docs in real headless Chromium: Swagger UI renders and works under its
Content-Security-Policy (no inline script or style allowed), with not one
console error — a blocked script or style would log one (docs/SECURITY.md)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.real.browser.conftest import Shots
from tests.real.services import Gunicorn


def test_swagger_ui_works_under_its_policy(context: Any, service: Gunicorn, shots: Shots) -> None:
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    reply = page.goto(f"http://127.0.0.1:{service.port}/docs")
    assert reply is not None
    assert "'unsafe-inline'" not in reply.headers["content-security-policy"]

    # The spec was fetched and drawn: every operation is listed.
    expect(page.locator(".opblock-summary-path", has_text="/api/auth/logout-all")).to_be_visible()
    shots.take(page, "loaded")

    # "Try it out" calls the API from the page (connect-src 'self').
    page.locator(".opblock-summary", has_text="/healthz").first.click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    status = page.locator(".live-responses-table tbody .response-col_status").first
    expect(status).to_have_text("200")
    shots.take(page, "tried-healthz")

    # The Authorize dialog lists both ways to authenticate.
    page.get_by_role("button", name="Authorize").first.click()
    expect(page.get_by_text("bearerAuth")).to_be_visible()
    expect(page.get_by_text("cookieAuth")).to_be_visible()
    shots.take(page, "authorize")

    assert problems == []
