"""The demo page is served with a strict Content-Security-Policy and its assets,
also at the two addresses mailed links open."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from app.web import PAGE_POLICY

# The addresses mailed links point at (app/auth/lifecycle.py: _link).
LINK_PAGES = ("/reset-password", "/verify-email")


def test_page_and_assets(client: FlaskClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    html = page.text
    assert "<script>" not in html  # no inline code: the policy forbids it
    assert "http://" not in html and "https://" not in html  # noqa: PT018 (no CDN)
    for asset in (
        "/static/app.js",
        "/static/second-factor.js",
        "/static/passkeys.js",
        "/static/app.css",
    ):
        assert asset in html
        response = client.get(asset)
        assert response.status_code == 200
        response.close()


@pytest.mark.parametrize("path", LINK_PAGES)
def test_mailed_links_open_the_same_page_under_the_same_policy(
    client: FlaskClient, path: str
) -> None:
    home = client.get("/")
    page = client.get(path)
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert page.headers["Content-Security-Policy"] == PAGE_POLICY
    assert home.headers["Content-Security-Policy"] == PAGE_POLICY
    # The same template; only the flow its script starts differs.
    assert f'data-flow="{path[1:]}"' in page.text
    assert page.text.replace(f'data-flow="{path[1:]}"', 'data-flow=""') == home.text
    assert page.headers["Cache-Control"] == "no-store"  # its address holds a token


@pytest.mark.parametrize("path", LINK_PAGES)
def test_the_token_in_the_address_never_comes_back(client: FlaskClient, path: str) -> None:
    token = "tok3n-Th4t-mUst-n0t-eCh0_" + "x" * 20
    page = client.get(f"{path}?token={token}")
    assert page.status_code == 200
    assert token not in page.get_data(as_text=True)
    assert all(token not in value for _, value in page.headers.items())


def test_the_script_keeps_credentials_same_origin(client: FlaskClient) -> None:
    script = client.get("/static/app.js")
    source = script.text
    script.close()
    assert 'credentials: "same-origin"' in source
    assert "localStorage" not in source
    assert "sessionStorage" not in source
    assert "document.cookie" not in source
    # Server data goes in as text, never parsed as HTML.
    assert "innerHTML" not in source
    assert "insertAdjacentHTML" not in source
    # A mailed token is taken out of the address bar once read.
    assert "history.replaceState" in source


def test_the_second_factor_script_keeps_its_secrets_in_memory_and_out_of_html(
    client: FlaskClient,
) -> None:
    script = client.get("/static/second-factor.js")
    source = script.text
    script.close()
    for unsafe in ("localStorage", "sessionStorage", "document.cookie", "innerHTML",
                   "insertAdjacentHTML", "outerHTML", "location.hash", "pushState"):  # fmt: skip
        assert unsafe not in source
    # The QR code is parsed as SVG and imported as nodes, never as HTML.
    assert 'parseFromString(svgText, "image/svg+xml")' in source


def test_the_passkey_script_stores_nothing_and_writes_text_only(client: FlaskClient) -> None:
    script = client.get("/static/passkeys.js")
    source = script.text
    script.close()
    for forbidden in ("localStorage", "sessionStorage", "document.cookie", "innerHTML",
                      "insertAdjacentHTML", "eval(", "fetch("):  # fmt: skip
        assert forbidden not in source  # fetch goes through app.js's call(), same-origin
    assert "navigator.credentials.create" in source
    assert "navigator.credentials.get" in source
