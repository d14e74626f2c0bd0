"""The demo page is served with a strict Content-Security-Policy and its assets."""

from __future__ import annotations

from flask.testing import FlaskClient


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
    for asset in ("/static/app.js", "/static/app.css"):
        assert asset in html
        response = client.get(asset)
        assert response.status_code == 200
        response.close()


def test_the_script_keeps_credentials_same_origin(client: FlaskClient) -> None:
    script = client.get("/static/app.js")
    source = script.text
    script.close()
    assert 'credentials: "same-origin"' in source
    assert "localStorage" not in source
    assert "document.cookie" not in source
