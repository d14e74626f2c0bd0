"""flask-smorest's ``Api``, answering and documenting errors as ``{"detail"}``."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Flask, Response
from flask_smorest import Api as SmorestApi
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException

from app.errors import render_http_exception


class ErrorOut(ma.Schema):
    detail = ma.fields.String(required=True, metadata={"example": "Not Found"})


class ValidationProblemOut(ma.Schema):
    loc = ma.fields.List(ma.fields.String(), required=True)
    msg = ma.fields.String(required=True)
    type = ma.fields.String(required=True)


class ValidationErrorOut(ma.Schema):
    detail = ma.fields.List(ma.fields.Nested(ValidationProblemOut), required=True)


API_SPEC_OPTIONS = {
    "info": {
        "description": (
            "Email/password accounts with server-side sessions in Redis. Every "
            "/api/auth path is also served, identically, under /api/v1/auth."
        ),
    },
    "servers": [{"url": "/", "description": "This service"}],
}


class Api(SmorestApi):
    ERROR_SCHEMA = ErrorOut

    def handle_http_exception(self, error: HTTPException) -> Response:
        return render_http_exception(error)

    def _register_pagination_header(self) -> None:
        """Nothing here is paginated: no pagination header or schema in the document."""

    def document(self, app: Flask) -> None:
        """What the document needs beyond the views: security schemes, the
        request shapes that views reference by name, and limits read from
        the live configuration."""
        from app.auth.schemas import (
            EmailCredentialsIn,
            OAuth2PasswordFormIn,
            SecondStepIn,
            TotpDisableIn,
            UsernameCredentialsIn,
        )

        components = self.spec.components
        components.security_scheme(
            "bearerAuth", {"type": "http", "scheme": "bearer", "description": "Token from /token"}
        )
        components.security_scheme(
            "cookieAuth",
            {"type": "apiKey", "in": "cookie", "name": app.config["SESSION_COOKIE_NAME"]},
        )
        components.security_scheme(
            "oauth2Password",
            {
                "type": "oauth2",
                "description": "A username (or email) and password, through /token's form",
                "flows": {"password": {"tokenUrl": "/api/auth/token", "scopes": {}}},
            },
        )
        components.schema("EmailCredentialsIn", schema=EmailCredentialsIn)
        components.schema("UsernameCredentialsIn", schema=UsernameCredentialsIn)
        components.schema("OAuth2PasswordFormIn", schema=OAuth2PasswordFormIn)
        # Bodies that take exactly one of several fields: each view documents
        # the oneOf of its shapes, which refer to these.
        components.schema("SecondStepIn", schema=SecondStepIn)
        components.schema("TotpDisableIn", schema=TotpDisableIn)

        def live_min_length(
            converter: Any, field: ma.fields.Field[Any], ret: dict[str, Any], **kwargs: Any
        ) -> dict[str, Any]:
            setting = field.metadata.get("min_length_setting")
            return {"minLength": app.config[setting]} if setting else {}

        self.ma_plugin.converter.add_attribute_function(live_min_length)

    def _register_responses(self) -> None:
        super()._register_responses()
        # The 422 body is a list of problems, not a string: document it so.
        response = {
            "description": "Validation error: one entry per invalid field",
            "schema": ValidationErrorOut,
        }
        prepare_response(response, self.spec, self.DEFAULT_RESPONSE_CONTENT_TYPE)
        # A second lazy registration replaces the first one in apispec's buffer.
        self.spec.components.response("UNPROCESSABLE_ENTITY", response, lazy=True)
