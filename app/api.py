"""flask-smorest's ``Api``, answering and documenting errors as ``{"detail"}``."""

from __future__ import annotations

import marshmallow as ma
from flask import Response
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


class Api(SmorestApi):
    ERROR_SCHEMA = ErrorOut

    def handle_http_exception(self, error: HTTPException) -> Response:
        return render_http_exception(error)

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
