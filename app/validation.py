"""Validation messages and their machine-readable types.

The front-end contract uses FastAPI-style 422 bodies: each problem has a
human ``msg`` and a stable ``type``. marshmallow only keeps message strings,
so every message the schemas can emit is declared here with its type, and the
error renderer looks the type up by message.
"""

from __future__ import annotations

from typing import NamedTuple


class Problem(NamedTuple):
    msg: str
    type: str


REQUIRED = Problem("field required", "value_error.missing")
NOT_NULL = Problem("none is not an allowed value", "type_error.none.not_allowed")
NOT_STRING = Problem("str type expected", "type_error.str")
NOT_UNICODE = Problem("string is not valid Unicode (unpaired surrogate)", "value_error.str.unicode")
NOT_BOOLEAN = Problem("value could not be parsed to a boolean", "type_error.bool")
NOT_OBJECT = Problem("request body must be a JSON object", "type_error.dict")
INVALID_EMAIL = Problem("value is not a valid email address", "value_error.email")
CONTROL_CHARACTER = Problem("may not contain control characters", "value_error.str.control")
INVALID_USERNAME = Problem(
    "may contain only letters, digits, '_', '.' and '-'", "value_error.str.regex"
)
TOO_SHORT = Problem(
    "ensure this value has at least {min} characters", "value_error.any_str.min_length"
)
TOO_LONG = Problem(
    "ensure this value has at most {max} characters", "value_error.any_str.max_length"
)
COMMON_PASSWORD = Problem("This password is too common", "value_error.password.common")
ONE_IDENTIFIER = Problem("give exactly one of 'email' or 'username'", "value_error.identifier")
INVALID_TOTP_CODE = Problem("must be the 6 digits of the current code", "value_error.totp_code")
INVALID_RECOVERY_CODE = Problem(
    "may contain only letters, digits, spaces and '-'", "value_error.recovery_code"
)
ONE_FACTOR = Problem(
    "give exactly one of 'code', 'recovery_code' or 'passkey'", "value_error.second_factor"
)
ONE_PROOF = Problem("give exactly one of 'password' or 'code'", "value_error.proof")
NOT_DICT = Problem("value is not a valid dict", "type_error.dict")
INVALID_JSON = Problem("Invalid JSON body", "value_error.jsondecode")
NOT_DICT = Problem("value is not a valid dict", "type_error.dict")
NOT_LIST = Problem("value is not a valid list", "type_error.list")
NOT_BASE64URL = Problem("must be base64url without padding", "value_error.str.base64url")
NOT_PUBLIC_KEY = Problem("must be 'public-key'", "value_error.const")
BLANK = Problem("may not be blank", "value_error.str.blank")

_ALL = [value for value in list(globals().values()) if isinstance(value, Problem)]


def error_type(message: str) -> str:
    """The ``type`` of a message produced from one of the problems above."""
    for problem in _ALL:
        template = problem.msg
        if message == template:
            return problem.type
        if "{" in template and message.startswith(template.split("{", 1)[0]):
            return problem.type
    return "value_error"
