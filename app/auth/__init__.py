"""The ``auth`` blueprint: accounts, login, sessions."""

from __future__ import annotations

import json
from typing import Any

import flask
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser


class BoundedJsonParser(FlaskParser):
    """webargs' parser, with JSON that Python's decoder gives up on answered
    as invalid JSON, not a 500: nesting too deep for its recursion (``[[[[…``
    within the 64 KiB limit) and integers longer than its conversion limit
    (4,300 digits)."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        try:
            return super()._raw_load_json(req)
        except json.JSONDecodeError:
            raise  # webargs' own handling: an empty body is no body
        except (RecursionError, ValueError) as error:
            invalid = json.JSONDecodeError(type(error).__name__, "", 0)
            self._handle_invalid_json_error(invalid, req)


class AuthBlueprint(Blueprint):
    ARGUMENTS_PARSER = BoundedJsonParser()
    # ``/token`` parses JSON or an OAuth2 form; document its body as JSON
    # here (the form variant is added on the view), not as a bogus parameter.
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "json_or_form": "application/json",
    }


bp = AuthBlueprint("auth", __name__, description="Accounts and sessions")

from app.auth import routes  # noqa: E402,F401  (attach the views to bp)
